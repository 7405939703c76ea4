"""Fixtures for the sandbox tests: `python -m sandbox` on free ports, stopped and cleaned up afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import launched
from sandbox_support import Sandbox, start_sandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    running = start_sandbox(tmp_path, SANDBOX_ROLLOUT_SECONDS="2")
    yield running
    running.kill_leftovers()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One Chromium for every page test of this worker (each test gets a page of its own)."""
    yield from launched()
