"""The parser turns Slack text into typed commands without touching AWS."""

from __future__ import annotations

from datetime import timedelta

import pytest
from harness import config_data

from bot import commands as c
from bot.config import parse_config
from bot.errors import UsageError

PARSER = c.Parser(parse_config(config_data()))


@pytest.mark.parametrize(
    ("command", "text", "expected"),
    [
        ("/deploy", "service-a v1.4.2", c.Deploy("service-a", "v1.4.2", None)),
        ("/deploy", "service-a", c.Deploy("service-a", None, None)),
        ("/deploy", "service-a staging", c.Deploy("service-a", None, "staging")),
        ("/deploy", "service-a v1 staging", c.Deploy("service-a", "v1", "staging")),
        ("/scale", "service-b 4", c.Scale("service-b", 4, None)),
        ("/scale", "service-b AUTO production", c.Scale("service-b", None, "production")),
        ("/rollback", "service-a", c.Rollback("service-a", None, None)),
        ("/rollback", "service-a 41", c.Rollback("service-a", 41, None)),
        ("/rollback", "service-a #41 staging", c.Rollback("service-a", 41, "staging")),
        ("/rollback", "service-a staging", c.Rollback("service-a", None, "staging")),
        ("/status", "", c.Status(None, None)),
        ("/status", "staging", c.Status(None, "staging")),
        ("/status", "service-b production", c.Status("service-b", "production")),
        ("/logs", "service-a", c.Logs("service-a", timedelta(minutes=15), None)),
        ("/logs", "service-a 2h ERROR", c.Logs("service-a", timedelta(hours=2), "ERROR")),
        (
            "/logs",
            'service-a 30m "connection refused"',
            c.Logs("service-a", timedelta(minutes=30), '"connection refused"'),  # CloudWatch's phrase
        ),
        ("/alarms", "", c.Alarms(None)),
        ("/cost", "", c.Cost(7, "week", None)),
        ("/cost", "month staging", c.Cost(30, "month", "staging")),
        ("/cost", "14d", c.Cost(14, "14 days", None)),
        ("/ops", "deploy service-a v2", c.Deploy("service-a", "v2", None)),
        ("/ops", "lock service-a production db migration", c.Lock("service-a", "production", "db migration")),
        ("/ops", "unlock service-a", c.Unlock("service-a", None)),
        ("/ops", "audit service-a", c.Audit("service-a", None)),
        ("/ops", "", c.Help()),
        ("/ops", "help deploy", c.Help("deploy")),
        ("/scale", "help", c.Help("scale")),
        ("/deploy", "service-a&amp;", None),
    ],
)
def test_parses(command: str, text: str, expected: c.Command | None) -> None:
    if expected is None:
        with pytest.raises(UsageError):
            PARSER.parse(command, text)
    else:
        assert PARSER.parse(command, text) == expected


def test_every_usage_error_carries_the_usage_line() -> None:
    with pytest.raises(UsageError) as raised:
        PARSER.parse("/scale", "service-b lots")
    assert raised.value.hint == "Usage: `/scale <service> <count|auto> [env]`"


def test_echoed_tokens_cannot_mention_or_link() -> None:
    with pytest.raises(UsageError) as raised:
        PARSER.parse("/deploy", "<!channel>")
    assert "<!channel>" not in raised.value.message
    assert "&lt;!channel&gt;" in raised.value.message
