"""Parsing CloudWatch alarm notifications, and mapping alarms to environments and services."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest
from harness import config_data

from bot.alarms.model import AlarmKind, AlarmState, NotAnAlarm, ServiceMap, parse_body, parse_message
from bot.config import parse_config
from sandbox.seed import put_alarm

from .support import (
    PREFIX,
    T0,
    AlarmsLambda,
    alarm_config,
    anomaly_alarm,
    body,
    composite_alarm,
    math_alarm,
    metric_alarm,
    target_group_name,
)


def test_a_single_metric_alarm_in_its_sns_envelope() -> None:
    envelope = json.loads(body(metric_alarm()))
    alarm = parse_body(json.dumps(envelope), "sqs-id")
    assert alarm.kind is AlarmKind.METRIC
    assert alarm.state is AlarmState.ALARM
    assert alarm.old_state is AlarmState.OK
    assert alarm.message_id == envelope["MessageId"]
    assert alarm.changed_at == T0.timestamp()
    assert alarm.region == "us-east-1"
    assert alarm.account == "123456789012"
    assert [(d.name, d.value) for d in alarm.dimensions][1] == ("ServiceName", PREFIX + "service-a")


def test_metric_math_anomaly_and_composite_alarms() -> None:
    math = parse_message(math_alarm())
    assert math.kind is AlarmKind.METRIC_MATH
    assert [m.id for m in math.metrics] == ["e1", "errors", "requests"]
    assert "TargetGroup" in [d.name for d in math.all_dimensions]
    anomaly = parse_message(anomaly_alarm())
    assert anomaly.kind is AlarmKind.ANOMALY
    assert anomaly.threshold_metric_id == "ad1"
    assert anomaly.threshold is None
    composite = parse_message(composite_alarm())
    assert composite.kind is AlarmKind.COMPOSITE
    assert composite.alarm_rule is not None
    assert composite.alarm_rule.startswith("ALARM(")
    assert len(composite.triggering_children) == 2


@pytest.mark.parametrize(("new", "old"), [("OK", "ALARM"), ("INSUFFICIENT_DATA", "OK"), ("ALARM", "INSUFFICIENT_DATA")])
def test_every_transition_parses(new: str, old: str) -> None:
    alarm = parse_message(metric_alarm(state=new, old=old))
    assert (alarm.state.value, alarm.old_state.value if alarm.old_state else None) == (new, old)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{", "not JSON"),
        ('"a string"', "not an object"),
        (json.dumps({"Type": "UnsubscribeConfirmation"}), "not a notification"),
        (json.dumps({"Type": "Notification", "Message": 5}), "without a Message"),
        (json.dumps({"source": "aws.cloudwatch"}), "no AlarmName"),
        (json.dumps({**metric_alarm(), "NewStateValue": None}), "no NewStateValue"),
        (json.dumps({**metric_alarm(), "StateChangeTime": "2026-11-26T12:00:00"}), "no time zone"),
        (json.dumps({**metric_alarm(), "Trigger": "cpu"}), "Trigger is not an object"),
        (json.dumps({**metric_alarm(), "Trigger": {"MetricName": "m", "Dimensions": "x"}}), "Dimensions is not a list"),
    ],
)
def test_what_is_not_an_alarm_notification_says_why(text: str, why: str) -> None:
    with pytest.raises(NotAnAlarm, match=why):
        parse_body(text)


def _service(message: dict[str, Any], groups: dict[str, str] | None = None, **alarms: Any) -> str | None:
    data = config_data()
    data["alarms"] = alarms
    services = ServiceMap(parse_config(data), target_groups=None if groups is None else lambda _env: groups)
    alarm = parse_message(message)
    return services.service(alarm, services.environment(alarm))


def test_services_from_dimensions_names_and_rules() -> None:
    assert _service(metric_alarm(dimensions={"ServiceName": PREFIX + "service-b"})) == "service-b"
    tg = {"TargetGroup": f"targetgroup/{target_group_name('service-b')}/abc", "LoadBalancer": "app/x/1"}
    assert _service(metric_alarm(name="tg-unhealthy", dimensions=tg), groups={tg["TargetGroup"]: "service-b"}) == (
        "service-b"
    )
    assert _service(metric_alarm(name="tg-unhealthy", dimensions=tg), groups={}) is None  # no service uses it
    assert _service(metric_alarm(name=PREFIX + "service-a-p99", dimensions={})) == "service-a"
    assert _service(metric_alarm(name=PREFIX + "alb-5xx", dimensions={"LoadBalancer": "app/shop/1"})) is None
    rules = [{"service": "service-b", "dimensions": {"LoadBalancer": "^app/shop/"}}]
    assert _service(metric_alarm(name="alb-5xx", dimensions={"LoadBalancer": "app/shop/1"}), service_rules=rules) == (
        "service-b"
    )
    prefix = [{"service": "service-a", "name_prefix": "legacy-"}]
    assert _service(metric_alarm(name="legacy-queue", dimensions={}), service_rules=prefix) == "service-a"
    pattern = [{"service": "service-b", "name_pattern": "billing.*latency$"}]
    assert _service(metric_alarm(name="x-billing-p99-latency", dimensions={}), service_rules=pattern) == "service-b"


@pytest.mark.parametrize("config_dict", [alarm_config(service_tag_key="Service")])
def test_a_service_tag_on_the_alarm_maps_it(alarms: AlarmsLambda) -> None:
    name = PREFIX + "checkout-latency"
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    put_alarm(
        cloudwatch,
        name,
        namespace="Shop",
        metric="Latency",
        threshold=1,
        Tags=[{"Key": "Service", "Value": "service-b"}],
    )
    alarms.deliver(metric_alarm(name=name, dimensions={}))
    assert "*service-b* (production)" in alarms.text(alarms.card())


def test_a_later_state_change_time_wins_over_arrival_order() -> None:
    early = parse_message(metric_alarm(at=T0))
    late = parse_message(metric_alarm(state="OK", at=T0 + timedelta(seconds=1)))
    assert late.changed_at - early.changed_at == 1
