"""Long-term memory: what a customer asked the concierge to keep in mind across sessions.

The model decides what is worth keeping, through a host-internal tool, :data:`REMEMBER`, that
only the host offers (no MCP server has it). A tool rather than a summarising model call after
each turn: it costs no extra model call, the model makes the choice while it has the whole
conversation in view, the choice shows up as a ``tool_call`` event the customer can see, and a
scripted model in tests plans it like any other tool. Keyword rules would only pretend to know
what matters.

The loop answers the call at once (:func:`answer`); the stores keep the facts of a turn when
they save it (:func:`facts_of_turn`), so a fact is written after the turn ends, together with
it. A fact with a card number in it is never kept, whatever reached the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..providers.base import Message, ToolResultBlock, ToolSpec, ToolUse
from ..redact import CARD_REMOVED, has_card_number
from ..toolbox import ToolOutcome

MAX_FACT_CHARS = 300
RECALL_LIMIT = 20
"""At most this many facts go into the model's context."""

REMEMBER = ToolSpec(
    "remember",
    "Keep one fact about this customer for their later conversations with you, such as their "
    "preferred upgrade tier, the size of their party, who comes with them, or accessibility "
    "needs. Use it when they tell you something that will still matter on a later visit; one "
    "short sentence in the third person per call. Never payment details, passwords or "
    "anything about other people than the customer's own party.",
    {
        "type": "object",
        "properties": {
            "fact": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_FACT_CHARS,
                "description": "The fact, e.g. 'Prefers the Double Fun tier.'",
            }
        },
        "required": ["fact"],
        "additionalProperties": False,
    },
)


def answer(arguments: dict[str, Any]) -> ToolOutcome:
    """The loop's answer to a :data:`REMEMBER` call: kept (when the turn is saved) or why not."""
    fact = arguments.get("fact")
    if not isinstance(fact, str) or not fact.strip():
        return ToolOutcome(False, {}, "INVALID_ARGUMENT: fact must be a non-empty string")
    if len(fact) > MAX_FACT_CHARS:
        return ToolOutcome(
            False, {}, f"INVALID_ARGUMENT: a fact has at most {MAX_FACT_CHARS} characters"
        )
    if not _keepable(fact.strip()):
        # A fact the loop had to redact was about a card: payment details are never kept.
        return ToolOutcome(False, {}, "CARD_NUMBER_REFUSED: card numbers are never remembered")
    return ToolOutcome(True, {"remembered": fact.strip()}, "Remembered for later conversations.")


def facts_of_turn(messages: Sequence[Message]) -> list[str]:
    """The facts the model asked to keep in this turn and the loop accepted, in order, without
    repeats; a fact with a card number is dropped here too, whatever let it through."""
    accepted = {
        block.tool_use_id
        for message in messages
        for block in message.blocks
        if isinstance(block, ToolResultBlock) and block.ok
    }
    facts: list[str] = []
    for message in messages:
        for block in message.blocks:
            if isinstance(block, ToolUse) and block.name == REMEMBER.name and block.id in accepted:
                fact = block.arguments.get("fact")
                if isinstance(fact, str) and _keepable(fact.strip()) and fact.strip() not in facts:
                    facts.append(fact.strip())
    return facts


def _keepable(fact: str) -> bool:
    return (
        0 < len(fact) <= MAX_FACT_CHARS and not has_card_number(fact) and CARD_REMOVED not in fact
    )
