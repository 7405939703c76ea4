"""Slack failing under the bot: 429 with Retry-After and 5xx on chat.postMessage, chat.update and
response_url posts are retried within bounds (two retries), and what still fails is reported."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from fixtures_bot import RetryWaits
from harness import CHANNEL, DEPLOYER, VIEWER, Bot, ecs_service

from bot.aws import is_platform_mutation, recorded_calls

from .conftest import RESPONSE_URL, FaultySlack
from .counts import count

RETRIES = 2  # bot.app.slack_client's retry handlers: two retries after the first attempt


def waits(status: int, retry_after: int | None, retried: int) -> list[float]:
    """What slack_sdk waits before `retried` retries of one call: Retry-After on a 429, else its backoff."""
    if status == 429:
        assert retry_after is not None
        return [float(retry_after)] * retried
    return [0.5 * 2**attempt for attempt in range(retried)]


def statuses(slack: FaultySlack, method: str) -> list[int]:
    return [c.status for c in slack.calls(method)]


def plan(bot: Bot) -> tuple[str, str]:
    reply = bot.command("/deploy service-a v1.3.0", user=DEPLOYER)
    assert reply.text == "", reply.text
    card = bot.last_card()
    return card.ts, bot.button(card, "plan_confirm")["value"]


@pytest.mark.parametrize(("status", "retry_after"), [(429, 1), (500, None), (503, None)])
def test_a_plan_card_gets_through_faults_within_the_retry_bounds(
    bot: Bot, slack: FaultySlack, retry_waits: RetryWaits, status: int, retry_after: int | None
) -> None:
    slack.inject("chat.postMessage", status, retry_after=retry_after, times=RETRIES)
    count("slack faults", RETRIES)
    reply = bot.command("/deploy service-a v1.3.0", user=DEPLOYER)
    assert reply.text == "", reply.text
    assert statuses(slack, "chat.postMessage") == [status, status, 200]
    assert len(slack.channel(CHANNEL)) == 1
    retry_waits.assert_slack(waits(status, retry_after, RETRIES))


def test_a_plan_card_that_cannot_be_posted_is_reported_and_nothing_changes(
    bot: Bot, slack: FaultySlack, retry_waits: RetryWaits
) -> None:
    slack.inject("chat.postMessage", 500, times=RETRIES + 1)
    count("slack faults", RETRIES + 1)
    with recorded_calls() as calls:
        reply = bot.command("/deploy service-a v1.3.0", user=DEPLOYER)
    assert statuses(slack, "chat.postMessage") == [500] * (RETRIES + 1)  # bounded: no fourth attempt
    retry_waits.assert_slack(waits(500, None, RETRIES))  # and no wait after the last
    assert slack.channel(CHANNEL) == []
    assert "nothing was changed" in reply.text
    assert [c for c in calls if is_platform_mutation(c)] == []


@pytest.mark.parametrize(("status", "retry_after"), [(429, 1), (502, None)])
def test_the_result_card_is_updated_through_faults_within_the_retry_bounds(
    bot: Bot, slack: FaultySlack, retry_waits: RetryWaits, status: int, retry_after: int | None
) -> None:
    ts, plan_id = plan(bot)
    slack.inject("chat.update", status, retry_after=retry_after, times=RETRIES)
    count("slack faults", RETRIES)
    with recorded_calls() as calls:
        bot.click("plan_confirm", plan_id, ts, user=DEPLOYER)
    assert calls.count("ecs:UpdateService") == 1
    assert statuses(slack, "chat.update") == [status, status, 200]
    retry_waits.assert_slack(waits(status, retry_after, RETRIES))
    card = next(m for m in slack.channel(CHANNEL) if m.ts == ts)
    assert "Confirmed by" in bot.card_text(card)


def test_a_result_card_that_cannot_be_updated_does_not_hide_the_change(
    bot: Bot, slack: FaultySlack, retry_waits: RetryWaits
) -> None:
    ts, plan_id = plan(bot)
    slack.inject("chat.update", 500, times=RETRIES + 1)
    count("slack faults", RETRIES + 1)
    with recorded_calls() as calls:
        reply = bot.click("plan_confirm", plan_id, ts, user=DEPLOYER)
    assert calls.count("ecs:UpdateService") == 1  # done once, not undone, not repeated
    assert ecs_service("service-a")["taskDefinition"].endswith(":4")
    assert statuses(slack, "chat.update") == [500] * (RETRIES + 1)
    retry_waits.assert_slack(waits(500, None, RETRIES))
    assert "Rolling out revision 4" in reply.text  # the person learns what happened all the same
    assert "could not" in reply.text


@pytest.mark.parametrize(("status", "retry_after", "times"), [(429, 1, 1), (500, None, RETRIES), (503, None, 1)])
def test_a_reply_through_response_url_gets_through_faults_within_the_retry_bounds(
    bot: Bot, slack: FaultySlack, retry_waits: RetryWaits, status: int, retry_after: int | None, times: int
) -> None:
    slack.inject(RESPONSE_URL, status, retry_after=retry_after, times=times)
    count("slack faults", times)
    reply = bot.command("/status", user=VIEWER)
    assert slack.faulted_response_posts == times
    assert "*service-a*" in str(reply.responses)
    retry_waits.assert_slack(waits(status, retry_after, times))


def test_a_reply_that_cannot_be_delivered_is_logged_not_lost_silently(
    bot: Bot, slack: FaultySlack, retry_waits: RetryWaits, log_messages: Callable[..., list[str]]
) -> None:
    slack.inject(RESPONSE_URL, 500, times=RETRIES + 1)
    count("slack faults", RETRIES + 1)
    errors = log_messages("bot.app", logging.ERROR)
    reply = bot.command("/status", user=VIEWER)
    assert slack.faulted_response_posts == RETRIES + 1
    assert reply.responses == []
    retry_waits.assert_slack(waits(500, None, RETRIES))
    assert any("could not reply through response_url (HTTP 500" in m for m in errors), errors
