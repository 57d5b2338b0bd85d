"""Card checks and test-card outcomes, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servers.core.errors import DomainError
from servers.payment.cards import (
    INCORRECT_NUMBER,
    INVALID_CVC,
    INVALID_EXPIRY_MONTH,
    INVALID_EXPIRY_YEAR,
    TEST_CARDS,
    TEST_TOKENS,
    UNKNOWN_TEST_CARD,
    brand_of,
    card_of_token,
    decline_for,
    luhn_ok,
    validate_card,
)

NOW = datetime(2030, 6, 3, tzinfo=UTC)


def test_every_test_card_and_token_passes_luhn() -> None:
    for number in [*TEST_CARDS, *TEST_TOKENS.values()]:
        assert luhn_ok(number), number


@given(st.text(alphabet="0123456789", min_size=11, max_size=18), st.integers(1, 9))
def test_changing_one_digit_breaks_luhn(body: str, delta: int) -> None:
    check = next(d for d in "0123456789" if luhn_ok(body + d))
    number = body + check
    wrong = number[:-1] + str((int(check) + delta) % 10)
    assert luhn_ok(number)
    assert not luhn_ok(wrong)


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("3056930009020004", "unknown"),
    ],
)
def test_brands(number: str, brand: str) -> None:
    assert brand_of(number) == brand


@pytest.mark.parametrize(
    ("number", "month", "year", "cvc", "code"),
    [
        ("4242424242424241", 12, 2031, "123", INCORRECT_NUMBER),
        ("4242", 12, 2031, "123", INCORRECT_NUMBER),
        ("4242 4242 4242 4242 4242 4242", 12, 2031, "123", INCORRECT_NUMBER),
        ("4242424242424242", 13, 2031, "123", INVALID_EXPIRY_MONTH),
        ("4242424242424242", 0, 2031, "123", INVALID_EXPIRY_MONTH),
        ("4242424242424242", 5, 2030, "123", INVALID_EXPIRY_YEAR),
        ("4242424242424242", 12, 2029, "123", INVALID_EXPIRY_YEAR),
        ("4242424242424242", 12, 2200, "123", INVALID_EXPIRY_YEAR),
        ("4242424242424242", 12, 2031, "12", INVALID_CVC),
        ("4242424242424242", 12, 2031, "1234", INVALID_CVC),
        ("378282246310005", 12, 2031, "123", INVALID_CVC),
    ],
)
def test_invalid_cards_have_clear_codes_and_never_echo_the_number(
    number: str, month: int, year: int, cvc: str, code: str
) -> None:
    with pytest.raises(DomainError) as caught:
        validate_card(number, month, year, cvc, NOW)
    assert caught.value.code == code
    assert number.replace(" ", "") not in str(caught.value)
    assert cvc not in str(caught.value).split()


def test_a_valid_card_this_month_spaces_and_two_digit_years_are_accepted() -> None:
    card = validate_card("4242 4242 4242 4242", 6, 30, "123", NOW)
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 6, 2030)
    assert validate_card("378282246310005", 1, 2031, "1234", NOW).brand == "amex"


def test_fingerprints_are_keyed_and_stable() -> None:
    card = validate_card("4242424242424242", 12, 2031, "123", NOW)
    assert card.fingerprint(b"k1") == card.fingerprint(b"k1") != card.fingerprint(b"k2")
    assert "4242424242424242" not in card.fingerprint(b"k1")


def test_tokens() -> None:
    assert card_of_token("pm_card_visa", NOW).behavior == "succeed"
    assert card_of_token("pm_card_chargeDeclined", NOW).behavior == "generic_decline"
    with pytest.raises(DomainError) as caught:
        card_of_token("pm_card_nope", NOW)
    assert caught.value.code == UNKNOWN_TEST_CARD


def test_the_transient_card_fails_twice_then_succeeds() -> None:
    outcomes = [decline_for("transient_processing_error", n) for n in range(4)]
    assert [o is None for o in outcomes] == [False, False, True, True]
    assert outcomes[0] is not None
    assert outcomes[0].decline_code == "processing_error"
