"""Which Slack channels a message goes to: alarm cards, deploy cards and the weekly cost post.

    routing.rules            in order, the first rule that matches decides (it may name several channels)
    alarms.channel           alarm cards no rule matched (the setting from before routing; OPSBOT_ALARM_CHANNEL)
    cost.weekly_channel      the weekly cost post no rule matched (OPSBOT_COST_CHANNEL)
    routing.default_channel  anything else no rule matched
    nothing                  deploy cards stay in the channel the command was typed in only;
                             an alarm card or a cost post with no channel is an error the logs name

The first channel of a route is the message's home: the one whose write is retried until it lands (and
where a storm digest goes). The others get copies, kept up to date as best they can be: docs/routing.md.
Pure: no AWS, no Slack, so /ops routes test answers without sending anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from bot.config import SEVERITIES, Config, EscalationLevel, RouteRule


class Kind(StrEnum):
    ALARM = "alarm"
    DEPLOY = "deploy"
    COST = "cost"


SEVERITY_SUFFIX = re.compile(r"[-_.](" + "|".join(SEVERITIES) + r")$", re.IGNORECASE)


def severity_of(alarm_name: str, tags: Mapping[str, str] | None = None, tag_key: str | None = None) -> str | None:
    """The alarm's severity: its tag routing.severity_tag_key when it has one, else its name's suffix."""
    if tag_key and tags:
        value = str(tags.get(tag_key, "")).strip().lower()
        if value in SEVERITIES:
            return value
    match = SEVERITY_SUFFIX.search(alarm_name)
    return match.group(1).lower() if match else None


@dataclass(frozen=True, slots=True)
class Route:
    """Where one message goes, and which setting decided it (for /ops routes test and the logs)."""

    channels: tuple[str, ...]
    decided_by: str  # "routing.rules[2] 'prod-critical'", "alarms.channel", ... or "no route"
    escalation: tuple[EscalationLevel, ...] = ()  # alarm cards only

    @property
    def home(self) -> str | None:
        return self.channels[0] if self.channels else None

    @property
    def copies(self) -> tuple[str, ...]:
        return self.channels[1:]


class Router:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.settings = config.routing
        self._patterns = {
            index: re.compile(rule.alarm_pattern)
            for index, rule in enumerate(self.settings.rules)
            if rule.alarm_pattern is not None
        }

    def route(
        self,
        kind: Kind,
        env: str,
        service: str | None = None,
        alarm_name: str | None = None,
        severity: str | None = None,
    ) -> list[str]:
        """The channels of a message; [] when nothing routes it."""
        return list(self.resolve(kind, env, service, alarm_name, severity).channels)

    def resolve(
        self,
        kind: Kind,
        env: str,
        service: str | None = None,
        alarm_name: str | None = None,
        severity: str | None = None,
    ) -> Route:
        default_levels = tuple(self.settings.escalation.levels) if kind is Kind.ALARM else ()
        for index, rule in enumerate(self.settings.rules):
            if self._matches(index, rule, kind, env, service, alarm_name, severity):
                levels = default_levels if rule.escalation is None or kind is not Kind.ALARM else rule.escalation
                return Route(tuple(dict.fromkeys(rule.channels)), rule_label(index, rule), tuple(levels))
        fallback = {
            Kind.ALARM: ("alarms.channel", self.config.alarms.channel),
            Kind.COST: (
                "cost.weekly_channel",
                self.config.cost.weekly_channel,
            ),
        }.get(kind)
        if fallback is not None and fallback[1] is not None:
            return Route((fallback[1],), fallback[0], default_levels)
        if self.settings.default_channel is not None:
            return Route((self.settings.default_channel,), "routing.default_channel", default_levels)
        return Route((), "no route")

    def _matches(
        self,
        index: int,
        rule: RouteRule,
        kind: Kind,
        env: str,
        service: str | None,
        alarm_name: str | None,
        severity: str | None,
    ) -> bool:
        if rule.kinds and kind.value not in rule.kinds:
            return False
        if rule.environments and env not in rule.environments:
            return False
        if rule.services and service not in rule.services:
            return False
        if rule.severities and severity not in rule.severities:
            return False
        pattern = self._patterns.get(index)
        return pattern is None or (alarm_name is not None and pattern.search(alarm_name) is not None)


def rule_label(index: int, rule: RouteRule) -> str:
    return f"routing.rules[{index}] {rule.name!r}" if rule.name else f"routing.rules[{index}]"


# --- /ops routes test -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteTest:
    """Where the messages of a service, or of an alarm, would go; nothing is sent."""

    subject: str
    rows: tuple[tuple[str, Route], ...]
    notes: tuple[str, ...] = ()


def explain_service(config: Config, service: str, env_name: str | None = None) -> RouteTest:
    """Where a configured service's alarm cards (per severity), deploy cards and the cost post would go.
    An alarm's name is explained by bot.alarms.routes, which knows how an alarm finds its service."""
    router = Router(config)
    env = config.environment(env_name).name
    rows: list[tuple[str, Route]] = []
    seen: set[Route] = set()
    for severity in (None, *SEVERITIES):
        route = router.resolve(Kind.ALARM, env, service, None, severity)
        if route not in seen:
            seen.add(route)
            rows.append((f"alarm cards{f' ({severity})' if severity else ''}", route))
    rows.append(("deploy cards", router.resolve(Kind.DEPLOY, env, service)))
    notes = []
    if any(rule.alarm_pattern for rule in config.routing.rules):
        notes.append("Rules with an alarm_pattern need an alarm's name: `/ops routes test <alarm-name>`.")
    if env == config.environment().name:
        rows.append(("weekly cost post", router.resolve(Kind.COST, env)))
    return RouteTest(f"{service} ({env})", tuple(rows), tuple(notes))
