"""Unacknowledged ALARM cards escalate on schedule, each level exactly once, and stop when handled.

The alarm relay (handlers.alarms) opens the card; handlers.escalation runs as the 1-minute schedule would,
on a clock the test sets: nothing sleeps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alarms.support import PREFIX, AlarmsLambda, metric_alarm
from harness import OPERATOR

from .support import CRITICAL, ONCALL, PERF, TEAM_A, EscalationLambda

NAME = PREFIX + "service-a-cpu-critical"  # routed to CRITICAL with a copy in TEAM_A
MINUTE = 60.0


def fire(alarms: AlarmsLambda, at: datetime, name: str = NAME, state: str = "ALARM", old: str = "OK") -> Any:
    service = name.removeprefix(PREFIX)[: len("service-a")]
    dimensions = {"ServiceName": PREFIX + service}
    alarms.deliver(metric_alarm(name=name, state=state, old=old, at=at, dimensions=dimensions))
    return next(m for m in alarms.slack.channel(CRITICAL if name == NAME else PERF) if m.thread_ts is None)


def mentions(escalation: EscalationLambda, channel: str, ts: str) -> list[str]:
    return [t.split(" ", 1)[0] for t in escalation.thread(channel, ts) if "nobody has acknowledged" in t]


def click(alarms: AlarmsLambda, card: Any, action: str) -> None:
    value = alarms.buttons(card)[action]["value"]
    assert alarms.bot.click(action, value, card.ts, user=OPERATOR, channel=CRITICAL).text == ""


def test_each_level_fires_once_at_its_time_in_the_card_and_its_copy(
    alarms: AlarmsLambda, escalation: EscalationLambda
) -> None:
    opened = datetime.now(UTC)
    card = fire(alarms, opened)
    copy = next(m for m in alarms.slack.channel(TEAM_A) if m.thread_ts is None)
    t0 = opened.timestamp()

    assert escalation.run_at(t0 + 5 * MINUTE - 1)["posted"] == []
    assert escalation.run_at(t0 + 5 * MINUTE)["posted"] == [f"{NAME} level 1"]
    assert escalation.run_at(t0 + 6 * MINUTE)["posted"] == []  # the next minute: nothing twice
    assert mentions(escalation, CRITICAL, card.ts) == ["<!here>"]
    assert mentions(escalation, TEAM_A, copy.ts) == ["<!here>"]

    assert escalation.run_at(t0 + 15 * MINUTE)["posted"] == [f"{NAME} level 2"]
    assert escalation.run_at(t0 + 60 * MINUTE)["posted"] == []
    assert mentions(escalation, CRITICAL, card.ts) == ["<!here>", f"<!subteam^{ONCALL}>"]
    [first, second] = [t for t in escalation.thread(CRITICAL, card.ts) if "nobody" in t]
    assert "in ALARM for 5 min" in first
    assert "(escalation 1 of 2)" in first
    assert "in ALARM for 15 min" in second
    assert "(escalation 2 of 2)" in second


def test_a_late_run_posts_every_level_that_is_due_once(alarms: AlarmsLambda, escalation: EscalationLambda) -> None:
    opened = datetime.now(UTC)
    card = fire(alarms, opened)
    result = escalation.run_at(opened.timestamp() + 20 * MINUTE)
    assert result["posted"] == [f"{NAME} level 1", f"{NAME} level 2"]
    assert escalation.run_at(opened.timestamp() + 21 * MINUTE)["posted"] == []
    assert len(mentions(escalation, CRITICAL, card.ts)) == 2


def test_acknowledge_stops_escalation(alarms: AlarmsLambda, escalation: EscalationLambda) -> None:
    opened = datetime.now(UTC)
    card = fire(alarms, opened)
    click(alarms, card, "alarm_ack")
    result = escalation.run_at(opened.timestamp() + 30 * MINUTE)
    assert result["posted"] == []
    assert set(result["stopped"].values()) == {f"acknowledged by {OPERATOR}"}
    assert mentions(escalation, CRITICAL, card.ts) == []


def test_mute_stops_escalation_even_after_the_mute_ends(alarms: AlarmsLambda, escalation: EscalationLambda) -> None:
    opened = datetime.now(UTC)
    card = fire(alarms, opened)
    click(alarms, card, "alarm_mute")  # mutes for 60 min; level 2 is due at 15 min, then the mute has ended too
    early = escalation.run_at(opened.timestamp() + 5 * MINUTE)
    assert early["posted"] == []
    assert early["stopped"] == {f"{NAME} level 1": f"muted by {OPERATOR}"}
    late = escalation.run_at(opened.timestamp() + 24 * 60 * MINUTE)  # the mute has expired by now
    assert late["posted"] == []
    assert late["stopped"] == {f"{NAME} level 2": f"stopped: muted by {OPERATOR}"}
    assert mentions(escalation, CRITICAL, card.ts) == []


def test_ok_stops_escalation(alarms: AlarmsLambda, escalation: EscalationLambda) -> None:
    opened = datetime.now(UTC)
    card = fire(alarms, opened)
    fire(alarms, opened + timedelta(minutes=2), state="OK", old="ALARM")
    result = escalation.run_at(opened.timestamp() + 30 * MINUTE)
    assert result["posted"] == []
    assert set(result["stopped"].values()) == {"the alarm is OK now"}
    assert mentions(escalation, CRITICAL, card.ts) == []


def test_firing_again_escalates_anew_from_then(alarms: AlarmsLambda, escalation: EscalationLambda) -> None:
    opened = datetime.now(UTC)
    card = fire(alarms, opened)
    fire(alarms, opened + timedelta(minutes=2), state="OK", old="ALARM")
    fire(alarms, opened + timedelta(minutes=4))  # within the flap window: the same card reopens
    t0 = opened.timestamp()
    assert escalation.run_at(t0 + 8 * MINUTE)["posted"] == []  # the first chain stopped at OK
    assert escalation.run_at(t0 + 9 * MINUTE)["posted"] == [f"{NAME} level 1"]  # 5 min after it fired again
    assert mentions(escalation, CRITICAL, card.ts) == ["<!here>"]


def test_a_rule_without_escalation_never_escalates(alarms: AlarmsLambda, escalation: EscalationLambda) -> None:
    opened = datetime.now(UTC)
    card = fire(alarms, opened, name=PREFIX + "service-b-latency-p99")
    assert escalation.run_at(opened.timestamp() + 60 * MINUTE) == {
        "posted": [],
        "stopped": {},
        "duplicates": 0,
        "failed": {},
        "deploy_cards_settled": [],
    }
    assert mentions(escalation, PERF, card.ts) == []


def test_a_post_slack_refuses_is_retried_next_minute_and_posted_once(
    alarms: AlarmsLambda, escalation: EscalationLambda
) -> None:
    import handlers.escalation

    opened = datetime.now(UTC)
    card = fire(alarms, opened)
    alarms.slack.inject("chat.postMessage", 500, times=3)  # more than the client's two retries
    # The run fails, so that the function's errors alarm fires.
    with pytest.raises(handlers.escalation.EscalationNotPosted, match="level 1"):
        escalation.run_at(opened.timestamp() + 5 * MINUTE)
    assert mentions(escalation, CRITICAL, card.ts) == []
    assert escalation.run_at(opened.timestamp() + 6 * MINUTE)["posted"] == [f"{NAME} level 1"]
    assert escalation.run_at(opened.timestamp() + 7 * MINUTE)["posted"] == []
    assert mentions(escalation, CRITICAL, card.ts) == ["<!here>"]


def test_two_runs_at_once_post_a_level_once(alarms: AlarmsLambda, escalation: EscalationLambda) -> None:
    """The schedule overlapping itself, or Lambda retrying a run: the level's claim lets one post."""
    from concurrent.futures import ThreadPoolExecutor

    import handlers.escalation

    opened = datetime.now(UTC)
    card = fire(alarms, opened)
    escalation.at = opened.timestamp() + 5 * MINUTE
    runners = [handlers.escalation.build_scheduled().escalations for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda r: r.run(), runners))
    assert sum(len(r.posted) for r in results) == 1
    assert mentions(escalation, CRITICAL, card.ts) == ["<!here>"]
