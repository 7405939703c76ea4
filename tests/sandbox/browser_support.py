"""Debian's Chromium driven by Playwright, for the page's tests (never `playwright install`): found or
skipped here (failed in CI, where `make test` installs it), one browser a test worker (conftest.py's
`chromium` fixture), a page each test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",  # without these, Chromium keeps calling hosts it cannot reach
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 20_000


def require_browser() -> Any:
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "the playwright package is not installed (make venv installs the dev extra)"
    if missing is None and not CHROMIUM.exists():
        missing = f"{CHROMIUM} is missing (make browser installs Debian's chromium)"
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test must run in CI: {missing}")
        pytest.skip(missing)
    return sync_playwright


def launched() -> Iterator[Any]:
    """One Chromium (launching it takes seconds), with Playwright's expect waiting as long as a page may."""
    sync_playwright = require_browser()
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)  # a rollout under load takes longer than expect's 5 s
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def new_page(chromium: Any, tmp_path: Path) -> Iterator[Any]:
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(WAIT_MS)
    try:
        yield page
    finally:
        page.screenshot(path=str(tmp_path / "last.png"))  # what the page showed at the end, pass or fail
        print(f"\nlast screenshot: {tmp_path / 'last.png'}")
        page.close()
