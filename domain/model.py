"""The base of every domain value (immutable, strict about unknown fields) and the bounds inputs share.

Every number and time that enters from outside is bounded here, once: a quantity, an amount of money, an
instant. The bounds keep every sum a workflow or the read model makes far inside what a ``datetime`` and a
signed 64-bit integer hold, so an absurd input is a 422 at the door, never a 500 or a workflow that fails.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
)

MAX_QUANTITY = 10_000
"""Units of one line (of an order or of a case)."""
MAX_LINES = 200
"""Lines of one order or case."""
MAX_UNIT_PRICE_CENTS = 10**11
"""One unit's price: ¥1 000 000 000. Lines × quantity × price stay below 2·10^17, far inside int64."""
MAX_POSTAGE_CENTS = 1_000_000
"""A parcel's postage: ¥10 000."""
INT64_MAX = 2**63 - 1
"""What the read model's BIGINT columns hold; every total must fit."""

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Instants outside [EARLIEST, LATEST) are typos or probes. The bound is absolute (it does not move with the
clock), so a payload that was valid when written still decodes when a workflow replays it years later; the
checks against *now* live where now is known (the API's clock, a workflow's ``workflow.now()``)."""


class Model(BaseModel):
    """A frozen pydantic model that refuses fields it does not know (a typo is a 422, not a silent drop)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


_NUMBER = re.compile(r"^\s*[+-]?\d+(\.\d*)?\s*$")


def _written_time(value: Any) -> Any:
    # Pydantic would read 1700000000, "1700000000" or True as a Unix time; an API caller means RFC 3339.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.match(value)):
        raise ValueError("a time is written as an RFC 3339 string with an offset, e.g. 2026-03-01T08:00:00+08:00")
    return value


def _in_era(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"a time must lie between {EARLIEST.year} and {LATEST.year}")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_written_time), AfterValidator(_in_era)]
"""A time from outside: with an offset, written as text, within [EARLIEST, LATEST)."""

Quantity = Annotated[int, Field(strict=True, ge=1, le=MAX_QUANTITY)]
"""Units of a line: a JSON integer (``"1"`` is refused), 1 .. MAX_QUANTITY."""

PriceCents = Annotated[int, Field(strict=True, ge=0, le=MAX_UNIT_PRICE_CENTS)]
"""A unit price in cents: a JSON integer, 0 .. MAX_UNIT_PRICE_CENTS."""

PostageCents = Annotated[int, Field(strict=True, ge=0, le=MAX_POSTAGE_CENTS)]
"""Postage in cents: a JSON integer, 0 .. MAX_POSTAGE_CENTS."""

Flag = StrictBool
"""A yes/no from outside: JSON ``true`` or ``false`` only (``0``, ``"yes"`` are refused)."""

# Bidirectional overrides and isolates: a name or reason holding U+202E reads backwards in a board, an SMS or a
# log line (the "Trojan Source" trick), so what people read is not what was sent.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINE_BREAKS = frozenset("\n\t")


def _printable(value: str) -> str:
    for char in value:
        if char in _LINE_BREAKS:
            continue
        # Cc: NUL, escape sequences (terminal injection in logs); Cs: lone surrogates, which UTF-8 cannot carry.
        if unicodedata.category(char) in ("Cc", "Cs") or char in _BIDI:
            raise ValueError(f"a text may not hold the control character U+{ord(char):04X}")
    return value


Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), AfterValidator(_printable)
]
"""A text from outside (a title, a reason, a message): 1..500 characters, no control characters (line breaks
and tabs are text) and no bidirectional overrides."""

LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000), AfterValidator(_printable)]
"""A longer text from outside (a description), possibly empty: up to 4000 characters, printable as :data:`Text`."""
