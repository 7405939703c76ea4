"""Fixtures for routing and escalation: the bot's (tests/fixtures_bot.py) with routing rules, the alarm
relay's Lambda (tests/alarms/support.py), and handlers.escalation on an injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alarms.support import AlarmsLambda, FakeTime
from fixtures_bot import aws, aws_environment, bot, config, seed_plan, slack
from harness import Bot

from .support import EscalationLambda, routed_config

__all__ = ["aws", "aws_environment", "bot", "config", "seed_plan", "slack"]


@pytest.fixture
def config_dict() -> dict[str, Any]:
    return routed_config()


@pytest.fixture
def alarms(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> Iterator[AlarmsLambda]:
    """handlers.alarms.handler, built from the Slack function's environment, pacing on fake time."""
    import handlers.alarms

    fake = FakeTime()
    monkeypatch.setattr(handlers.alarms, "pacer_clock", fake.now)
    monkeypatch.setattr(handlers.alarms, "sleep", fake.sleep)
    handlers.alarms.reset()
    yield AlarmsLambda(bot)
    handlers.alarms.reset()


@pytest.fixture
def escalation(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> Iterator[EscalationLambda]:
    """handlers.escalation.handler with its clock in the test's hands: no sleeping."""
    import handlers.escalation

    runner = EscalationLambda(bot)
    monkeypatch.setattr(handlers.escalation, "clock", runner.now)
    handlers.escalation.reset()
    yield runner
    handlers.escalation.reset()
