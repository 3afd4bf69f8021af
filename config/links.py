"""Signed action links: a token that lets one person take one action on one workflow, for a while.

The notifier signs a token when it sends a reminder; the API's ``/a/{token}`` page checks it before it shows
or does anything. A token is ``itsdangerous``'s URL-safe timed signature (HMAC-SHA1 over a key derived from
``AFTERSALES_LINK_SECRET`` and a salt of this purpose only, so no other signature of the same secret — a
board session, say — passes for a link) of ``{"wf", "a", "p"}``: the workflow, the action and the person.
Its age is checked against ``AFTERSALES_LINK_TTL`` when it is used, so shortening the TTL also shortens the
links already sent, and changing the secret voids them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from domain.notifications import LinkAction

SALT = "aftersales.action-link.v1"
MIN_SECRET_CHARS = 32


class LinkRefused(Exception):
    """A token that must not be acted on; ``expired`` tells a merely old one from a forged one."""

    def __init__(self, detail: str, *, expired: bool = False) -> None:
        super().__init__(detail)
        self.expired = expired


@dataclass(frozen=True)
class LinkClaim:
    """What a valid token grants."""

    workflow_id: str
    action: LinkAction
    person: str
    signed_at: datetime
    expires_at: datetime


def _serializer(secret: str, clock: Callable[[], float]) -> URLSafeTimedSerializer:
    """itsdangerous's serializer on an injectable clock, so tests age a token without waiting."""

    class ClockedSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock())

    return URLSafeTimedSerializer(secret, salt=SALT, signer=ClockedSigner)


class LinkSigner:
    """Signs and checks action-link tokens.

    Args:
        secret: ``AFTERSALES_LINK_SECRET``, at least 32 characters.
        ttl: how long a token may be used after it was signed.
        public_url: the API's address as people's phones reach it; links are ``{public_url}/a/{token}``.
        clock: epoch seconds; injectable so tests sign tokens in the past.

    Raises:
        ValueError: the secret is too short to be a secret.
    """

    def __init__(self, secret: str, *, ttl: timedelta, public_url: str, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(f"AFTERSALES_LINK_SECRET must have at least {MIN_SECRET_CHARS} characters")
        self._serializer = _serializer(secret, clock)
        self._ttl = ttl
        self._public_url = public_url.rstrip("/")

    def token(self, *, workflow_id: str, action: LinkAction, person: str) -> str:
        """A token for ``person`` to take ``action`` on ``workflow_id`` within the TTL from now."""
        payload = {"wf": workflow_id, "a": action.value, "p": person}
        return str(self._serializer.dumps(payload))

    def url(self, *, workflow_id: str, action: LinkAction, person: str) -> str:
        """The link a message carries."""
        return f"{self._public_url}/a/{self.token(workflow_id=workflow_id, action=action, person=person)}"

    def check(self, token: str) -> LinkClaim:
        """What ``token`` grants.

        Raises:
            LinkRefused: forged or altered (any byte), signed with another secret or for another purpose,
                of an unknown shape, or (``expired``) older than the TTL.
        """
        seconds = int(self._ttl.total_seconds())
        try:
            payload, signed = self._serializer.loads(token, max_age=seconds, return_timestamp=True)
        except SignatureExpired as error:
            raise LinkRefused("the link has expired", expired=True) from error
        except BadData as error:  # a bad signature, or a payload that is not ours
            raise LinkRefused("the link is not valid") from error
        claim = _claim(payload, signed)
        if claim is None:
            raise LinkRefused("the link is not valid")
        return LinkClaim(
            workflow_id=claim[0],
            action=claim[1],
            person=claim[2],
            signed_at=signed,
            expires_at=signed + self._ttl,
        )


def _claim(payload: Any, signed: datetime) -> tuple[str, LinkAction, str] | None:
    if not isinstance(payload, dict) or signed.tzinfo is None:
        return None
    workflow_id, action, person = payload.get("wf"), payload.get("a"), payload.get("p")
    if not all(isinstance(value, str) and value for value in (workflow_id, action, person)):
        return None
    try:
        return str(workflow_id), LinkAction(str(action)), str(person)
    except ValueError:
        return None
