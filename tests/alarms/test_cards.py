"""Alarm notifications through handlers.alarms.handler become one living card per incident in Slack."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from harness import stores

from bot.alarms.store import AlarmMute
from sandbox.clock import SimulatedClock

from .support import (
    ACCOUNT,
    PREFIX,
    REGION,
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


def test_an_alarm_that_fires_again_after_it_resolved_is_told_in_the_channel_not_only_far_up_it(
    alarms: AlarmsLambda, fake_time: SimulatedClock
) -> None:
    """Issue 15, 5: the card re-opens in place, far up the channel; the reply in its thread is also sent to the
    channel (reply_broadcast), so the newest thing in the channel says the alarm fired again."""
    alarms.deliver(metric_alarm(at=T0))
    card = alarms.card()
    alarms.deliver(metric_alarm(state="OK", old="ALARM", at=T0 + timedelta(minutes=5)))
    assert alarms.seen() == [card]  # resolving is told in the thread only
    for other in range(3):  # the channel moves on
        alarms.deliver(metric_alarm(name=PREFIX + f"service-b-other-{other}", at=T0 + timedelta(minutes=6)))
    slept = len(fake_time.slept)

    alarms.deliver(metric_alarm(at=T0 + timedelta(minutes=9)))
    assert len(alarms.cards()) == 4
    newest = alarms.seen()[-1]
    assert newest.thread_ts == card.ts  # a reply in the card's thread, shown in the channel too
    assert newest.text.startswith(":rotating_light: In ALARM again (fired 2 times in this incident) since 12:09 UTC.")
    assert alarms.thread(card)[-1] == newest.text
    assert "ALARM:" in alarms.text(next(m for m in alarms.cards() if m.ts == card.ts))
    # The card's update and the broadcast are two writes to the channel, each in its own one-second slot (the wait
    # for the first is spent partly looking for other invocations' offers: bot.alarms.lease).
    assert sum(fake_time.slept[slept:]) == pytest.approx(2.0)
    assert fake_time.slept[-1] == 1.0


def test_a_flapping_alarm_tells_the_channel_each_time_it_fires_again_but_not_when_it_resolves(
    alarms: AlarmsLambda,
) -> None:
    for minute in range(0, 6, 2):
        alarms.deliver(metric_alarm(at=T0 + timedelta(minutes=minute)))
        alarms.deliver(metric_alarm(state="OK", old="ALARM", at=T0 + timedelta(minutes=minute + 1)))
    card = alarms.card()
    broadcast = [m.text for m in alarms.seen() if m.ts != card.ts]
    assert len(broadcast) == 2
    assert all("In ALARM again" in text for text in broadcast)


def test_a_muted_alarm_that_fires_again_tells_nobody(alarms: AlarmsLambda) -> None:
    alarms.deliver(metric_alarm(at=T0))
    card = alarms.card()
    alarms.deliver(metric_alarm(state="OK", old="ALARM", at=T0 + timedelta(minutes=5)))
    key = f"{ACCOUNT}#{REGION}#{PREFIX}service-a-cpu-high"
    stores(region=REGION).alarms.mute(key, AlarmMute("U0OPERATOR", time.time(), time.time() + 3600))
    alarms.deliver(metric_alarm(at=T0 + timedelta(minutes=9)))
    assert alarms.seen() == [card]
    assert "ALARM:" in alarms.text(alarms.card())


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
