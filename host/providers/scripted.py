"""A deterministic model for tests: it replays a planned conversation.

Each model call takes the next step of the plan: a list of :class:`Say` and :class:`Call`, or
a function of the request giving one (to use what an earlier tool answered, such as an order
id), or a :class:`ModelError` to raise. Text and tool-call JSON are streamed in small
fragments, as real providers stream them, so the loop's reassembly is exercised too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .base import (
    Finished,
    ModelError,
    ModelEvent,
    ModelRequest,
    TextDelta,
    ToolUseDelta,
    ToolUseStart,
)


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Call:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


Action = Say | Call
Step = Sequence[Action] | Callable[[ModelRequest], Sequence[Action]] | ModelError


class ScriptedModel:
    """Plays ``plan`` one step per model call; ``requests`` keeps every request it was sent."""

    def __init__(self, plan: Iterable[Step], *, fragment: int = 7):
        self._plan: Iterator[Step] = iter(plan)
        self.fragment = fragment
        self.requests: list[ModelRequest] = []
        self._calls = 0

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        self.requests.append(request)
        step = next(self._plan, None)
        if step is None:
            raise ModelError("the scripted plan has no further step")
        if isinstance(step, ModelError):
            raise step
        actions = step(request) if callable(step) else step
        for action in actions:
            if isinstance(action, Say):
                for piece in self._pieces(action.text):
                    yield TextDelta(piece)
            else:
                self._calls += 1
                call_id = f"call_{self._calls}"
                yield ToolUseStart(call_id, action.name)
                for piece in self._pieces(json.dumps(action.arguments)):
                    yield ToolUseDelta(call_id, piece)
        yield Finished("tool_use" if any(isinstance(a, Call) for a in actions) else "end_turn")

    def _pieces(self, text: str) -> list[str]:
        return [text[i : i + self.fragment] for i in range(0, len(text), self.fragment)]
