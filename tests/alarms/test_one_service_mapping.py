"""Issue 17.4: one rule maps an alarm to its service, so /alarms and /status name the service its card names.

/alarms and /status mapped by a ServiceName dimension and the name prefix only, the cards by the config's
alarms.service_rules first, then the dimension, the prefix and the service's target groups: an alarm a rule
or a target group maps was listed under "no known service" (or under another service) while its card named
the right one.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from harness import VIEWER

from .conftest import alarm_config
from .support import CLUSTER, PREFIX, REGION, AlarmsLambda, metric_alarm
from .test_target_group_mapping import OWN, groups, unhealthy

__all__ = ["groups"]


def _firing(name: str, dimensions: dict[str, str]) -> None:
    """The alarm as CloudWatch holds it, in ALARM, and every other alarm OK."""
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    for alarm in cloudwatch.describe_alarms()["MetricAlarms"]:
        cloudwatch.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue="OK", StateReason="fine")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        MetricName="CPUUtilization",
        Namespace="AWS/ECS",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=3,
        Threshold=80,
        ComparisonOperator="GreaterThanThreshold",
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
    )
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="over the threshold")


def _listed_service(alarms: AlarmsLambda, name: str) -> str:
    """The service /alarms names for the alarm."""
    blob = str(alarms.bot.command("/alarms", user=VIEWER).responses)
    assert name in blob, blob
    return blob.split(name, 1)[1].split("service: ", 1)[1].split("\\n", 1)[0]


def _status_lists_it_under(alarms: AlarmsLambda, name: str, service: str) -> None:
    blob = str(alarms.bot.command("/status", user=VIEWER).responses)
    section = next(part for part in blob.split("*" + service + "*")[1:] if "alarms:" in part.split("'text'", 1)[0])
    assert name in section.split("'text'", 1)[0], blob


RULES = [
    {"service": "service-b", "name_pattern": "-checkout-latency$"},
    {"service": "service-b", "dimensions": {"LoadBalancer": "^app/shop/"}},
]


@pytest.mark.parametrize("config_dict", [alarm_config(service_rules=RULES)])
@pytest.mark.parametrize(
    ("name", "dimensions"),
    [
        # A rule comes first: the name prefix says service-a, the rule service-b.
        (PREFIX + "service-a-checkout-latency", {"ClusterName": CLUSTER, "ServiceName": PREFIX + "service-a"}),
        # Only a rule on the load balancer says whose it is.
        (PREFIX + "alb-5xx", {"LoadBalancer": "app/shop/0123abcd"}),
    ],
)
def test_alarms_and_status_name_the_service_a_rule_gives_the_card(
    alarms: AlarmsLambda, name: str, dimensions: dict[str, str]
) -> None:
    _firing(name, dimensions)
    alarms.deliver(metric_alarm(name=name, dimensions=dimensions))
    assert "*service-b* (production)" in alarms.text(alarms.card())
    assert _listed_service(alarms, name) == "service-b"
    _status_lists_it_under(alarms, name, "service-b")


def test_alarms_names_the_service_of_the_target_group_as_the_card_does(
    alarms: AlarmsLambda, groups: dict[str, str]
) -> None:
    name = PREFIX + "checkout-unhealthy-hosts"
    message: dict[str, Any] = unhealthy(name, groups[OWN])
    dimensions = {d["name"]: d["value"] for d in message["Trigger"]["Dimensions"]}
    _firing(name, dimensions)
    alarms.deliver(message)
    assert "*service-a* (production)" in alarms.text(alarms.card())
    assert _listed_service(alarms, name) == "service-a"


@pytest.mark.parametrize("config_dict", [alarm_config(service_tag_key="Service")])
def test_alarms_and_status_name_the_service_the_alarm_s_tag_gives_the_card(alarms: AlarmsLambda) -> None:
    """/alarms and /status skipped the tag step (the Slack function could not read an alarm's tags), so an
    alarm only its tag maps was "no known service" there while its card named the service."""
    name = PREFIX + "checkout-latency"
    _firing(name, {})
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    arn = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
    cloudwatch.tag_resource(ResourceARN=arn, Tags=[{"Key": "Service", "Value": "service-b"}])
    alarms.deliver(metric_alarm(name=name, dimensions={}))
    assert "*service-b* (production)" in alarms.text(alarms.card())
    assert _listed_service(alarms, name) == "service-b"
    _status_lists_it_under(alarms, name, "service-b")
