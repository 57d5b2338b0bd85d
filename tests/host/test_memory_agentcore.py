"""The AgentCore Memory store through the bedrock-agentcore SDK, against the local stand-in that
botocore's ``bedrock-agentcore`` service model holds to: what the requests look like, what the
service refuses, and what only AgentCore has (strategies' namespaces, pages of events)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import botocore.session
import pytest
from bedrock_agentcore.memory import MemoryClient
from botocore.exceptions import ClientError, ParamValidationError
from pydantic import ValidationError

from host.memory.agentcore import AgentCoreMemory
from host.memory.base import Session
from host.memory.factory import build_memory
from host.memory.postgres import PostgresMemory
from host.providers.base import Message, TextBlock, ToolResultBlock, ToolUse
from host.settings import HostSettings
from servers.core.db.postgres import PostgresDatabase
from ticketing.local_aws.agentcore_memory import (
    DIRECT_STRATEGY_ID,
    LOCAL_MEMORY_ID,
    LocalAgentCoreMemory,
)
from ticketing.local_aws.botocore_shapes import validate_shape

MODEL = botocore.session.get_session().get_service_model("bedrock-agentcore")


@pytest.fixture
def local() -> LocalAgentCoreMemory:
    return LocalAgentCoreMemory()


@pytest.fixture
def memory(local: LocalAgentCoreMemory) -> AgentCoreMemory:
    return AgentCoreMemory(LOCAL_MEMORY_ID, region="us-west-2", boto3_session=local.boto3_session())


def seed(local: LocalAgentCoreMemory, *records: tuple[str, str]) -> None:
    """Long-term records (namespace, text) as the memory's strategies would extract them."""
    client = local.boto3_session().client("bedrock-agentcore")
    answer = client.batch_create_memory_records(
        memoryId=LOCAL_MEMORY_ID,
        records=[
            {
                "requestIdentifier": f"seed-{i}",
                "namespaces": [namespace],
                "content": {"text": text},
                "timestamp": datetime(2026, 11, 1, tzinfo=UTC),
                "memoryStrategyId": "preferences-Abc123",
            }
            for i, (namespace, text) in enumerate(records)
        ],
    )
    assert [r["status"] for r in answer["successfulRecords"]] == ["SUCCEEDED"] * len(records)


async def test_a_turn_is_one_event_of_the_customer_as_actor_and_facts_go_to_their_namespace(
    local: LocalAgentCoreMemory, memory: AgentCoreMemory
) -> None:
    session = await memory.new_session("cus_a")
    messages = [
        Message("user", (TextBlock("We are two adults and a toddler"),)),
        Message(
            "assistant", (ToolUse("c1", "remember", {"fact": "Party: two adults, a toddler."}),)
        ),
        Message("user", (ToolResultBlock("c1", "ok", True),)),
        Message("assistant", (TextBlock("Noted!"),)),
    ]
    await memory.save_turn(session, messages, [{"type": "done"}])
    assert local.requests[:3] == ["CreateEvent", "CreateEvent", "BatchCreateMemoryRecords"]
    assert local.records() == [("/facts/cus_a/", "Party: two adults, a toddler.")]
    conversational = [
        p["conversational"] for p in local.all_event_payloads() if "conversational" in p
    ]
    # What the service's strategies read: the turn's plain texts, as the customer and the
    # concierge said them.
    assert conversational == [
        {"content": {"text": "We are two adults and a toddler"}, "role": "USER"},
        {"content": {"text": "Noted!"}, "role": "ASSISTANT"},
    ]


async def test_no_card_number_reaches_the_service_not_even_for_its_strategies(
    local: LocalAgentCoreMemory, memory: AgentCoreMemory
) -> None:
    card = "4000 0000 0000 0002"
    session = await memory.new_session("cus_a")
    await memory.save_turn(session, [Message("user", (TextBlock(f"use {card}"),))], [])
    sent = repr(local.all_event_payloads())
    assert "use [card number removed]" in sent
    assert card not in sent


async def test_recall_reads_every_strategys_namespace_of_this_customer_only(
    local: LocalAgentCoreMemory, memory: AgentCoreMemory
) -> None:
    seed(
        local,
        ("/preferences/cus_a/", "Prefers morning visits."),
        ("/summaries/cus_a/ses_earlier/", "Asked about Double Fun prices in November."),
        ("/facts/cus_a/", "Uses a wheelchair."),
        ("/preferences/cus_ab/", "Prefers evening visits."),
        ("/facts/cus_b/", "Has a season pass."),
    )
    recalled = await memory.recall("cus_a", "do they like morning visits")
    assert sorted(recalled) == [
        "Asked about Double Fun prices in November.",
        "Prefers morning visits.",
        "Uses a wheelchair.",
    ]
    # Ranked by the service's score: the record closest to the question comes first.
    assert recalled[0] == "Prefers morning visits."
    assert local.requests.count("RetrieveMemoryRecords") == 3


async def test_a_long_session_is_read_across_pages_in_order(
    local: LocalAgentCoreMemory, memory: AgentCoreMemory
) -> None:
    session = await memory.new_session("cus_long")
    for n in range(130):
        await memory.save_turn(session, [Message("user", (TextBlock(f"turn {n}"),))], [])
    assert [m.text for m in await memory.messages(session)] == [f"turn {n}" for n in range(130)]
    assert local.requests.count("ListEvents") == 2


async def test_the_service_refuses_what_it_would_refuse(memory: AgentCoreMemory) -> None:
    # botocore lets the pattern through; the service (the stand-in) refuses it.
    with pytest.raises(ClientError) as refused:
        await memory.new_session("cus a!")
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    # botocore itself refuses what breaks the model's types and minimum lengths.
    with pytest.raises(ParamValidationError):
        await memory.messages(Session("ses_" + "a" * 26, "", datetime.now(UTC)))


async def test_an_unknown_memory_is_not_found_and_the_control_plane_is_not_served(
    local: LocalAgentCoreMemory,
) -> None:
    other = AgentCoreMemory(
        "other_memory-0123456789", region="us-west-2", boto3_session=local.boto3_session()
    )
    with pytest.raises(ClientError) as refused:
        await other.new_session("cus_a")
    assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"
    # Retrieval answers nothing rather than failing the turn (the SDK logs why).
    assert await other.recall("cus_a", "anything") == []
    client = MemoryClient(region_name="us-west-2", boto3_session=local.boto3_session())
    with pytest.raises(NotImplementedError):
        client.get_memory(memoryId=LOCAL_MEMORY_ID)


def event(**changes: Any) -> dict[str, Any]:
    base = {
        "memoryId": LOCAL_MEMORY_ID,
        "actorId": "cus_a",
        "sessionId": "ses_x",
        "eventId": "1764900000000#abcdef",
        "eventTimestamp": datetime(2026, 12, 5, tzinfo=UTC),
        "payload": [{"blob": {"any": ["json", 1, None]}}],
    }
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def test_answers_are_held_to_the_service_model() -> None:
    output = MODEL.operation_model("ListEvents").output_shape
    validate_shape({"events": [event()]}, output)
    for broken in (
        event(eventId=None),
        event(payload=[{"blob": {}, "conversational": {"content": {"text": "x"}, "role": "USER"}}]),
        event(payload=[{"conversational": {"content": {"text": "x"}, "role": "ROBOT"}}]),
        event(eventTimestamp="2026-12-05"),
        event(payload=[{"blob": {"when": datetime(2026, 12, 5, tzinfo=UTC)}}]),
    ):
        with pytest.raises(AssertionError):
            validate_shape({"events": [broken]}, output)
    summary = MODEL.operation_model("RetrieveMemoryRecords").output_shape
    with pytest.raises(AssertionError):
        validate_shape(
            {
                "memoryRecordSummaries": [
                    {
                        "memoryRecordId": "mem-short",
                        "content": {"text": "x"},
                        "memoryStrategyId": DIRECT_STRATEGY_ID,
                        "namespaces": ["/facts/cus_a/"],
                        "createdAt": datetime(2026, 12, 5, tzinfo=UTC),
                    }
                ]
            },
            summary,
        )


def test_the_settings_choose_the_store_and_agentcore_needs_its_memory_id() -> None:
    base: dict[str, Any] = {
        "auth_issuer": "http://127.0.0.1:9000/",
        "auth_jwks_url": "http://127.0.0.1:9000/.well-known/jwks.json",
        "database_url": "postgresql://host@127.0.0.1/unused",
    }
    # Never opened: neither store connects when it is made.
    db = PostgresDatabase(base["database_url"])
    assert isinstance(build_memory(HostSettings(**base), db), PostgresMemory)
    with pytest.raises(ValidationError, match="HOST_AGENTCORE_MEMORY_ID"):
        HostSettings(**base, memory_backend="agentcore")
    chosen = build_memory(
        HostSettings(
            **base,
            memory_backend="agentcore",
            agentcore_memory_id=LOCAL_MEMORY_ID,
            agentcore_memory_region="eu-central-1",
        ),
        db,
    )
    assert isinstance(chosen, AgentCoreMemory)
    assert chosen.memory_id == LOCAL_MEMORY_ID
