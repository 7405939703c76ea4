"""How `/ops timeline` is typed: its window (default 2h, at most 7d), its environment, and the usage errors
answered by the ack, before any AWS call."""

from __future__ import annotations

from datetime import timedelta

import pytest
from harness import Bot, config_data

from bot.commands import Parser, Timeline
from bot.config import parse_config
from bot.errors import UsageError

USAGE = "Usage: `/ops timeline &lt;service&gt; [env] [since]`"  # its placeholders shown, not read as links


@pytest.fixture(scope="module")
def parser() -> Parser:
    return Parser(parse_config(config_data()))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("timeline service-a", Timeline("service-a", timedelta(hours=2), None)),
        ("timeline service-a staging", Timeline("service-a", timedelta(hours=2), "staging")),
        ("timeline service-a 30m", Timeline("service-a", timedelta(minutes=30), None)),
        ("timeline service-a staging 1d", Timeline("service-a", timedelta(days=1), "staging")),
        ("timeline service-a 7d production", Timeline("service-a", timedelta(days=7), "production")),
        ("TIMELINE service-b 90s", Timeline("service-b", timedelta(seconds=90), None)),
    ],
)
def test_the_window_and_the_environment_in_either_order(parser: Parser, text: str, expected: Timeline) -> None:
    assert parser.parse("/ops", text) == expected


@pytest.mark.usefixtures("shared_bot")
class TestUsageErrors:
    @pytest.mark.parametrize(
        ("text", "says"),
        [
            ("timeline", "Name the service whose timeline you want."),
            ("timeline service-c", "Unknown service `service-c`"),
            ("timeline staging", "`staging` is an environment; name a service first"),
            ("timeline service-a 8d", "`8d` is too long: the timeline goes back at most 7d."),
            ("timeline service-a 0m", "`0m` is no time at all"),
            ("timeline service-a 2weeks", "`2weeks` is not a time window"),
            ("timeline service-a tomorrow", "`tomorrow` is neither a known environment (production, staging) nor"),
            ("timeline service-a 1h 2h", "Two windows"),
            ("timeline service-a staging production", "Two environments"),
            ("timeline service-a <!channel>", "`&lt;!channel&gt;` is neither"),
        ],
    )
    def test_a_wrong_call_is_answered_by_the_ack_with_what_to_type(self, shared_bot: Bot, text: str, says: str) -> None:
        reply = shared_bot.command(text, command="/ops")
        assert says in reply.text
        assert USAGE in reply.text
        assert reply.responses == []  # no lazy work: nothing was read

    def test_too_long_a_window_says_the_maximum_and_what_to_type(self, shared_bot: Bot) -> None:
        text = shared_bot.command("/ops timeline service-a 8d").text
        assert "at most 7d" in text
        assert "`/ops timeline service-a 7d`" in text

    def test_help_lists_it(self, shared_bot: Bot) -> None:
        assert "/ops timeline &lt;service&gt; [env] [since]" in shared_bot.command("/ops help").text
        assert "Export drafts a postmortem" in shared_bot.command("/ops help timeline").text


def test_parser_refuses_what_the_ack_refuses(parser: Parser) -> None:
    with pytest.raises(UsageError, match="too long"):
        parser.parse("/ops", "timeline service-a 8d")
