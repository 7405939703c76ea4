"""The alarm card's buttons, clicked through handlers.slack.handler: the same safety path as the commands."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from harness import DEPLOYER, OPERATOR, VIEWER, ecs_service, state_table, stores

from .support import ALARM_CHANNEL, AlarmsLambda, metric_alarm


def now() -> datetime:
    return datetime.now(UTC)


def fire(alarms: AlarmsLambda, **kwargs: Any) -> Any:
    alarms.deliver(metric_alarm(at=kwargs.pop("at", now()), **kwargs))
    return alarms.cards()[-1]


def click(alarms: AlarmsLambda, card: Any, action: str, user: str, ts: str | None = None) -> Any:
    value = alarms.buttons(card)[action]["value"]
    return alarms.bot.click(action, value, ts or card.ts, user=user, channel=ALARM_CHANNEL)


def deploy_service_a(alarms: AlarmsLambda) -> None:
    bot = alarms.bot
    assert bot.command("/deploy service-a v1.3.0").text == ""
    plan = bot.last_card()
    bot.click("plan_confirm", bot.button(plan, "plan_confirm")["value"], plan.ts)
    assert ecs_service("service-a")["taskDefinition"].endswith(":4")


def current(alarms: AlarmsLambda, card: Any) -> Any:
    return next(m for m in alarms.slack.channel(ALARM_CHANNEL) if m.ts == card.ts)


# --- deploy correlation and Roll back ---------------------------------------------------------------


def test_an_alarm_soon_after_a_deploy_names_it_and_rolls_back_to_the_revision_that_ran_before(
    alarms: AlarmsLambda,
) -> None:
    deploy_service_a(alarms)
    card = fire(alarms, at=now() + timedelta(minutes=6))
    text = alarms.text(card)
    assert f"deployed revision 3 → 4 (`v1.3.0`) by <@{DEPLOYER}> 6 min before it fired" in text
    assert alarms.buttons(card)["alarm_rollback"]["text"]["text"] == "Roll back to revision 3"
    reply = click(alarms, card, "alarm_rollback", DEPLOYER)
    assert reply.text == ""
    plan = alarms.bot.last_card(ALARM_CHANNEL)
    assert "service-a:4` → `ecs-microservices-production-service-a:3" in alarms.bot.card_text(plan)
    alarms.bot.click("plan_confirm", alarms.bot.button(plan, "plan_confirm")["value"], plan.ts, channel=ALARM_CHANNEL)
    assert ecs_service("service-a")["taskDefinition"].endswith(":3")
    assert "executed" in [e.decision for e in stores().audit.trail("production", "service-a")]


def test_an_alarm_long_after_the_deploy_offers_no_roll_back(alarms: AlarmsLambda) -> None:
    deploy_service_a(alarms)
    card = fire(alarms, at=now() + timedelta(minutes=45))  # deploy_window_minutes is 30
    assert "alarm_rollback" not in alarms.buttons(card)
    assert "deployed" not in alarms.text(card)


def test_roll_back_needs_the_deployer_role(alarms: AlarmsLambda) -> None:
    deploy_service_a(alarms)
    card = fire(alarms, at=now() + timedelta(minutes=1))
    reply = click(alarms, card, "alarm_rollback", OPERATOR)
    assert "needs the *deployer* role" in reply.text
    assert ecs_service("service-a")["taskDefinition"].endswith(":4")


# --- Scale up ------------------------------------------------------------------------------------------


def test_scale_up_plans_one_more_task_and_runs_once_confirmed(alarms: AlarmsLambda) -> None:
    card = fire(alarms)
    assert click(alarms, card, "alarm_scale_up", OPERATOR).text == ""
    plan = alarms.bot.last_card(ALARM_CHANNEL)
    assert "desired tasks: `2` → `3`" in alarms.bot.card_text(plan)
    value = alarms.bot.button(plan, "plan_confirm")["value"]
    alarms.bot.click("plan_confirm", value, plan.ts, user=OPERATOR, channel=ALARM_CHANNEL)
    assert ecs_service("service-a")["desiredCount"] == 3


def test_scale_up_stops_at_the_configured_maximum(alarms: AlarmsLambda) -> None:
    boto3.client("ecs", region_name="us-east-1").update_service(
        cluster="ecs-microservices-production-cluster",
        service="ecs-microservices-production-service-a",
        desiredCount=10,
    )
    card = fire(alarms)
    reply = click(alarms, card, "alarm_scale_up", OPERATOR)
    assert "already wants 10 tasks, its configured maximum" in reply.text


def test_scale_up_needs_the_operator_role_and_is_audited(alarms: AlarmsLambda) -> None:
    card = fire(alarms)
    reply = click(alarms, card, "alarm_scale_up", VIEWER)
    assert "needs the *operator* role" in reply.text
    assert stores().audit.trail("production", "service-a")[0].decision == "denied"


# --- Show logs ------------------------------------------------------------------------------------------


def test_show_logs_posts_the_lines_around_the_alarm_in_its_thread(alarms: AlarmsLambda) -> None:
    card = fire(alarms)
    assert click(alarms, card, "alarm_logs", VIEWER).text == ""
    thread = [m for m in alarms.slack.channel(ALARM_CHANNEL) if m.thread_ts == card.ts]
    assert len(thread) == 1
    text = alarms.bot.card_text(thread[0])
    assert "min either side of" in text
    assert "upstream timeout" in text


def test_show_logs_says_where_a_search_that_did_not_finish_stopped(
    alarms: AlarmsLambda, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log group CloudWatch is slow to search: the thread says the older part was not searched and what to
    do, rather than passing off the lines it reached as the whole window."""
    from moto.logs.models import LogsBackend

    card = fire(alarms)
    monkeypatch.setattr(
        LogsBackend, "filter_log_events", lambda self, group, *args: ([], f"{group}@still@searching", [])
    )
    assert click(alarms, card, "alarm_logs", VIEWER).text == ""
    thread = [m for m in alarms.slack.channel(ALARM_CHANNEL) if m.thread_ts == card.ts]
    text = alarms.bot.card_text(thread[0])
    assert "where the search stopped" in text
    assert "No log lines in that window" not in text


# --- Acknowledge and Mute -----------------------------------------------------------------------------------


def test_acknowledge_records_who_once_and_shows_it_on_the_card(alarms: AlarmsLambda) -> None:
    card = fire(alarms)
    value = alarms.buttons(card)["alarm_ack"]["value"]
    alarms.bot.click("alarm_ack", value, card.ts, user=OPERATOR, channel=ALARM_CHANNEL)
    # The same click delivered twice (a retry, a double click).
    again = alarms.bot.click("alarm_ack", value, card.ts, user=OPERATOR, channel=ALARM_CHANNEL)
    assert "Already done" in again.text
    shown = current(alarms, card)
    assert f"Acknowledged by <@{OPERATOR}>" in alarms.text(shown)
    assert "alarm_ack" not in alarms.buttons(shown)
    decisions = [e.decision for e in stores().audit.trail("production", "service-a")]
    assert decisions.count("acknowledged") == 1
    # The acknowledgement stays on the card as the alarm moves.
    alarms.deliver(metric_alarm(state="INSUFFICIENT_DATA", at=now() + timedelta(minutes=1)))
    assert f"Acknowledged by <@{OPERATOR}>" in alarms.text(current(alarms, card))


def test_a_viewer_cannot_acknowledge(alarms: AlarmsLambda) -> None:
    card = fire(alarms)
    assert "needs the *operator* role" in click(alarms, card, "alarm_ack", VIEWER).text
    assert "Acknowledged" not in alarms.text(current(alarms, card))


def test_mute_stops_notifications_until_it_expires_and_the_card_shows_it(alarms: AlarmsLambda) -> None:
    card = fire(alarms)
    click(alarms, card, "alarm_mute", OPERATOR)
    shown = alarms.text(current(alarms, card))
    assert f"Muted by <@{OPERATOR}> until" in shown
    record = stores().alarms.record(alarms.buttons(card)["alarm_ack"]["value"].split('"a":"')[1].split('"')[0])
    assert record.mute is not None
    assert record.mute.until == record.mute.at + 3600
    assert "muted" in [e.decision for e in stores().audit.trail("production", "service-a")]
    alarms.deliver(metric_alarm(state="OK", old="ALARM", at=now() + timedelta(minutes=2)))
    alarms.deliver(metric_alarm(at=now() + timedelta(minutes=3)))
    assert [m for m in alarms.slack.channel(ALARM_CHANNEL) if m.thread_ts == card.ts] == []  # no notification
    assert "ALARM:" in alarms.text(current(alarms, card))  # the card still tells the truth
    assert len(alarms.cards()) == 1


def test_a_muted_alarm_that_opens_a_new_incident_posts_no_card(alarms: AlarmsLambda) -> None:
    card = fire(alarms, at=now() - timedelta(hours=2))
    click(alarms, card, "alarm_mute", OPERATOR)
    alarms.deliver(metric_alarm(state="OK", old="ALARM", at=now() - timedelta(hours=1)))
    alarms.deliver(metric_alarm(at=now()))
    assert len(alarms.cards()) == 1


def test_an_expired_mute_is_no_mute(alarms: AlarmsLambda) -> None:
    from bot.alarms.store import AlarmMute

    card = fire(alarms, at=now() - timedelta(hours=2))
    key = next(iter(state_table().query("audit#production#*", limit=1)), None)  # nothing audited yet
    assert key is None
    alarm_key = "123456789012#us-east-1#" + metric_alarm()["AlarmName"]
    stores().alarms.mute(alarm_key, AlarmMute(OPERATOR, time.time() - 7200, time.time() - 3600))
    alarms.deliver(metric_alarm(state="OK", old="ALARM", at=now() - timedelta(minutes=1)))
    assert len([m for m in alarms.slack.channel(ALARM_CHANNEL) if m.thread_ts == card.ts]) == 1


def test_a_damaged_button_value_is_refused(alarms: AlarmsLambda) -> None:
    card = fire(alarms)
    reply = alarms.bot.click("alarm_ack", "{not json", card.ts, user=OPERATOR, channel=ALARM_CHANNEL)
    assert "not one the bot made" in reply.text
