"""Issue 16 (follow-up of 8): an alarm whose only service hint is a TargetGroup dimension maps to its service.

infra/ names target groups with `name_prefix`, so AWS completes the name with a unique suffix
("08dec-20261201120000000000000001"); the readable name is only the Name tag. The relay guessed the service
from the group's name ("{env}-{service}-<6 hex>"), which no real group has any more: a team's own alarm on
UnHealthyHostCount or TargetResponseTime reached the channel with "no known service" and no buttons.
The relay now asks ECS which target groups the services use (DescribeServices' loadBalancers), once per
environment per invocation and only for alarms that need it.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from reliability.aws_faults import AwsFaults

from bot.aws import recorded_calls

from .support import CLUSTER, PREFIX, REGION, AlarmsLambda, failed_ids, metric_alarm, target_group_name

DESCRIBE = "ecs:DescribeServices"


def _suffix(arn: str) -> str:
    """`targetgroup/<name>/<id>`: what CloudWatch's TargetGroup dimension holds."""
    return arn.split(":", 5)[5]


OWN = target_group_name("service-a")  # "08dec-20261201120000000000000001"
OTHER = "4c1e7-20261201120000000000000002"  # the same load balancer, a group no configured service uses


@pytest.fixture
def groups(aws: Any) -> dict[str, str]:
    """service-a behind its target group, named as AWS names it from infra/'s prefix, and another group
    of the load balancer: name -> TargetGroup dimension value."""
    ec2 = boto3.client("ec2", region_name=REGION)
    elbv2 = boto3.client("elbv2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    made = {}
    for name in (OWN, OTHER):
        group = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="ip")
        made[name] = group["TargetGroups"][0]["TargetGroupArn"]
    boto3.client("ecs", region_name=REGION).update_service(
        cluster=CLUSTER,
        service=PREFIX + "service-a",
        loadBalancers=[{"targetGroupArn": made[OWN], "containerName": "app", "containerPort": 8000}],
    )
    return {name: _suffix(arn) for name, arn in made.items()}


def unhealthy(name: str, target_group: str) -> dict[str, Any]:
    """A team's own alarm: its name says nothing of the platform, its only hint is the target group."""
    message = metric_alarm(
        name=name,
        dimensions={"TargetGroup": target_group, "LoadBalancer": "app/ecs-microservices-production-alb/0123abcd"},
        description="hosts out of the target group",
    )
    message["Trigger"].update(Namespace="AWS/ApplicationELB", MetricName="UnHealthyHostCount", Threshold=0.0)
    return message


def test_an_alarm_on_a_services_target_group_maps_to_that_service(alarms: AlarmsLambda, groups: dict[str, str]) -> None:
    response = alarms.deliver(unhealthy("checkout-unhealthy-hosts", groups[OWN]))
    assert failed_ids(response) == []
    text = alarms.text(alarms.card())
    assert "*service-a* (production)" in text, text
    assert {"alarm_scale_up", "alarm_logs"} <= set(alarms.buttons(alarms.card())), "the service's buttons"


def test_a_target_group_no_service_uses_leaves_the_alarm_unmapped(alarms: AlarmsLambda, groups: dict[str, str]) -> None:
    alarms.deliver(unhealthy("shop-legacy-unhealthy-hosts", groups[OTHER]))
    text = alarms.text(alarms.card())
    assert "no known service" in text, text
    assert "service-a" not in text
    assert "service-b" not in text
    assert not {"alarm_scale_up", "alarm_logs"} & set(alarms.buttons(alarms.card()))


def test_services_are_asked_once_per_invocation_and_only_when_an_alarm_needs_it(
    alarms: AlarmsLambda, groups: dict[str, str]
) -> None:
    group = groups[OWN]
    with recorded_calls() as calls:
        alarms.deliver(
            metric_alarm(name="cpu-by-dimension", dimensions={"ServiceName": PREFIX + "service-b"}),
            metric_alarm(name=PREFIX + "service-b-p99", dimensions={}),
        )
    assert DESCRIBE not in calls, calls
    with recorded_calls() as calls:
        alarms.deliver(unhealthy("team-a-unhealthy", group), unhealthy("team-b-latency", group))
    # Once per environment: production and staging share the account and region, and the group says whose it is
    # (issue 21 review 1, finding 2).
    assert calls.count(DESCRIBE) == 2, calls
    with recorded_calls() as calls:
        alarms.deliver(unhealthy("team-c-unhealthy", group))
    assert calls.count(DESCRIBE) == 2, calls  # a new invocation asks again: a group may have been replaced
    assert all("*service-a* (production)" in alarms.text(c) for c in alarms.cards()[2:])


def test_a_failed_lookup_leaves_the_alarm_unmapped_with_a_warning(
    alarms: AlarmsLambda, groups: dict[str, str], aws_faults: AwsFaults, relay_warnings: list[str]
) -> None:
    aws_faults.add("DescribeServices", "AccessDeniedException")
    response = alarms.deliver(unhealthy("checkout-unhealthy-hosts", groups[OWN]))
    assert failed_ids(response) == []  # the card is shown; the record is not retried for a missing service
    assert "no known service" in alarms.text(alarms.card())
    assert any("target groups" in m and "production" in m for m in relay_warnings), relay_warnings
