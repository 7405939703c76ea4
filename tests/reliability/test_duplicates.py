"""Duplicates, concurrent: Slack retries of a slash command and double clicks each run their action once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from harness import CHANNEL, DEPLOYER, OPERATOR, Bot, config_data, ecs_service, signed_headers

from bot.aws import recorded_calls

from .counts import count

COPIES = 20


def concurrently(send: Callable[[], None], copies: int = COPIES) -> None:
    barrier = threading.Barrier(copies)
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            send()
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def deliveries(bot: Bot, body: str, copies: int = COPIES) -> Callable[[], int]:
    """Sends one delivery of `body` per call, each signed at its own second as Slack signs each delivery it
    makes. Copies with the same signature are verbatim replays, refused before the app sees them
    (test_replays.py); these tests are about what the app does with duplicates that reach it."""
    stamps = iter(range(int(time.time()) - copies, int(time.time())))
    lock = threading.Lock()

    def send() -> int:
        with lock:
            stamp = next(stamps)
        return bot.send(body, signed_headers(body, timestamp=stamp))[0]

    return send


def delivered_concurrently(bot: Bot, body: str, what: str) -> tuple[list[str], list[int]]:
    """`body` delivered COPIES times at once (counted as `what`): the AWS actions called, the HTTP statuses."""
    statuses: list[int] = []
    send = deliveries(bot, body)
    with recorded_calls() as calls:
        concurrently(lambda: statuses.append(send()))
        bot.drain()
    count(what, COPIES)
    return calls, statuses


def test_a_slash_command_retried_concurrently_makes_one_plan_card(bot: Bot) -> None:
    body = bot.command_body("service-a v1.3.0", DEPLOYER, "/deploy", trigger="t-retried")
    calls, statuses = delivered_concurrently(bot, body, "duplicate commands")
    assert statuses == [200] * COPIES
    cards = [m for m in bot.slack.channel(CHANNEL) if m.thread_ts is None]
    assert len(cards) == 1, [m.text for m in cards]
    assert "ecs:RegisterTaskDefinition" not in calls
    assert "ecs:UpdateService" not in calls


@pytest.mark.parametrize("config_dict", [config_data(protected=False)])
def test_a_slash_command_that_runs_at_once_runs_once_when_retried_concurrently(bot: Bot) -> None:
    body = bot.command_body("service-b 5", OPERATOR, "/scale", trigger="t-retried-scale")
    calls, _ = delivered_concurrently(bot, body, "duplicate commands")
    assert calls.count("ecs:UpdateService") == 1
    assert calls.count("application-autoscaling:RegisterScalableTarget") == 1
    assert ecs_service("service-b")["desiredCount"] == 5
    assert len([m for m in bot.slack.channel(CHANNEL) if "Run by" in bot.card_text(m)]) == 1


def test_double_clicks_on_confirm_and_cancel_together_do_one_thing(bot: Bot) -> None:
    """Confirm and Cancel clicked at once, many times each: the plan is either executed or cancelled."""
    bot.command("/deploy service-a v1.3.0", user=DEPLOYER)
    card = bot.last_card()
    plan_id = bot.button(card, "plan_confirm")["value"]
    bodies = [bot.click_body("plan_confirm", plan_id, card.ts, DEPLOYER) for _ in range(COPIES // 2)]
    bodies += [bot.click_body("plan_cancel", plan_id, card.ts, DEPLOYER) for _ in range(COPIES // 2)]
    queue = list(bodies)
    lock = threading.Lock()

    def click() -> None:
        with lock:
            body = queue.pop()
        assert bot.send(body)[0] == 200

    with recorded_calls() as calls:
        concurrently(click, len(bodies))
        bot.drain()
    count("duplicate clicks", len(bodies))
    executed = calls.count("ecs:UpdateService")
    assert executed <= 1
    assert calls.count("ecs:RegisterTaskDefinition") == executed
    revision = ecs_service("service-a")["taskDefinition"].rpartition(":")[2]
    assert revision == ("4" if executed else "3")
    final = bot.card_text(next(m for m in bot.slack.channel(CHANNEL) if m.ts == card.ts))
    assert ("Confirmed by" in final) == bool(executed)
    assert ("Cancelled by" in final) == (not executed)


def test_many_concurrent_confirms_of_a_scale_run_it_once(bot: Bot) -> None:
    bot.command("/scale service-b 4", user=OPERATOR)
    card = bot.last_card()
    plan_id = bot.button(card, "plan_confirm")["value"]
    body = bot.click_body("plan_confirm", plan_id, card.ts, OPERATOR)  # one click, delivered many times
    calls, _ = delivered_concurrently(bot, body, "duplicate clicks")
    assert calls.count("ecs:UpdateService") == 1
    assert ecs_service("service-b")["desiredCount"] == 4
