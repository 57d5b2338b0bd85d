"""Any OpenAI-compatible Chat Completions endpoint (OpenAI, Ollama, vLLM, LM Studio, llama.cpp's
server), streamed with the official ``openai`` SDK, behind :mod:`.base`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping

from openai import APIError, APIStatusError, AsyncOpenAI, omit
from openai.types.chat import (
    ChatCompletionChunk,
    ChatCompletionMessageParam,
    ChatCompletionMessageToolCallParam,
    ChatCompletionToolParam,
)

from .base import (
    Finished,
    Message,
    ModelError,
    ModelEvent,
    ModelRequest,
    TextBlock,
    TextDelta,
    ToolSpec,
    ToolUse,
    ToolUseDelta,
    ToolUseStart,
)

# 429 is the rate limit; 503 is how local servers (Ollama, vLLM) say they are busy.
THROTTLING_STATUS = frozenset({429, 503})

# The loop speaks Anthropic's and Bedrock's stop reasons; OpenAI's are translated.
STOP_REASONS = {
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "stop": "end_turn",
    "length": "max_tokens",
}


class OpenAIChat:
    """A model behind an OpenAI-compatible ``/chat/completions``."""

    def __init__(
        self,
        client: AsyncOpenAI,
        model_id: str,
        *,
        max_tokens: int = 4096,
        extra_body: Mapping[str, object] | None = None,
    ):
        """``extra_body``: request fields beyond the standard ones that a server understands
        (llama.cpp's or vLLM's decoding controls, ``tool_choice`` where it is honoured)."""
        self._client = client
        self.model_id = model_id
        self.max_tokens = max_tokens
        self.extra_body = dict(extra_body or {})

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        reader = StreamReader()
        try:
            stream = await self._client.chat.completions.create(
                model=self.model_id,
                messages=chat_messages(request),
                tools=[_tool(t) for t in request.tools] if request.tools else omit,
                max_tokens=self.max_tokens,
                stream=True,
                # The token counts come in a last chunk without choices, when asked for.
                stream_options={"include_usage": True},
                extra_body=self.extra_body or None,
            )
            async with stream:
                async for chunk in stream:
                    for out in reader.read(chunk):
                        yield out
        except APIError as exc:
            raise _model_error(exc) from None
        yield reader.finished()


def _tool(tool: ToolSpec) -> ChatCompletionToolParam:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.input_schema,
        },
    }


def chat_messages(request: ModelRequest) -> list[ChatCompletionMessageParam]:
    """The conversation as chat messages: tool results become ``tool`` messages, one each."""
    out: list[ChatCompletionMessageParam] = []
    if request.system:
        out.append({"role": "system", "content": request.system})
    for message in request.messages:
        out.extend(_messages(message))
    return out


def _messages(message: Message) -> list[ChatCompletionMessageParam]:
    text = "".join(b.text for b in message.blocks if isinstance(b, TextBlock))
    if message.role == "assistant":
        calls: list[ChatCompletionMessageToolCallParam] = [
            {
                "id": b.id,
                "type": "function",
                "function": {"name": b.name, "arguments": json.dumps(b.arguments)},
            }
            for b in message.blocks
            if isinstance(b, ToolUse)
        ]
        if calls:
            return [{"role": "assistant", "content": text or None, "tool_calls": calls}]
        return [{"role": "assistant", "content": text}]
    out: list[ChatCompletionMessageParam] = [
        {"role": "tool", "tool_call_id": b.tool_use_id, "content": b.content}
        for b in message.blocks
        if not isinstance(b, TextBlock | ToolUse)
    ]
    if text or not out:
        out.append({"role": "user", "content": text})
    return out


class StreamReader:
    """Turns chunks into :mod:`.base` events. A tool call's fragments are keyed by their
    ``index``; its id and name come in its first fragment (servers that send no id get one)."""

    def __init__(self) -> None:
        self._tool_ids: dict[int, str] = {}
        self._stop_reason = "end_turn"
        self._input_tokens = 0
        self._output_tokens = 0

    def read(self, chunk: ChatCompletionChunk) -> list[ModelEvent]:
        events: list[ModelEvent] = []
        if chunk.usage is not None:
            self._input_tokens = chunk.usage.prompt_tokens
            self._output_tokens = chunk.usage.completion_tokens
        for choice in chunk.choices[:1]:
            delta = choice.delta
            if delta.content:
                events.append(TextDelta(delta.content))
            for call in delta.tool_calls or ():
                tool_id = self._tool_ids.get(call.index)
                if tool_id is None:
                    name = call.function.name if call.function else None
                    if not name:
                        continue
                    tool_id = call.id or f"call_{chunk.id}_{call.index}"
                    self._tool_ids[call.index] = tool_id
                    events.append(ToolUseStart(tool_id, name))
                if call.function and call.function.arguments:
                    events.append(ToolUseDelta(tool_id, call.function.arguments))
            if choice.finish_reason is not None:
                reason = str(choice.finish_reason)
                self._stop_reason = STOP_REASONS.get(reason, reason)
        return events

    def finished(self) -> Finished:
        return Finished(self._stop_reason, self._input_tokens, self._output_tokens)


def _model_error(exc: APIError) -> ModelError:
    if isinstance(exc, APIStatusError):
        # The status names the failure; the body may quote the request, so it stays out.
        return ModelError(
            f"openai-compatible: {exc.status_code}",
            throttled=exc.status_code in THROTTLING_STATUS,
        )
    return ModelError(f"openai-compatible: {type(exc).__name__}")
