"""The memory store on Amazon Bedrock AgentCore Memory, through the ``bedrock-agentcore`` SDK.

Short-term memory is the session's events (``MemorySessionManager``): actor = the customer
(the access token's subject), session = the session id. A session starts with one event that
marks it; each turn is one more event, so a turn is kept whole or not at all. A turn's event
holds the turn exactly as the model saw it, the events the customer was shown and the session's
state after it, in a ``blob`` payload, and the turn's plain texts as ``conversational``
payloads, which the memory's long-term strategies read. Events are keyed by actor and session,
so another customer's session id lists nothing: not found.

Long-term memory is read with ``MemoryClient.retrieve_memories`` from the namespaces of the
memory's strategies (:data:`RECALL_NAMESPACES`, which infrastructure gives the semantic,
user-preference and summary strategies), ranked by the service against the customer's
message. The facts the model chose to keep (:mod:`.facts`) are written to the semantic
namespace with ``BatchCreateMemoryRecords`` after the turn's event, so they are there at once,
beside what the strategies extract later on their own.

The SDK is synchronous (boto3): its calls run in worker threads.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import boto3
from bedrock_agentcore.memory import MemoryClient, MemorySessionManager
from bedrock_agentcore.memory.constants import BlobMessage, ConversationalMessage, MessageRole
from bedrock_agentcore.memory.models import Event

from servers.core.clock import Clock, utc_now
from servers.core.ids import new_id

from ..providers.base import Message, TextBlock
from ..redact import redact, redact_value
from .base import SESSION_ID, Session, block_from_json, block_to_json
from .facts import RECALL_LIMIT, facts_of_turn

log = logging.getLogger(__name__)

FACTS_NAMESPACE = "/facts/{actorId}/"
"""Where the semantic strategy keeps facts, and where the remember tool's facts go."""
RECALL_NAMESPACES = (FACTS_NAMESPACE, "/preferences/{actorId}/", "/summaries/{actorId}/")
"""Namespace paths read at the start of a turn: the semantic, user-preference and summary
strategies' (the summaries' own namespace is ``/summaries/{actorId}/{sessionId}/``; its path
prefix reads every earlier session's)."""
MAX_EVENTS = 10_000
"""More events than one session ever has: a session is read whole."""
_QUERY_CHARS = 1000
_NO_QUERY = "What does this customer prefer?"
_KIND = "host"
_MAX_CONVERSATIONAL = 99
"""An event holds at most 100 payloads; one of them is the turn's blob."""


class AgentCoreMemory:
    def __init__(
        self,
        memory_id: str,
        *,
        region: str,
        boto3_session: boto3.session.Session | None = None,
        clock: Clock = utc_now,
    ):
        self.memory_id = memory_id
        self._sessions = MemorySessionManager(
            memory_id, region_name=region, boto3_session=boto3_session
        )
        self._client = MemoryClient(region_name=region, boto3_session=boto3_session)
        self._clock = clock

    async def new_session(self, customer_id: str) -> Session:
        return await self._start(customer_id, new_id("ses"))

    async def open_session(self, customer_id: str, session_id: str) -> Session | None:
        # Events are keyed by actor: another customer's session of this id is another session.
        found = await self.session(customer_id, session_id)
        if found is None and SESSION_ID.fullmatch(session_id):
            found = await self._start(customer_id, session_id)
        return found

    async def _start(self, customer_id: str, session_id: str) -> Session:
        session = Session(session_id, customer_id, self._clock())
        await asyncio.to_thread(
            self._sessions.add_turns,
            actor_id=customer_id,
            session_id=session.session_id,
            messages=[BlobMessage({_KIND: "session"})],
            event_timestamp=session.created_at,
        )
        return session

    async def session(self, customer_id: str, session_id: str) -> Session | None:
        if not SESSION_ID.fullmatch(session_id):
            return None
        events = await self._events(customer_id, session_id)
        if not events:
            return None
        # botocore reads timestamps in the local zone; times are UTC here.
        created: datetime = events[0]["eventTimestamp"].astimezone(UTC)
        turns = _turns(events)
        state = dict(turns[-1]["state"]) if turns else {}
        return Session(session_id, customer_id, created, state)

    async def messages(self, session: Session) -> list[Message]:
        turns = _turns(await self._events(session.customer_id, session.session_id))
        return [
            Message(m["role"], tuple(block_from_json(b) for b in m["blocks"]))
            for turn in turns
            for m in turn["messages"]
        ]

    async def events(self, session: Session) -> list[dict[str, Any]]:
        turns = _turns(await self._events(session.customer_id, session.session_id))
        return [event for turn in turns for event in turn["events"]]

    async def save_turn(
        self, session: Session, messages: list[Message], events: list[dict[str, Any]]
    ) -> None:
        now = self._clock()
        turn = {
            _KIND: "turn",
            "messages": [
                {"role": m.role, "blocks": [block_to_json(b) for b in m.blocks]} for m in messages
            ],
            "events": redact_value(events),
            "state": session.state,
        }
        said = [
            ConversationalMessage(
                redact(m.text), MessageRole.USER if m.role == "user" else MessageRole.ASSISTANT
            )
            for m in messages
            if any(isinstance(b, TextBlock) and b.text for b in m.blocks)
        ]
        await asyncio.to_thread(
            self._sessions.add_turns,
            actor_id=session.customer_id,
            session_id=session.session_id,
            messages=[BlobMessage(turn), *said[-_MAX_CONVERSATIONAL:]],
            event_timestamp=now,
        )
        kept = facts_of_turn(messages)
        if kept:
            namespace = FACTS_NAMESPACE.format(actorId=session.customer_id)
            answer = await asyncio.to_thread(
                self._sessions.batch_create_memory_records,
                memoryId=self.memory_id,
                records=[
                    {
                        "requestIdentifier": f"fact-{i}",
                        "namespaces": [namespace],
                        "content": {"text": fact},
                        "timestamp": now,
                    }
                    for i, fact in enumerate(kept)
                ],
            )
            # The turn is kept either way; a fact the service would not take is only missed.
            for failed in answer.get("failedRecords", []):
                log.warning(
                    "AgentCore Memory did not keep a fact (%s: %s)",
                    failed.get("errorCode"),
                    failed.get("errorMessage"),
                )

    async def recall(self, customer_id: str, query: str) -> list[str]:
        question = query.strip()[:_QUERY_CHARS] or _NO_QUERY
        # The SDK answers [] (and logs why) when the service refuses: a memory that cannot be
        # read leaves the model without it, not the customer without an answer.
        answers = await asyncio.gather(
            *(
                asyncio.to_thread(
                    self._client.retrieve_memories,
                    memory_id=self.memory_id,
                    namespace_path=template.format(actorId=customer_id),
                    query=question,
                    top_k=RECALL_LIMIT,
                )
                for template in RECALL_NAMESPACES
            )
        )
        found = [
            (float(record.get("score", 0.0)), record["content"]["text"])
            for records in answers
            for record in records
            if isinstance(record.get("content", {}).get("text"), str)
        ]
        found.sort(key=lambda scored: scored[0], reverse=True)
        facts: list[str] = []
        for _score, text in found:
            if text not in facts:
                facts.append(text)
        return facts[:RECALL_LIMIT]

    async def _events(self, customer_id: str, session_id: str) -> list[Event]:
        events = await asyncio.to_thread(
            self._sessions.list_events,
            actor_id=customer_id,
            session_id=session_id,
            max_results=MAX_EVENTS,
        )
        # Oldest first, whatever order the pages came in.
        return sorted(events, key=lambda e: e["eventTimestamp"])


def _turns(events: list[Event]) -> list[dict[str, Any]]:
    return [
        item["blob"]
        for event in events
        for item in event["payload"]
        if isinstance(item.get("blob"), dict) and item["blob"].get(_KIND) == "turn"
    ]
