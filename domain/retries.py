"""Retries of human steps: an action already applied is answered again, not refused.

A mall that timed out waiting for an answer sends the same call again. Creates are idempotent by their
ids; actions (ship, approve, pay, send the goods back …) are idempotent by :class:`AppliedSteps`, state a
workflow carries through continue-as-new: the same
action with the same body as the one a workflow applied is that retry, answered with the resource as it
stands and no new event, while another body in a state that does not allow it is still a 409.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.ids import fingerprint
from domain.model import Model


class Attempt(Model):
    """An action as the API received it, to ask a workflow — also one that has ended — if it is a retry."""

    action: str
    body: dict[str, Any] | None = None

    @classmethod
    def of(cls, action: str, body: BaseModel | None = None) -> Attempt:
        """The attempt of ``action`` with ``body`` (None for actions without a body)."""
        return cls(action=action, body=body.model_dump(mode="json") if body is not None else None)


class AppliedSteps(BaseModel):
    """The human steps a workflow applied, the last body of each action kept by its fingerprint (None for an
    action without a body), so the state passes through continue-as-new; an attempt from the API is read as
    the body type its action takes (``kinds``), so the same instant written with another offset is a retry."""

    model_config = ConfigDict(extra="forbid")

    prints: dict[str, str | None] = Field(default_factory=dict, description="action → its last body's fingerprint")

    def record(self, action: str, body: BaseModel | None = None) -> None:
        """``action`` was applied with ``body`` (or decided the same way by the system)."""
        self.prints[action] = fingerprint(body) if body is not None else None

    def forget(self, action: str) -> None:
        """``action`` may be applied again, with any body (a second dispute to decide …)."""
        self.prints.pop(action, None)

    def repeats(self, action: str, body: BaseModel | None = None) -> bool:
        """Whether ``action`` with ``body`` is what was applied already: a retry."""
        if action not in self.prints:
            return False
        return self.prints[action] == (fingerprint(body) if body is not None else None)

    def repeats_attempt(self, attempt: Attempt, kinds: Mapping[str, type[BaseModel]]) -> bool:
        """:meth:`repeats` for an attempt sent by the API, its body read as ``kinds[action]`` (no kind: no body)."""
        if attempt.action not in self.prints:
            return False
        kind = kinds.get(attempt.action)
        if kind is None or attempt.body is None:
            return kind is None and attempt.body is None and self.prints[attempt.action] is None
        try:
            body = kind.model_validate(attempt.body)
        except ValidationError:
            return False  # not even the applied action's kind of body
        return self.repeats(attempt.action, body)
