"""The routed configuration the tests run with, and the escalation function driven on an injected clock."""

from __future__ import annotations

import time
from typing import Any

from alarms.support import ALARM_CHANNEL
from harness import Bot, config_data, eventbridge_event, lambda_context

from sandbox.clock import SimulatedClock

CRITICAL = "C0CRIT"  # production's critical alarms
TEAM_A = "C0TEAMA"  # service-a's team
PERF = "C0PERF"  # latency alarms
DEPLOYS = "C0DEPLOYS"  # production deploys
FINOPS, LEADS = "C0FINOPS", "C0LEADS"  # the weekly cost post
ONCALL = "S0ONCALL"  # the second escalation level's user group


def routed_config(**routing: Any) -> dict[str, Any]:
    data = config_data()
    data["alarms"] = {"channel": ALARM_CHANNEL}
    data["cost"] = {"weekly_channel": "C0COSTS"}
    data["routing"] = {
        "rules": [
            {
                "name": "prod-critical",
                "kinds": ["alarm"],
                "environments": ["production"],
                "severities": ["critical"],
                "channels": [CRITICAL, TEAM_A],
            },
            {"name": "service-a", "kinds": ["alarm"], "services": ["service-a"], "channels": [TEAM_A]},
            {"name": "latency", "alarm_pattern": "latency", "channels": [PERF], "escalation": []},
            {"name": "prod-deploys", "kinds": ["deploy"], "environments": ["production"], "channels": [DEPLOYS]},
            {"name": "cost", "kinds": ["cost"], "channels": [FINOPS, LEADS]},
        ],
        "escalation": {"levels": [{"after_minutes": 5, "mention": "@here"}, {"after_minutes": 15, "mention": ONCALL}]},
        **routing,
    }
    return data


def scheduled_event() -> dict[str, Any]:
    return eventbridge_event(
        "Scheduled Event",
        "aws.events",
        "2026-11-26T12:00:00Z",
        ["arn:aws:events:us-east-1:123456789012:rule/escalation"],
        {},
    )


class EscalationLambda(SimulatedClock):
    """handlers.escalation.handler; its clock (`now`) says `at`, which starts at the real time."""

    def __init__(self, bot: Bot) -> None:
        super().__init__(time.time())
        self.bot = bot

    def run_at(self, at: float) -> dict[str, Any]:
        import handlers.escalation

        self.at = at
        result: dict[str, Any] = handlers.escalation.handler(scheduled_event(), lambda_context("EscalationFunction"))
        return result

    def thread(self, channel: str, ts: str) -> list[str]:
        return [m.text for m in self.bot.slack.channel(channel) if m.thread_ts == ts]
