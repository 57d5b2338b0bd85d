"""The chat's events on the wire: server-sent events, one JSON object per ``data:`` line (the
same framing as ``BedrockAgentCoreApp`` streams an agent's answer)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse


def sse_response(stream: AsyncIterator[dict[str, Any]]) -> StreamingResponse:
    return StreamingResponse(
        _sse(stream),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


async def _sse(stream: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    async for event in stream:
        yield f"data: {json.dumps(event, default=str)}\n\n".encode()
