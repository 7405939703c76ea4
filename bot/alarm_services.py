"""Which configured service an alarm belongs to: the one rule.

An alarm whose metric names a cluster (a ClusterName dimension) other than the environment's is none of
its services' (two environments may share an account and region, and a rule or a service name does not
say which one's).

The alarm cards (bot.alarms.model.ServiceMap, from a notification) and /alarms, /status and the plan cards
(bot.platform.Platform.alarms, from DescribeAlarms) both ask `service_of_alarm`, so a list never names
another service than the alarm's card. First that answers:

1. the config's alarms.service_rules, in order (name_prefix, name_pattern or dimensions);
2. a ServiceName dimension naming the ECS service of a configured service (ECS's own metrics);
3. the service's alarm prefix (`{project}-{env}-{name}-`, longest first, so "svc-a-" does not claim
   "svc-a-worker-..." alarms);
4. a TargetGroup dimension naming a group a service is registered with (`target_groups`, asked only now,
   so an alarm mapped before costs no AWS call);
5. the alarm's tag alarms.service_tag_key (`tags`, asked only now; the alarm relay's grant).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from bot.config import AlarmServiceRule, Config, EnvironmentConfig


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    value: str


# An alarm's tags, by its ARN.
TagLookup = Callable[[EnvironmentConfig, str], Mapping[str, str]]
# An environment's target groups, as CloudWatch's TargetGroup dimension writes them (the ARN's
# `targetgroup/<name>/<id>`), each to the configured service registered with it.
TargetGroupLookup = Callable[[EnvironmentConfig], Mapping[str, str]]


def service_of_alarm(
    config: Config,
    env: EnvironmentConfig,
    name: str,
    dimensions: Iterable[Dimension] = (),
    arn: str = "",
    *,
    target_groups: TargetGroupLookup | None = None,
    tags: TagLookup | None = None,
) -> str | None:
    """The configured service the alarm `name` of environment `env` belongs to, or None (module docstring).
    `dimensions`: every dimension the alarm's metrics have (a metric math alarm's included)."""
    dimensions = tuple(dimensions)
    clusters = {d.value for d in dimensions if d.name == "ClusterName"}
    if clusters and config.cluster(env.name) not in clusters:
        return None  # a metric of another cluster: another environment's (or no configured one's) alarm
    for rule in config.alarms.service_rules:
        if _rule_matches(rule, name, dimensions):
            return rule.service
    targets = config.targets(env.name)
    for dimension in dimensions:
        if dimension.name == "ServiceName":
            for target in targets:
                if dimension.value == target.ecs_service:
                    return target.name
    for target in sorted(targets, key=lambda t: len(t.alarm_prefix), reverse=True):
        if name.startswith(target.alarm_prefix):
            return target.name
    groups = [d.value for d in dimensions if d.name == "TargetGroup"]
    if groups and target_groups is not None:
        of_group = target_groups(env)
        for group in groups:
            if of_group.get(group) in config.service_names:
                return of_group[group]
    tag_key = config.alarms.service_tag_key
    if tag_key and tags is not None and arn:
        value = tags(env, arn).get(tag_key)
        if value in config.service_names:
            return value
    return None


def _rule_matches(rule: AlarmServiceRule, name: str, dimensions: tuple[Dimension, ...]) -> bool:
    if rule.name_prefix is not None:
        return name.startswith(rule.name_prefix)
    if rule.name_pattern is not None:
        return re.search(rule.name_pattern, name) is not None
    if rule.dimensions:
        values = {d.name: d.value for d in dimensions}
        return all(n in values and re.search(p, values[n]) is not None for n, p in rule.dimensions.items())
    return False
