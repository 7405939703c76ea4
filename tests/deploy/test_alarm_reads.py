"""Issue 16, 3 (first item): IAM as AWS evaluates DescribeAlarms.

The bot reads the platform's alarms with one DescribeAlarms of both types, metric and composite, for /alarms,
/status and every plan card. AWS's DescribeAlarms reference: returning composite alarms needs the
permission scoped to `*`; with a narrower scope the call cannot return them. The grant was scoped to
`alarm:${Project}-${Env}-*`, so every plan would have met AccessDenied in a real account. It is read-only.
"""

from __future__ import annotations

from typing import Any

from moto import mock_aws

from bot.config import parse_config
from bot.permissions import GRANTS, Scope
from bot.platform import Platform

from .checks import policy_statements

ACTION = "cloudwatch:DescribeAlarms"


def test_the_bot_asks_for_composite_alarms(monkeypatch: Any) -> None:
    """What the grant must allow: one DescribeAlarms under the platform's prefix, of both alarm types (moto
    does not implement composite alarms, so the request itself is checked)."""
    from harness import config_data

    from bot.aws import ClientFactory

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    config = parse_config(config_data())
    clients = ClientFactory()
    asked: list[dict[str, Any]] = []
    with mock_aws():
        cloudwatch = clients.client("cloudwatch", "us-east-1")
        cloudwatch.meta.events.register(
            "provide-client-params.cloudwatch.DescribeAlarms", lambda params, **_: asked.append(dict(params))
        )
        Platform(config, clients).alarms(config.environment())
    assert asked == [
        {"AlarmNamePrefix": "ecs-microservices-production-", "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
    ]


def test_describe_alarms_is_granted_on_star_because_composite_alarms_need_it(template: dict[str, Any]) -> None:
    (grant,) = [g for g in GRANTS if g.action == ACTION]
    assert grant.scope is Scope.ANY
    statements, _ = policy_statements(template)
    granted = [s for s in statements if ACTION in s.actions]
    assert granted, "DescribeAlarms is not granted"
    assert all(s.resource == "*" for s in granted), [s.resource for s in granted]
