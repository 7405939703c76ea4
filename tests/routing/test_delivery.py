"""Alarm cards, deploy cards and the weekly cost post land where the rules say, through the real handlers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alarms.support import ALARM_CHANNEL, CLUSTER, PREFIX, AlarmsLambda, metric_alarm
from harness import CHANNEL, OPERATOR, Bot, deployment_event, ecs_service, lambda_context

from .support import CRITICAL, DEPLOYS, FINOPS, LEADS, PERF, TEAM_A


def cards(bot: Bot, channel: str) -> list[Any]:
    return [m for m in bot.slack.channel(channel) if m.thread_ts is None]


def thread(bot: Bot, channel: str, ts: str) -> list[str]:
    return [m.text for m in bot.slack.channel(channel) if m.thread_ts == ts]


# --- alarm cards ---------------------------------------------------------------------------------------


def test_a_critical_alarm_goes_to_every_channel_of_the_first_matching_rule(alarms: AlarmsLambda) -> None:
    now = datetime.now(UTC)
    alarms.deliver(metric_alarm(name=PREFIX + "service-a-cpu-critical", at=now))
    [home], [copy] = cards(alarms.bot, CRITICAL), cards(alarms.bot, TEAM_A)
    assert home.text == copy.text == "ALARM: ecs-microservices-production-service-a-cpu-critical (service-a)"
    assert cards(alarms.bot, ALARM_CHANNEL) == []

    alarms.deliver(metric_alarm(name=PREFIX + "service-a-cpu-critical", state="OK", old="ALARM", at=now + timedelta(1)))
    for channel, card in ((CRITICAL, home), (TEAM_A, copy)):
        [shown] = cards(alarms.bot, channel)
        assert shown.text.startswith("RESOLVED:"), channel  # updated in place in both channels
        assert len(thread(alarms.bot, channel, card.ts)) == 1
        assert "Resolved after" in thread(alarms.bot, channel, card.ts)[0]


def test_alarms_no_rule_matches_go_to_alarms_channel_and_patterns_route_by_name(alarms: AlarmsLambda) -> None:
    now = datetime.now(UTC)
    service_b = {"ClusterName": CLUSTER, "ServiceName": PREFIX + "service-b"}
    alarms.deliver(
        metric_alarm(name=PREFIX + "service-b-cpu-high", at=now, dimensions=service_b),
        metric_alarm(name=PREFIX + "service-b-latency-p99", at=now, dimensions=service_b),
    )
    assert [c.text for c in cards(alarms.bot, ALARM_CHANNEL)] == [
        "ALARM: ecs-microservices-production-service-b-cpu-high (service-b)"
    ]
    assert [c.text for c in cards(alarms.bot, PERF)] == [
        "ALARM: ecs-microservices-production-service-b-latency-p99 (service-b)"
    ]


def test_acknowledge_on_a_copy_redraws_the_card_everywhere(alarms: AlarmsLambda) -> None:
    alarms.deliver(metric_alarm(name=PREFIX + "service-a-cpu-critical", at=datetime.now(UTC)))
    copy = cards(alarms.bot, TEAM_A)[0]
    value = alarms.buttons(copy)["alarm_ack"]["value"]
    reply = alarms.bot.click("alarm_ack", value, copy.ts, user=OPERATOR, channel=TEAM_A)
    assert reply.text == ""
    for channel in (CRITICAL, TEAM_A):
        assert f"Acknowledged by <@{OPERATOR}>" in alarms.text(cards(alarms.bot, channel)[0]), channel


def test_an_alarm_that_fires_again_is_told_in_every_channel_of_its_card(alarms: AlarmsLambda) -> None:
    name, at = PREFIX + "service-a-cpu-critical", datetime.now(UTC)
    alarms.deliver(metric_alarm(name=name, at=at))
    alarms.deliver(metric_alarm(name=name, state="OK", old="ALARM", at=at + timedelta(minutes=2)))
    alarms.deliver(metric_alarm(name=name, at=at + timedelta(minutes=4)))
    for channel in (CRITICAL, TEAM_A):
        [card] = cards(alarms.bot, channel)
        newest = alarms.seen(channel)[-1]
        assert (newest.thread_ts, newest.broadcast) == (card.ts, True), channel
        assert "In ALARM again" in newest.text, channel


def test_a_scale_up_run_from_a_copy_shows_on_the_card_everywhere(alarms: AlarmsLambda) -> None:
    alarms.deliver(metric_alarm(name=PREFIX + "service-a-cpu-critical", at=datetime.now(UTC)))
    copy = cards(alarms.bot, TEAM_A)[0]
    value = alarms.buttons(copy)["alarm_scale_up"]["value"]
    assert alarms.bot.click("alarm_scale_up", value, copy.ts, user=OPERATOR, channel=TEAM_A).text == ""
    plan = alarms.bot.last_card(TEAM_A)  # the plan card is where the button was pressed
    alarms.bot.click("plan_confirm", alarms.bot.button(plan, "plan_confirm")["value"], plan.ts, OPERATOR, TEAM_A)
    assert ecs_service("service-a")["desiredCount"] == 3
    for channel in (CRITICAL, TEAM_A):
        card = cards(alarms.bot, channel)[0]
        assert f"Scaled to 3 tasks by <@{OPERATOR}>" in alarms.text(card), channel
        assert "alarm_scale_up" not in alarms.buttons(card), channel


# --- deploy cards ----------------------------------------------------------------------------------------


def confirm_deploy(bot: Bot, channel: str, env: str = "") -> None:
    bot.command(f"/deploy service-a v1.3.0 {env}".strip(), channel=channel)
    plan = bot.last_card(channel)
    bot.click("plan_confirm", bot.button(plan, "plan_confirm")["value"], plan.ts, channel=channel)


def test_the_deploy_card_is_mirrored_to_the_routed_channel_and_both_follow_the_rollout(
    bot: Bot, deployments: Any
) -> None:
    confirm_deploy(bot, CHANNEL)
    [home] = cards(bot, CHANNEL)
    [copy] = cards(bot, DEPLOYS)
    assert "Rollout: *in progress*" in bot.card_text(copy)
    assert f"Copy of the card in <#{CHANNEL}>" in bot.card_text(copy)
    service = ecs_service("service-a")
    arn, deployment = service["serviceArn"], service["deployments"][0]["id"]
    result = deployments.handler(
        deployment_event(arn, "SERVICE_DEPLOYMENT_COMPLETED", deployment, minutes=2), lambda_context()
    )
    assert result["result"] == "completed"
    for channel, card in ((CHANNEL, home), (DEPLOYS, copy)):
        now = next(m for m in bot.slack.channel(channel) if m.ts == card.ts)
        assert "Rollout: *completed*" in bot.card_text(now), channel
        assert ["Completed in 2m" in t for t in thread(bot, channel, card.ts)] == [True], channel


def test_a_deploy_typed_in_the_routed_channel_is_not_copied_there_again(bot: Bot) -> None:
    confirm_deploy(bot, DEPLOYS)
    [card] = cards(bot, DEPLOYS)
    assert "Rollout: *in progress*" in bot.card_text(card)
    assert "Copy of the card" not in bot.card_text(card)
    assert cards(bot, CHANNEL) == []


def test_the_answer_to_a_command_stays_where_it_was_typed(bot: Bot) -> None:
    reply = bot.command("/status service-a", channel=TEAM_A)
    assert "Status of production" in reply.text
    assert bot.slack.calls("chat.postMessage") == []


# --- the weekly cost post ---------------------------------------------------------------------------------


def test_the_weekly_cost_post_goes_to_each_routed_channel(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    from cost.support import NOW, queue_known_week
    from cost.test_weekly import lambda_context as costs_context
    from cost.test_weekly import scheduled_event

    import handlers.costs
    from handlers.runtime import Clocks

    handlers.costs.reset(Clocks(wall=lambda: NOW))
    queue_known_week()
    try:
        result = handlers.costs.handler(scheduled_event(), costs_context())
    finally:
        handlers.costs.reset()
    assert result["posted"] is True
    assert result["channel"] == FINOPS
    for channel in (FINOPS, LEADS):
        [post] = cards(bot, channel)
        assert post.text.startswith("Cost of production"), channel
    assert cards(bot, "C0COSTS") == []
