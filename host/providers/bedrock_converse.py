"""Amazon Bedrock's ConverseStream API (boto3 ``bedrock-runtime``) behind :mod:`.base`.

boto3 is synchronous: the call and every read of its event stream run in a worker thread, so the
host's event loop never blocks on the network. botocore's own time-outs bound each read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .base import (
    Block,
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

DEFAULT_MODEL = "us.amazon.nova-pro-v1:0"

# Bedrock's answers that mean "too much right now, try again later"; the loop backs off and
# retries these. Errors inside the event stream carry the member name (``throttlingException``),
# errors of the call itself the shape name (``ThrottlingException``), hence the lower case.
THROTTLING = frozenset(
    {"throttlingexception", "serviceunavailableexception", "modelnotreadyexception"}
)


# A tool result's ``status`` is refused by the other models' ConverseStream (a failed result's
# text starts with its error code, so they still know).
STATUS_MODELS = ("amazon.nova", "anthropic.claude")


class BedrockConverse:
    """A Bedrock model through ConverseStream; ``client`` is a boto3 ``bedrock-runtime`` client."""

    def __init__(self, client: Any, model_id: str = DEFAULT_MODEL, *, max_tokens: int = 4096):
        self._client = client
        self.model_id = model_id
        self.max_tokens = max_tokens

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        params = converse_params(request, self.model_id, self.max_tokens)
        try:
            response = await asyncio.to_thread(lambda: self._client.converse_stream(**params))
        except (ClientError, BotoCoreError) as exc:
            raise _model_error(exc) from None
        events = response["stream"]
        reader = StreamReader()
        try:
            source: Iterator[dict[str, Any]] = iter(events)
            while True:
                try:
                    event = await asyncio.to_thread(next, source, None)
                except (ClientError, BotoCoreError) as exc:
                    raise _model_error(exc) from None
                if event is None:
                    break
                for out in reader.read(event):
                    yield out
        finally:
            events.close()
        yield reader.finished()


def converse_params(request: ModelRequest, model_id: str, max_tokens: int) -> dict[str, Any]:
    """The ConverseStream request for ``request`` (shapes of botocore's ``bedrock-runtime``)."""
    status = any(family in model_id for family in STATUS_MODELS)
    params: dict[str, Any] = {
        "modelId": model_id,
        "messages": [_message(m, status) for m in request.messages],
        "inferenceConfig": {"maxTokens": max_tokens},
    }
    if request.system:
        params["system"] = [{"text": request.system}]
    if request.tools:
        params["toolConfig"] = {
            "tools": [
                {
                    "toolSpec": {
                        "name": tool.name,
                        # The model's description member must not be empty when present.
                        **({"description": tool.description} if tool.description else {}),
                        "inputSchema": {"json": tool.input_schema},
                    }
                }
                for tool in request.tools
            ]
        }
    return params


def _message(message: Message, status: bool) -> dict[str, Any]:
    content = [
        _block(b, status) for b in message.blocks if not (isinstance(b, TextBlock) and not b.text)
    ]
    # Bedrock refuses a message without content (and an empty text block).
    return {"role": message.role, "content": content or [{"text": "..."}]}


def _block(block: Block, status: bool) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"text": block.text}
    if isinstance(block, ToolUse):
        return {"toolUse": {"toolUseId": block.id, "name": block.name, "input": block.arguments}}
    result: dict[str, Any] = {
        "toolUseId": block.tool_use_id,
        "content": [{"text": block.content or "(empty)"}],
    }
    if status:
        result["status"] = "success" if block.ok else "error"
    return {"toolResult": result}


class StreamReader:
    """Turns ConverseStream events into :mod:`.base` events; usage arrives in ``metadata``,
    after ``messageStop``, so :meth:`finished` is asked for once the stream has ended."""

    def __init__(self) -> None:
        self._tool_ids: dict[int, str] = {}
        self._stop_reason = "end_turn"
        self._input_tokens = 0
        self._output_tokens = 0

    def read(self, event: dict[str, Any]) -> list[ModelEvent]:
        if "contentBlockStart" in event:
            start = event["contentBlockStart"]
            tool = start.get("start", {}).get("toolUse")
            if tool is not None:
                self._tool_ids[start["contentBlockIndex"]] = tool["toolUseId"]
                return [ToolUseStart(tool["toolUseId"], tool["name"])]
        elif "contentBlockDelta" in event:
            block = event["contentBlockDelta"]
            delta = block.get("delta", {})
            if "text" in delta:
                return [TextDelta(delta["text"])] if delta["text"] else []
            tool_id = self._tool_ids.get(block["contentBlockIndex"])
            if "toolUse" in delta and tool_id is not None:
                return [ToolUseDelta(tool_id, delta["toolUse"].get("input", ""))]
        elif "messageStop" in event:
            self._stop_reason = event["messageStop"]["stopReason"]
        elif "metadata" in event:
            usage = event["metadata"].get("usage", {})
            self._input_tokens = usage.get("inputTokens", 0)
            self._output_tokens = usage.get("outputTokens", 0)
        return []

    def finished(self) -> Finished:
        return Finished(self._stop_reason, self._input_tokens, self._output_tokens)


def _model_error(exc: ClientError | BotoCoreError) -> ModelError:
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", "unknown"))
        # The code names the failure; the message may quote the request, so it stays out.
        return ModelError(f"bedrock: {code}", throttled=code.lower() in THROTTLING)
    return ModelError(f"bedrock: {type(exc).__name__}")
