"""CloudWatch alarm notifications built to the documented format, SQS events around them, and helpers."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from harness import Bot, config_data, lambda_context

from sandbox import notifications
from sandbox.notifications import metric_trigger, notification, stamp

ACCOUNT = "123456789012"
REGION = "us-east-1"
ALARM_CHANNEL = "C0ALARMS"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:ecs-microservices-production-alarms"
PREFIX = "ecs-microservices-production-"
CLUSTER = "ecs-microservices-production-cluster"
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def alarm_config(**alarms: Any) -> dict[str, Any]:
    """The tests' configuration with the alarm channel and these `alarms` settings."""
    data = config_data()
    data["alarms"] = {"channel": ALARM_CHANNEL, **alarms}
    return data


def _base(name: str, state: str, old: str, at: datetime, reason: str, description: str) -> dict[str, Any]:
    return notification(
        name,
        state,
        old,
        at,
        reason=reason or f"Threshold Crossed: 3 datapoints were {state.lower()}",
        description=description,
        region=REGION,
        account=ACCOUNT,
        configured_at=T0 - timedelta(days=3),
        alarm_actions=[TOPIC_ARN],
        ok_actions=[TOPIC_ARN],
    )


def metric_alarm(
    name: str = PREFIX + "service-a-cpu-high",
    state: str = "ALARM",
    old: str = "OK",
    at: datetime = T0,
    dimensions: dict[str, str] | None = None,
    reason: str = "",
    description: str = "service-a: CPUUtilization",
) -> dict[str, Any]:
    dims = {"ClusterName": CLUSTER, "ServiceName": PREFIX + "service-a"} if dimensions is None else dimensions
    return {
        **_base(name, state, old, at, reason, description),
        "Trigger": metric_trigger("CPUUtilization", "AWS/ECS", dims, evaluation_periods=3),
    }


def _metric_stat(id_: str, namespace: str, metric: str, dims: dict[str, str], stat: str) -> dict[str, Any]:
    return {
        "Id": id_,
        "MetricStat": {
            "Metric": {
                "Dimensions": [{"value": v, "name": k} for k, v in dims.items()],
                "MetricName": metric,
                "Namespace": namespace,
            },
            "Period": 60,
            "Stat": stat,
        },
        "ReturnData": False,
    }


def math_alarm(
    name: str = PREFIX + "service-b-error-rate", state: str = "ALARM", old: str = "OK", at: datetime = T0
) -> dict[str, Any]:
    tg = {
        "TargetGroup": "targetgroup/" + target_group_name("service-b") + "/0123456789abcdef",
        "LoadBalancer": "app/ecs-microservices-production-alb/0123456789abcdef",
    }
    return {
        **_base(name, state, old, at, "Threshold Crossed: 1 datapoint [7.5] was greater than 5.0", "5xx rate"),
        "Trigger": {
            "Period": 60,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 5.0,
            "TreatMissingData": "notBreaching",
            "EvaluateLowSampleCountPercentile": "",
            "Metrics": [
                {"Expression": "100 * errors / requests", "Id": "e1", "Label": "error rate %", "ReturnData": True},
                _metric_stat("errors", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", tg, "Sum"),
                _metric_stat("requests", "AWS/ApplicationELB", "RequestCount", tg, "Sum"),
            ],
        },
    }


def anomaly_alarm(
    name: str = PREFIX + "service-a-latency-anomaly", state: str = "ALARM", old: str = "OK", at: datetime = T0
) -> dict[str, Any]:
    dims = {"ClusterName": CLUSTER, "ServiceName": PREFIX + "service-a"}
    metric = _metric_stat("m1", "AWS/ECS", "CPUUtilization", dims, "Average")
    metric["ReturnData"] = True
    return {
        **_base(name, state, old, at, "Thresholds Crossed: 1 datapoint was outside the band", "CPU anomaly"),
        "Trigger": {
            "Period": 300,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "LessThanLowerOrGreaterThanUpperThreshold",
            "ThresholdMetricId": "ad1",
            "TreatMissingData": "",
            "EvaluateLowSampleCountPercentile": "",
            "Metrics": [
                metric,
                {"Expression": "ANOMALY_DETECTION_BAND(m1, 2)", "Id": "ad1", "Label": "band", "ReturnData": True},
            ],
        },
    }


def composite_alarm(
    name: str = PREFIX + "service-a-degraded", state: str = "ALARM", old: str = "OK", at: datetime = T0
) -> dict[str, Any]:
    children = [PREFIX + "service-a-cpu-high", PREFIX + "service-a-unhealthy-hosts"]
    message = _base(
        name,
        state,
        old,
        at,
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{children[0]} transitioned "
        "to ALARM at Thursday 26 November, 2026 12:00:00 UTC",
        "service-a is degraded",
    )
    message["AlarmRule"] = f'ALARM("{children[0]}") AND ALARM("{children[1]}")'
    message["TriggeringChildren"] = [
        {"Arn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{c}", "State": {"Value": "ALARM", "Timestamp": stamp(at)}}
        for c in children
    ]
    return message


def target_group_name(service: str, env: str = "production", serial: int = 1) -> str:
    """A target group's name as AWS completes infra/'s name_prefix (infra/modules/naming): 5 hex of
    sha1("{prefix}-{service}") + "-", then a unique suffix to 32 characters. It names no service: the relay
    finds a group's service through the services' load balancers (ECS DescribeServices)."""
    stem = hashlib.sha1(f"ecs-microservices-{env}-{service}".encode()).hexdigest()[:5]
    return f"{stem}-{20261201120000000000000000 + serial}"


def sns_envelope(message: dict[str, Any]) -> dict[str, Any]:
    return notifications.sns_envelope(message, TOPIC_ARN)


def body(message: dict[str, Any], raw: bool = False) -> str:
    return json.dumps(message if raw else sns_envelope(message))


def sqs_record(text: str, message_id: str | None = None, receives: int = 1) -> dict[str, Any]:
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": uuid.uuid4().hex,
        "body": text,
        "attributes": {
            "ApproximateReceiveCount": str(receives),
            "SentTimestamp": "1764158400000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1764158400001",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(text.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:opsbot-alarms",
        "awsRegion": REGION,
    }


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {"Records": [sqs_record(b) for b in bodies]}


class AlarmsLambda:
    """handlers.alarms.handler with the Slack stand-in of the bot harness."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.slack = bot.slack

    @property
    def module(self) -> Any:
        import handlers.alarms

        return handlers.alarms

    def deliver(self, *messages: dict[str, Any]) -> dict[str, Any]:
        """SNS-wrapped notifications as one SQS batch; returns the partial batch response."""
        return self.invoke(sqs_event(*(body(m) for m in messages)))

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = self.module.handler(event, lambda_context("AlarmsFunction"))
        return response

    # --- the channel -------------------------------------------------------------------------------------

    def cards(self) -> list[Any]:
        return [m for m in self.slack.channel(ALARM_CHANNEL) if m.thread_ts is None]

    def card(self) -> Any:
        found = self.cards()
        assert len(found) == 1, [m.text for m in found]
        return found[0]

    def text(self, card: Any) -> str:
        return self.bot.card_text(card)

    def thread(self, card: Any) -> list[str]:
        return [m.text for m in self.slack.channel(ALARM_CHANNEL) if m.thread_ts == card.ts]

    def seen(self, channel: str = ALARM_CHANNEL) -> list[Any]:
        """What a person scrolling the channel sees, oldest first: its messages and the thread replies that
        were also sent to the channel (reply_broadcast)."""
        return [m for m in self.slack.channel(channel) if m.thread_ts is None or m.broadcast]

    def writes(self) -> int:
        return len(self.slack.calls("chat.postMessage")) + len(self.slack.calls("chat.update"))

    @staticmethod
    def buttons(card: Any) -> dict[str, dict[str, Any]]:
        return {e["action_id"]: e for b in card.blocks if b["type"] == "actions" for e in b["elements"]}


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in response.get("batchItemFailures", [])]
