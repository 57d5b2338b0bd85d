"""HTTP/1.1 spoken by hand over a socket, for requests no HTTP client would send (bodies that
never end, headers that never finish, connections dropped mid-request)."""

from __future__ import annotations

import asyncio

HOST = "127.0.0.1"
GIVE_UP_SECONDS = 30.0  # a safety net against a server that holds on; nothing is timed


async def exchange(port: int, request: bytes, *, then_close: bool = False) -> bytes:
    """Sends ``request`` (and keeps the connection open unless ``then_close``) and returns all
    the server sends until it closes the connection."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(request)
        await writer.drain()
        if then_close:
            writer.write_eof()
        async with asyncio.timeout(GIVE_UP_SECONDS):
            return await reader.read()
    finally:
        writer.close()


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])
