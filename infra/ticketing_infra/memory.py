"""AgentCore Memory for the host's concierge: short-term events per session and long-term
summaries, facts and preferences per customer (the host's PostgreSQL memory, in AWS)."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_bedrockagentcore as agentcore
from constructs import Construct
from host.memory.namespaces import FACTS_NAMESPACE, PREFERENCES_NAMESPACE, SUMMARIES_NAMESPACE


class MemoryStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.memory = agentcore.Memory(
            self,
            "Concierge",
            memory_name="ticketing_concierge",
            description="Concierge sessions and what it learns about each customer",
            # Raw conversation events are kept 30 days: long enough to pick a session up
            # again, short enough that a card number pasted by mistake does not linger.
            expiration_duration=Duration.days(30),
            # The host reads (and its remember tool writes) these namespaces, so the
            # strategies are given them rather than their built-in /strategies/... defaults.
            memory_strategies=[
                agentcore.MemoryStrategy.using_summarization(
                    strategy_name="summaries", namespaces=[SUMMARIES_NAMESPACE]
                ),
                agentcore.MemoryStrategy.using_semantic(
                    strategy_name="facts", namespaces=[FACTS_NAMESPACE]
                ),
                agentcore.MemoryStrategy.using_user_preference(
                    strategy_name="preferences", namespaces=[PREFERENCES_NAMESPACE]
                ),
            ],
        )
