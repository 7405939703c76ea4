"""/status stays cheap as services grow: ceil(n/10) DescribeServices + one state read + one alarm read."""

from __future__ import annotations

from typing import Any

import pytest
from harness import VIEWER, Bot, config_data

from bot.aws import recorded_calls

TEN = [f"svc-{i:02d}" for i in range(10)]


@pytest.fixture
def config_dict() -> dict[str, Any]:
    return config_data(services=TEN)


def test_status_of_ten_services_makes_at_most_three_aws_calls(bot: Bot) -> None:
    bot.command("/status", user=VIEWER)  # first sight of each revision fills the image cache
    with recorded_calls() as calls:
        reply = bot.command("/status", user=VIEWER)
    blob = str(reply.responses)
    assert all(f"*{name}*" in blob for name in TEN)
    assert calls.count("dynamodb:PutItem") == 1  # the request's replay record (bot/replay.py), in the ack
    assert len(calls) - 1 <= 3, calls  # /status itself
    assert calls.count("ecs:DescribeServices") == 1


def test_status_of_one_service_reads_only_that_service(bot: Bot) -> None:
    reply = bot.command("/status svc-03", user=VIEWER)
    blob = str(reply.responses)
    assert "*svc-03*" in blob
    assert "*svc-04*" not in blob
