"""The one interface every model provider implements: a conversation and the tools in, a stream
of text fragments and tool calls (their JSON arguments in fragments) out.

Providers translate to and from their own wire format; the loop knows only these types.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the model is shown it."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class TextBlock:
    text: str


@dataclass(frozen=True)
class ToolUse:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolResultBlock:
    tool_use_id: str
    content: str
    ok: bool


Block = TextBlock | ToolUse | ToolResultBlock


@dataclass(frozen=True)
class Message:
    role: Literal["user", "assistant"]
    blocks: tuple[Block, ...]

    @property
    def text(self) -> str:
        return "".join(b.text for b in self.blocks if isinstance(b, TextBlock))


@dataclass(frozen=True)
class ModelRequest:
    system: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...]


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolUseStart:
    id: str
    name: str


@dataclass(frozen=True)
class ToolUseDelta:
    """A fragment of a tool call's JSON arguments; the fragments of one call joined are JSON."""

    id: str
    fragment: str


@dataclass(frozen=True)
class Finished:
    stop_reason: str
    input_tokens: int = 0
    output_tokens: int = 0


ModelEvent = TextDelta | ToolUseStart | ToolUseDelta | Finished


class ModelError(Exception):
    """A model call that failed; ``throttled`` ones are worth retrying after a while."""

    def __init__(self, message: str, *, throttled: bool = False):
        super().__init__(message)
        self.throttled = throttled


class ModelProvider(Protocol):
    def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        """The model's answer to ``request`` as it is produced; raises :class:`ModelError`."""
        ...


@dataclass
class Reply:
    """A model answer put back together from its stream."""

    text: str = ""
    calls: list[ToolUse] = field(default_factory=list)
    stop_reason: str = ""
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class Usage:
    """What one turn cost in model calls and tokens, as the providers report it."""

    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, reply: Reply) -> None:
        self.model_calls += 1
        self.input_tokens += reply.input_tokens
        self.output_tokens += reply.output_tokens

    def as_json(self) -> dict[str, int]:
        return {
            "model_calls": self.model_calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }


class Assembler:
    """Joins a stream's tool-call fragments into calls; a call whose JSON does not parse (or is
    not an object) is kept with the arguments ``{"_malformed": <text>}`` so the loop can tell
    the model, rather than dropping it silently."""

    def __init__(self) -> None:
        self.reply = Reply()
        self._names: dict[str, str] = {}
        self._parts: dict[str, list[str]] = {}

    def add(self, event: ModelEvent) -> None:
        if isinstance(event, TextDelta):
            self.reply.text += event.text
        elif isinstance(event, ToolUseStart):
            self._names[event.id] = event.name
            self._parts[event.id] = []
        elif isinstance(event, ToolUseDelta):
            self._parts.setdefault(event.id, []).append(event.fragment)
        else:
            self.reply.stop_reason = event.stop_reason
            self.reply.input_tokens += event.input_tokens
            self.reply.output_tokens += event.output_tokens

    def finish(self) -> Reply:
        for call_id, name in self._names.items():
            raw = "".join(self._parts.get(call_id, [])) or "{}"
            try:
                arguments = json.loads(raw)
            except ValueError:
                arguments = None
            if not isinstance(arguments, dict):
                arguments = {"_malformed": raw[:200]}
            self.reply.calls.append(ToolUse(call_id, name, arguments))
        return self.reply
