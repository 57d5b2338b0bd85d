"""The OpenAI-compatible provider through the real SDK, over HTTP, against a stand-in answering
Chat Completions with a stream of chunks as OpenAI, vLLM and llama.cpp's server send them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from openai import AsyncOpenAI

from host.providers.base import Finished, ModelError, TextDelta, ToolUse, ToolUseStart
from host.providers.openai_chat import OpenAIChat
from tests.host.model_fakes import Answer, Replay, json_answer, served, sse
from tests.host.provider_cases import CONVERSATION, answer, fragments, one_turn
from tests.hypothesis_examples import examples

MODEL = "local-model"
SSE = {"content-type": "text/event-stream"}


@pytest.fixture(scope="module")
def openai() -> Iterator[tuple[Replay, OpenAIChat]]:
    replay = Replay()
    with served(replay) as url:
        client = AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=30)
        yield replay, OpenAIChat(client, MODEL, max_tokens=256)


def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_800_000_000,
        "model": MODEL,
        "choices": choices,
        **extra,
    }


def completion(first: list[str], second: list[str], *, ids: bool = True) -> Answer:
    """Text, then two tool calls whose argument fragments arrive interleaved (by ``index``)."""

    def call(index: int, piece: str, head: dict[str, Any] | None = None) -> dict[str, Any]:
        fn: dict[str, Any] = {"arguments": piece, **(head or {})}
        return chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        **({"id": f"call_{index}x", "type": "function"} if head and ids else {}),
                        "function": fn,
                    }
                ]
            }
        )

    events: list[dict[str, Any]] = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "One "}),
        chunk({"content": "moment."}),
        call(0, first[0], {"name": "list_my_tickets"}),
        call(1, second[0], {"name": "get_upgrade_options"}),
    ]
    for a, b in zip(first[1:], second[1:], strict=False):
        events += [call(0, a), call(1, b)]
    events += [call(0, p) for p in first[len(second) :]]
    events += [call(1, p) for p in second[len(first) :]]
    events += [
        chunk({}, "tool_calls"),
        chunk(None, usage={"prompt_tokens": 300, "completion_tokens": 21, "total_tokens": 321}),
    ]
    return Answer(200, SSE, (*sse((None, e) for e in events), b"data: [DONE]\n\n"))


async def test_a_streamed_answer_gives_text_tool_calls_by_index_and_the_usage(
    openai: tuple[Replay, OpenAIChat],
) -> None:
    replay, provider = openai
    replay.answers.append(completion(['{"status"', ': "used"}'], ['{"ticket_', 'number": "T1"}']))
    events, reply = await answer(provider, CONVERSATION)

    assert events[:2] == [TextDelta("One "), TextDelta("moment.")]
    assert ToolUseStart("call_0x", "list_my_tickets") in events
    assert events[-1] == Finished("tool_use", 300, 21)
    assert reply.calls == [
        ToolUse("call_0x", "list_my_tickets", {"status": "used"}),
        ToolUse("call_1x", "get_upgrade_options", {"ticket_number": "T1"}),
    ]

    path, body = replay.requests[-1]
    assert path == "/v1/chat/completions"
    assert body["model"] == MODEL
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 256
    assert body["tools"][0] == {
        "type": "function",
        "function": {
            "name": "list_my_tickets",
            "description": "The signed-in customer's tickets.",
            "parameters": CONVERSATION.tools[0].input_schema,
        },
    }
    assert [m["role"] for m in body["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "user",
    ]
    assert body["messages"][2]["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "list_my_tickets", "arguments": '{"status": "active"}'},
        }
    ]
    assert body["messages"][4]["content"] is None
    assert body["messages"][5] == {
        "role": "tool",
        "tool_call_id": "call_2",
        "content": "NOT_FOUND: no such ticket",
    }


async def test_a_server_that_sends_no_call_ids_still_gets_distinct_calls(
    openai: tuple[Replay, OpenAIChat],
) -> None:
    replay, provider = openai
    replay.answers.append(completion(["{}"], ['{"ticket_number": "T2"}'], ids=False))
    _events, reply = await answer(provider, CONVERSATION)
    assert [c.name for c in reply.calls] == ["list_my_tickets", "get_upgrade_options"]
    assert len({c.id for c in reply.calls}) == 2
    assert reply.calls[1].arguments == {"ticket_number": "T2"}


@pytest.mark.parametrize(
    ("status", "throttled"), [(429, True), (503, True), (400, False), (401, False), (500, False)]
)
async def test_an_error_answer_is_a_model_error_throttled_only_when_worth_retrying(
    openai: tuple[Replay, OpenAIChat], status: int, throttled: bool
) -> None:
    replay, provider = openai
    replay.answers.append(
        json_answer(status, {"error": {"message": "secret detail", "type": "x", "code": None}})
    )
    with pytest.raises(ModelError) as raised:
        await answer(provider, CONVERSATION)
    assert raised.value.throttled is throttled
    assert str(status) in str(raised.value)
    assert "secret detail" not in str(raised.value)


async def test_the_loop_retries_a_429_and_streams_the_answer(
    openai: tuple[Replay, OpenAIChat], database_url: str
) -> None:
    replay, provider = openai
    before = len(replay.requests)
    replay.answers.append(json_answer(429, {"error": {"message": "slow down", "type": "x"}}))
    events = [chunk({"content": "Hello again"}), chunk({}, "stop")]
    replay.answers.append(Answer(200, SSE, (*sse((None, e) for e in events), b"data: [DONE]\n\n")))
    shown = await one_turn(provider, database_url)
    assert len(replay.requests) - before == 2
    assert [e for e in shown if e["type"] == "error"] == []
    assert "".join(e["delta"] for e in shown if e["type"] == "text") == "Hello again"


async def test_arguments_cut_anywhere_reassemble_to_the_same_call(
    openai: tuple[Replay, OpenAIChat],
) -> None:
    replay, provider = openai
    arguments = {"ticket_number": "TK-7", "note": 'naïve \\ "quoted"'}
    for pieces in examples(fragments(json.dumps(arguments)), 10):
        replay.answers.append(completion(pieces, ["{}"]))
        _events, reply = await answer(provider, CONVERSATION)
        assert reply.calls[0].arguments == arguments, pieces


async def test_a_plain_answer_ends_the_turn(openai: tuple[Replay, OpenAIChat]) -> None:
    replay, provider = openai
    events = [chunk({"content": "Hello"}), chunk({}, "stop")]
    replay.answers.append(Answer(200, SSE, (*sse((None, e) for e in events), b"data: [DONE]\n\n")))
    got, reply = await answer(provider, CONVERSATION)
    # A server that sends no usage chunk answers with zero tokens rather than failing.
    assert got == [TextDelta("Hello"), Finished("end_turn", 0, 0)]
    assert reply.calls == []
