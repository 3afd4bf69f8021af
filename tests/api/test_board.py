"""The SLA board over real HTTP: login, session cookie, merchant scoping, filters and refresh fragments."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from config.settings import Settings
from tests.api.conftest import ROLE_KEYS, ServedApp
from tests.factories import project_order

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def overdue_order(engine: Engine, merchant_id: str, *, hours_late: int = 5) -> str:
    """An order of ``merchant_id`` still unshipped ``hours_late`` past its ship deadline, as projected."""
    order_id = f"O-BOARD-{uuid.uuid4().hex[:10]}"
    paid_at = datetime.now(UTC) - timedelta(hours=72 + hours_late)
    return project_order(
        engine, order_id=order_id, merchant_id=merchant_id, paid_at=paid_at, overdue=True, customer_id="c-board"
    )


@pytest.fixture
async def browser(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client that keeps cookies like a browser and does not follow redirects, so the test sees them."""
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        yield client


async def login_form(browser: httpx.AsyncClient) -> str:
    page = await browser.get("/board/login")
    assert page.status_code == 200
    found = TOKEN.search(page.text)
    assert found is not None
    return found.group(1)


async def log_in(browser: httpx.AsyncClient, role: str, *, next_page: str = "/board") -> httpx.Response:
    token = await login_form(browser)
    return await browser.post("/board/login", data={"api_key": ROLE_KEYS[role], "csrf_token": token, "next": next_page})


def set_cookie(response: httpx.Response, name: str) -> str:
    [header] = [value for value in response.headers.get_list("set-cookie") if value.startswith(f"{name}=")]
    return header


async def test_board_without_a_session_sends_the_browser_to_the_login_form(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/board", params={"merchant_id": "m-acme"})
    assert response.status_code == 303
    assert response.headers["location"] == "/board/login?next=%2Fboard%3Fmerchant_id%3Dm-acme"
    refresh = await browser.get("/board", headers={"X-Board-Fragment": "1"})
    assert refresh.status_code == 401  # the page's script reloads, which lands on the form


async def test_login_sets_an_httponly_samesite_strict_session_cookie_without_the_key(
    browser: httpx.AsyncClient,
) -> None:
    response = await log_in(browser, "admin", next_page="/board?merchant_id=m-acme")
    assert response.status_code == 303
    assert response.headers["location"] == "/board?merchant_id=m-acme"
    cookie = set_cookie(response, "aftersales_board")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "path=/board" in attributes
    assert "max-age=43200" in attributes  # AFTERSALES_SESSION_TTL, 12 h
    assert ROLE_KEYS["admin"] not in cookie
    page = await browser.get("/board")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


async def test_an_unknown_key_gets_the_form_again_with_401_and_no_session(browser: httpx.AsyncClient) -> None:
    token = await login_form(browser)
    response = await browser.post("/board/login", data={"api_key": "not-a-key", "csrf_token": token})
    assert response.status_code == 401
    assert "Unknown API key" in response.text
    assert TOKEN.search(response.text)  # a fresh form to try again
    assert not any(v.startswith("aftersales_board=") for v in response.headers.get_list("set-cookie"))
    assert (await browser.get("/board")).status_code == 303


async def test_a_mall_key_cannot_open_the_board(browser: httpx.AsyncClient) -> None:
    response = await log_in(browser, "mall")
    assert response.status_code == 403
    assert (await browser.get("/board")).status_code == 303


async def test_a_login_without_its_form_token_is_refused(api_url: str) -> None:
    # Another site posting a login: it cannot read our form's token, nor send our login cookie (SameSite).
    async with httpx.AsyncClient(base_url=api_url) as stranger:
        forged = await stranger.post("/board/login", data={"api_key": ROLE_KEYS["admin"], "csrf_token": "x.y.z"})
        assert forged.status_code == 403
        assert not any(v.startswith("aftersales_board=") for v in forged.headers.get_list("set-cookie"))
    async with httpx.AsyncClient(base_url=api_url) as other_browser:
        token = await login_form(other_browser)
    async with httpx.AsyncClient(base_url=api_url) as victim:  # a valid token, but not issued to this browser
        response = await victim.post("/board/login", data={"api_key": ROLE_KEYS["admin"], "csrf_token": token})
        assert response.status_code == 403


async def test_a_tampered_session_cookie_is_no_session(browser: httpx.AsyncClient) -> None:
    response = await log_in(browser, "merchant:m-acme")
    value = set_cookie(response, "aftersales_board").split(";")[0].split("=", 1)[1]
    browser.cookies.clear()
    browser.cookies.set("aftersales_board", value[:-4] + "AAAA", path="/board")
    assert (await browser.get("/board")).status_code == 303


async def test_a_merchant_sees_only_itself_whatever_its_filter_says(browser: httpx.AsyncClient, engine: Engine) -> None:
    own = overdue_order(engine, "m-acme")
    foreign = overdue_order(engine, "m-other")
    assert (await log_in(browser, "merchant:m-acme")).status_code == 303

    page = await browser.get("/board", params={"merchant_id": "m-other"})
    assert page.status_code == 200
    assert own in page.text
    assert foreign not in page.text
    assert "m-other" not in page.text
    assert '<strong id="scope">m-acme</strong>' in page.text


async def test_an_admin_sees_every_merchant_and_filters_by_one(browser: httpx.AsyncClient, engine: Engine) -> None:
    acme = overdue_order(engine, "m-acme")
    other = overdue_order(engine, "m-other")
    assert (await log_in(browser, "admin")).status_code == 303

    everyone = await browser.get("/board")
    assert acme in everyone.text
    assert other in everyone.text
    only_other = await browser.get("/board", params={"merchant_id": "m-other"})
    assert other in only_other.text
    assert acme not in only_other.text
    fragment = await browser.get("/board", params={"merchant_id": "m-other"}, headers={"X-Board-Fragment": "1"})
    assert fragment.status_code == 200
    assert other in fragment.text
    assert "<html" not in fragment.text  # only the panels, for the 30 s refresh


async def test_an_unreadable_or_too_long_period_is_a_422_page(browser: httpx.AsyncClient) -> None:
    assert (await log_in(browser, "admin")).status_code == 303
    for params in ({"from": "2026-13-40"}, {"from": "2026-02-01", "to": "2026-01-01"}, {"from": "2020-01-01"}):
        page = await browser.get("/board", params=params)
        assert page.status_code == 422, params
        assert 'class="error"' in page.text


async def test_logging_out_ends_the_session(browser: httpx.AsyncClient) -> None:
    assert (await log_in(browser, "admin")).status_code == 303
    response = await browser.post("/board/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/board/login"
    assert (await browser.get("/board")).status_code == 303


async def test_the_board_serves_its_own_assets(browser: httpx.AsyncClient) -> None:
    script = await browser.get("/board/static/board.js")
    assert script.status_code == 200
    assert "X-Board-Fragment" in script.text
    style = await browser.get("/board/static/board.css")
    assert style.status_code == 200
    assert "text/css" in style.headers["content-type"]


async def test_a_session_ends_when_its_key_is_removed_and_lasts_across_restarts(
    dev_env: WorkflowEnvironment, api_settings: Settings
) -> None:
    before = api_settings.model_copy(update={"session_secret": "shared-by-every-replica"})
    after = before.model_copy(update={"api_keys": {k: r for k, r in before.api_keys.items() if r != "admin"}})
    async with (
        ServedApp(create_app(before, client=dev_env.client)) as first,
        httpx.AsyncClient(base_url=first.url) as browser,
    ):
        assert (await log_in(browser, "admin")).status_code == 303
        cookie = browser.cookies["aftersales_board"]
    for settings, expected in ((before, 200), (after, 303)):  # another replica, or the same after a restart
        async with (
            ServedApp(create_app(settings, client=dev_env.client)) as replica,
            httpx.AsyncClient(base_url=replica.url) as browser,
        ):
            browser.cookies.set("aftersales_board", cookie, path="/board")
            assert (await browser.get("/board")).status_code == expected
