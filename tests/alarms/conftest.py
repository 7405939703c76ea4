"""Fixtures for the alarm relay: the bot's (tests/fixtures_bot.py), and handlers.alarms pacing on fake time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fixtures_bot import aws, aws_environment, bot, config, seed_plan, slack
from harness import Bot, config_data

from .support import ALARM_CHANNEL, AlarmsLambda, FakeTime

__all__ = ["aws", "aws_environment", "bot", "config", "seed_plan", "slack"]


def alarm_config(**alarms: Any) -> dict[str, Any]:
    data = config_data()
    data["alarms"] = {"channel": ALARM_CHANNEL, **alarms}
    return data


@pytest.fixture
def config_dict() -> dict[str, Any]:
    return alarm_config()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def alarms(bot: Bot, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch) -> Iterator[AlarmsLambda]:
    """handlers.alarms.handler, built from the same environment as the Slack function, pacing on fake time."""
    import handlers.alarms

    monkeypatch.setattr(handlers.alarms, "pacer_clock", fake_time.now)
    monkeypatch.setattr(handlers.alarms, "sleep", fake_time.sleep)
    handlers.alarms.reset()
    yield AlarmsLambda(bot)
    handlers.alarms.reset()


@pytest.fixture
def deployments(bot: Bot) -> Iterator[Any]:
    """handlers.deployments.handler (ECS deployment events), built from the same environment."""
    import handlers.deployments

    handlers.deployments.reset()
    yield handlers.deployments
    handlers.deployments.reset()
