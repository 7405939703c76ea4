"""Reliability suite: the bot's fixtures (tests/fixtures_bot.py) with a Slack stand-in whose response_url can
fail too, and a summary of what was tried, printed at the end of the test run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import run_summary

from sandbox.slack_api import Fault, SlackStandIn

from .counts import COUNTS, LABELS

RESPONSE_URL = "response_url"  # the pseudo-method name that inject() takes for response_url posts


class FaultySlack(SlackStandIn):
    """The sandbox's stand-in, with faults injectable on response_url posts as on Web API methods."""

    def handle(self, path: str, raw: bytes, content_type: str, authorization: str) -> tuple[int, Any, dict[str, str]]:
        if path.startswith("/respond/"):
            fault = self._take_fault(RESPONSE_URL)
            if fault is not None:
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                return fault.status, b"rate_limited" if fault.status == 429 else b"internal_error", headers
            with self._lock:
                self.response_posts += 1
        return super().handle(path, raw, content_type, authorization)

    response_posts = 0
    faulted_response_posts = 0

    def _take_fault(self, method: str) -> Fault | None:
        with self._lock:
            faults = self.state.faults.get(method) or []
            if not faults:
                return None
            fault = faults[0]
            fault.times -= 1
            if fault.times <= 0:
                faults.pop(0)
            self.faulted_response_posts += 1
            return fault


@pytest.fixture
def slack() -> Iterator[FaultySlack]:
    stand_in = FaultySlack().start()
    yield stand_in
    stand_in.stop()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Printed at the end of the run by tests/run_summary.py (added up over pytest-xdist workers)."""
    run_summary.counted(session.config, "reliability suite: what was tried", LABELS, COUNTS)
