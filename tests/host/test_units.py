"""Pure parts of the host: card redaction (whole and streamed), the scripted model's streamed
tool-call JSON put back together, and the schemas the model is shown."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from host.providers.base import Assembler, ModelRequest, ToolUse
from host.providers.scripted import Call, Say, ScriptedModel
from host.redact import CARD_REMOVED, StreamRedactor, has_card_number, luhn_valid, redact
from host.toolbox import model_schema

STRIPE_TEST_CARDS = ["4242424242424242", "4000000000000002", "4000000000009995"]


def with_check_digit(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


cards = st.builds(
    lambda first, rest: with_check_digit(first + rest),
    st.sampled_from("3456"),
    st.text(alphabet="0123456789", min_size=11, max_size=17),
)
grouped = cards.flatmap(
    lambda n: st.sampled_from(["", " ", "-"]).map(
        lambda sep: sep.join(n[i : i + 4] for i in range(0, len(n), 4))
    )
)
prose = st.text(alphabet="abc .,!?xyz", max_size=30)


def test_known_test_cards_are_removed_and_other_numbers_kept() -> None:
    for card in STRIPE_TEST_CARDS:
        assert redact(f"card {card} please") == f"card {CARD_REMOVED} please"
    assert redact("order 1234567890123 on 2026-12-01") == "order 1234567890123 on 2026-12-01"


@given(prose, grouped, prose)
def test_any_luhn_valid_card_is_removed(before: str, card: str, after: str) -> None:
    text = f"{before} {card} {after}"
    cleaned = redact(text)
    assert not has_card_number(cleaned)
    assert card.replace(" ", "").replace("-", "") not in cleaned.replace(" ", "")


@given(prose, grouped, prose, st.lists(st.integers(1, 60), min_size=1, max_size=8))
def test_a_card_split_across_fragments_is_still_removed(
    before: str, card: str, after: str, cuts: list[int]
) -> None:
    text = f"{before} {card} {after}"
    bounds = sorted({min(c, len(text)) for c in cuts})
    pieces = [text[a:b] for a, b in zip([0, *bounds], [*bounds, len(text)], strict=True)]
    streaming = StreamRedactor()
    shown = "".join(streaming.feed(p) for p in pieces) + streaming.flush()
    assert shown == redact(text)


async def test_streamed_tool_json_fragments_reassemble_into_the_planned_call() -> None:
    arguments: dict[str, Any] = {"ticket_number": "TKT-JD0001", "nested": {"a": [1, 2, "x"]}}
    model = ScriptedModel([[Say("Looking it up."), Call("get_ticket", arguments)]], fragment=3)
    assembler = Assembler()
    fragments = 0
    async for event in model.stream(ModelRequest("system", (), ())):
        assembler.add(event)
        fragments += 1
    reply = assembler.finish()
    assert fragments > 10
    assert reply.text == "Looking it up."
    assert reply.calls == [ToolUse("call_1", "get_ticket", arguments)]
    assert reply.stop_reason == "tool_use"


def test_operator_and_host_filled_arguments_are_hidden_from_the_model() -> None:
    schema = {
        "type": "object",
        "properties": {
            "ticket_number": {"type": "string"},
            "customer_id": {"type": "string"},
            "idempotency_key": {"type": "string"},
        },
        "required": ["ticket_number", "idempotency_key"],
    }
    shown = model_schema(schema)
    assert shown["properties"] == {"ticket_number": {"type": "string"}}
    assert shown["required"] == ["ticket_number"]
    assert "customer_id" in schema["properties"]  # the server's own schema is left as it was
