"""Routing and escalation run with routing rules, and handlers.escalation on an injected clock (the bot's
and the alarm relay's fixtures are tests/fixtures_bot.py's)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from harness import Bot

from .support import EscalationLambda, routed_config


@pytest.fixture
def config_dict() -> dict[str, Any]:
    return routed_config()


@pytest.fixture
def escalation(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> Iterator[EscalationLambda]:
    """handlers.escalation.handler with its clock in the test's hands: no sleeping."""
    import handlers.escalation

    runner = EscalationLambda(bot)
    from handlers.runtime import Clocks

    handlers.escalation.reset(Clocks(wall=runner.now))
    yield runner
    handlers.escalation.reset()
