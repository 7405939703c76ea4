"""The alarm relay's tests run with an alarm channel (the fixtures are tests/fixtures_bot.py's)."""

from __future__ import annotations

from typing import Any

import pytest

from .support import alarm_config


@pytest.fixture
def config_dict() -> dict[str, Any]:
    return alarm_config()
