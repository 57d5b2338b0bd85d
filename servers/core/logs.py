"""JSON logs on stderr, each line carrying the id of the request it belongs to."""

from __future__ import annotations

import logging
import os
import sys
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def new_request_id() -> str:
    """16 hex digits, 64 random bits: a fifth of the time of ``uuid4().hex[:16]``, whose 13th
    digit is always its version."""
    return os.urandom(8).hex()


def current_request_id() -> str:
    """The id of the request being served, creating one for work outside any request."""
    rid = request_id_var.get()
    if rid is None:
        rid = new_request_id()
        request_id_var.set(rid)
    return rid


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: str = "INFO", *, service: str) -> None:
    """Route every logger (ours, FastMCP's, uvicorn's) through one JSON handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"levelname": "level", "name": "logger"},
            static_fields={"service": service},
            timestamp="time",
        )
    )
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "fastmcp", "mcp"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    # FastMCP logs every failed tool call with its traceback; the kit logs them once, with the
    # request id, so the framework's copy would only double the noise.
    logging.getLogger("fastmcp.server.server").setLevel(logging.CRITICAL)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # One "Terminating session" line per stateless request says nothing worth keeping.
    logging.getLogger("mcp.server.streamable_http").setLevel(logging.WARNING)
