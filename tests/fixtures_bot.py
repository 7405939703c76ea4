"""Fixtures for the bot: moto in-process, seeded like infra/, the Slack stand-in, and the Lambda handler.

Shared by tests/bot and tests/alarms: each directory's conftest.py imports the fixtures it uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import BOT_TOKEN, SIGNING_SECRET, Bot, config_data
from moto import mock_aws

from bot.config import Config, parse_config
from sandbox.seed import Seeded, SeedPlan, seed
from sandbox.slack_api import SlackStandIn


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "OPSBOT_STRICT_ACTIONS": "1",
        "MOTO_ECS_SERVICE_RUNNING": "2",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_LAMBDA_FUNCTION_NAME"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    stand_in = SlackStandIn().start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def config_dict() -> dict[str, Any]:
    """Override in a test module to change the configuration the bot runs with."""
    return config_data()


@pytest.fixture
def seed_plan() -> SeedPlan:
    return SeedPlan()


@pytest.fixture
def config(config_dict: dict[str, Any]) -> Config:
    return parse_config(config_dict)


@pytest.fixture
def aws(config: Config, seed_plan: SeedPlan) -> Iterator[Seeded]:
    with mock_aws():
        yield seed(config, plan=seed_plan)


@pytest.fixture
def bot(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    slack: SlackStandIn,
    config_dict: dict[str, Any],
    aws: Seeded,
) -> Iterator[Bot]:
    import handlers.slack

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config_dict))
    monkeypatch.setenv("OPSBOT_CONFIG_FILE", str(path))
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_API_URL", slack.api_url)
    monkeypatch.setenv("OPSBOT_LAZY", "thread")
    handlers.slack.reset()
    harness = Bot(slack)
    yield harness
    harness.drain()
    handlers.slack.reset()
