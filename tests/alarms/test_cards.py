"""Alarm notifications through handlers.alarms.handler become one living card per incident in Slack."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .support import (
    PREFIX,
    T0,
    AlarmsLambda,
    anomaly_alarm,
    body,
    composite_alarm,
    failed_ids,
    math_alarm,
    metric_alarm,
    sqs_event,
)


@pytest.mark.parametrize(
    ("message", "service", "shown"),
    [
        (metric_alarm(), "service-a", "AWS/ECS CPUUtilization Average > 80 for 3 x 60s"),
        (math_alarm(), "service-b", "error rate % = 100 * errors / requests > 5"),
        (anomaly_alarm(), "service-a", "AWS/ECS CPUUtilization Average outside the band ANOMALY_DETECTION_BAND(m1, 2)"),
        (composite_alarm(), "service-a", 'rule: ALARM("ecs-microservices-production-service-a-cpu-high") AND'),
    ],
    ids=["single-metric", "metric-math", "anomaly-detection", "composite"],
)
def test_every_alarm_shape_gets_a_card_naming_its_service_and_condition(
    alarms: AlarmsLambda, message: dict, service: str, shown: str
) -> None:
    response = alarms.deliver(message)
    assert failed_ids(response) == []
    card = alarms.card()
    text = alarms.text(card)
    assert f"ALARM: {message['AlarmName']}" in text
    assert f"*{service}* (production)" in text
    assert shown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in text
    assert set(alarms.buttons(card)) == {"alarm_scale_up", "alarm_logs", "alarm_ack", "alarm_mute"}


def test_alarm_then_ok_updates_the_same_card_and_replies_in_its_thread(alarms: AlarmsLambda) -> None:
    alarms.deliver(metric_alarm(at=T0))
    card = alarms.card()
    alarms.deliver(metric_alarm(state="OK", old="ALARM", at=T0 + timedelta(minutes=12)))
    after = alarms.card()
    assert after.ts == card.ts
    assert after.edits == 1
    text = alarms.text(after)
    assert "RESOLVED" in text
    assert "resolved after 12 min" in text
    assert not alarms.buttons(after)
    assert alarms.thread(card) == [":white_check_mark: Resolved after 12 min (2026-11-26 12:12 UTC)."]


def test_a_repeat_of_the_same_state_posts_nothing(alarms: AlarmsLambda) -> None:
    alarms.deliver(metric_alarm(at=T0))
    writes = alarms.writes()
    alarms.deliver(metric_alarm(at=T0))  # SNS/SQS deliver at least once
    alarms.deliver(metric_alarm(at=T0 + timedelta(minutes=1), old="ALARM"))
    assert alarms.writes() == writes


def test_a_flapping_alarm_keeps_one_card(alarms: AlarmsLambda) -> None:
    for minute in range(0, 8, 2):
        alarms.deliver(metric_alarm(at=T0 + timedelta(minutes=minute)))
        alarms.deliver(metric_alarm(state="OK", old="ALARM", at=T0 + timedelta(minutes=minute + 1)))
    card = alarms.card()
    assert "fired 4 times in this incident (flapping)" in alarms.text(card)
    assert "RESOLVED" in alarms.text(card)
    assert len(alarms.thread(card)) == 7  # 4 resolves, 3 "again"


def test_an_alarm_that_fires_again_long_after_it_resolved_gets_a_new_card(alarms: AlarmsLambda) -> None:
    alarms.deliver(metric_alarm(at=T0))
    alarms.deliver(metric_alarm(state="OK", old="ALARM", at=T0 + timedelta(minutes=5)))
    alarms.deliver(metric_alarm(at=T0 + timedelta(hours=2)))
    first, second = alarms.cards()
    assert "RESOLVED" in alarms.text(first)
    assert "ALARM:" in alarms.text(second)


def test_within_a_batch_the_latest_state_wins_with_one_write(alarms: AlarmsLambda) -> None:
    states = ["ALARM", "OK", "ALARM", "OK", "ALARM"]
    batch = [metric_alarm(state=s, at=T0 + timedelta(seconds=10 * i)) for i, s in enumerate(states)]
    response = alarms.deliver(*reversed(batch))  # SQS does not keep order
    assert failed_ids(response) == []
    assert alarms.writes() == 1
    assert "ALARM:" in alarms.text(alarms.card())


def test_an_alarm_that_fired_and_resolved_within_one_batch_still_gets_a_resolved_card(alarms: AlarmsLambda) -> None:
    alarms.deliver(metric_alarm(at=T0), metric_alarm(state="OK", old="ALARM", at=T0 + timedelta(seconds=40)))
    text = alarms.text(alarms.card())
    assert "RESOLVED" in text
    assert "resolved after 40 s" in text


def test_an_older_notification_delivered_late_is_ignored(alarms: AlarmsLambda) -> None:
    alarms.deliver(metric_alarm(at=T0))
    alarms.deliver(metric_alarm(state="OK", old="ALARM", at=T0 + timedelta(minutes=3)))
    writes = alarms.writes()
    alarms.deliver(metric_alarm(at=T0 + timedelta(minutes=1)))  # a retry that arrives after the OK
    assert alarms.writes() == writes
    assert "RESOLVED" in alarms.text(alarms.card())


def test_ok_for_an_alarm_without_a_card_posts_nothing(alarms: AlarmsLambda) -> None:
    alarms.deliver(metric_alarm(state="OK", old="INSUFFICIENT_DATA"))
    assert alarms.cards() == []


def test_insufficient_data_is_shown_and_moves_the_same_card(alarms: AlarmsLambda) -> None:
    alarms.deliver(metric_alarm(at=T0))
    alarms.deliver(metric_alarm(state="INSUFFICIENT_DATA", old="ALARM", at=T0 + timedelta(minutes=2)))
    text = alarms.text(alarms.card())
    assert "INSUFFICIENT DATA:" in text
    assert "no data since 12:02 UTC" in text
    assert alarms.thread(alarms.card()) == []


def test_an_alarm_of_no_known_service_still_gets_a_card_without_service_buttons(alarms: AlarmsLambda) -> None:
    alarms.deliver(metric_alarm(name="legacy-billing-queue-depth", dimensions={"QueueName": "billing"}))
    card = alarms.card()
    assert "*no known service* (production)" in alarms.text(card)
    assert set(alarms.buttons(card)) == {"alarm_ack", "alarm_mute"}


def test_raw_message_delivery_bodies_are_accepted(alarms: AlarmsLambda) -> None:
    response = alarms.invoke(sqs_event(body(metric_alarm(), raw=True)))
    assert failed_ids(response) == []
    assert len(alarms.cards()) == 1


def test_each_alarm_has_its_own_card(alarms: AlarmsLambda) -> None:
    names = [PREFIX + f"service-a-{n}" for n in ("cpu-high", "memory-high", "unhealthy-hosts")]
    alarms.deliver(*(metric_alarm(name=n) for n in names))
    assert len(alarms.cards()) == 3
