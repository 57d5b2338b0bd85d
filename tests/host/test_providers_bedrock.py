"""The Bedrock provider through a real boto3 client, over HTTP, against a ConverseStream stand-in
that holds requests, events and errors to botocore's ``bedrock-runtime`` service model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from hypothesis import given, settings

from host.providers.base import (
    Finished,
    ModelError,
    ModelRequest,
    TextDelta,
    ToolUse,
    ToolUseDelta,
    ToolUseStart,
)
from host.providers.bedrock_converse import DEFAULT_MODEL, BedrockConverse, converse_params
from tests.host.model_fakes import CONVERSE_STREAM, BedrockStandIn, served, shape_errors
from tests.host.provider_cases import CONVERSATION, answer, conversations, one_turn, until_error


@pytest.fixture(scope="module")
def bedrock() -> Iterator[tuple[BedrockStandIn, BedrockConverse]]:
    stand_in = BedrockStandIn()
    with served(stand_in) as url:
        client = boto3.client(
            "bedrock-runtime",
            region_name="us-west-2",
            endpoint_url=url,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            # One attempt: botocore's own retries would hide what the provider maps.
            config=Config(retries={"total_max_attempts": 1}, read_timeout=30),
        )
        yield stand_in, BedrockConverse(client, max_tokens=512)
    assert not stand_in.invalid, stand_in.invalid


def tool_call_stream(input_pieces: list[str]) -> list[dict[str, Any]]:
    return [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "Here are "}, "contentBlockIndex": 0}},
        {"contentBlockDelta": {"delta": {"text": "your tickets."}, "contentBlockIndex": 0}},
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {
            "contentBlockStart": {
                "start": {"toolUse": {"toolUseId": "tooluse_A1", "name": "list_my_tickets"}},
                "contentBlockIndex": 1,
            }
        },
        *[
            {"contentBlockDelta": {"delta": {"toolUse": {"input": p}}, "contentBlockIndex": 1}}
            for p in input_pieces
        ],
        {"contentBlockStop": {"contentBlockIndex": 1}},
        {"messageStop": {"stopReason": "tool_use"}},
        {
            "metadata": {
                "usage": {"inputTokens": 812, "outputTokens": 37, "totalTokens": 849},
                "metrics": {"latencyMs": 420},
            }
        },
    ]


async def test_a_streamed_answer_gives_text_a_tool_call_and_the_usage(
    bedrock: tuple[BedrockStandIn, BedrockConverse],
) -> None:
    stand_in, provider = bedrock
    stand_in.stream(*tool_call_stream(['{"stat', 'us": "act', 'ive"}']))
    events, reply = await answer(provider, CONVERSATION)

    assert [type(e) for e in events[:3]] == [TextDelta, TextDelta, ToolUseStart]
    assert [e for e in events if isinstance(e, ToolUseDelta)] == [
        ToolUseDelta("tooluse_A1", '{"stat'),
        ToolUseDelta("tooluse_A1", 'us": "act'),
        ToolUseDelta("tooluse_A1", 'ive"}'),
    ]
    assert events[-1] == Finished("tool_use", 812, 37)
    assert reply.text == "Here are your tickets."
    assert reply.calls == [ToolUse("tooluse_A1", "list_my_tickets", {"status": "active"})]

    path, body = stand_in.requests[-1]
    assert path == f"/model/{DEFAULT_MODEL}/converse-stream"
    assert body["system"] == [{"text": "You are the park's concierge."}]
    assert body["inferenceConfig"] == {"maxTokens": 512}
    specs = [t["toolSpec"] for t in body["toolConfig"]["tools"]]
    assert specs[0]["inputSchema"] == {"json": CONVERSATION.tools[0].input_schema}
    assert "description" not in specs[1]  # empty descriptions are left out, as the model asks
    assert body["messages"][1]["content"][1] == {
        "toolUse": {"toolUseId": "call_1", "name": "list_my_tickets", "input": {"status": "active"}}
    }
    failed = body["messages"][4]["content"][0]["toolResult"]
    assert failed["status"] == "error"
    assert failed["content"] == [{"text": "NOT_FOUND: no such ticket"}]


@pytest.mark.parametrize(
    ("code", "throttled"),
    [
        ("ThrottlingException", True),
        ("ServiceUnavailableException", True),
        ("ModelNotReadyException", True),
        ("ValidationException", False),
        ("AccessDeniedException", False),
        ("InternalServerException", False),
    ],
)
async def test_an_error_answer_is_a_model_error_throttled_only_when_worth_retrying(
    bedrock: tuple[BedrockStandIn, BedrockConverse], code: str, throttled: bool
) -> None:
    stand_in, provider = bedrock
    stand_in.fail(code)
    with pytest.raises(ModelError) as raised:
        await answer(provider, CONVERSATION)
    assert raised.value.throttled is throttled
    assert code in str(raised.value)
    assert "secret detail" not in str(raised.value)


@pytest.mark.parametrize(
    ("member", "throttled"),
    [
        ("throttlingException", True),
        ("serviceUnavailableException", True),
        ("modelStreamErrorException", False),
        ("internalServerException", False),
    ],
)
async def test_an_error_inside_the_stream_is_a_model_error_after_what_was_streamed(
    bedrock: tuple[BedrockStandIn, BedrockConverse], member: str, throttled: bool
) -> None:
    stand_in, provider = bedrock
    stand_in.stream(
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "Sure"}, "contentBlockIndex": 0}},
        {member: {"message": "secret detail"}},
    )
    seen, error = await until_error(provider, CONVERSATION)
    assert seen == [TextDelta("Sure")]
    assert error.throttled is throttled
    assert "secret detail" not in str(error)


async def test_the_loop_retries_a_throttled_call_and_streams_the_answer(
    bedrock: tuple[BedrockStandIn, BedrockConverse], database_url: str
) -> None:
    stand_in, provider = bedrock
    before = len(stand_in.requests)
    stand_in.fail("ThrottlingException")
    stand_in.stream(
        {"contentBlockDelta": {"delta": {"text": "Hello again"}, "contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
    )
    events = await one_turn(provider, database_url)
    assert len(stand_in.requests) - before == 2
    assert [e["type"] for e in events if e["type"] == "error"] == []
    assert "".join(e["delta"] for e in events if e["type"] == "text") == "Hello again"


@pytest.mark.parametrize(
    ("model_id", "status"),
    [
        (DEFAULT_MODEL, True),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", True),
        ("meta.llama3-70b-instruct-v1:0", False),
        ("mistral.mistral-large-2407-v1:0", False),
    ],
)
def test_a_tool_results_status_goes_only_to_models_that_take_it(
    model_id: str, status: bool
) -> None:
    params = converse_params(CONVERSATION, model_id, 100)
    results = [
        c["toolResult"] for m in params["messages"] for c in m["content"] if "toolResult" in c
    ]
    assert len(results) == 2
    assert all(("status" in r) is status for r in results)


def test_the_stand_in_refuses_what_botocore_would() -> None:
    """The validation that keeps the stand-in honest can fail."""
    params = converse_params(CONVERSATION, DEFAULT_MODEL, 100)
    params["messages"][0]["role"] = "narrator"
    del params["modelId"]
    params["inferenceConfig"]["maxTokens"] = "many"
    errors = shape_errors(params, CONVERSE_STREAM.input_shape)
    assert "modelId" in errors
    assert "maxTokens" in errors


@settings(max_examples=30, deadline=None, derandomize=True)
@given(conversations)
def test_every_conversation_makes_a_request_the_service_model_accepts(
    conversation: ModelRequest,
) -> None:
    params = converse_params(conversation, DEFAULT_MODEL, 4096)
    assert shape_errors(params, CONVERSE_STREAM.input_shape) == ""
    assert all(m["content"] for m in params["messages"])
    # The arguments of a call reach Bedrock as the JSON document they are.
    sent = [
        c["toolUse"]["input"] for m in params["messages"] for c in m["content"] if "toolUse" in c
    ]
    calls = [b.arguments for m in conversation.messages for b in m.blocks if isinstance(b, ToolUse)]
    assert json.dumps(sent) == json.dumps(calls)
