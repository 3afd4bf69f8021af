"""The codec server: the Temporal Web UI and CLI decode payloads here, for platform admins only.

Temporal keeps every payload encrypted (config/codec.py). The Web UI, configured with this endpoint
(``--ui-codec-endpoint http://<api>/codec`` or ``TEMPORAL_CODEC_ENDPOINT``), posts ``{"payloads": [...]}`` to
``/codec/decode`` (and ``/codec/encode`` when someone starts a workflow from the UI) with an ``X-Namespace``
header. An admin is recognised by ``Authorization: Bearer <admin key>`` (the CLI's ``--codec-auth``) or by
the signed cookie ``/codec/login`` sets in a browser (the key's fingerprint, not the key), which the UI
sends when its codec setting "include cross-origin credentials" is on. Anyone else gets a 401 or 403 and no payload.
"""

from __future__ import annotations

import hmac
import html
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payloads

from api.deps import Caller, Role
from api.errors import problem_response
from api.routes.board import sessions
from config.codec import CodecKeyError, EncryptionCodec
from config.settings import Settings

router = APIRouter(prefix="/codec", tags=["codec"])

COOKIE = "aftersales_codec"
COOKIE_PURPOSE = "codec"  # the signing salt's purpose: a board session cookie is no codec login, nor back
COOKIE_SECONDS = 8 * 3600
MAX_BODY_BYTES = 8 * 1024 * 1024  # a page of history at a time; Temporal's own payload limit is 2 MiB each


def _cors(request: Request, response: Response) -> Response:
    origin = request.headers.get("origin", "").rstrip("/")
    settings: Settings = request.app.state.settings
    if origin and origin in settings.codec_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"
    return response


def _refuse(request: Request, code: str, detail: str) -> Response:
    return _cors(request, problem_response(code, detail, instance=request.url.path))


def _admin_key(request: Request) -> str | None:
    """The admin key the request carries (header first, then the login cookie), if it is one."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    callers: dict[str, Caller] = request.app.state.callers
    if scheme.lower() == "bearer":
        offered = credentials.strip()
    else:
        cookie = request.cookies.get(COOKIE, "")
        offered = (cookie and sessions(request).key_of(cookie, callers, COOKIE_PURPOSE, COOKIE_SECONDS)) or ""
    for key, caller in callers.items():
        if offered and hmac.compare_digest(key.encode(), offered.encode()):
            return key if caller.role is Role.ADMIN else ""
    return None


@router.options("/{operation}", include_in_schema=False)
async def preflight(operation: str, request: Request) -> Response:
    """The browser's CORS preflight before the Web UI posts payloads."""
    response = Response(status_code=204)
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    # The headers the UI asks for (versions differ), which the origin check below limits to the UI itself.
    asked = request.headers.get("access-control-request-headers")
    response.headers["Access-Control-Allow-Headers"] = asked or "Authorization, Content-Type, X-Namespace"
    response.headers["Access-Control-Max-Age"] = "600"
    return _cors(request, response)


@router.post("/decode", summary="Decrypt payloads for the Web UI or CLI (admin)")
async def decode(request: Request) -> Response:
    """``{"payloads": [...]}`` with every encrypted payload opened; plain ones come back as they are."""
    return await _run(request, encode=False)


@router.post("/encode", summary="Encrypt payloads for the Web UI or CLI (admin)")
async def encode(request: Request) -> Response:
    """``{"payloads": [...]}`` with every payload sealed with the current key."""
    return await _run(request, encode=True)


async def _run(request: Request, *, encode: bool) -> Response:
    key = _admin_key(request)
    if key is None:
        return _refuse(request, "unauthorized", "send Authorization: Bearer <admin key>, or log in at /codec/login")
    if not key:
        return _refuse(request, "forbidden", "only admin keys may read payloads")
    settings: Settings = request.app.state.settings
    namespace = request.headers.get("x-namespace")
    if namespace is not None and namespace != settings.temporal_namespace:
        return _refuse(request, "forbidden", f"this codec serves namespace {settings.temporal_namespace!r} only")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return _refuse(request, "validation_error", f"at most {MAX_BODY_BYTES} bytes of payloads at a time")
    payloads = Payloads()
    try:
        json_format.Parse(body or b"{}", payloads)
    except (json_format.ParseError, DecodeError, UnicodeDecodeError) as error:
        return _refuse(request, "validation_error", f'the body must be {{"payloads": [...]}}: {error}')
    codec: EncryptionCodec | None = request.app.state.codec
    if codec is None:
        return _refuse(request, "unavailable", "this API runs without a payload codec")
    try:
        converted = await (codec.encode if encode else codec.decode)(list(payloads.payloads))
    except CodecKeyError as error:
        return _refuse(request, "validation_error", str(error))
    answer = json_format.MessageToDict(Payloads(payloads=converted))
    return _cors(request, JSONResponse({"payloads": answer.get("payloads", [])}))


_LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>aftersales: read payloads in the Web UI</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Read payloads in the Temporal Web UI</h1>
<p>{message}</p>
<form method="post" action="/codec/login">
<label>Admin API key <input type="password" name="key" autocomplete="off" required></label>
<button type="submit">Log in</button>
</form>
<form method="post" action="/codec/logout"><button type="submit">Log out</button></form>
<p>Then, in the Web UI's codec settings, turn on <em>Include cross-origin credentials</em>.</p>
</body></html>
"""


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_page() -> HTMLResponse:
    """A form where a platform admin enters their key once, so the browser's Web UI can decode."""
    return HTMLResponse(_LOGIN_PAGE.format(message="Enter an admin key to let this browser decode payloads."))


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
async def login(request: Request) -> HTMLResponse:
    """Sets an HttpOnly cookie for ``/codec`` only standing for the admin key (signed; never the key itself)."""
    form = parse_qs((await request.body()).decode(errors="replace"))
    offered = (form.get("key") or [""])[0].strip()
    callers: dict[str, Caller] = request.app.state.callers
    caller = next((c for k, c in callers.items() if hmac.compare_digest(k.encode(), offered.encode())), None)
    if caller is None or caller.role is not Role.ADMIN:
        return HTMLResponse(_LOGIN_PAGE.format(message="That is not an admin key."), status_code=401)
    response = HTMLResponse(_LOGIN_PAGE.format(message=html.escape("Logged in: the Web UI can decode payloads.")))
    response.set_cookie(
        COOKIE,
        sessions(request).token(offered, COOKIE_PURPOSE),  # signed, with the key's fingerprint, not the key
        max_age=COOKIE_SECONDS,
        path="/codec",
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="strict",  # the Web UI and the API are the same site (ports do not count), other sites are not
    )
    return response


@router.post("/logout", response_class=HTMLResponse, include_in_schema=False)
async def logout() -> HTMLResponse:
    """Forgets the cookie."""
    response = HTMLResponse(_LOGIN_PAGE.format(message="Logged out."))
    response.delete_cookie(COOKIE, path="/codec")
    return response
