"""CloudWatch alarms: platform alarm topic (SNS) -> SQS queue -> this function, in batches -> cards in Slack.

The relay (bot.alarms.relay) handles the batch as a whole, so that it can coalesce per alarm; Powertools'
BatchProcessor then reports exactly the records whose alarm could not be shown (partial batch response,
ReportBatchItemFailures), so SQS redelivers only those, and after maxReceiveCount moves them to the DLQ.
Records that are not alarm notifications are logged and dropped. The event source runs up to two batches
at once (template.yaml ScalingConfig); each takes the lease of the channels it writes (bot/alarms/lease.py),
so one writer per channel and the pacing of Slack writes hold across them.

The relay's own alarms (its DLQ, its queue's age, its errors) also come straight from the stack's topic
OwnAlarmTopic, as an SNS invocation, so they do not wait in the queue they are about. Such an event is
relayed the same way; if its alarm cannot be shown the invocation fails, and Lambda retries it.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from bot.alarms.relay import AlarmRelay, BatchResult, Received
from bot.metrics import ALARM_TO_CARD_LATENCY, Emf
from bot.permissions import Function
from handlers.runtime import PerContainer, Runtime

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "fargate-chatops"))
metrics = Emf("alarms")  # written at the end of each invocation (log_metrics)
# Reporting all records of a batch as failed (a Slack outage) is an answer, not a crash of the function.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
last_result: BatchResult | None = None  # the latest batch's outcome, for the benchmark and the logs


class AlarmNotShown(Exception):
    """The record's alarm could not be shown in Slack; SQS delivers the record again."""


def build_relay(runtime: Runtime) -> AlarmRelay:
    from bot.alarms.pacing import Pacer

    clocks = runtime.clocks
    pacer = Pacer(runtime.config.alarms.writes_per_second, clocks.monotonic, clocks.sleep)
    own = os.environ.get("OPSBOT_OWN_ALARM_TOPIC_ARN", "")
    return AlarmRelay(
        runtime.config,
        runtime.table,
        runtime.platform,
        runtime.slack,
        pacer,
        clocks.wall,
        clocks.sleep,
        graphs=runtime.alarm_graphs,
        own_topics=frozenset({own} if own else ()),
    )


_relay = PerContainer(build_relay, logger, metrics=metrics, function=Function.ALARMS)
get_relay = _relay.get
reset = _relay.reset  # forget the built relay (tests that change the environment), or rebuild it on other clocks


def _sns_envelope(record: dict[str, Any]) -> Received:
    """An SNS invocation's record as the queue would hold it: the SNS envelope, as JSON."""
    sns = record.get("Sns") or {}
    keys = ("Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp")
    return Received(str(sns.get("MessageId", "")), json.dumps({k: sns.get(k) for k in keys}))


def arrived_at(record: dict[str, Any]) -> float | None:
    """When the notification reached the bot, epoch seconds: the queue's SentTimestamp, or SNS's Timestamp
    for a direct invocation; None when the record does not say."""
    try:
        if "Sns" in record:
            return datetime.fromisoformat(str(record["Sns"]["Timestamp"]).replace("Z", "+00:00")).timestamp()
        return int(record["attributes"]["SentTimestamp"]) / 1000
    except (KeyError, TypeError, ValueError):
        return None


def emit_latencies(raw: list[dict[str, Any]], direct: bool, result: BatchResult) -> None:
    """ALARM_TO_CARD_LATENCY of every record whose alarm Slack now shows (the relay's wall clock)."""
    for record in raw:
        record_id = str((record.get("Sns") or {}).get("MessageId", "") if direct else record.get("messageId", ""))
        shown, arrived = result.shown_at.get(record_id), arrived_at(record)
        if shown is not None and arrived is not None:
            metrics.milliseconds(ALARM_TO_CARD_LATENCY, max(0.0, shown - arrived) * 1000)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global last_result
    raw = event.get("Records", [])
    direct = bool(raw) and all(r.get("EventSource") == "aws:sns" for r in raw)
    if direct:
        records = [_sns_envelope(r) for r in raw]
    else:
        records = [Received(str(r.get("messageId", "")), str(r.get("body", ""))) for r in raw]
    remaining = None
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        remaining = lambda: context.get_remaining_time_in_millis() / 1000  # noqa: E731
    holder = f"{getattr(context, 'aws_request_id', '') or 'local'}:{uuid.uuid4().hex[:8]}"
    result = get_relay().process(records, remaining, holder)
    last_result = result
    emit_latencies(raw, direct, result)
    logger.info(
        "alarm batch handled",
        extra={
            "records": len(records),
            "failed": len(result.failed),
            "dropped": len(result.dropped),
            "slack_writes": result.writes,
            "handed_over": result.handed,
            "shown_for_others": result.shown_for_others,
            "source": "sns" if direct else "sqs",
        },
    )
    if direct:
        if result.failed:  # Lambda retries the SNS invocation; the same alarm also comes through the queue
            raise AlarmNotShown("; ".join(sorted(set(result.failed.values()))))
        return {"shown": len(result.shown_at), "dropped": len(result.dropped)}

    def record_handler(record: SQSRecord) -> None:
        why = result.failed.get(record.message_id)
        if why is not None:
            raise AlarmNotShown(why)

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
