"""The SLA board: a server-rendered page of the live lists, per-supplier breach rates and breaches per day.

Behind a login: ``/board/login`` exchanges an admin or merchant API key for a session cookie (see
:mod:`api.sessions`). A merchant sees only itself, whatever its filter says. The page refreshes its panels
every ``AFTERSALES_BOARD_REFRESH`` (30 s) with a small script (``/board/static/board.js``); without
scripts, a meta refresh does it.
"""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy import Engine

from api.charts import breaches_chart
from api.deps import Caller, Role, engine_of, settings_of
from api.sessions import Sessions
from config.settings import Settings
from domain.durations import format_duration
from readmodel import board, kpis, queries

HERE = Path(__file__).resolve().parent.parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/board", tags=["board"], include_in_schema=True)

DEFAULT_DAYS = 7
MAX_DAYS = 366
LIST_LIMIT = 100
FRAGMENT_HEADER = "x-board-fragment"
PAGE_422 = {"description": "A field too long: problem+json"}
SECURITY_HEADERS = {
    # Everything the page uses is served by this app; nothing inline runs, nothing frames it.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _local(at: datetime | None, timezone: str, fmt: str = "%m-%d %H:%M") -> str:
    return at.astimezone(ZoneInfo(timezone)).strftime(fmt) if at else ""


def _since(at: datetime | None, now: datetime) -> str:
    """How long ago, as people say it: ``2d 5h``, ``3h 12m``, ``4m``."""
    if at is None:
        return ""
    minutes = int(max(now - at, timedelta()).total_seconds() // 60)
    days, hours, minutes = minutes // 1440, minutes % 1440 // 60, minutes % 60
    return f"{days}d {hours}h" if days else f"{hours}h {minutes}m" if hours else f"{minutes}m"


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate:.0%}"


def _seconds(value: float | None) -> str:
    """A measured duration as people say it: ``45s``, ``12m``, ``3h 5m``, ``2d 4h``; a dash when unmeasured."""
    if value is None:
        return "–"
    if value < 60:
        return f"{value:.0f}s"
    minutes = int(value // 60)
    days, hours, minutes = minutes // 1440, minutes % 1440 // 60, minutes % 60
    return f"{days}d {hours}h" if days else f"{hours}h {minutes}m" if hours else f"{minutes}m"


def _total(rows: Any) -> int:
    """How many a list holds in all (a paginated list knows; a plain one is whole)."""
    return int(getattr(rows, "total", len(rows)))


templates.env.filters.update(
    local=_local, since=_since, percent=_percent, duration=format_duration, seconds=_seconds, total=_total
)


def sessions(request: Request) -> Sessions:
    """The app's session signer, made once per app from its settings."""
    found: Sessions | None = getattr(request.app.state, "board_sessions", None)
    if found is None:
        found = Sessions.from_settings(settings_of(request))
        request.app.state.board_sessions = found
    return found


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: only a page of the board, never another site."""
    if target and target.startswith("/board") and not target.startswith("/board/login") and "\\" not in target:
        return target
    return "/board"


def _login_page(request: Request, *, error: str | None, status: int, target: str | None) -> HTMLResponse:
    signer = sessions(request)
    nonce, token = signer.new_login()
    response = _page(request, "login.html", {"error": error, "next": _safe_next(target), "csrf_token": token}, status)
    signer.remember_login(response, nonce)
    return response


@router.get("/login", response_class=HTMLResponse, summary="The board's login form", responses={422: PAGE_422})
async def login_form(request: Request, next: str | None = Query(default=None)) -> HTMLResponse:
    """A form for an admin or merchant API key."""
    return _login_page(request, error=None, status=200, target=next)


@router.post(
    "/login",
    response_class=HTMLResponse,
    summary="Exchange an API key for a board session",
    responses={
        303: {"description": "Logged in: the session cookie is set, on to the board"},
        401: {"description": "Unknown key: the form again (HTML)"},
        403: {"description": "A mall key, or a form without its token: the form again (HTML)"},
        422: PAGE_422,
    },
)
async def login(
    request: Request,
    api_key: str = Form(default="", max_length=500),
    csrf_token: str = Form(default="", max_length=500),
    next: str = Form(default="/board", max_length=2000),
) -> Response:
    """Checks the form token and the key; on success sets the session cookie and goes to the board."""
    signer = sessions(request)
    if not signer.login_token_ok(request, csrf_token):
        return _login_page(
            request, error="登录表单已过期，请重试。The form expired; try again.", status=403, target=next
        )
    callers: dict[str, Caller] = request.app.state.callers
    matched = [(key, caller) for key, caller in callers.items() if hmac.compare_digest(key.encode(), api_key.encode())]
    if not matched:
        return _login_page(request, error="API 密钥无效。Unknown API key.", status=401, target=next)
    [(key, caller)] = matched
    if caller.role is Role.MALL:
        message = "此密钥不能查看看板。This key cannot open the board (admin or merchant keys only)."
        return _login_page(request, error=message, status=403, target=next)
    response = RedirectResponse(_safe_next(next), status_code=303)
    signer.open(response, key, caller)
    return response


@router.post(
    "/logout", summary="End the board session", responses={303: {"description": "Logged out: on to the login form"}}
)
async def logout(request: Request) -> Response:
    response = RedirectResponse("/board/login", status_code=303)
    sessions(request).close(response)
    return response


@dataclass
class Filters:
    """What the board shows: one merchant or all, and the period of the rates and the chart."""

    merchant_id: str | None
    start: date
    end: date
    errors: list[str] = field(default_factory=list)

    def query(self, **extra: str) -> str:
        values = {"merchant_id": self.merchant_id or "", "from": self.start.isoformat(), "to": self.end.isoformat()}
        return urlencode({**values, **extra})


def _filters(
    caller: Caller, settings: Settings, merchant_id: str | None, start: str | None, end: str | None
) -> Filters:
    today = datetime.now(UTC).astimezone(ZoneInfo(settings.timezone)).date()
    errors: list[str] = []

    def day(text: str | None, default: date, name: str) -> date:
        if not text:
            return default
        try:
            return date.fromisoformat(text)
        except ValueError:
            errors.append(f"{name}: not a date (YYYY-MM-DD)")
            return default

    to_day = day(end, today, "to")
    from_day = day(start, to_day - timedelta(days=DEFAULT_DAYS - 1), "from")
    if from_day > to_day:
        errors.append("from: after to")
    elif (to_day - from_day).days + 1 > MAX_DAYS:
        errors.append(f"period: at most {MAX_DAYS} days")
    if errors:
        from_day, to_day = to_day - timedelta(days=DEFAULT_DAYS - 1), to_day
    # A merchant sees only itself: its filter is forced, whatever the URL says.
    scoped = caller.merchant_id if caller.role is Role.MERCHANT else (merchant_id or None)
    return Filters(merchant_id=scoped, start=from_day, end=to_day, errors=errors)


def _gather(engine: Engine, settings: Settings, filters: Filters) -> dict[str, Any]:
    """Everything the panels show, read from the read model in one go."""
    now = datetime.now(UTC)
    merchant = filters.merchant_id
    zone = ZoneInfo(settings.timezone)
    since = datetime.combine(filters.start, datetime.min.time(), zone)
    until = datetime.combine(filters.end + timedelta(days=1), datetime.min.time(), zone)
    breaches = board.breaches_per_day(
        engine, start=filters.start, end=filters.end, timezone=settings.timezone, merchant_id=merchant
    )
    return {
        "overdue_shipments": queries.overdue_shipments(engine, merchant_id=merchant, limit=LIST_LIMIT),
        "after_sales_waiting": board.after_sales_waiting(
            engine, now=now, older_than=settings.digest_unprocessed_after, merchant_id=merchant, limit=LIST_LIMIT
        ),
        "logistics_anomalies": queries.logistics_anomalies(engine, merchant_id=merchant, limit=LIST_LIMIT),
        "overdue_work_orders": queries.overdue_work_orders(engine, merchant_id=merchant, limit=LIST_LIMIT),
        "chats_recorded": board.optional_table(engine, board.CONVERSATIONS) is not None,
        "chat_transfers": board.chat_transfers(engine, merchant_id=merchant, limit=LIST_LIMIT),
        "kpis": kpis.supplier_kpis(engine, since=since, until=until, merchant_id=merchant),
        "breach_total": sum(breaches.total(day) for day in breaches.days),
        "chart": Markup(breaches_chart(breaches)),  # noqa: S704  (built from numbers and escaped labels only)
        "merchants": board.known_merchants(engine),
        "now": now,
    }


@router.get(
    "",
    response_class=HTMLResponse,
    summary="The SLA board page (log in at /board/login)",
    responses={
        303: {"description": "No session: to the login form"},
        401: {"description": "No session, asked for the panels only (the page's refresh)"},
        422: {"description": "An unreadable or too long period: the page with the error (HTML)"},
    },
)
async def show_board(
    request: Request,
    merchant_id: str | None = Query(default=None, max_length=64),
    start: str | None = Query(default=None, alias="from", max_length=10),
    end: str | None = Query(default=None, alias="to", max_length=10),
) -> Response:
    """The board; without a session, the login form (a merchant's key shows only that merchant)."""
    settings = settings_of(request)
    caller = sessions(request).caller(request, request.app.state.callers)
    fragment = request.headers.get(FRAGMENT_HEADER) == "1"
    if caller is None:
        if fragment:  # the page's refresh: tell the script to reload, which lands on the login form
            return Response(status_code=401, headers={"Cache-Control": "no-store"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/board/login?next={quote(target, safe='')}", status_code=303)
    filters = _filters(caller, settings, merchant_id, start, end)
    data = await asyncio.to_thread(_gather, engine_of(request), settings, filters)
    context = {
        **data,
        "caller": caller,
        "filters": filters,
        "timezone": settings.timezone,
        "refresh_seconds": max(1, int(settings.board_refresh.total_seconds())),
        "unprocessed_after": settings.digest_unprocessed_after,
        "list_limit": LIST_LIMIT,
    }
    status = 422 if filters.errors else 200
    return _page(request, "_panels.html" if fragment else "board.html", context, status)
