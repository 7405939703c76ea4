"""Storm control, Slack failures and poison messages: nothing is lost, nothing is retried forever."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

import boto3
import pytest
from deploy.checks import TEMPLATE, load_template
from fixtures_bot import RetryWaits
from harness import lambda_context

from bot.alarms.pacing import Pacer
from sandbox.clock import SimulatedClock

from .support import (
    PREFIX,
    T0,
    TOPIC_ARN,
    AlarmsLambda,
    alarm_config,
    body,
    failed_ids,
    metric_alarm,
    sqs_event,
    sqs_record,
)


def test_the_pacer_spaces_writes_to_a_channel_by_a_second_and_honours_retry_after() -> None:
    clock = SimulatedClock()
    pacer = Pacer(1.0, clock.now, clock.sleep)
    starts = []
    for _ in range(4):
        with pacer.slot("C1"):
            starts.append(clock.now())
            clock.at += 0.2  # the write itself takes time
    with pacer.slot("C2"):  # another channel does not wait
        starts.append(clock.now())
    assert [round(b - a, 3) for a, b in itertools.pairwise(starts[:4])] == [1.2, 1.2, 1.2]
    assert starts[4] == starts[3] + 0.2
    pacer.back_off("C1", 30)
    assert pacer.wait_time("C1") == pytest.approx(30)


@pytest.mark.parametrize("config_dict", [alarm_config(digest_threshold=3)])
def test_a_storm_of_alarms_becomes_one_digest_card_updated_in_place(alarms: AlarmsLambda) -> None:
    names = [PREFIX + f"service-a-storm-{i}" for i in range(8)]
    alarms.deliver(*(metric_alarm(name=n, at=T0 + timedelta(seconds=i)) for i, n in enumerate(names[:5])))
    alarms.deliver(*(metric_alarm(name=n, at=T0 + timedelta(seconds=10 + i)) for i, n in enumerate(names[5:])))
    cards = alarms.cards()
    assert len(cards) == 4  # 3 cards, then one digest for the rest
    digest = cards[3]
    text = alarms.text(digest)
    assert "Alarm storm: 5 of 5 alarms firing" in text
    assert all(f"`{n}`" in text for n in names[3:])
    assert digest.edits == 1  # the second batch updated it
    alarms.deliver(metric_alarm(name=names[6], state="OK", old="ALARM", at=T0 + timedelta(minutes=2)))
    assert "Alarm storm: 4 of 5 alarms firing" in alarms.text(alarms.cards()[3])
    assert len(alarms.cards()) == 4


def test_a_slack_429_is_waited_out_and_the_card_still_posted(alarms: AlarmsLambda, retry_waits: RetryWaits) -> None:
    alarms.slack.inject("chat.postMessage", 429, retry_after=1)
    response = alarms.deliver(metric_alarm())
    assert failed_ids(response) == []
    assert len(alarms.cards()) == 1
    assert [c.status for c in alarms.slack.calls("chat.postMessage")] == [429, 200]
    retry_waits.assert_slack([1.0])  # Retry-After, before the second attempt


@pytest.mark.parametrize("status", [429, 500])
def test_a_slack_failure_fails_only_the_records_of_that_alarm(alarms: AlarmsLambda, status: int) -> None:
    alarms.deliver(metric_alarm(name=PREFIX + "service-b-cpu-high"))  # one card exists already
    alarms.slack.inject("chat.postMessage", status, retry_after=0 if status == 429 else None, times=3)
    first, repeat = metric_alarm(at=T0), metric_alarm(at=T0)
    event = sqs_event(
        body(first),
        body(repeat),
        body(metric_alarm(name=PREFIX + "service-b-cpu-high", state="OK", old="ALARM", at=T0 + timedelta(minutes=5))),
    )
    response = alarms.invoke(event)
    ids = [r["messageId"] for r in event["Records"]]
    assert failed_ids(response) == ids[:2]  # service-a's two records; service-b's card was updated
    assert "RESOLVED" in alarms.text(alarms.cards()[0])
    assert len(alarms.cards()) == 1
    # SQS delivers the failed records again; Slack is back.
    again = alarms.invoke({"Records": [r for r in event["Records"] if r["messageId"] in ids[:2]]})
    assert failed_ids(again) == []
    assert len(alarms.cards()) == 2


def test_poison_messages_are_dropped_and_the_rest_of_the_batch_is_shown(alarms: AlarmsLambda) -> None:
    poison = [
        "not json",
        json.dumps(["a", "list"]),
        json.dumps({"Type": "SubscriptionConfirmation", "Message": "confirm"}),
        json.dumps({"Type": "Notification", "Message": "not json either"}),
        json.dumps({"Type": "Notification", "Message": json.dumps({"hello": "world"})}),
        body({**metric_alarm(), "NewStateValue": "MAYBE"}),
        body({**metric_alarm(), "StateChangeTime": "yesterday"}),
        body({k: v for k, v in metric_alarm().items() if k != "Trigger"}),
        body({**metric_alarm(), "AlarmName": "x" * 300}),
        body({**metric_alarm(), "Trigger": {"Metrics": [{"no": "id"}]}}),
        "[" * 100_000,
    ]
    response = alarms.invoke(sqs_event(*poison, body(metric_alarm())))
    assert failed_ids(response) == []
    assert len(alarms.module.last_result.dropped) == len(poison)
    assert len(alarms.cards()) == 1


def test_a_record_that_breaks_the_relay_fails_alone(alarms: AlarmsLambda, monkeypatch: pytest.MonkeyPatch) -> None:
    relay = alarms.module.get_relay()
    original = relay._new_card

    def explode(alarm: Any, opened_at: float) -> Any:
        if alarm.name.endswith("memory-high"):
            raise RuntimeError("a bug")
        return original(alarm, opened_at)

    monkeypatch.setattr(relay, "_new_card", explode)
    event = sqs_event(body(metric_alarm(name=PREFIX + "service-a-memory-high")), body(metric_alarm()))
    response = alarms.invoke(event)
    assert failed_ids(response) == [event["Records"][0]["messageId"]]
    assert len(alarms.cards()) == 1


# --- the real queue: SNS -> SQS with a redrive policy (moto) ------------------------------------------

# template.yaml's: the receives before the DLQ.
MAX_RECEIVES = int(
    load_template(TEMPLATE.read_text())["Resources"]["AlarmQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
)


def _queues() -> tuple[Any, str, str]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq = sqs.create_queue(QueueName="opsbot-alarms-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName="opsbot-alarms",
        Attributes={
            "VisibilityTimeout": "0",  # redeliver at once: the test stands in for the 720 s of template.yaml
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns", region_name="us-east-1").subscribe(TopicArn=TOPIC_ARN, Protocol="sqs", Endpoint=arn)
    return sqs, queue, dlq


def _poll(alarms: AlarmsLambda, sqs: Any, queue: str) -> int:
    """What Lambda's event source does once: receive a batch, invoke, delete what succeeded."""
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    if not messages:
        return 0
    event = {"Records": [{**sqs_record(m["Body"], m["MessageId"])} for m in messages]}
    failed = set(failed_ids(alarms.module.handler(event, lambda_context("AlarmsFunction"))))
    for message in messages:
        if message["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return len(messages)


def test_a_slack_outage_loses_no_alarm_it_waits_in_the_dead_letter_queue(
    alarms: AlarmsLambda, retry_waits: RetryWaits
) -> None:
    sqs, queue, dlq = _queues()
    boto3.client("sns", region_name="us-east-1").publish(TopicArn=TOPIC_ARN, Message=json.dumps(metric_alarm()))
    alarms.slack.inject("chat.postMessage", 500, times=1000)  # Slack is down
    receives = 0
    while _poll(alarms, sqs, queue):
        receives += 1
    assert receives == MAX_RECEIVES
    assert alarms.cards() == []
    retry_waits.assert_slack([0.5, 1.0] * MAX_RECEIVES)  # each receive: two retries after slack_sdk's backoff
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert len(dead) == 1
    assert json.loads(json.loads(dead[0]["Body"])["Message"])["AlarmName"] == metric_alarm()["AlarmName"]
    # Slack is back: redriving the DLQ shows the alarm.
    alarms.slack.state.faults.clear()
    sqs.send_message(QueueUrl=queue, MessageBody=dead[0]["Body"])
    assert _poll(alarms, sqs, queue) == 1
    assert "ALARM:" in alarms.text(alarms.card())


def test_a_short_slack_outage_is_bridged_by_redelivery(alarms: AlarmsLambda, retry_waits: RetryWaits) -> None:
    sqs, queue, dlq = _queues()
    boto3.client("sns", region_name="us-east-1").publish(TopicArn=TOPIC_ARN, Message=json.dumps(metric_alarm()))
    alarms.slack.inject("chat.postMessage", 503, times=6)  # two deliveries' worth of retries
    while _poll(alarms, sqs, queue):
        pass
    assert len(alarms.cards()) == 1
    assert sqs.receive_message(QueueUrl=dlq).get("Messages", []) == []
    retry_waits.assert_slack([0.5, 1.0] * 2)  # two deliveries' retries, each after slack_sdk's backoff
