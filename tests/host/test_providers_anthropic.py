"""The Anthropic provider through the real SDK, over HTTP, against a stand-in answering the
Messages API's documented stream of server-sent events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from anthropic import AsyncAnthropic

from host.providers.anthropic_messages import AnthropicMessages
from host.providers.base import Finished, ModelError, TextDelta, ToolUse, ToolUseStart
from tests.host.model_fakes import Answer, Replay, json_answer, served, sse
from tests.host.provider_cases import CONVERSATION, answer, fragments, one_turn, until_error
from tests.hypothesis_examples import examples

MODEL = "claude-test-1"
SSE = {"content-type": "text/event-stream"}


@pytest.fixture(scope="module")
def anthropic() -> Iterator[tuple[Replay, AnthropicMessages]]:
    replay = Replay()
    with served(replay) as url:
        # No SDK retries: the loop retries throttling, and the test sees what the provider maps.
        client = AsyncAnthropic(api_key="test-key", base_url=url, max_retries=0, timeout=30)
        yield replay, AnthropicMessages(client, MODEL, max_tokens=512)


def message_stream(input_pieces: list[str]) -> Answer:
    message: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 640, "output_tokens": 1},
    }
    return Answer(
        200,
        SSE,
        sse(
            [
                ("message_start", {"type": "message_start", "message": message}),
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                ),
                ("ping", {"type": "ping"}),
                *[
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": 0,
                            "delta": {"type": "text_delta", "text": text},
                        },
                    )
                    for text in ("Let me ", "check.")
                ],
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 1,
                        "content_block": {
                            "type": "tool_use",
                            "id": "toolu_01",
                            "name": "get_upgrade_options",
                            "input": {},
                        },
                    },
                ),
                *[
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": 1,
                            "delta": {"type": "input_json_delta", "partial_json": piece},
                        },
                    )
                    for piece in input_pieces
                ],
                ("content_block_stop", {"type": "content_block_stop", "index": 1}),
                (
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                        "usage": {"output_tokens": 58},
                    },
                ),
                ("message_stop", {"type": "message_stop"}),
            ]
        ),
    )


async def test_a_streamed_answer_gives_text_a_tool_call_and_the_usage(
    anthropic: tuple[Replay, AnthropicMessages],
) -> None:
    replay, provider = anthropic
    replay.answers.append(message_stream(['{"ticket_', 'number": "TK', '-9"}']))
    events, reply = await answer(provider, CONVERSATION)

    assert events[:2] == [TextDelta("Let me "), TextDelta("check.")]
    assert events[2] == ToolUseStart("toolu_01", "get_upgrade_options")
    assert events[-1] == Finished("tool_use", 640, 58)
    assert reply.calls == [ToolUse("toolu_01", "get_upgrade_options", {"ticket_number": "TK-9"})]

    path, body = replay.requests[-1]
    assert path == "/v1/messages"
    assert body["model"] == MODEL
    assert body["stream"] is True
    assert body["max_tokens"] == 512
    assert body["system"] == "You are the park's concierge."
    assert body["tools"][0] == {
        "name": "list_my_tickets",
        "description": "The signed-in customer's tickets.",
        "input_schema": CONVERSATION.tools[0].input_schema,
    }
    assert body["messages"][1]["content"][1] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "list_my_tickets",
        "input": {"status": "active"},
    }
    assert body["messages"][4]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "call_2",
            "content": "NOT_FOUND: no such ticket",
            "is_error": True,
        },
        {"type": "text", "text": "And upgrades?"},
    ]


def _error(kind: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": "secret detail"}}


@pytest.mark.parametrize(
    ("status", "kind", "throttled"),
    [
        (429, "rate_limit_error", True),
        (529, "overloaded_error", True),
        (400, "invalid_request_error", False),
        (401, "authentication_error", False),
        (500, "api_error", False),
    ],
)
async def test_an_error_answer_is_a_model_error_throttled_only_on_429_and_529(
    anthropic: tuple[Replay, AnthropicMessages], status: int, kind: str, throttled: bool
) -> None:
    replay, provider = anthropic
    replay.answers.append(json_answer(status, _error(kind)))
    with pytest.raises(ModelError) as raised:
        await answer(provider, CONVERSATION)
    assert raised.value.throttled is throttled
    assert str(status) in str(raised.value)
    assert "secret detail" not in str(raised.value)


@pytest.mark.parametrize(("kind", "throttled"), [("overloaded_error", True), ("api_error", False)])
async def test_an_error_event_inside_the_stream_is_a_model_error(
    anthropic: tuple[Replay, AnthropicMessages], kind: str, throttled: bool
) -> None:
    replay, provider = anthropic
    streamed = message_stream(["{}"]).chunks[:4]  # message_start, block start, ping, "Let me "
    replay.answers.append(Answer(200, SSE, (*streamed, *sse([("error", _error(kind))]))))
    seen, error = await until_error(provider, CONVERSATION)
    assert seen == [TextDelta("Let me ")]
    assert error.throttled is throttled
    assert "secret detail" not in str(error)


async def test_the_loop_retries_an_overloaded_stream_and_streams_the_answer(
    anthropic: tuple[Replay, AnthropicMessages], database_url: str
) -> None:
    replay, provider = anthropic
    before = len(replay.requests)
    started = message_stream(["{}"]).chunks[:3]  # message_start, block start, ping: no text yet
    replay.answers.append(
        Answer(200, SSE, (*started, *sse([("error", _error("overloaded_error"))])))
    )
    # The second answer: its first events, its text, and the end of the message (no tool call).
    whole = message_stream(["{}"]).chunks
    replay.answers.append(Answer(200, SSE, (*whole[:6], *whole[-2:])))
    events = await one_turn(provider, database_url)
    assert len(replay.requests) - before == 2
    assert [e for e in events if e["type"] == "error"] == []
    assert "".join(e["delta"] for e in events if e["type"] == "text") == "Let me check."


ARGUMENTS = {"ticket_number": "TK-9", "note": 'été "quoted"'}


async def test_input_json_cut_anywhere_reassembles_to_the_same_arguments(
    anthropic: tuple[Replay, AnthropicMessages],
) -> None:
    replay, provider = anthropic
    for pieces in examples(fragments(json.dumps(ARGUMENTS)), 10):
        replay.answers.append(message_stream(pieces))
        _events, reply = await answer(provider, CONVERSATION)
        assert reply.calls[0].arguments == ARGUMENTS, pieces
