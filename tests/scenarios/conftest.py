"""The scenarios run on the stack of real servers that tests/http starts."""

from tests.http.conftest import full_stack, http_stack

__all__ = ["full_stack", "http_stack"]
