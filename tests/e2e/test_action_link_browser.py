"""An action link in a real browser: a phone-sized headless Chromium opens the approve button of a review
reminder (captured at the local DingTalk robot), reads the case, confirms, and sees it done; the case is
approved through the API's Update. The confirmation page's screenshot is the README's.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.api.action_links import MERCHANT, Stack, open_case, reminder_links, robot, stack

__all__ = ["robot", "stack"]  # fixtures

# Set to a path (e.g. docs/action-link.png) to keep a copy of the confirmation page for the README.
SCREENSHOT_COPY = os.environ.get("AFTERSALES_ACTION_LINK_SCREENSHOT")
PHONE = {"width": 390, "height": 720}


async def test_a_merchant_approves_a_case_from_the_reminders_button_on_a_phone(
    stack: Stack, chromium: Browser, tmp_path: Path
) -> None:
    case_id = await open_case(stack, "phone")
    approve = (await reminder_links(stack.robot, case_id))["同意 Approve"]

    page = await chromium.new_page(viewport=PHONE, device_scale_factor=1, is_mobile=True)
    await page.goto(f"{stack.url}{approve}")
    await expect(page.locator("#subject")).to_have_text(case_id)
    await expect(page.locator("#status")).to_have_text("pending_review")
    button = page.locator("button[type=submit]")
    await expect(button).to_have_text("确认同意 Approve")
    # Mobile-friendly: the card and its button fit the phone's width, nothing scrolls sideways.
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    box = await button.bounding_box()
    assert box is not None
    assert box["width"] > PHONE["width"] / 2

    shot = tmp_path / "action-link.png"
    await page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if SCREENSHOT_COPY:
        shutil.copyfile(shot, SCREENSHOT_COPY)

    await button.click()
    await expect(page.locator("#outcome")).to_contain_text("已完成 Done")
    answer = await stack.call(MERCHANT, "GET", f"/v1/after-sales/{case_id}")
    assert answer.json()["status"] in ("refunding", "completed")

    # Back and confirm again (a double tap, a second merchant): already handled, nothing more happens.
    await page.goto(f"{stack.url}{approve}")
    await expect(page.locator("#outcome")).to_contain_text("Already handled")
    await expect(page.locator("button[type=submit]")).to_have_count(0)
    history = (await stack.call(MERCHANT, "GET", f"/v1/after-sales/{case_id}")).json()["history"]
    assert [entry["event"] for entry in history].count("approved") == 1
