"""`/ops timeline` and its Export button, through the Slack function's handler on moto and the Slack stand-in.

The four sources are seeded the way they come about: an alarm's state changes with SetAlarmState (moto keeps
its history; sandbox.alarm_history answers DescribeAlarmHistory from it), a deploy with the bot's own /deploy
and Confirm, ECS's record of the service (its deployment, and an event as ECS writes them: moto writes none),
and an acknowledgement by the alarm card's button.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from alarms.support import ALARM_CHANNEL, AlarmsLambda, alarm_config, metric_alarm
from harness import CHANNEL, DEPLOYER, OPERATOR, VIEWER, Bot, ecs_service, lambda_context, stores

from bot.timeline import EXPORT_ACTION
from sandbox.alarm_history import install

CPU_ALARM = "ecs-microservices-production-service-a-cpu-high"
HOSTILE = "<!channel> <https://evil.example|click> <@U0ADMIN>"


@pytest.fixture
def config_dict() -> dict[str, Any]:
    """Alarm cards in their channel; in production only the named viewers (and higher) see anything."""
    data = alarm_config()
    data["environments"][0]["roles"]["viewer"] = [VIEWER]
    data["routing"] = {"escalation": {"levels": [{"after_minutes": 5, "mention": "@here"}]}}
    return data


@pytest.fixture(autouse=True)
def alarm_history() -> None:
    install()


def set_state(state: str, reason: str) -> None:
    boto3.client("cloudwatch", region_name="us-east-1").set_alarm_state(
        AlarmName=CPU_ALARM, StateValue=state, StateReason=reason
    )
    time.sleep(0.01)  # each change at a time of its own (moto stamps them with the wall clock)


def ecs_event(message: str) -> None:
    """An event in the service's record, as ECS writes them (moto keeps the list and never fills it)."""
    from moto.ecs.models import ecs_backends

    cluster = "ecs-microservices-production-cluster"
    service = ecs_backends["123456789012"]["us-east-1"].services[f"{cluster}:ecs-microservices-production-service-a"]
    service.events.insert(0, {"id": f"e{len(service.events)}", "createdAt": datetime.now(UTC), "message": message})


def deploy(bot: Bot) -> None:
    assert bot.command("/deploy service-a v1.3.0").text == ""
    plan = bot.last_card()
    bot.click("plan_confirm", bot.button(plan, "plan_confirm")["value"], plan.ts)
    assert ecs_service("service-a")["taskDefinition"].endswith(":4")


def acknowledge(alarms: AlarmsLambda) -> None:
    alarms.deliver(metric_alarm(at=datetime.now(UTC)))
    card = alarms.cards()[-1]
    value = alarms.buttons(card)["alarm_ack"]["value"]
    alarms.bot.click("alarm_ack", value, card.ts, user=OPERATOR, channel=ALARM_CHANNEL)


def timeline(bot: Bot, text: str = "/ops timeline service-a", user: str = DEPLOYER) -> tuple[Any, Any]:
    """(what the person was answered, the timeline posted in the channel)."""
    reply = bot.command(text, user=user)
    return reply, bot.last_card()


def positions(text: str, *parts: str) -> list[int]:
    found = [text.find(part) for part in parts]
    assert -1 not in found, [p for p, at in zip(parts, found, strict=True) if at == -1]
    return found


@pytest.fixture
def incident(bot: Bot, alarms: AlarmsLambda) -> Iterator[Bot]:
    """A deploy, then the CPU alarm fires, is acknowledged on its card, and is OK again."""
    ecs_event("(service ecs-microservices-production-service-a) has started 2 tasks.")
    deploy(bot)
    set_state("ALARM", "Threshold Crossed: 3 datapoints were greater than 80.0")
    acknowledge(alarms)
    set_state("OK", "Threshold Crossed: back under 80.0")
    return bot


def test_the_four_sources_are_merged_in_time_order_in_the_channel(incident: Bot) -> None:
    reply, card = timeline(incident)
    assert "timeline of service-a (production) is in the channel" in reply.text
    text = incident.card_text(card)
    assert card.channel == CHANNEL
    assert "Timeline: service-a (production)" in text
    order = positions(
        text,
        "has started 2 tasks",  # ECS
        "*planned*: /deploy service-a v1.3.0",  # the audit trail
        "*confirmed*",
        "*executed*",
        f"{CPU_ALARM} OK → ALARM",  # CloudWatch's history
        f"<@{OPERATOR}> acknowledged {CPU_ALARM}",  # the card
        f"{CPU_ALARM} ALARM → OK",
    )
    assert order == sorted(order)
    assert "deployment ecs-svc/" in text  # ECS's record of the service's deployment
    assert text.count("acknowledged") == 1  # the card's line, not the audit trail's copy of it
    assert "Not shown" not in text
    # Links: the alarm's console page, the service's ECS page, the plan card, the alarm card.
    assert f"alarmsV2:alarm/{CPU_ALARM}|alarm>" in text
    assert "/ecs/v2/clusters/ecs-microservices-production-cluster/services/" in text
    assert "|plan>" in text
    assert "|card>" in text
    assert incident.button(card, EXPORT_ACTION)


def test_export_posts_a_markdown_draft_in_the_timeline_thread(incident: Bot) -> None:
    _, card = timeline(incident)
    value = incident.button(card, EXPORT_ACTION)["value"]
    incident.click(EXPORT_ACTION, value, card.ts)
    replies = [m for m in incident.slack.channel(CHANNEL) if m.thread_ts == card.ts]
    assert len(replies) == 1
    assert len(replies[0].files) == 1
    shared = replies[0].files[0]
    assert shared["mode"] == "snippet"
    assert shared["filetype"] == "markdown"
    assert shared["title"] == "Postmortem draft: service-a (production)"
    uploaded = incident.slack.file(shared["id"])
    assert uploaded is not None
    assert uploaded.data is not None
    draft = uploaded.data.decode()
    impact = draft.split("## Impact window", 1)[1].split("##", 1)[0]
    assert "first ALARM (`ecs-microservices-production-service-a-cpu-high`)" in impact.replace("\\", "")
    assert "the last OK" in impact
    assert "Duration:" in impact
    actions = draft.split("## Actions taken", 1)[1].split("##", 1)[0]
    assert f"**@{DEPLOYER}**: executed: /deploy confirm deploy service-a v1.3.0 (production)" in actions
    assert "Rolling out revision 4" in actions
    assert "planned" not in actions
    assert "## Follow-ups" in draft
    assert "## Timeline (UTC)" in draft
    # A second press (or someone else's) is told the draft is there; nothing is uploaded again.
    again = incident.click(EXPORT_ACTION, value, card.ts, user=OPERATOR)
    assert "in its thread already" in again.text
    assert len([m for m in incident.slack.channel(CHANNEL) if m.thread_ts == card.ts]) == 1


def test_an_alarm_still_firing_is_an_impact_without_an_end(bot: Bot) -> None:
    set_state("ALARM", "Threshold Crossed")
    _, card = timeline(bot)
    bot.click(EXPORT_ACTION, bot.button(card, EXPORT_ACTION)["value"], card.ts)
    shared = next(m for m in bot.slack.channel(CHANNEL) if m.thread_ts == card.ts).files[0]
    uploaded = bot.slack.file(shared["id"])
    assert uploaded is not None
    assert uploaded.data is not None
    assert "still in ALARM" in uploaded.data.decode()
    assert "No change was made through the bot" in uploaded.data.decode()


def test_outside_text_is_escaped_everywhere(bot: Bot) -> None:
    set_state("ALARM", f"reason {HOSTILE}")
    ecs_event(f"service event {HOSTILE}")
    bot.command(f"/ops lock service-a production {HOSTILE}", user=OPERATOR)
    _, card = timeline(bot)
    text = bot.card_text(card)
    for sequence in ("<!channel>", "<https://evil.example", "<@U0ADMIN>"):
        assert sequence not in text
    assert text.count("&lt;!channel&gt;") == 3  # the alarm's reason, ECS's event, the lock's request
    bot.click(EXPORT_ACTION, bot.button(card, EXPORT_ACTION)["value"], card.ts)
    shared = next(m for m in bot.slack.channel(CHANNEL) if m.thread_ts == card.ts).files[0]
    uploaded = bot.slack.file(shared["id"])
    assert uploaded is not None
    assert uploaded.data is not None
    draft = uploaded.data.decode()
    assert "<!channel>" not in draft
    assert "[click]" not in draft
    assert "\\<\\!channel\\>" not in draft
    assert "\\<!channel\\>" in draft  # Markdown's markup escaped, the words kept


def test_a_source_that_fails_is_named_and_the_others_are_shown(incident: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.exceptions import JsonRESTError

    def denied(self: Any) -> Any:
        raise JsonRESTError("AccessDenied", "User is not authorized to perform: cloudwatch:DescribeAlarmHistory")

    monkeypatch.setattr(CloudWatchResponse, "describe_alarm_history", denied)
    _, card = timeline(incident)
    text = incident.card_text(card)
    assert "Not shown" in text
    assert "alarm state changes (CloudWatch)" in text
    assert "not allowed" in text  # the bot's words for AccessDenied, not AWS's
    positions(text, "has started 2 tasks", "*executed*", f"<@{OPERATOR}> acknowledged")
    assert "OK → ALARM" not in text
    incident.click(EXPORT_ACTION, incident.button(card, EXPORT_ACTION)["value"], card.ts)
    shared = next(m for m in incident.slack.channel(CHANNEL) if m.thread_ts == card.ts).files[0]
    uploaded = incident.slack.file(shared["id"])
    assert uploaded is not None
    assert uploaded.data is not None
    assert "## Not in this draft" in uploaded.data.decode()


def test_export_refuses_a_forged_value_and_someone_who_may_not_see_the_environment(bot: Bot) -> None:
    _, card = timeline(bot)
    value = bot.button(card, EXPORT_ACTION)["value"]
    env, service, start, end = value.split(":")
    for forged in (
        f"{env}:no-such-service:{start}:{end}",
        f"{env}:{service}:{int(end) - 8 * 86400}:{end}",  # longer than 7 days
        f"{env}:{service}:{start}:{int(end) + 86400}",  # a window that has not ended
        f"{env}:{service}:{start}",
        "<!channel>",
    ):
        reply = bot.click(EXPORT_ACTION, forged, card.ts)
        assert "no longer matches" in reply.text, forged
    refused = bot.click(EXPORT_ACTION, value, card.ts, user="U0STRANGER", channel=CHANNEL)
    assert refused.text  # the refusal, told to that person alone
    assert [m for m in bot.slack.channel(CHANNEL) if m.thread_ts == card.ts] == []


def test_where_the_bot_cannot_post_the_person_gets_the_timeline_alone(incident: Bot) -> None:
    before = len(incident.slack.channel(CHANNEL))
    incident.slack.inject("chat.postMessage", 200)
    reply = incident.command("/ops timeline service-a")
    alone = incident.card_text(_Reply(reply.responses[-1]))
    assert "Timeline: service-a (production)" in alone
    assert "*executed*" in alone
    assert "cannot post in this channel" in alone
    assert EXPORT_ACTION not in str(reply.responses[-1])
    assert len(incident.slack.channel(CHANNEL)) == before


class _Reply:
    def __init__(self, message: dict[str, Any]) -> None:
        self.text = str(message.get("text", ""))
        self.blocks = list(message.get("blocks") or [])


def test_an_escalation_is_a_line_of_its_own_and_pings_nobody(bot: Bot, alarms: AlarmsLambda) -> None:
    """The card opened ten minutes ago; its first level fell due five minutes later and nobody had acknowledged."""
    from routing.support import scheduled_event

    import handlers.escalation
    from handlers.runtime import Clocks

    opened = time.time() - 600
    alarms.deliver(metric_alarm(at=datetime.fromtimestamp(opened, UTC)))
    handlers.escalation.reset(Clocks(wall=lambda: opened + 300))
    try:
        result = handlers.escalation.handler(scheduled_event(), lambda_context("EscalationFunction"))
    finally:
        handlers.escalation.reset()
    assert result["posted"] == [f"{CPU_ALARM} level 1"]
    _, card = timeline(bot)
    text = bot.card_text(card)
    assert f"escalated {CPU_ALARM}: level 1 posted (to @here), nobody had acknowledged" in text
    assert "<!here>" not in text
    line = next(line for line in text.splitlines() if "escalated" in line)
    assert line.startswith(f"`{datetime.fromtimestamp(opened + 300, UTC):%H:%M:%S}` _the bot_")
    assert "|card>" in line


def test_a_long_timeline_keeps_the_newest_lines_within_slacks_limits(bot: Bot) -> None:
    from bot.stores import AuditEntry

    audit = stores().audit
    start = time.time() - 3600
    for number in range(130):
        request = f"/ops lock service-a production reason {number} " + "x" * 150
        audit.record(AuditEntry("production", "service-a", OPERATOR, request, "locked", at=start + 20 * number))
    _, card = timeline(bot)  # posted: within Slack's limits (the stand-in refuses what Slack refuses)
    text = bot.card_text(card)
    shown = [n for n in range(130) if f"reason {n} " in text]
    assert shown == list(range(130 - len(shown), 130))  # the newest, in order
    assert f"{130 - len(shown)} earlier events not shown" in text
    assert "Export's draft has them all" in text
    assert len(card.blocks) <= 50
    assert len(json.dumps(card.blocks)) < 13_000
    bot.click(EXPORT_ACTION, bot.button(card, EXPORT_ACTION)["value"], card.ts)
    shared = next(m for m in bot.slack.channel(CHANNEL) if m.thread_ts == card.ts).files[0]
    uploaded = bot.slack.file(shared["id"])
    assert uploaded is not None
    assert uploaded.data is not None
    assert all(f"reason {n} " in uploaded.data.decode() for n in range(130))


def test_someone_who_may_not_see_the_environment_gets_no_timeline(bot: Bot) -> None:
    before = len(bot.slack.channel(CHANNEL))
    reply = bot.command("/ops timeline service-a", user="U0STRANGER")
    assert "viewer" in reply.text
    assert len(bot.slack.channel(CHANNEL)) == before
