"""Issue 15, item 6: a wrong call is answered with the real problem, in the ack, before any AWS call.

Each case is typed through handlers.slack.handler as a person would; the reply must name what is wrong
(not a neighbouring token, not another command's usage) and nothing may reach AWS.
"""

from __future__ import annotations

import pytest
from harness import DEPLOYER, VIEWER, Bot

from bot import commands as c
from bot.aws import recorded_calls
from bot.config import Config
from bot.cost import Window
from sandbox.seed import SeedPlan


@pytest.fixture
def seed_plan() -> SeedPlan:
    return SeedPlan(
        log_lines=(
            '{"level":"WARN","message":"retried 5x before giving up","path":"/api/backend"}',
            '{"level":"INFO","message":"request","path":"/health","status":200}',
        )
    )


def refused(bot: Bot, text: str, user: str = DEPLOYER) -> str:
    """The ack's answer to a wrong call; asserts that nothing else happened."""
    with recorded_calls() as calls:
        reply = bot.command(text, user=user)
    assert reply.status == 200
    # Only handlers.slack's replay guard (bot/replay.py) writes, as for every request: its signature's record.
    assert [call for call in calls if call != "dynamodb:PutItem"] == [], calls
    assert calls.count("dynamodb:PutItem") <= 1
    assert reply.responses == []  # answered in the ack: the lazy work never ran
    return str(reply.ack.get("text", ""))


# --- /cost: a period that is not one ---------------------------------------------------------------------


@pytest.mark.parametrize("period", ["year", "1000d", "366d", "0d", "2w"])
def test_cost_with_a_period_that_is_not_one_says_so_and_names_the_periods(bot: Bot, period: str) -> None:
    text = refused(bot, f"/cost {period}", user=VIEWER)
    assert f"`{period}` is not a period" in text
    assert "week, month or a number of days from 1d to 365d" in text
    assert "Unknown environment" not in text
    assert "Usage: `/cost [week|month|&lt;N&gt;d] [env]`" in text  # placeholders shown, not read as links


def test_cost_with_a_word_that_is_neither_a_period_nor_an_environment_lists_both(bot: Bot) -> None:
    text = refused(bot, "/cost year", user=VIEWER)
    assert "nor a known environment (production, staging)" in text


def test_cost_still_takes_an_environment_alone(bot: Bot) -> None:
    reply = bot.command("/cost staging", user=VIEWER)
    assert "is not a period" not in reply.text
    assert reply.ack == {}  # past the parser


def test_the_longest_cost_period_the_parser_allows_is_one_the_cost_module_can_report_whole() -> None:
    """Cost Explorer keeps 13 months of daily cost (bot/cost.py HISTORY_MONTHS); 365 days fit on any day."""
    day = 86400
    start = 1767225600  # 2026-01-01 UTC
    for offset in range(0, 2 * 366 * day, day):
        window = Window.ending_yesterday(c.MAX_COST_DAYS, start + offset)
        assert window.days == c.MAX_COST_DAYS


# --- one argument too many: the one that is extra ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "/deploy service-a v1.3.0 production extra",
        "/deploy service-a production extra",
        "/scale service-b 3 production extra",
        "/rollback service-a 2 production extra",
        "/status service-a production extra",
        "/cost week production extra",
        "/ops unlock service-a production extra",
        "/ops audit service-a production extra",
    ],
)
def test_an_extra_argument_after_the_environment_is_the_one_named(bot: Bot, text: str) -> None:
    answer = refused(bot, text)
    assert "Unexpected argument `extra`" in answer
    assert "`production`" not in answer


# --- /logs: a window that is not one, and a filter that looks like one -------------------------------------


@pytest.mark.parametrize("window", ["5x", "10mins", "0m", "999d", "8d", "2H30"])
def test_logs_with_a_window_shaped_token_that_is_no_window_names_the_valid_forms(bot: Bot, window: str) -> None:
    text = refused(bot, f"/logs service-a {window}", user=VIEWER)
    assert f"`{window}`" in text
    assert "a number and s, m, h or d (for example 30m, 2h, 1d), more than 0 and at most 7d" in text
    assert f'quote it: `"{window}"`' in text


def test_logs_window_errors_say_what_is_wrong_with_a_window_of_the_right_form(bot: Bot) -> None:
    assert "`999d` is longer than the longest window, 7d" in refused(bot, "/logs service-a 999d", user=VIEWER)
    assert "`0m` is no time at all" in refused(bot, "/logs service-a 0m", user=VIEWER)
    assert "`5x` is not a time window" in refused(bot, "/logs service-a 5x", user=VIEWER)


def test_logs_with_a_quoted_filter_that_looks_like_a_window_searches_for_it(bot: Bot) -> None:
    reply = bot.command('/logs service-a "5x"', user=VIEWER)
    assert reply.ack == {}
    blob = str(reply.responses)
    assert "retried 5x before giving up" in blob
    assert "/health" not in blob
    assert 'filter `"5x"`' in blob
    assert "last 15m" in blob


def test_logs_hands_the_filter_to_cloudwatch_as_typed(config: Config) -> None:
    parser = c.Parser(config)
    assert parser.parse("/logs", 'service-a "5x"').pattern == '"5x"'
    assert parser.parse("/logs", 'service-a 30m "connection refused"').pattern == '"connection refused"'
    assert parser.parse("/logs", 'service-a { $.level = "ERROR" }').pattern == '{ $.level = "ERROR" }'
    assert parser.parse("/logs", "service-a 1h can't connect").pattern == "can't connect"
    assert parser.parse("/logs", "service-a 1h 5xx").pattern == "5xx"  # after the window: the filter
    assert parser.parse("/logs", "service-a 500").pattern == "500"  # digits alone are no window


# --- /ops lock: its own usage ---------------------------------------------------------------------------


def test_an_overlong_ops_lock_shows_the_usage_of_ops_lock(bot: Bot) -> None:
    text = refused(bot, "/ops lock service-a production " + "migration " * 60)
    assert "The command is too long" in text
    assert "Usage: `/ops lock &lt;service&gt; [env] [reason]`" in text
    assert "/ops help [command]" not in text


def test_a_lock_reason_may_hold_an_apostrophe(config: Config) -> None:
    parsed = c.Parser(config).parse("/ops", "lock service-a production don't deploy, db migration")
    assert parsed == c.Lock("service-a", "production", "don't deploy, db migration")


# --- /rollback: a revision that is not one ------------------------------------------------------------------


@pytest.mark.parametrize("revision", ["-3", "abc", "0", "3.5", "#-1"])
def test_rollback_with_a_revision_that_is_not_one_says_so(bot: Bot, revision: str) -> None:
    text = refused(bot, f"/rollback service-a {revision}")
    assert f"`{revision}` is not a revision number" in text
    assert "revision numbers are positive integers" in text
    assert "Unknown environment" not in text


def test_rollback_with_a_word_says_it_is_neither_a_revision_nor_an_environment(bot: Bot) -> None:
    text = refused(bot, "/rollback service-a abc")
    assert "nor a known environment (production, staging)" in text
    assert "nor a known environment" not in refused(bot, "/rollback service-a -3")


def test_rollback_still_takes_an_environment_in_place_of_the_revision(bot: Bot) -> None:
    reply = bot.command("/rollback service-a staging")
    assert "is not a revision number" not in reply.text
    assert reply.ack == {}  # past the parser: the plan is made in staging
