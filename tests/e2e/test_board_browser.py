"""The SLA board in a real browser: Debian's headless Chromium, driven by Playwright (no browser download).

The story runs the whole path: the mall reports orders over the API, their workflows on the dev server mark
the ones past their ship deadline overdue, the projection writes the read model, and the page, refreshing
itself, shows the breach without a reload.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from config.settings import Settings
from readmodel.migrate import upgrade
from tests.api.conftest import ServedApp
from tests.factories import merchant_body, order_body
from workers.main import build_worker

ADMIN_KEY = "k-board-admin"
MALL_KEY = "k-board-mall"
KEYS = {ADMIN_KEY: "admin", MALL_KEY: "mall", "k-board-quick": "merchant:m-quick"}
# Set to a path (e.g. docs/board.png) to keep a copy of the screenshot for the README.
SCREENSHOT_COPY = os.environ.get("AFTERSALES_BOARD_SCREENSHOT")


@pytest.fixture
async def board_url(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[str]:
    """The API with a worker behind it, on a read model of this test's own, refreshing the board every second."""
    url = f"sqlite:///{tmp_path / 'board.db'}"
    upgrade(url)
    settings = Settings(
        database_url=url,
        task_queue=f"board-{uuid.uuid4()}",
        api_keys=KEYS,
        session_secret="board-test-secret",
        board_refresh=timedelta(seconds=1),
    )
    async with (
        build_worker(dev_env.client, settings) as worker,
        worker,
        ServedApp(create_app(settings, client=dev_env.client)) as served,
    ):
        yield served.url


async def report_order(api: httpx.AsyncClient, merchant_id: str, *, paid_hours_ago: float) -> str:
    paid_at = (datetime.now(UTC) - timedelta(hours=paid_hours_ago)).isoformat()
    response = await api.post("/v1/orders", json=order_body(paid_at=paid_at, merchant_id=merchant_id))
    assert response.status_code == 201, response.text
    order_id: str = response.json()["order_id"]
    return order_id


async def test_a_supervisor_logs_in_watches_a_breach_appear_and_filters_by_merchant(
    board_url: str, chromium: Browser, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(base_url=board_url, timeout=30) as api:
        for merchant_id, name in (("m-quick", "Quick 数码"), ("m-slowpoke", "Slowpoke 家居")):
            body = merchant_body(name=name)
            put = await api.put(
                f"/v1/merchants/{merchant_id}", json=body, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
            )
            assert put.status_code in (200, 201), put.text
        api.headers["Authorization"] = f"Bearer {MALL_KEY}"

        page = await chromium.new_page(viewport={"width": 1280, "height": 900})
        await page.goto(f"{board_url}/board")
        await expect(page).to_have_url(f"{board_url}/board/login?next=%2Fboard")
        await page.fill("#api_key", "not-a-key")
        await page.click("button[type=submit]")
        await expect(page.locator(".error")).to_contain_text("Unknown API key")

        await page.fill("#api_key", ADMIN_KEY)
        await page.click("button[type=submit]")
        await expect(page).to_have_url(f"{board_url}/board")
        shipments = page.locator("#overdue-shipments")
        await expect(shipments).to_contain_text("Nothing unshipped past its deadline.")

        # Orders paid 73 h and 80 h ago are past the 72 h ship deadline the moment their watches start.
        late = await report_order(api, "m-quick", paid_hours_ago=73)
        later = await report_order(api, "m-slowpoke", paid_hours_ago=80)
        on_time = await report_order(api, "m-quick", paid_hours_ago=1)

        # No reload: the page's own refresh brings the breaches in.
        await expect(shipments).to_contain_text(late, timeout=20_000)
        await expect(shipments).to_contain_text(later, timeout=20_000)
        assert on_time not in await shipments.inner_text()
        await expect(page.locator("#count-shipments b")).to_have_text("2")
        # One of m-quick's two ship clocks breached; m-slowpoke's only one did.
        await expect(page.locator("#kpis tr[data-merchant=m-quick] .rate[data-clock=ship]")).to_have_text("ship 50%")
        await expect(page.locator("#kpis tr[data-merchant=m-slowpoke] .rate[data-clock=ship]")).to_have_text(
            "ship 100%"
        )
        await expect(page.locator("#chart svg rect.bar.ship").first).to_be_visible()

        await page.select_option("#merchant_id", "m-quick")
        await page.click("#apply")
        await expect(page.locator("#scope")).to_have_text("m-quick")
        await expect(shipments).to_contain_text(late)
        await expect(shipments).not_to_contain_text(later)
        assert "merchant_id=m-quick" in page.url

        shot = tmp_path / "board.png"
        await page.screenshot(path=str(shot), full_page=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if SCREENSHOT_COPY:
            shutil.copyfile(shot, SCREENSHOT_COPY)

        await page.click(".logout button")
        await expect(page).to_have_url(f"{board_url}/board/login")
        await page.goto(f"{board_url}/board")
        await expect(page.locator("#api_key")).to_be_visible()
