"""The per-channel lease (bot/alarms/lease.py) through handlers.alarms.handler: a channel another invocation
holds is waited for, and when it stays taken the alarm is failed back to SQS (retried, never lost); a lease whose
invocation died expires by itself; the next holder keeps the previous one's pace."""

from __future__ import annotations

import time

import boto3

from bot.alarms.lease import LEASE_SK, lease_pk
from sandbox.clock import SimulatedClock

from .support import ALARM_CHANNEL, AlarmsLambda, body, failed_ids, metric_alarm, sqs_event


def _table() -> str:
    import handlers.alarms

    return handlers.alarms.get_relay().table.name


def _hold(channel: str, until: float, next_write_at: float = 0.0) -> None:
    """Another invocation's lease on the channel."""
    boto3.client("dynamodb", region_name="us-east-1").put_item(
        TableName=_table(),
        Item={
            "pk": {"S": lease_pk(channel)},
            "sk": {"S": LEASE_SK},
            "holder": {"S": "another-invocation"},
            "lease_until": {"N": f"{until:.3f}"},
            "next_write_at": {"N": f"{next_write_at:.3f}"},
            "expires_at": {"N": str(int(until + 86400))},
        },
    )


def _lease(channel: str) -> dict[str, str]:
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=_table(), Key={"pk": {"S": lease_pk(channel)}, "sk": {"S": LEASE_SK}}, ConsistentRead=True
    )["Item"]
    return {k: next(iter(v.values())) for k, v in item.items()}


def test_a_channel_held_elsewhere_fails_the_alarm_back_to_sqs_and_the_redelivery_shows_it(
    alarms: AlarmsLambda, fake_time: SimulatedClock
) -> None:
    _hold(ALARM_CHANNEL, time.time() + 3600)
    event = sqs_event(body(metric_alarm()))
    assert failed_ids(alarms.invoke(event)) == [event["Records"][0]["messageId"]]
    assert alarms.writes() == 0
    assert sum(fake_time.slept) >= 9  # it waited its budget (30 s left, less two 10 s margins) first
    _hold(ALARM_CHANNEL, time.time() - 1)  # the other invocation ended (its lease expired)
    assert failed_ids(alarms.invoke(event)) == []
    assert "ALARM:" in alarms.text(alarms.card())


def test_the_lease_is_given_back_with_the_channel_s_next_slot(alarms: AlarmsLambda) -> None:
    before = time.time()
    assert failed_ids(alarms.deliver(metric_alarm())) == []
    lease = _lease(ALARM_CHANNEL)
    assert lease["holder"] == ""
    assert float(lease["lease_until"]) == 0
    assert float(lease["next_write_at"]) >= before + 0.9  # one write per second: the next one a second later


def test_the_next_holder_keeps_the_previous_one_s_pace(alarms: AlarmsLambda, fake_time: SimulatedClock) -> None:
    import handlers.alarms
    from handlers.runtime import Clocks

    # The relay's wall clock stands still, so the wait it owes the previous holder does not shrink by however
    # long a loaded machine takes between the lease's release and the delivery.
    wall = SimulatedClock(at=time.time())
    handlers.alarms.reset(Clocks(wall=wall.now, monotonic=fake_time.now, sleep=fake_time.sleep))
    _hold(ALARM_CHANNEL, wall.now() - 1, next_write_at=wall.now() + 5)  # released; its next slot in 5 s
    assert failed_ids(alarms.deliver(metric_alarm())) == []
    assert sum(fake_time.slept) >= 4.99  # waited for the slot (stored to the millisecond) first
    assert len(alarms.cards()) == 1


def test_a_free_lease_waits_for_the_invocation_that_waited_for_it(
    alarms: AlarmsLambda, fake_time: SimulatedClock
) -> None:
    """Turns: a holder that released and takes its next batch at once cannot take the lease back while the
    other invocation's waiting mark is live; once the mark lapses (a waiter that gave up), it can."""
    import handlers.alarms
    from handlers.runtime import Clocks

    fake_time.at = time.time()
    handlers.alarms.reset(Clocks(wall=fake_time.now, monotonic=fake_time.now, sleep=fake_time.sleep))
    _hold(ALARM_CHANNEL, fake_time.now() - 1)  # released
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=_table(),
        Key={"pk": {"S": lease_pk(ALARM_CHANNEL)}, "sk": {"S": LEASE_SK}},
        UpdateExpression="SET waiter = :w, waiting_until = :u",
        ExpressionAttributeValues={":w": {"S": "another-invocation"}, ":u": {"N": f"{fake_time.now() + 1.5:.3f}"}},
    )
    start = fake_time.now()
    assert failed_ids(alarms.deliver(metric_alarm())) == []
    assert fake_time.now() - start >= 1.49  # it left the lease to the waiter until the mark lapsed (to the ms)
    assert len(alarms.cards()) == 1
    assert _lease(ALARM_CHANNEL)["holder"] == ""
