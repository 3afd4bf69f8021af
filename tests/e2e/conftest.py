"""Browser fixtures: Debian's headless Chromium, driven by Playwright (which downloads no browser)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM = os.environ.get("AFTERSALES_TEST_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def chromium_binary() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (as .ci/run does)")
    return CHROMIUM


@pytest.fixture
async def chromium(chromium_binary: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_binary, headless=True)
        yield browser
        await browser.close()
