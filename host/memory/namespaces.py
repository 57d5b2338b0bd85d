"""AgentCore Memory's namespaces as the host reads and writes them: a module of its own, free of
SDK imports, because the CDK app (infra/) gives the memory's strategies these very paths."""

from __future__ import annotations

FACTS_NAMESPACE = "/facts/{actorId}/"
"""Where the semantic strategy keeps facts, and where the remember tool's facts go."""
PREFERENCES_NAMESPACE = "/preferences/{actorId}/"
"""Where the user-preference strategy keeps what a customer prefers."""
SUMMARIES_NAMESPACE = "/summaries/{actorId}/{sessionId}/"
"""Where the summary strategy keeps each session's summary."""
RECALL_NAMESPACES = (FACTS_NAMESPACE, PREFERENCES_NAMESPACE, "/summaries/{actorId}/")
"""Namespace paths read at the start of a turn (a path prefix reaches every session's summary)."""
