"""Trigger a seeded CloudWatch alarm as AWS would: set its state, then publish the notification to SNS.

moto's set_alarm_state notifies nobody, so this builds the JSON CloudWatch sends to an alarm's SNS
actions (the same fields and spelling, `Trigger.Dimensions` in lower case) and publishes it to the
alarm's own topic. From there it takes the path it takes in AWS: SNS -> SQS -> the alarm relay.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sandbox.seed import ACCOUNT

REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-central-1": "EU (Frankfurt)",
}
STATES = ("ALARM", "OK")
_OPERATORS = {
    "GreaterThanThreshold": "greater than",
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}


class UnknownAlarmError(LookupError):
    pass


def state_reason(alarm: dict[str, Any], state: str, now: datetime) -> str:
    """The reason text CloudWatch writes for a threshold crossing (or its recovery)."""
    threshold = float(alarm.get("Threshold", 0))
    periods = int(alarm.get("EvaluationPeriods", 1))
    above = alarm.get("ComparisonOperator", "").startswith("Greater")
    crossing = state == "ALARM"
    value = threshold * (1.15 if above == crossing else 0.5) + (0 if threshold else (1 if crossing else 0))
    stamp = now.strftime("%d/%m/%y %H:%M:%S")
    points = ", ".join(f"{value:.1f} ({stamp})" for _ in range(periods))
    relation = _OPERATORS.get(alarm.get("ComparisonOperator", ""), "compared with")
    if crossing:
        return (
            f"Threshold Crossed: {periods} out of the last {periods} datapoints [{points}] were {relation} "
            f"the threshold ({threshold}) (minimum {periods} datapoint for OK -> ALARM transition)."
        )
    return (
        f"Threshold Crossed: 1 out of the last {periods} datapoints [{value:.1f} ({stamp})] was not {relation} "
        f"the threshold ({threshold}) (minimum 1 datapoint for ALARM -> OK transition)."
    )


def notification(alarm: dict[str, Any], old_state: str, new_state: str, reason: str, now: datetime) -> dict[str, Any]:
    """The Message of CloudWatch's SNS notification for one state change of a metric alarm."""
    region = alarm["AlarmArn"].split(":")[3]
    return {
        "AlarmName": alarm["AlarmName"],
        "AlarmDescription": alarm.get("AlarmDescription"),
        "AWSAccountId": ACCOUNT,
        "AlarmConfigurationUpdatedTimestamp": _stamp(alarm.get("AlarmConfigurationUpdatedTimestamp") or now),
        "NewStateValue": new_state,
        "NewStateReason": reason,
        "StateChangeTime": _stamp(now),
        "Region": REGION_NAMES.get(region, region),
        "AlarmArn": alarm["AlarmArn"],
        "OldStateValue": old_state,
        "OKActions": alarm.get("OKActions", []),
        "AlarmActions": alarm.get("AlarmActions", []),
        "InsufficientDataActions": alarm.get("InsufficientDataActions", []),
        "Trigger": {
            "MetricName": alarm.get("MetricName"),
            "Namespace": alarm.get("Namespace"),
            "StatisticType": "Statistic",
            "Statistic": str(alarm.get("Statistic", "Average")).upper(),
            "Unit": None,
            "Dimensions": [{"value": d["Value"], "name": d["Name"]} for d in alarm.get("Dimensions", [])],
            "Period": alarm.get("Period"),
            "EvaluationPeriods": alarm.get("EvaluationPeriods"),
            "DatapointsToAlarm": alarm.get("DatapointsToAlarm", alarm.get("EvaluationPeriods")),
            "ComparisonOperator": alarm.get("ComparisonOperator"),
            "Threshold": alarm.get("Threshold"),
            "TreatMissingData": alarm.get("TreatMissingData", "missing"),
            "EvaluateLowSampleCountPercentile": "",
        },
    }


def _stamp(moment: datetime) -> str:
    # CloudWatch's own format: milliseconds and a +0000 offset.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


class AlarmTrigger:
    """Moves seeded alarms between OK and ALARM and notifies their SNS actions, as CloudWatch does."""

    def __init__(self, cloudwatch: Any, sns: Any, prefix: str) -> None:
        self.cloudwatch = cloudwatch
        self.sns = sns
        self.prefix = prefix

    def alarms(self) -> list[dict[str, Any]]:
        """The platform's alarms with their state, for the page's control."""
        found: list[dict[str, Any]] = []
        for page in self.cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=self.prefix):
            found += [
                {"name": a["AlarmName"], "state": a.get("StateValue", "INSUFFICIENT_DATA")}
                for a in page.get("MetricAlarms", [])
            ]
        return sorted(found, key=lambda a: str(a["name"]))

    def trigger(self, name: str, state: str) -> dict[str, Any]:
        """Set `name` to `state` (ALARM or OK) and publish the notification; returns the published message."""
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}, got {state!r}")
        found = self.cloudwatch.describe_alarms(AlarmNames=[name]).get("MetricAlarms", [])
        if not found:
            raise UnknownAlarmError(f"no alarm named {name!r}")
        alarm = found[0]
        old_state = alarm.get("StateValue", "INSUFFICIENT_DATA")
        now = datetime.now(UTC)
        reason = state_reason(alarm, state, now)
        self.cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)
        message = notification(alarm, old_state, state, reason, now)
        region_name = message["Region"]
        subject = f'{state}: "{name}" in {region_name}'[:100]
        for topic in alarm.get("AlarmActions" if state == "ALARM" else "OKActions", []):
            self.sns.publish(TopicArn=topic, Subject=subject, Message=json.dumps(message))
        return message
