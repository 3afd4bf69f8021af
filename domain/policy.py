"""The platform's durations and ladders, and how a merchant's overrides apply to them.

Every clock in every process takes its length from a :class:`Policy`. The platform's defaults come from
the settings; a merchant may override any field (``PUT /v1/merchants/{id}`` ``policy``). The policy in
force is resolved when a process starts and travels in its input, so a running workflow never looks it up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from domain.durations import check_bounds, check_ladder, format_duration, parse_duration, parse_ladder
from domain.quiet import QuietHours, parse_quiet_hours


class ReviewTimeoutAction(StrEnum):
    """What the platform does when a merchant leaves an after-sales request unanswered."""

    APPROVE = "approve"
    ESCALATE = "escalate"


class Policy(BaseModel):
    """Durations of every clock; reminder ladders are offsets before the deadline, largest first."""

    model_config = ConfigDict(frozen=True)

    ship_deadline: timedelta = timedelta(hours=72)
    ship_reminders: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=4))
    review_deadline: timedelta = timedelta(hours=48)
    review_reminders: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=4))
    review_timeout_action: ReviewTimeoutAction = ReviewTimeoutAction.APPROVE
    cooling_off: timedelta = timedelta(minutes=30)
    return_ship_deadline: timedelta = timedelta(days=7)
    receipt_deadline: timedelta = timedelta(days=10)
    appeal_window: timedelta = timedelta(days=7)
    offline_refund_deadline: timedelta = timedelta(hours=48)
    reship_deadline: timedelta = timedelta(hours=72)
    exchange_confirm_deadline: timedelta = timedelta(days=10)
    window: timedelta = timedelta(days=7)
    extension: timedelta = timedelta(days=7)
    extension_grace: timedelta = timedelta(days=30)
    logistics_stall: timedelta = timedelta(days=3)
    pickup_payment_deadline: timedelta = timedelta(minutes=30)
    wo_assign: timedelta = timedelta(minutes=30)
    wo_accept: timedelta = timedelta(minutes=30)
    wo_first_response: timedelta = timedelta(minutes=15)
    wo_resolve_urgent: timedelta = timedelta(hours=1)
    wo_resolve_normal: timedelta = timedelta(hours=24)
    wo_auto_close: timedelta = timedelta(days=3)
    wo_reopen_window: timedelta = timedelta(days=7)
    wo_appeal_response: timedelta = timedelta(hours=24)
    chat_reply: timedelta = timedelta(minutes=3)
    chat_idle: timedelta = timedelta(days=1)
    quiet_hours: QuietHours | None = None

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _parse_quiet_hours(cls, value: Any) -> Any:
        """Accepts the window as written in settings (``22:00-08:00``, ``off``)."""
        return parse_quiet_hours(value)

    @field_validator("*", mode="before")
    @classmethod
    def _parse_written_durations(cls, value: Any, info: Any) -> Any:
        """Accepts durations as written in settings (``72h``) and ladders as ``24h,4h``."""
        if not _is_duration(info.field_name):
            return value
        if isinstance(value, str) and not value.startswith(("P", "-P")):  # ISO 8601 is pydantic's own
            if info.field_name.endswith("_reminders"):
                return parse_ladder(value)
            return parse_duration(value)
        return value

    @field_validator("*")
    @classmethod
    def _bounded(cls, value: Any, info: Any) -> Any:
        """Every clock and reminder offset within 1 s .. 365 d (:mod:`domain.durations`), ladders largest first.

        A bound here holds for the platform's settings and every merchant's overrides alike, so no running
        workflow can be handed a clock that overflows a date or never ends.
        """
        if not _is_duration(info.field_name):
            return value
        if isinstance(value, timedelta):
            return check_bounds(value, info.field_name)
        if isinstance(value, tuple):
            return check_ladder(value, info.field_name)
        return value


def _is_duration(field_name: str) -> bool:
    # Settings inherit these validators; only Policy's own clocks are durations.
    return field_name in Policy.model_fields and field_name not in _NOT_DURATIONS


_NOT_DURATIONS = ("review_timeout_action", "quiet_hours")


class PolicyError(ValueError):
    """A merchant override names an unknown field or holds an unreadable value."""


def with_overrides(base: Policy, overrides: Mapping[str, str], *, timezone: str | None = None) -> Policy:
    """The policy ``base`` with a merchant's ``overrides`` (field name → written duration) applied.

    ``timezone`` is the merchant's: its quiet hours are read there (the platform's zone otherwise).

    Raises:
        PolicyError: an unknown field, or a value that is not a duration within 1 s .. 365 d.
    """
    unknown = sorted(set(overrides) - set(Policy.model_fields))
    if unknown:
        raise PolicyError(f"unknown policy fields: {', '.join(unknown)}")
    try:
        policy = Policy.model_validate({**base.model_dump(), **overrides})
    except ValidationError as error:
        # Pydantic's "Value error, " once, where the outer model reports this error, not twice.
        details = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}" for e in error.errors()
        )
        raise PolicyError(details) from error
    zone = timezone or (base.quiet_hours.timezone if base.quiet_hours else None)
    if policy.quiet_hours is not None and zone:
        policy = policy.model_copy(update={"quiet_hours": policy.quiet_hours.in_zone(zone)})
    return policy


LADDERS = {"ship_reminders": "ship_deadline", "review_reminders": "review_deadline"}
"""Each reminder ladder and the clock whose deadline its offsets count back from."""


def check_ladders(policy: Policy, fields: Iterable[str]) -> Policy:
    """``policy`` if each ladder among ``fields`` reminds strictly after its clock starts.

    An offset as long as its deadline or longer would remind at (or before) the clock's start: a reminder
    nobody could act on. The ladders a merchant overrode are checked against the merged policy (the
    platform's defaults with the overrides), so its own deadline or the platform's bounds them. A merchant
    that overrides only a deadline keeps the platform's ladder, even one longer than its deadline (a 1 s
    deadline for tests, say): the offsets already due when the clock starts are then skipped but the
    latest, which reminds at once, as for a clock started late.

    Raises:
        PolicyError: naming the ladder, its offset and the deadline.
    """
    touched = set(fields)
    for ladder, deadline in LADDERS.items():
        if ladder not in touched:
            continue
        offsets: tuple[timedelta, ...] = getattr(policy, ladder)
        budget: timedelta = getattr(policy, deadline)
        if offsets and max(offsets) >= budget:
            raise PolicyError(
                f"{ladder}: the offset {format_duration(max(offsets))} is not shorter than "
                f"{deadline} ({format_duration(budget)}); a reminder must fall after the clock starts"
            )
    return policy
