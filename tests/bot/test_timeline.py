"""`/ops timeline` and its Export button, through the Slack function's handler on moto and the Slack stand-in.

The four sources are seeded the way they come about: an alarm's state changes with SetAlarmState (moto keeps
its history; sandbox.alarm_history answers DescribeAlarmHistory from it), a deploy with the bot's own /deploy
and Confirm, ECS's record of the service (its deployment, and an event as ECS writes them: moto writes none),
and an acknowledgement by the alarm card's button.
"""

from __future__ import annotations

import json
import re
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


EPHEMERAL_TS = "1700000000.000100"  # an ephemeral message's ts: Slack's, not a message anyone can find again


def timeline(bot: Bot, text: str = "/ops timeline service-a", user: str = DEPLOYER) -> tuple[Any, Any]:
    """(what the person was answered, the timeline: the ephemeral answer, as a card). Nothing in the channel."""
    before = len(bot.slack.channel(CHANNEL))
    reply = bot.command(text, user=user)
    assert len(bot.slack.channel(CHANNEL)) == before, "the timeline is for the person who asked only"
    assert reply.responses, reply.text
    return reply, _Reply(reply.responses[-1])


def export(bot: Bot, card: Any, user: str = DEPLOYER) -> Any:
    """Press Export on the (ephemeral) timeline; returns what the person was answered."""
    return bot.click(EXPORT_ACTION, bot.button(card, EXPORT_ACTION)["value"], EPHEMERAL_TS, user=user)


def exported(bot: Bot) -> list[Any]:
    """The drafts shared in the channel: messages with a file."""
    return [m for m in bot.slack.channel(CHANNEL) if m.files]


def draft_of(bot: Bot) -> str:
    shared = exported(bot)[-1].files[0]
    uploaded = bot.slack.file(shared["id"])
    assert uploaded is not None
    assert uploaded.data is not None
    return uploaded.data.decode()


def refuse_uploads(bot: Bot, monkeypatch: pytest.MonkeyPatch, error: str, times: int = 1) -> None:
    """Slack refuses the next `times` files.completeUploadExternal with `error` (the stand-in does not model
    which channels the app is in: Slack answers not_in_channel for one it has not joined)."""
    real = bot.slack._complete
    left = [times]

    def complete(params: dict[str, Any]) -> dict[str, Any]:
        if left[0] > 0:
            left[0] -= 1
            return {"ok": False, "error": error}
        return real(params)

    monkeypatch.setattr(bot.slack, "_complete", complete)


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


def test_the_four_sources_are_merged_in_time_order_for_the_person_who_asked(incident: Bot) -> None:
    _, card = timeline(incident)  # ephemeral: people in the channel without a role see none of it
    text = incident.card_text(card)
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
    assert "Not complete" not in text
    # Links: the alarm's console page, the service's ECS page, the plan card, the alarm card.
    assert f"alarmsV2:alarm/{CPU_ALARM}|alarm>" in text
    assert "/ecs/v2/clusters/ecs-microservices-production-cluster/services/" in text
    assert "|plan>" in text
    assert "|card>" in text
    assert incident.button(card, EXPORT_ACTION)
    assert "Export shares" in text  # it says what Export does: the one step that shows the channel


def test_export_shares_a_markdown_draft_in_the_channel_naming_who_exported_it(incident: Bot) -> None:
    _, card = timeline(incident)
    answer = export(incident, card)
    assert "shared in the channel" in answer.text
    drafts = exported(incident)
    assert len(drafts) == 1
    message = drafts[0]
    assert message.channel == CHANNEL
    assert message.thread_ts is None
    start, end = (int(x) for x in incident.button(card, EXPORT_ACTION)["value"].split(":")[2:])
    span = f"{datetime.fromtimestamp(start, UTC):%H:%M}–{datetime.fromtimestamp(end, UTC):%H:%M} UTC"
    assert message.text == f"Postmortem draft: service-a (production), {span}, exported by <@{DEPLOYER}>"
    assert len(message.files) == 1
    shared = message.files[0]
    assert shared["mode"] == "snippet"
    assert shared["filetype"] == "markdown"
    assert shared["title"] == "Postmortem draft: service-a (production)"
    draft = draft_of(incident)
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
    # Mentions: the draft is a file, people in it are plain ids; the comment pings the exporter only.
    assert re.search(r"<[@!#]", draft) is None
    assert re.findall(r"<[@!#][^>]*>", message.text) == [f"<@{DEPLOYER}>"]
    # A second press by the same person (the ephemeral message's ts is no key) is told it is there.
    again = export(incident, card)
    assert "shared it in the channel already" in again.text
    assert len(exported(incident)) == 1
    # Someone else may export it too: their own draft, their name on it.
    export(incident, card, user=OPERATOR)
    assert len(exported(incident)) == 2
    assert exported(incident)[-1].text.endswith(f"exported by <@{OPERATOR}>")


def test_export_where_the_app_is_not_in_the_channel_says_to_invite_it_and_works_after(
    incident: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, card = timeline(incident)
    refuse_uploads(incident, monkeypatch, "not_in_channel")
    answer = export(incident, card)
    assert "/invite @" in answer.text
    assert "press Export again" in answer.text
    assert "went wrong" not in answer.text
    assert exported(incident) == []  # nothing half done
    again = export(incident, card)  # invited: the same person's second press shares it
    assert "shared in the channel" in again.text
    assert len(exported(incident)) == 1


def test_export_that_slack_refuses_otherwise_is_told_and_can_be_pressed_again(
    incident: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, card = timeline(incident)
    refuse_uploads(incident, monkeypatch, "invalid_arguments")
    answer = export(incident, card)
    assert "could not share the postmortem draft" in answer.text
    assert "invalid_arguments" in answer.text
    assert "Traceback" not in answer.text
    assert exported(incident) == []
    export(incident, card)
    assert len(exported(incident)) == 1


def test_an_alarm_still_firing_is_an_impact_without_an_end(bot: Bot) -> None:
    set_state("ALARM", "Threshold Crossed")
    _, card = timeline(bot)
    export(bot, card)
    draft = draft_of(bot)
    assert "still in ALARM" in draft
    assert "No change was made through the bot" in draft


def test_an_alarm_already_firing_when_the_window_began_started_the_impact_before_it(bot: Bot) -> None:
    set_state("ALARM", "Threshold Crossed")
    time.sleep(1.1)
    begins = int(time.time())  # after the ALARM, before the OK
    time.sleep(0.1)
    set_state("OK", "back under 80.0")
    _, card = timeline(bot)
    value = bot.button(card, EXPORT_ACTION)["value"]
    env, service, _, end = value.split(":")
    bot.click(EXPORT_ACTION, f"{env}:{service}:{begins}:{end}", EPHEMERAL_TS)
    impact = draft_of(bot).split("## Impact window", 1)[1].split("##", 1)[0]
    assert "No alarm went to ALARM" not in impact
    assert f"Start: before {datetime.fromtimestamp(begins, UTC):%Y-%m-%d %H:%M:%S} UTC" in impact
    assert "already in ALARM" in impact
    assert "the last OK" in impact
    assert "at least" in impact  # the duration: from the window's start


def test_outside_text_is_escaped_everywhere(bot: Bot) -> None:
    set_state("ALARM", f"reason {HOSTILE} see https://evil.example/x and www.evil.example")
    ecs_event(f"service event {HOSTILE}")
    bot.command(f"/ops lock service-a production {HOSTILE}", user=OPERATOR)
    _, card = timeline(bot)
    text = bot.card_text(card)
    for sequence in ("<!channel>", "<https://evil.example", "<@U0ADMIN>"):
        assert sequence not in text
    assert text.count("&lt;!channel&gt;") == 3  # the alarm's reason, ECS's event, the lock's request
    export(bot, card)
    draft = draft_of(bot)
    assert "<!channel>" not in draft
    assert "[click]" not in draft
    assert "\\<\\!channel\\>" not in draft
    assert "\\<!channel\\>" in draft  # Markdown's markup escaped, the words kept
    assert re.search(r"(?<!\\)<[@!#]", draft) is None  # no Slack markup: nobody pinged where it is pasted
    # A URL a person (or AWS) typed is no link in the draft: no autolink for https:// or www.
    assert "https://evil.example" not in draft
    assert "www.evil.example" not in draft
    assert "evil.example/x" in draft


def test_what_was_cut_by_a_limit_is_named_in_the_timeline_and_the_draft(
    incident: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.timeline

    monkeypatch.setattr(bot.timeline, "MAX_ALARM_CHANGES", 1)  # the incident has two changes
    monkeypatch.setattr(bot.timeline, "MAX_AUDIT", 2)  # and planned, confirmed, executed
    for number in range(100):  # ECS keeps the newest 100 events: older ones are gone
        ecs_event(f"(service ecs-microservices-production-service-a) event {number}")
    _, card = timeline(incident)
    text = incident.card_text(card)
    assert "Not complete" in text
    assert "alarm history: only the newest 1 changes of" in text
    assert "the bot's audit trail: only the newest 2 entries" in text
    assert "ECS events: ECS keeps only its newest 100 events" in text
    export(incident, card)
    draft = draft_of(incident)
    assert "## Not complete" in draft
    assert "only the newest 1 changes of" in draft
    assert "only the newest 2 entries" in draft
    assert "ECS keeps only its newest 100 events" in draft


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
    export(incident, card)
    assert "## Not in this draft" in draft_of(incident)


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
        reply = bot.click(EXPORT_ACTION, forged, EPHEMERAL_TS)
        assert "no longer matches" in reply.text, forged
    refused = bot.click(EXPORT_ACTION, value, EPHEMERAL_TS, user="U0STRANGER", channel=CHANNEL)
    assert refused.text  # the refusal, told to that person alone
    assert exported(bot) == []


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
    _, card = timeline(bot)  # within Slack's limits (the stand-in refuses what Slack refuses)
    text = bot.card_text(card)
    shown = [n for n in range(130) if f"reason {n} " in text]
    assert shown == list(range(130 - len(shown), 130))  # the newest, in order
    assert f"{130 - len(shown)} earlier events not shown" in text
    assert "Export's draft has them all" in text
    assert len(card.blocks) <= 50
    assert len(json.dumps(card.blocks)) < 13_000
    export(bot, card)
    draft = draft_of(bot)
    assert all(f"reason {n} " in draft for n in range(130))


def test_someone_who_may_not_see_the_environment_gets_no_timeline(bot: Bot) -> None:
    before = len(bot.slack.channel(CHANNEL))
    reply = bot.command("/ops timeline service-a", user="U0STRANGER")
    assert "viewer" in reply.text
    assert len(bot.slack.channel(CHANNEL)) == before
