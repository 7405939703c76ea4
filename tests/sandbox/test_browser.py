"""The walkthrough of the README in a real browser, against `python -m sandbox` (what `make run` starts).

Deploy from the composer and watch the card reach COMPLETED; fire an alarm from the page, roll back
from its card, check in moto that the service is on the previous revision, and resolve the alarm.

Debian's Chromium at /usr/bin/chromium, driven by Playwright (never `playwright install`). `make test`
installs it (`make browser`); in CI (CI=true) a missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from sandbox_support import Sandbox

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",  # without these, Chromium keeps calling hosts it cannot reach
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ALARM = "ecs-microservices-production-service-a-cpu-high"
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


@pytest.fixture
def browser_page(sandbox: Sandbox, tmp_path: Path) -> Iterator[Any]:
    sync_playwright = require_browser()
    sandbox.wait_page()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(WAIT_MS)
        try:
            yield page
        finally:
            page.screenshot(path=str(tmp_path / "last.png"))  # what the page showed at the end, pass or fail
            print(f"\nlast screenshot: {tmp_path / 'last.png'}")
            browser.close()


def running_revision(sandbox: Sandbox) -> str:
    ecs = boto3.client(
        "ecs",
        region_name="us-east-1",
        endpoint_url=sandbox.aws_url,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )
    service = ecs.describe_services(
        cluster="ecs-microservices-production-cluster", services=["ecs-microservices-production-service-a"]
    )["services"][0]
    return str(service["taskDefinition"]).rpartition(":")[2]


def test_deploy_then_roll_back_from_an_alarm_card(sandbox: Sandbox, browser_page: Any) -> None:
    from playwright.sync_api import expect

    page = browser_page
    started = time.monotonic()
    page.goto(sandbox.page_url)
    expect(page.locator("#user")).to_have_value("U0DEPLOYER")
    assert running_revision(sandbox) == "3"

    # /deploy, confirm, and the card follows the rollout to COMPLETED.
    page.fill("#text", "/deploy service-a v1.3.0")
    page.press("#text", "Enter")
    plan = page.locator("#messages > .msg", has_text="Plan: deploy service-a (production)")
    plan.get_by_role("button", name="Confirm").click()
    deploy_card = page.locator("#messages > .msg", has_text="deploy service-a (production)").first
    expect(deploy_card).to_contain_text(re.compile(r"Rollout: completed", re.IGNORECASE))
    expect(deploy_card.locator(".thread")).to_contain_text("Completed in")
    assert running_revision(sandbox) == "4"
    deployed = time.monotonic()

    # The alarm fires (moto + the CloudWatch notification on SNS -> SQS -> the relay) and gets its card.
    page.locator(f'.alarm[data-alarm="{ALARM}"] button[data-state="ALARM"]').click()
    alarm_card = page.locator("#messages > .msg", has_text=f"ALARM: {ALARM}")
    expect(alarm_card).to_be_visible()
    alarm_ts = alarm_card.get_attribute("data-ts")
    alarm_card.get_by_role("button", name=re.compile(r"^Roll back")).click()
    rollback_plan = page.locator("#messages > .msg", has_text="Plan: Roll back service-a (production)")
    rollback_plan.get_by_role("button", name="Confirm").click()
    rollback_card = page.locator("#messages > .msg", has_text="Roll back service-a (production)").last
    expect(rollback_card).to_contain_text(re.compile(r"Rollout: completed", re.IGNORECASE))
    assert running_revision(sandbox) == "3"  # back on the revision that ran before the deploy
    rolled_back = time.monotonic()

    # OK resolves the same card.
    page.locator(f'.alarm[data-alarm="{ALARM}"] button[data-state="OK"]').click()
    resolved = page.locator(f'#messages > .msg[data-ts="{alarm_ts}"]')
    expect(resolved).to_contain_text(f"RESOLVED: {ALARM}")
    expect(resolved.get_by_role("button", name=re.compile(r"^Roll back"))).to_have_count(0)
    done = time.monotonic()

    print(
        f"\nbrowser walkthrough: deploy to COMPLETED {deployed - started:.1f} s, alarm to rolled back "
        f"{rolled_back - deployed:.1f} s, resolved {done - rolled_back:.1f} s; total {done - started:.1f} s"
    )
    if shot := os.environ.get("SANDBOX_SCREENSHOT"):
        page.locator("#messages").evaluate("list => list.scrollTop = list.scrollHeight")
        page.screenshot(path=shot)
