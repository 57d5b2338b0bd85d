"""Anthropic's Messages API, streamed (the official ``anthropic`` SDK), behind :mod:`.base`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from anthropic import APIError, APIStatusError, AsyncAnthropic, omit
from anthropic.types import (
    ContentBlockParam,
    MessageParam,
    RawMessageStreamEvent,
    ToolParam,
)

from .base import (
    Finished,
    Message,
    ModelError,
    ModelEvent,
    ModelRequest,
    TextBlock,
    TextDelta,
    ToolUse,
    ToolUseDelta,
    ToolUseStart,
)

# 429 is the rate limit, 529 "overloaded"; both come back as an ``error`` event inside a stream
# already answered 200, where only the error's type tells them apart.
THROTTLING_STATUS = frozenset({429, 529})
THROTTLING_TYPES = frozenset({"rate_limit_error", "overloaded_error"})


class AnthropicMessages:
    """A Claude model through the streaming Messages API."""

    def __init__(self, client: AsyncAnthropic, model_id: str, *, max_tokens: int = 4096):
        self._client = client
        self.model_id = model_id
        self.max_tokens = max_tokens

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        reader = StreamReader()
        try:
            stream = await self._client.messages.create(
                model=self.model_id,
                max_tokens=self.max_tokens,
                system=request.system,
                messages=[_message(m) for m in request.messages],
                tools=[_tool(t.name, t.description, t.input_schema) for t in request.tools]
                if request.tools
                else omit,
                stream=True,
            )
            async with stream:
                async for event in stream:
                    for out in reader.read(event):
                        yield out
        except APIError as exc:
            raise _model_error(exc) from None
        yield reader.finished()


def _tool(name: str, description: str, schema: dict[str, Any]) -> ToolParam:
    return {"name": name, "description": description, "input_schema": schema}


def _message(message: Message) -> MessageParam:
    content: list[ContentBlockParam] = []
    for block in message.blocks:
        if isinstance(block, TextBlock):
            if block.text:  # the API refuses empty text blocks
                content.append({"type": "text", "text": block.text})
        elif isinstance(block, ToolUse):
            content.append(
                {"type": "tool_use", "id": block.id, "name": block.name, "input": block.arguments}
            )
        else:
            content.append(
                {
                    "type": "tool_result",
                    "tool_use_id": block.tool_use_id,
                    "content": block.content,
                    "is_error": not block.ok,
                }
            )
    if not content:
        content.append({"type": "text", "text": "..."})
    if message.role == "user":
        return {"role": "user", "content": content}
    return {"role": "assistant", "content": content}


class StreamReader:
    """Turns the SDK's raw stream events into :mod:`.base` events. Input tokens come in
    ``message_start``; ``message_delta`` carries the stop reason and the (cumulative) output."""

    def __init__(self) -> None:
        self._tool_ids: dict[int, str] = {}
        self._stop_reason = "end_turn"
        self._input_tokens = 0
        self._output_tokens = 0

    def read(self, event: RawMessageStreamEvent) -> list[ModelEvent]:
        if event.type == "message_start":
            usage = event.message.usage
            self._input_tokens = usage.input_tokens
            self._output_tokens = usage.output_tokens
        elif event.type == "content_block_start":
            block = event.content_block
            if block.type == "tool_use":
                self._tool_ids[event.index] = block.id
                events: list[ModelEvent] = [ToolUseStart(block.id, block.name)]
                # A server may put the whole input in the start block instead of deltas.
                if block.input:
                    events.append(ToolUseDelta(block.id, json.dumps(block.input)))
                return events
        elif event.type == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta" and delta.text:
                return [TextDelta(delta.text)]
            tool_id = self._tool_ids.get(event.index)
            if delta.type == "input_json_delta" and tool_id is not None:
                return [ToolUseDelta(tool_id, delta.partial_json)]
        elif event.type == "message_delta":
            if event.delta.stop_reason is not None:
                self._stop_reason = event.delta.stop_reason
            self._output_tokens = event.usage.output_tokens
            if event.usage.input_tokens is not None:
                self._input_tokens = event.usage.input_tokens
        return []

    def finished(self) -> Finished:
        return Finished(self._stop_reason, self._input_tokens, self._output_tokens)


def _model_error(exc: APIError) -> ModelError:
    if isinstance(exc, APIStatusError):
        kind = _error_type(exc.body)
        throttled = exc.status_code in THROTTLING_STATUS or kind in THROTTLING_TYPES
        # The status and the error's type name the failure; its message may quote the request.
        return ModelError(f"anthropic: {exc.status_code} {kind or ''}".strip(), throttled=throttled)
    return ModelError(f"anthropic: {type(exc).__name__}")


def _error_type(body: object) -> str | None:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("type"), str):
            return str(error["type"])
    return None
