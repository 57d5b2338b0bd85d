"""Cards as the simulated processor sees them: validation, brands, and what each test card does.

Outcomes depend on the card only, never on chance: Stripe's test numbers behave as in Stripe,
any other valid number succeeds. The number itself is forgotten once the payment method is made.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from servers.core.errors import DomainError

from .models import Brand

Behavior = Literal[
    "succeed",
    "generic_decline",
    "insufficient_funds",
    "expired_card",
    "incorrect_cvc",
    "processing_error",
    "authentication_required",
    "transient_processing_error",
]

INCORRECT_NUMBER = "INCORRECT_NUMBER"
INVALID_EXPIRY_MONTH = "INVALID_EXPIRY_MONTH"
INVALID_EXPIRY_YEAR = "INVALID_EXPIRY_YEAR"
INVALID_CVC = "INVALID_CVC"
UNKNOWN_TEST_CARD = "UNKNOWN_TEST_CARD"

TRANSIENT_FAILURES = 2
"""How many times the transient test card fails with processing_error before it succeeds."""

TEST_CARDS: dict[str, Behavior] = {
    "4242424242424242": "succeed",
    "4000000000000002": "generic_decline",
    "4000000000009995": "insufficient_funds",
    "4000000000000069": "expired_card",
    "4000000000000127": "incorrect_cvc",
    "4000000000000119": "processing_error",
    # 3-D Secure: the payment waits for the customer's approval on the hosted page.
    "4000000000003220": "authentication_required",
    "4000002500003155": "authentication_required",
    # Not a Stripe number: fails with processing_error twice per intent, then succeeds.
    "4000000000007775": "transient_processing_error",
}

TEST_TOKENS: dict[str, str] = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_discover": "6011111111111117",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_chargeDeclinedProcessingError": "4000000000000119",
    "pm_card_authenticationRequired": "4000000000003220",
    "pm_card_transientProcessingError": "4000000000007775",
}


@dataclass(frozen=True)
class Card:
    """A validated card; ``number`` lives only as long as this object."""

    number: str
    exp_month: int
    exp_year: int

    @property
    def brand(self) -> Brand:
        return brand_of(self.number)

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def behavior(self) -> Behavior:
        return TEST_CARDS.get(self.number, "succeed")

    def fingerprint(self, key: bytes) -> str:
        """The same card gives the same fingerprint under one key; the number cannot be
        recovered from it without the key."""
        return hmac.new(key, self.number.encode(), hashlib.sha256).hexdigest()[:32]


def luhn_ok(number: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(number)):
        digit = int(char)
        if i % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def brand_of(number: str) -> Brand:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"34", "37"}:
        return "amex"
    if 51 <= int(number[:2]) <= 55 or 2221 <= int(number[:4]) <= 2720:
        return "mastercard"
    if number.startswith(("6011", "65")):
        return "discover"
    return "unknown"


def validate_card(number: str, exp_month: int, exp_year: int, cvc: str, now: datetime) -> Card:
    """The card, or a DomainError whose message never repeats the number or the CVC."""
    digits = number.replace(" ", "").replace("-", "")
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not luhn_ok(digits):
        raise DomainError(INCORRECT_NUMBER, "the card number is not a valid card number")
    if not 1 <= exp_month <= 12:
        raise DomainError(INVALID_EXPIRY_MONTH, "the expiry month must be 1 to 12")
    if exp_year < 100:
        exp_year += 2000
    if (exp_year, exp_month) < (now.year, now.month) or exp_year > now.year + 50:
        raise DomainError(
            INVALID_EXPIRY_YEAR, f"the card expired or its expiry year {exp_year} is not valid"
        )
    expected = 4 if brand_of(digits) == "amex" else 3
    if len(cvc) != expected:
        raise DomainError(INVALID_CVC, f"the security code must have {expected} digits")
    return Card(digits, exp_month, exp_year)


def card_of_token(token: str, now: datetime) -> Card:
    """The card behind a test token such as ``pm_card_visa``: expires next year."""
    number = TEST_TOKENS.get(token)
    if number is None:
        raise DomainError(
            UNKNOWN_TEST_CARD,
            f"{token} is not a test token; use one of {', '.join(sorted(TEST_TOKENS))} "
            "or a pm_ id from create_payment_method",
        )
    return Card(number, 12, now.year + 1)


@dataclass(frozen=True)
class Decline:
    code: str
    decline_code: str
    message: str


_DECLINES: dict[Behavior, Decline] = {
    "generic_decline": Decline("card_declined", "generic_decline", "Your card was declined."),
    "insufficient_funds": Decline(
        "card_declined", "insufficient_funds", "Your card has insufficient funds."
    ),
    "expired_card": Decline("expired_card", "expired_card", "Your card has expired."),
    "incorrect_cvc": Decline(
        "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."
    ),
    "processing_error": Decline(
        "processing_error",
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
}
_DECLINES["transient_processing_error"] = _DECLINES["processing_error"]

FAULT = _DECLINES["processing_error"]
"""What an injected transient processor fault looks like to the payer."""


def decline_for(behavior: Behavior, earlier_transient_failures: int) -> Decline | None:
    """The decline a charge of this card meets, or None when it goes through."""
    if behavior == "transient_processing_error":
        return _DECLINES[behavior] if earlier_transient_failures < TRANSIENT_FAILURES else None
    return _DECLINES.get(behavior)
