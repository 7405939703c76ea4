"""`/cost week` the way Slack sends it: a signed API Gateway event into handlers.slack.handler.

Built from the end-to-end harness of tests/bot (tests/harness.py, the sandbox's Slack stand-in and seed).
The Slack function reads the real clock, so the injected costs are laid out around today.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from moto import mock_aws

from bot.aws import ClientFactory, recorded_calls
from bot.config import parse_config
from bot.cost import Window
from bot.stores import AuditEntry, AuditLog
from bot.table import Table

from .support import ECS, ce_answer, message_text, queue_ce_answers, tag_key

harness = pytest.importorskip("harness", reason="the end-to-end harness of tests/bot is not there")
slack_api = pytest.importorskip("sandbox.slack_api")
sandbox_seed = pytest.importorskip("sandbox.seed")


@pytest.fixture
def bot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """What tests/bot/conftest.py's `bot` fixture builds, for this directory."""
    import handlers.slack

    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "2")
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    data = harness.config_data()
    stand_in = slack_api.SlackStandIn().start()
    with mock_aws():
        sandbox_seed.seed(parse_config(data))
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(data))
        monkeypatch.setenv("OPSBOT_CONFIG_FILE", str(path))
        monkeypatch.setenv("SLACK_SIGNING_SECRET", harness.SIGNING_SECRET)
        monkeypatch.setenv("SLACK_BOT_TOKEN", harness.BOT_TOKEN)
        monkeypatch.setenv("SLACK_API_URL", stand_in.api_url)
        monkeypatch.setenv("OPSBOT_LAZY", "thread")
        handlers.slack.reset()
        driver = harness.Bot(stand_in)
        yield driver
        driver.drain()
        handlers.slack.reset()
    stand_in.stop()


def test_cost_week_through_the_slack_handler_then_from_the_cache(bot: object) -> None:
    window = Window.ending_yesterday(7, time.time())
    assert window.previous_start is not None
    scaled_on = window.start + timedelta(days=2)

    def services(day: date) -> dict[str, float]:
        ecs = 10.0 if day <= scaled_on else 14.0
        return {ECS: ecs, "Amazon Relational Database Service": 20.0}

    def tags(day: date) -> dict[str, float]:
        return {"service-b": services(day)[ECS], "service-a": 20.0}

    queue_ce_answers(
        ce_answer(window.previous_start, 14, services), ce_answer(window.previous_start, 14, tags, key=tag_key)
    )
    config = parse_config(harness.config_data())
    AuditLog(Table(ClientFactory(), config.state_table, "us-east-1")).record(
        AuditEntry(
            "production",
            "service-b",
            harness.DEPLOYER,
            "/scale confirm scale service-b 4 (production)",
            "executed",
            "desired 2 -> 4",
            "p1",
            datetime.combine(scaled_on, datetime.min.time(), UTC).timestamp() + 14 * 3600,
        )
    )

    with recorded_calls() as calls:
        reply = bot.command("/cost week", user=harness.VIEWER)  # type: ignore[attr-defined]
    assert calls.count("ce:GetCostAndUsage") == 2
    assert reply.status == 200
    [answer] = reply.responses
    shown = message_text(answer)
    # 3 days at 30 and 4 at 34 against 7 days at 30: 226 against 210.
    assert "$226.00, +$16.00 (+7.6%)" in shown
    assert f"• +$16.00 (+23%) {ECS}: $70.00 → $86.00" in shown  # the top mover
    assert "• service-b: $86.00, +$16.00 (+23%)" in shown
    assert f"↳ `/scale service-b 4` by <@{harness.DEPLOYER}> on {scaled_on:%a %d %b}" in shown
    assert "*Daily cost*" in shown
    assert "████████████████████████ " in shown  # the largest day fills the chart's width
    assert "Cost Explorer: 2 requests ($0.02)." in shown

    with recorded_calls() as calls:
        again = bot.command("/cost week", user=harness.VIEWER)  # type: ignore[attr-defined]
    assert calls.count("ce:GetCostAndUsage") == 0
    assert "From the bot's cache" in message_text(again.responses[0])
