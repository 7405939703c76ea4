"""Trigger a seeded CloudWatch alarm as AWS would: set its state, then publish the notification to SNS.

moto's set_alarm_state notifies nobody, so this builds the JSON CloudWatch sends to an alarm's SNS
actions (the same fields and spelling, `Trigger.Dimensions` in lower case) and publishes it to the
alarm's own topic. From there it takes the path it takes in AWS: SNS -> SQS -> the alarm relay.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sandbox import notifications
from sandbox.notifications import metric_trigger, subject

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
    _, _, _, region, account, _ = alarm["AlarmArn"].split(":", 5)
    trigger = metric_trigger(
        alarm.get("MetricName"),
        alarm.get("Namespace"),
        {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])},
        statistic=str(alarm.get("Statistic", "Average")),
        period=alarm.get("Period"),
        evaluation_periods=alarm.get("EvaluationPeriods"),
        datapoints_to_alarm=alarm.get("DatapointsToAlarm"),
        operator=alarm.get("ComparisonOperator"),
        threshold=alarm.get("Threshold"),
        treat_missing_data=alarm.get("TreatMissingData", "missing"),
    )
    return notifications.notification(
        alarm["AlarmName"],
        new_state,
        old_state,
        now,
        reason=reason,
        description=alarm.get("AlarmDescription"),
        trigger=trigger,
        region=region,
        account=account,
        configured_at=alarm.get("AlarmConfigurationUpdatedTimestamp"),
        alarm_actions=alarm.get("AlarmActions", []),
        ok_actions=alarm.get("OKActions", []),
        insufficient_data_actions=alarm.get("InsufficientDataActions", []),
    )


class AlarmTrigger:
    """Moves seeded alarms between OK and ALARM and notifies their SNS actions, as CloudWatch does.

    `also`: the triggers of the other environments (each with its account's clients): their alarms are
    listed and triggered here too, each in its own account, so one page fires any environment's alarm.
    """

    def __init__(self, cloudwatch: Any, sns: Any, prefix: str, also: Sequence[AlarmTrigger] = ()) -> None:
        self.cloudwatch = cloudwatch
        self.sns = sns
        self.prefix = prefix
        self.also = list(also)

    def alarms(self) -> list[dict[str, Any]]:
        """The platform's alarms with their state, for the page's control."""
        found: list[dict[str, Any]] = []
        for page in self.cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=self.prefix):
            found += [
                {"name": a["AlarmName"], "state": a.get("StateValue", "INSUFFICIENT_DATA")}
                for a in page.get("MetricAlarms", [])
            ]
        for other in self.also:
            found += other.alarms()
        return sorted(found, key=lambda a: str(a["name"]))

    def trigger(self, name: str, state: str) -> dict[str, Any]:
        """Set `name` to `state` (ALARM or OK) and publish the notification; returns the published message."""
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}, got {state!r}")
        owner = next((other for other in self.also if name.startswith(other.prefix)), None)
        if owner is not None and not name.startswith(self.prefix):
            return owner.trigger(name, state)
        found = self.cloudwatch.describe_alarms(AlarmNames=[name]).get("MetricAlarms", [])
        if not found:
            raise UnknownAlarmError(f"no alarm named {name!r}")
        alarm = found[0]
        old_state = alarm.get("StateValue", "INSUFFICIENT_DATA")
        now = datetime.now(UTC)
        reason = state_reason(alarm, state, now)
        self.cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)
        message = notification(alarm, old_state, state, reason, now)
        for topic in alarm.get("AlarmActions" if state == "ALARM" else "OKActions", []):
            self.sns.publish(TopicArn=topic, Subject=subject(message), Message=json.dumps(message))
        return message
