"""Browser sessions of the SLA board: an API key exchanged once for a signed, HttpOnly cookie.

The cookie holds the role and a fingerprint of the key, never the key: a key removed from
``AFTERSALES_API_KEYS`` ends its sessions at once. Cookies are ``SameSite=Strict`` (no other site can make a
browser send them) and the login form carries a signed token bound to a cookie of its own (a double-submit
token), so another site can neither post a login for the user nor log the user in as someone else.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from api.deps import Caller, Role
from config.settings import Settings

log = structlog.get_logger(__name__)

SESSION_COOKIE = "aftersales_board"
LOGIN_COOKIE = "aftersales_login"
COOKIE_PATH = "/board"
LOGIN_FORM_TTL = 3600  # seconds a login form stays good


@dataclass(frozen=True)
class Sessions:
    """Signs and reads the board's cookies.

    Args:
        secret: ``AFTERSALES_SESSION_SECRET``.
        ttl_seconds: how long a login lasts.
        secure: mark cookies ``Secure`` (the board is served over HTTPS).
    """

    secret: str
    ttl_seconds: int
    secure: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> Sessions:
        secret = settings.session_secret
        if not secret:
            # Sessions then end with the process and differ between replicas: fine for a try-out only.
            log.warning("session_secret_unset", hint="set AFTERSALES_SESSION_SECRET so board logins survive restarts")
            secret = secrets.token_urlsafe(32)
        return cls(
            secret=secret,
            ttl_seconds=int(settings.session_ttl.total_seconds()),
            secure=settings.public_url.startswith("https://"),
        )

    def fingerprint(self, key: str) -> str:
        """What a session remembers of its key: enough to find it again, useless to anyone who reads the
        cookie (signed cookies are readable), since it is keyed with the secret."""
        return hmac.new(self.secret.encode(), f"board-key:{key}".encode(), hashlib.sha256).hexdigest()[:32]

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret, salt=f"aftersales-board-{purpose}")

    # The login form's token.

    def new_login(self) -> tuple[str, str]:
        """A login form's nonce (for its cookie, :meth:`remember_login`) and the signed token for the form."""
        nonce = secrets.token_urlsafe(16)
        return nonce, self._serializer("login").dumps(nonce)

    def remember_login(self, response: Response, nonce: str) -> None:
        """Sets the login form's cookie; the form's token is only good together with it."""
        self._set(response, LOGIN_COOKIE, nonce, LOGIN_FORM_TTL)

    def login_token_ok(self, request: Request, token: str) -> bool:
        """Whether ``token`` was issued with the login cookie this browser sends, within the hour."""
        nonce = request.cookies.get(LOGIN_COOKIE)
        if not nonce or not token:
            return False
        try:
            signed: Any = self._serializer("login").loads(token, max_age=LOGIN_FORM_TTL)
        except BadSignature:
            return False
        return isinstance(signed, str) and hmac.compare_digest(signed, nonce)

    # The session.

    def open(self, response: Response, key: str, caller: Caller) -> None:
        """Logs ``caller`` in: the session cookie on ``response``, the login cookie gone."""
        value = self._serializer("session").dumps({"key": self.fingerprint(key), "role": caller.role.value})
        self._set(response, SESSION_COOKIE, value, self.ttl_seconds)
        response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)

    def close(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, secure=self.secure, httponly=True, samesite="strict")

    def caller(self, request: Request, callers: dict[str, Caller]) -> Caller | None:
        """Who this browser is logged in as: None without a valid, unexpired session of a key still known."""
        value = request.cookies.get(SESSION_COOKIE)
        if not value:
            return None
        try:
            session: Any = self._serializer("session").loads(value, max_age=self.ttl_seconds)
        except BadSignature:
            return None
        if not isinstance(session, dict) or not isinstance(session.get("key"), str):
            return None
        for key, caller in callers.items():
            if hmac.compare_digest(self.fingerprint(key), session["key"]):
                return caller if caller.role is not Role.MALL else None
        return None

    # Tokens for other cookies (the codec's login): the key's fingerprint, signed, never the key.

    def token(self, key: str, purpose: str) -> str:
        """A signed token standing for ``key`` for ``purpose``; it holds the key's fingerprint only."""
        return self._serializer(purpose).dumps({"key": self.fingerprint(key)})

    def key_of(self, token: str, callers: dict[str, Caller], purpose: str, max_age: int) -> str | None:
        """The key a :meth:`token` of ``purpose`` stands for, if it is valid, unexpired and still known."""
        try:
            signed: Any = self._serializer(purpose).loads(token, max_age=max_age)
        except BadSignature:
            return None
        if not isinstance(signed, dict) or not isinstance(signed.get("key"), str):
            return None
        return next((key for key in callers if hmac.compare_digest(self.fingerprint(key), signed["key"])), None)

    def _set(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=COOKIE_PATH,
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )
