"""CloudWatch alarms: platform alarm topic (SNS) -> SQS queue -> this function, in batches -> cards in Slack.

The relay (bot.alarms.relay) handles the batch as a whole, so that it can coalesce per alarm; Powertools'
BatchProcessor then reports exactly the records whose alarm could not be shown (partial batch response,
ReportBatchItemFailures), so SQS redelivers only those, and after maxReceiveCount moves them to the DLQ.
Records that are not alarm notifications are logged and dropped. Reserved concurrency 1 (template.yaml)
keeps one writer per channel, so the pacing of Slack writes holds across batches.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from bot.alarms.relay import AlarmRelay, BatchResult, Received
from handlers.runtime import Lazy, build_chatops, share_logging

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "fargate-chatops"))
# Reporting all records of a batch as failed (a Slack outage) is an answer, not a crash of the function.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
# The relay's clocks and sleep; tests and bench/alarm_storm.py pin them before the relay is built.
clock: Callable[[], float] = time.time
pacer_clock: Callable[[], float] = time.monotonic
sleep: Callable[[float], None] = time.sleep
last_result: BatchResult | None = None  # the latest batch's outcome, for the benchmark and the logs


class AlarmNotShown(Exception):
    """The record's alarm could not be shown in Slack; SQS delivers the record again."""


def build_relay() -> AlarmRelay:
    from bot.alarms.pacing import Pacer

    chatops = build_chatops(clock=clock)
    pacer = Pacer(chatops.config.alarms.writes_per_second, pacer_clock, sleep)
    share_logging(logger)
    return AlarmRelay(chatops.config, chatops.state, chatops.platform, chatops.slack, pacer, clock)


_relay = Lazy(build_relay)
get_relay = _relay.get
reset = _relay.reset  # forget the built relay (tests that change the environment or the clocks)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global last_result
    records = [Received(str(r.get("messageId", "")), str(r.get("body", ""))) for r in event.get("Records", [])]
    remaining = None
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        remaining = lambda: context.get_remaining_time_in_millis() / 1000  # noqa: E731
    result = get_relay().process(records, remaining)
    last_result = result
    logger.info(
        "alarm batch handled",
        extra={
            "records": len(records),
            "failed": len(result.failed),
            "dropped": len(result.dropped),
            "slack_writes": result.writes,
        },
    )

    def record_handler(record: SQSRecord) -> None:
        why = result.failed.get(record.message_id)
        if why is not None:
            raise AlarmNotShown(why)

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
