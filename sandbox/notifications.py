"""CloudWatch's alarm notification as it publishes it to an alarm's SNS actions, and the SNS envelope that
reaches the relay's SQS queue: built here once, for the sandbox (sandbox/alarms.py publishes them to moto),
the tests (tests/alarms/support.py) and the alarm storm (bench/alarm_storm.py).

The fields and their spelling are CloudWatch's (`Trigger.Dimensions` in lower case, times with milliseconds
and a +0000 offset, the statistic in capitals); metric, metric-math, anomaly and composite alarms share the
header (`notification`) and differ in their `Trigger` (`metric_trigger` for one metric, or the caller's).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

ACCOUNT = "123456789012"
REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-central-1": "EU (Frankfurt)",
}


def stamp(moment: datetime) -> str:
    """CloudWatch's time format: 2026-11-26T12:00:00.000+0000."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def notification(
    name: str,
    state: str,
    old_state: str,
    at: datetime,
    *,
    reason: str,
    description: str | None = None,
    trigger: Mapping[str, Any] | None = None,
    region: str = "us-east-1",
    account: str = ACCOUNT,
    configured_at: datetime | None = None,
    alarm_actions: Sequence[str] = (),
    ok_actions: Sequence[str] = (),
    insufficient_data_actions: Sequence[str] = (),
) -> dict[str, Any]:
    """The Message of CloudWatch's SNS notification for one state change of alarm `name` (a composite alarm's
    has no Trigger: pass none and add its AlarmRule and TriggeringChildren)."""
    message: dict[str, Any] = {
        "AlarmName": name,
        "AlarmDescription": description,
        "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": stamp(configured_at or at),
        "NewStateValue": state,
        "NewStateReason": reason,
        "StateChangeTime": stamp(at),
        "Region": REGION_NAMES.get(region, region),
        "AlarmArn": f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}",
        "OldStateValue": old_state,
        "OKActions": list(ok_actions),
        "AlarmActions": list(alarm_actions),
        "InsufficientDataActions": list(insufficient_data_actions),
    }
    if trigger is not None:
        message["Trigger"] = dict(trigger)
    return message


def metric_trigger(
    metric: str | None,
    namespace: str | None,
    dimensions: Mapping[str, str],
    *,
    statistic: str = "Average",
    period: int | None = 60,
    evaluation_periods: int | None = 1,
    datapoints_to_alarm: int | None = None,
    operator: str | None = "GreaterThanThreshold",
    threshold: float | None = 80.0,
    treat_missing_data: str = "missing",
) -> dict[str, Any]:
    """The Trigger of a metric alarm on one metric (a statistic, not a percentile)."""
    return {
        "MetricName": metric,
        "Namespace": namespace,
        "StatisticType": "Statistic",
        "Statistic": statistic.upper(),
        "Unit": None,
        "Dimensions": [{"value": value, "name": name} for name, value in dimensions.items()],
        "Period": period,
        "EvaluationPeriods": evaluation_periods,
        "DatapointsToAlarm": datapoints_to_alarm if datapoints_to_alarm is not None else evaluation_periods,
        "ComparisonOperator": operator,
        "Threshold": threshold,
        "TreatMissingData": treat_missing_data,
        "EvaluateLowSampleCountPercentile": "",
    }


def subject(message: Mapping[str, Any]) -> str:
    """The SNS Subject CloudWatch gives the notification (at most 100 characters)."""
    return f'{message.get("NewStateValue")}: "{message.get("AlarmName")}" in {message.get("Region")}'[:100]


def sns_envelope(
    message: Mapping[str, Any], topic_arn: str, at: datetime | None = None, message_id: str | None = None
) -> dict[str, Any]:
    """The notification as SNS delivers it to an SQS queue without raw message delivery."""
    sent = (at or datetime.now(UTC)).astimezone(UTC)
    region = topic_arn.split(":")[3]
    return {
        "Type": "Notification",
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": topic_arn,
        "Subject": subject(message),
        "Message": json.dumps(message),
        "Timestamp": sent.strftime("%Y-%m-%dT%H:%M:%S.") + f"{sent.microsecond // 1000:03d}Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": f"https://sns.{region}.amazonaws.com/SimpleNotificationService-0000.pem",
        "UnsubscribeURL": f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe",
    }
