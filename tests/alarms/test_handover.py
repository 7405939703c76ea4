"""The hand-over (bot/alarms/lease.py): a batch that finds its channel's lease taken is offered to the writer, which
shows it in its own next write; the offering invocation answers SQS with what the writer did. Whatever goes wrong
on either side, a record is either shown or failed back to SQS (delivered again), never acknowledged unshown.

The offering side runs through handlers.alarms.handler, with the writer played by the test at the moment the
invocation first waits; the writer's side is the real relay taking in an offer someone left.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import boto3
import pytest

from bot.alarms.lease import LEASE_SK, OFFER_PREFIX, ChannelLeases, Outcome, Taken, lease_pk
from sandbox.clock import SimulatedClock

from .support import ALARM_CHANNEL, PREFIX, T0, AlarmsLambda, body, failed_ids, metric_alarm, sqs_event

WRITER = "the-writer"


def _table() -> str:
    import handlers.alarms

    return str(handlers.alarms.get_relay().table.name)


def _leases(holder: str) -> ChannelLeases:
    import handlers.alarms

    return ChannelLeases(handlers.alarms.get_relay().table, holder)


def _hold(until: float, holder: str = WRITER) -> None:
    """The writer's lease on the alarm channel."""
    boto3.client("dynamodb", region_name="us-east-1").put_item(
        TableName=_table(),
        Item={
            "pk": {"S": lease_pk(ALARM_CHANNEL)},
            "sk": {"S": LEASE_SK},
            "holder": {"S": holder},
            "lease_until": {"N": f"{until:.3f}"},
            "next_write_at": {"N": "0"},
            "expires_at": {"N": str(int(until + 86400))},
        },
    )


def _offers() -> list[dict[str, Any]]:
    items = boto3.client("dynamodb", region_name="us-east-1").query(
        TableName=_table(),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :offer)",
        ExpressionAttributeValues={":pk": {"S": lease_pk(ALARM_CHANNEL)}, ":offer": {"S": OFFER_PREFIX}},
        ConsistentRead=True,
    )["Items"]
    return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]


def _at_first_wait(fake_time: SimulatedClock, act: Callable[[], None]) -> None:
    """Run `act` (the writer's move) when the invocation under test first sleeps (waits for the channel)."""
    sleep, done = fake_time.sleep, []

    def first(seconds: float) -> None:
        if not done:
            done.append(True)
            act()
        sleep(seconds)

    fake_time.sleep = first  # type: ignore[method-assign]
    import handlers.alarms
    from handlers.runtime import Clocks

    handlers.alarms.reset(Clocks(monotonic=fake_time.now, sleep=fake_time.sleep))


def _claim() -> list[Any]:
    writer = _leases(WRITER)
    writer.held[ALARM_CHANNEL] = Taken(ALARM_CHANNEL, 0.0)
    return writer.claim_offers(ALARM_CHANNEL)


def test_a_batch_for_a_channel_another_invocation_writes_is_handed_to_it_and_answered_with_its_outcome(
    alarms: AlarmsLambda, fake_time: SimulatedClock
) -> None:
    _hold(time.time() + 3600)
    event = sqs_event(body(metric_alarm()))
    record_id = event["Records"][0]["messageId"]
    offered: list[Any] = []

    def writer_shows_it() -> None:
        offered.extend(_claim())
        writer = _leases(WRITER)
        writer.held[ALARM_CHANNEL] = Taken(ALARM_CHANNEL, 0.0)
        writer.settle(offered[0], Outcome(shown_at={record_id: 1234.5}))

    _at_first_wait(fake_time, writer_shows_it)
    response = alarms.invoke(event)
    assert [rid for rid, _ in offered[0].records] == [record_id]  # the record itself, as SQS delivered it
    assert json.loads(offered[0].records[0][1])["Type"] == "Notification"
    assert failed_ids(response) == []  # acknowledged: the writer showed it
    assert alarms.module.last_result.shown_at == {record_id: 1234.5}
    assert alarms.module.last_result.handed == 1
    assert alarms.writes() == 0  # nothing written by this invocation: the writer did
    assert _offers() == []  # answered, then gone


def test_a_record_the_writer_could_not_show_is_failed_back_to_sqs(
    alarms: AlarmsLambda, fake_time: SimulatedClock
) -> None:
    _hold(time.time() + 3600)
    event = sqs_event(body(metric_alarm()))
    record_id = event["Records"][0]["messageId"]

    def writer_fails_it() -> None:
        writer = _leases(WRITER)
        writer.held[ALARM_CHANNEL] = Taken(ALARM_CHANNEL, 0.0)
        (offer,) = writer.claim_offers(ALARM_CHANNEL)
        writer.settle(offer, Outcome(failed={record_id: "Slack said no"}))

    _at_first_wait(fake_time, writer_fails_it)
    assert failed_ids(alarms.invoke(event)) == [record_id]


def test_an_offer_nobody_took_is_taken_back_when_the_lease_comes_free_and_shown_by_its_own_invocation(
    alarms: AlarmsLambda, fake_time: SimulatedClock
) -> None:
    _hold(time.time() + 3600)
    _at_first_wait(fake_time, lambda: _hold(0.0, holder=""))  # the writer released without looking at offers
    assert failed_ids(alarms.deliver(metric_alarm())) == []
    assert "ALARM:" in alarms.text(alarms.card())
    assert alarms.module.last_result.handed == 0
    assert _offers() == []


def test_an_offer_whose_writer_died_before_answering_is_taken_back_and_shown_by_its_own_invocation(
    alarms: AlarmsLambda, fake_time: SimulatedClock
) -> None:
    _hold(time.time() + 3600)

    def writer_claims_then_dies() -> None:
        assert len(_claim()) == 1
        _hold(time.time() - 1)  # its invocation ended (timed out): the lease expired, the offer stays claimed

    _at_first_wait(fake_time, writer_claims_then_dies)
    assert failed_ids(alarms.deliver(metric_alarm())) == []
    assert "ALARM:" in alarms.text(alarms.card())
    assert _offers() == []


def test_an_offer_the_live_writer_still_shows_when_the_budget_ends_is_failed_back_to_sqs(
    alarms: AlarmsLambda, fake_time: SimulatedClock
) -> None:
    """At least once: the records stay in SQS until the writer answers; a writer that is still at work when this
    invocation must stop leaves them to SQS's next delivery (which then finds them shown, or shows them)."""
    _hold(time.time() + 3600)
    _at_first_wait(fake_time, lambda: None if _claim() else pytest.fail("nothing offered"))
    event = sqs_event(body(metric_alarm()))
    assert failed_ids(alarms.invoke(event)) == [event["Records"][0]["messageId"]]
    assert alarms.writes() == 0
    assert [o["state"] for o in _offers()] == ["taken"]  # the writer may still answer it


def test_the_writer_shows_an_offered_batch_in_its_own_writes_and_answers_each_record(alarms: AlarmsLambda) -> None:
    """The writer's side: an offer left by a waiting invocation is taken in with this batch. The same alarm in both
    batches is shown once, at its newest state."""
    theirs = sqs_event(
        body(metric_alarm(name=PREFIX + "service-b-cpu-high")),
        body(metric_alarm(state="OK", old="ALARM", at=T0 + timedelta(minutes=2))),
    )
    waiting = _leases("a-waiting-invocation")
    records = [(r["messageId"], r["body"]) for r in theirs["Records"]]
    waiting._offer(ALARM_CHANNEL, tuple(records), time.time() + 60)

    own = sqs_event(body(metric_alarm()))  # this batch's own: service-a's alarm fires at T0
    assert failed_ids(alarms.invoke(own)) == []
    result = alarms.module.last_result
    assert result.shown_for_others == 2
    assert set(result.shown_at) == {own["Records"][0]["messageId"]}  # the offerer's records are answered apart
    cards = {alarms.text(card).split("\n", 1)[0]: card for card in alarms.cards()}
    assert len(cards) == 2, cards  # service-a's alarm (resolved by the offered OK) and service-b's
    assert any("RESOLVED" in alarms.text(card) for card in alarms.cards())
    (offer,) = _offers()
    assert offer["state"] == "done"
    assert offer["claimer"]
    outcome = Outcome.from_json(offer["outcome"])
    assert set(outcome.shown_at) == {rid for rid, _ in records}  # every offered record answered: shown
    assert not outcome.failed
    assert not outcome.dropped


# --- found by review: each a record acknowledged unshown, or a writer stalled -----------------------------------


def _leave_offer(offerer: str, records: list[tuple[str, str]], until: float) -> None:
    _leases(offerer)._offer(ALARM_CHANNEL, tuple(records), until)


def test_a_record_sqs_delivers_again_while_an_old_offer_still_holds_it_is_failed_back_when_slack_fails(
    alarms: AlarmsLambda,
) -> None:
    """The writer's own record and an offer carrying the same record (its first delivery's offerer is gone): the
    record's failure stays in this batch's answer to SQS, it is not handed to an offer nobody reads."""
    event = sqs_event(body(metric_alarm()))
    record = event["Records"][0]
    _leave_offer("an-invocation-that-timed-out", [(record["messageId"], record["body"])], time.time() + 60)
    alarms.slack.inject("chat.postMessage", 500, times=3)
    assert failed_ids(alarms.invoke(event)) == [record["messageId"]]


def test_an_invocation_never_takes_in_its_own_offer(alarms: AlarmsLambda) -> None:
    """An offer it could not take back (the table failed then) is not claimed by its own invocation: its records
    are in its batch already, and their outcome must stay there."""
    import handlers.alarms

    event = sqs_event(body(metric_alarm()))
    record = event["Records"][0]
    relay = handlers.alarms.get_relay()
    leases = ChannelLeases(relay.table, "me")
    leases._offer(ALARM_CHANNEL, ((record["messageId"], record["body"]),), time.time() + 60)
    leases.held[ALARM_CHANNEL] = Taken(ALARM_CHANNEL, 0.0)
    assert leases.claim_offers(ALARM_CHANNEL) == []
    assert [o["state"] for o in _offers()] == ["offered"]


def test_an_offer_behind_many_answered_ones_is_still_taken_in(alarms: AlarmsLambda) -> None:
    later = time.time() + 60
    for n in range(30):  # answered offers wait for the table's TTL; each still carries its records until settled
        _leave_offer(f"an-answered-invocation-{n:02d}", [(f"old-{n}", "x" * 20_000)], later)
        writer = _leases(WRITER)
        writer.held[ALARM_CHANNEL] = Taken(ALARM_CHANNEL, 0.0)
        (offer,) = writer.claim_offers(ALARM_CHANNEL)
        writer.settle(offer, Outcome(shown_at={f"old-{n}": 1.0}))
    theirs = sqs_event(body(metric_alarm(name=PREFIX + "service-b-cpu-high")))
    _leave_offer("zz-a-waiting-invocation", [(r["messageId"], r["body"]) for r in theirs["Records"]], later)
    assert failed_ids(alarms.deliver(metric_alarm())) == []
    assert alarms.module.last_result.shown_for_others == 1
    assert len(alarms.cards()) == 2


def test_an_offer_whose_offerer_has_ended_is_not_taken_in(alarms: AlarmsLambda) -> None:
    theirs = sqs_event(body(metric_alarm(name=PREFIX + "service-b-cpu-high")))
    _leave_offer("an-ended-invocation", [(r["messageId"], r["body"]) for r in theirs["Records"]], time.time() - 1)
    assert failed_ids(alarms.deliver(metric_alarm())) == []
    assert alarms.module.last_result.shown_for_others == 0
    assert len(alarms.cards()) == 1


def test_the_writer_does_not_wait_for_offers_past_the_time_it_keeps_for_its_writes(
    alarms: AlarmsLambda, fake_time: SimulatedClock
) -> None:
    """The channel's next slot 60 s away (a long Retry-After) and 30 s left: the invocation neither waits for
    offers nor for the slot; its record goes back to SQS at once."""
    import handlers.alarms
    from handlers.runtime import Clocks

    wall = SimulatedClock(at=time.time())
    handlers.alarms.reset(Clocks(wall=wall.now, monotonic=fake_time.now, sleep=fake_time.sleep))
    _hold(wall.now() - 1, holder="")
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=_table(),
        Key={"pk": {"S": lease_pk(ALARM_CHANNEL)}, "sk": {"S": LEASE_SK}},
        UpdateExpression="SET next_write_at = :at",
        ExpressionAttributeValues={":at": {"N": f"{wall.now() + 60:.3f}"}},
    )
    event = sqs_event(body(metric_alarm()))
    assert failed_ids(alarms.invoke(event)) == [event["Records"][0]["messageId"]]
    assert sum(fake_time.slept) < 1
    assert alarms.writes() == 0


def test_an_offer_that_cannot_be_claimed_does_not_fail_the_writer_s_own_batch(
    alarms: AlarmsLambda, aws_faults: Any
) -> None:
    theirs = sqs_event(body(metric_alarm(name=PREFIX + "service-b-cpu-high")))
    _leave_offer("a-waiting-invocation", [(r["messageId"], r["body"]) for r in theirs["Records"]], time.time() + 60)
    aws_faults.add("UpdateItem", "InternalServerError", status=500, matching=b":offered")
    assert failed_ids(alarms.deliver(metric_alarm())) == []
    assert len(alarms.cards()) == 1  # its own alarm
    assert [o["state"] for o in _offers()] == ["offered"]  # left to its offerer, which shows it once the lease is free


def test_a_record_two_offers_carry_is_answered_shown_to_both(alarms: AlarmsLambda) -> None:
    """SQS delivered one record twice and both deliveries were offered: the writer shows it once and tells both."""
    theirs = sqs_event(body(metric_alarm(name=PREFIX + "service-b-cpu-high")))
    record = (theirs["Records"][0]["messageId"], theirs["Records"][0]["body"])
    for offerer in ("first-delivery", "second-delivery"):
        _leave_offer(offerer, [record], time.time() + 60)
    assert failed_ids(alarms.deliver(metric_alarm())) == []
    assert len(alarms.cards()) == 2
    outcomes = [Outcome.from_json(o["outcome"]) for o in _offers()]
    assert [list(o.shown_at) for o in outcomes] == [[record[0]], [record[0]]]
    assert [o.failed for o in outcomes] == [{}, {}]
