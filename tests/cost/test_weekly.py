"""The EventBridge schedule -> handlers.costs.handler -> one chat.postMessage per scheduled run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from botocore.stub import Stubber

import bot.aws
import handlers.costs
from bot.aws import recorded_calls

from .conftest import config_data
from .support import CHANNEL, NOW, TABLE, SlackRecorder, message_text, queue_known_week


def scheduled_event(event_id: str | None = None) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2025-11-24T09:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/weekly-cost"],
        "detail": {},
    }


def lambda_context() -> SimpleNamespace:
    return SimpleNamespace(
        function_name="CostsFunction",
        function_version="$LATEST",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:CostsFunction",
        memory_limit_in_mb=256,
        aws_request_id=uuid.uuid4().hex,
        log_group_name="/aws/lambda/CostsFunction",
        log_stream_name="local",
        get_remaining_time_in_millis=lambda: 60_000,
    )


@pytest.fixture
def slack() -> Iterator[SlackRecorder]:
    with SlackRecorder() as recorder:
        yield recorder


def deployed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, slack: SlackRecorder, **cost: Any) -> None:
    """The function's environment as template.yaml sets it, with the config file of the bundle."""
    data = config_data(**cost)
    if data["cost"].get("weekly_channel") is None:
        data["cost"].pop("weekly_channel")
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("OPSBOT_CONFIG_FILE", str(config_file))
    monkeypatch.setenv("OPSBOT_STATE_TABLE", TABLE)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_API_URL", slack.api_url)
    from handlers.runtime import Clocks

    handlers.costs.reset(Clocks(wall=lambda: NOW))


def test_the_weekly_run_posts_the_weeks_summary_to_the_channel(
    aws: None, slack: SlackRecorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deployed(monkeypatch, tmp_path, slack)
    queue_known_week()
    result = handlers.costs.handler(scheduled_event(), lambda_context())
    assert result["posted"] is True
    [post] = slack.posts()
    assert post["channel"] == CHANNEL
    text = message_text(post)
    assert "Cost of production, 17 Nov - 23 Nov 2025: $288.50, +$36.50 (+14%)" in text
    assert "*Top movers*" in text
    assert "*Daily cost*" in text


def test_a_retried_delivery_of_the_same_event_posts_nothing_more(
    aws: None, slack: SlackRecorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deployed(monkeypatch, tmp_path, slack)
    queue_known_week()
    event = scheduled_event()
    with recorded_calls() as calls:
        first = handlers.costs.handler(event, lambda_context())
        again = handlers.costs.handler(event, lambda_context())
    assert first["posted"] is True
    assert again["posted"] is False
    assert len(slack.posts()) == 1
    assert calls.count("ce:GetCostAndUsage") == 2


def test_each_scheduled_run_posts_once_and_the_next_one_reads_the_cache(
    aws: None, slack: SlackRecorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deployed(monkeypatch, tmp_path, slack)
    queue_known_week()
    handlers.costs.handler(scheduled_event(), lambda_context())
    with recorded_calls() as calls:
        handlers.costs.handler(scheduled_event(), lambda_context())
    assert len(slack.posts()) == 2
    assert calls.count("ce:GetCostAndUsage") == 0


def test_without_a_channel_it_logs_an_error_and_posts_nothing(
    aws: None,
    slack: SlackRecorder,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    deployed(monkeypatch, tmp_path, slack, weekly_channel=None)
    monkeypatch.delenv("OPSBOT_COST_CHANNEL", raising=False)
    result = handlers.costs.handler(scheduled_event(), lambda_context())
    assert result == {"posted": False, "reason": "no channel configured"}
    assert slack.posts() == []
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("cost.weekly_channel" in e for e in errors)


def test_the_channel_can_come_from_the_environment(
    aws: None, slack: SlackRecorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deployed(monkeypatch, tmp_path, slack, weekly_channel=None)
    monkeypatch.setenv("OPSBOT_COST_CHANNEL", "C0FINOPS")
    queue_known_week()
    handlers.costs.handler(scheduled_event(), lambda_context())
    assert [p["channel"] for p in slack.posts()] == ["C0FINOPS"]


def test_when_cost_explorer_is_not_enabled_the_channel_is_told_once(
    aws: None, slack: SlackRecorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deployed(monkeypatch, tmp_path, slack)
    # The handler builds its own client factory: stub the Cost Explorer client the first one makes.
    original = bot.aws.ClientFactory.client
    stubs: list[Stubber] = []

    def client(
        self: bot.aws.ClientFactory, service: str, region: str, role_arn: str | None = None, **options: Any
    ) -> Any:
        made = original(self, service, region, role_arn, **options)
        if service == "ce" and not stubs:
            stub = Stubber(made)
            stub.add_client_error("get_cost_and_usage", "DataUnavailableException", "Data is not available.", 400)
            stub.activate()
            stubs.append(stub)
        return made

    monkeypatch.setattr(bot.aws.ClientFactory, "client", client)
    event = scheduled_event()
    handlers.costs.handler(event, lambda_context())
    handlers.costs.handler(event, lambda_context())
    [post] = slack.posts()
    assert "Cost Explorer has no data for this account: it is not enabled yet." in message_text(post)
