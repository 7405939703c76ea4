"""Finding 6 of the security review (issue 14): Slack mrkdwn and link injection.

Exploit: text the bot did not write reached channel messages unescaped, and Slack turned it into
mentions and links. A lock reason `<!channel> <https://evil.example|Approve deploy here>` landed on plan
cards; an alarm's name reached the card's fallback `text` and its ARN's region went into a link; service
access logs record the raw request path, which anyone on the internet controls, and "Show logs" posted
them into the ops channel's thread. The corpus below goes through every path that carries outside text
(plan, deploy card, alarm card, logs, audit, status, cost, lock, usage errors) and no message that reaches
the Slack stand-in, or any ack, may carry it unescaped; where the path shows the text, it shows it escaped.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest
from harness import ADMIN, CHANNEL, DEPLOYER, DEPLOYER2, OPERATOR, VIEWER, deployment_event, ecs_service, lambda_context

from sandbox.seed import put_alarm

from .support import ACCOUNT, ALARM_CHANNEL, PREFIX, AlarmsLambda, metric_alarm

CORPUS = "<!channel> <!here> <@U0EVIL> <#C0EVIL> <!subteam^S0EVIL> <https://evil.example|click> Q&amp;A"
# Slack sends a slash command's text with &, < and > as entities (the parser decodes them: Q&amp;A is what
# a person typing "Q&A" sends, and shown again as Q&amp;A it reads "Q&A"), so from AWS, where the text is
# the text, an entity must arrive escaped too: Q&amp;amp;A.
RAW = ("<!channel>", "<!here>", "<@U0EVIL>", "<#C0EVIL>", "<!subteam^S0EVIL>", "<https://evil.example")
RAW_FROM_AWS = (*RAW, "Q&amp;A")
ESCAPED = "&lt;!channel&gt;"  # how the corpus shows when it is shown


def strings(value: Any) -> list[str]:
    """Every string Slack parses in a payload (text, mrkdwn in blocks, fallbacks, attachments), wherever it
    is nested. plain_text objects (headers, button labels) are shown as they are, never parsed for mentions
    or links, so they are left out; ids and button values are not shown at all."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        if value.get("type") == "plain_text":
            return []
        return [
            s for key, item in value.items() if key not in ("action_id", "block_id", "value") for s in strings(item)
        ]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


class Sent:
    """Everything the bot sent to Slack: Web API calls, response_url posts and the acks."""

    def __init__(self, alarms: AlarmsLambda) -> None:
        self.slack = alarms.slack
        self.acks: list[dict[str, Any]] = []

    def texts(self) -> list[str]:
        payloads: list[Any] = [c.params for c in self.slack.calls() if c.method.startswith(("chat.", "views."))]
        payloads += self.slack.responses()
        payloads += self.acks
        return [s for p in payloads for s in strings(p)]

    def unescaped(self, raw: tuple[str, ...]) -> list[str]:
        return [t for t in self.texts() if any(r in t for r in raw)]


@pytest.fixture
def sent(alarms: AlarmsLambda) -> Sent:
    return Sent(alarms)


def now() -> datetime:
    return datetime.now(UTC)


def command(alarms: AlarmsLambda, sent: Sent, text: str, user: str = DEPLOYER) -> Any:
    reply = alarms.bot.command(text, user=user)
    sent.acks.append(reply.ack)
    return reply


def assert_clean(sent: Sent, shown_in: list[str] | None = None, raw: tuple[str, ...] = RAW) -> None:
    leaked = sent.unescaped(raw)
    assert leaked == [], "outside text reached Slack unescaped:\n" + "\n---\n".join(leaked)
    if shown_in is not None:
        assert any(ESCAPED in t for t in shown_in), shown_in


def test_lock_reason_on_plan_cards_lock_replies_and_refusals(alarms: AlarmsLambda, sent: Sent) -> None:
    assert ":lock:" in command(alarms, sent, f"/ops lock service-b production {CORPUS}", user=DEPLOYER2).text
    refused = command(alarms, sent, "/deploy service-b v1.3.0", user=DEPLOYER)  # LockedError names the reason
    assert "locked by" in refused.text
    command(alarms, sent, "/scale service-b 3", user=OPERATOR)  # the plan card warns of the lock, with its reason
    card = alarms.bot.last_card(CHANNEL)
    alarms.bot.click("plan_confirm", alarms.bot.button(card, "plan_confirm")["value"], card.ts, user=OPERATOR)
    audit = command(alarms, sent, "/ops audit service-b", user=VIEWER)
    assert_clean(sent, [refused.text, alarms.bot.card_text(card), str(audit.responses)])


def test_usage_errors_echo_what_was_typed_escaped(alarms: AlarmsLambda, sent: Sent) -> None:
    for text in (f"/deploy {CORPUS}", f"/scale service-a {CORPUS}", f"/logs service-a {CORPUS}", f"/cost {CORPUS}"):
        command(alarms, sent, text)
    assert_clean(sent)


def test_a_failed_rollouts_reason_from_ecs(alarms: AlarmsLambda, sent: Sent) -> None:
    import handlers.deployments

    command(alarms, sent, "/deploy service-a v1.3.0")
    card = alarms.bot.last_card(CHANNEL)
    alarms.bot.click("plan_confirm", alarms.bot.button(card, "plan_confirm")["value"], card.ts)
    service = ecs_service("service-a")
    handlers.deployments.reset()
    try:
        event = deployment_event(
            service["serviceArn"], "SERVICE_DEPLOYMENT_FAILED", service["deployments"][0]["id"], reason=CORPUS
        )
        handlers.deployments.handler(event, lambda_context("DeploymentsFunction"))
    finally:
        handlers.deployments.reset()
    shown = [alarms.bot.card_text(m) for m in alarms.slack.channel(CHANNEL)]
    assert_clean(sent, shown, RAW_FROM_AWS)


def test_an_alarms_name_description_reason_and_region(alarms: AlarmsLambda, sent: Sent) -> None:
    name = f"{PREFIX}service-a-{CORPUS}"
    # A region in the AlarmArn that no environment of the account runs in: not the bot's alarm (issue 21), dropped.
    elsewhere = metric_alarm(name=name, at=now(), reason=CORPUS, description=CORPUS)
    elsewhere["AlarmArn"] = f"arn:aws:cloudwatch:{CORPUS}:{ACCOUNT}:alarm:{name}"
    alarms.deliver(elsewhere)
    assert alarms.cards() == []
    alarms.deliver(metric_alarm(name=name, at=now(), reason=CORPUS, description=CORPUS))
    card = alarms.cards()[-1]
    for action in ("alarm_ack", "alarm_logs"):
        value = alarms.buttons(card)[action]["value"]
        alarms.bot.click(action, value, card.ts, user=OPERATOR, channel=ALARM_CHANNEL)
    resolved = metric_alarm(name=name, state="OK", old="ALARM", at=now(), reason=CORPUS, description=CORPUS)
    alarms.deliver(resolved)
    shown = [alarms.bot.card_text(m) for m in alarms.slack.channel(ALARM_CHANNEL)]
    assert_clean(sent, shown, RAW_FROM_AWS)
    links = [u for t in sent.texts() for u in re.findall(r"<(https://[^|>]*)", t)]
    # Only the console's own links, the outside text in them percent-encoded (the alarm's name in its path).
    hosts = {urlparse(link).hostname or "" for link in links}
    assert all(host.endswith(".console.aws.amazon.com") for host in hosts), links
    assert all(" " not in link and "<" not in link for link in links), links


def test_log_lines_from_the_internet_in_logs_and_show_logs(alarms: AlarmsLambda, sent: Sent) -> None:
    logs = boto3.client("logs", region_name="us-east-1")
    group = f"/ecs/{PREFIX}service-a"
    stream = "attack"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    at = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": at, "message": f'GET /{CORPUS} HTTP/1.1" 404'}],
    )
    reply = command(alarms, sent, "/logs service-a 10m", user=VIEWER)
    alarms.deliver(metric_alarm(at=now()))
    card = alarms.cards()[-1]
    value = alarms.buttons(card)["alarm_logs"]["value"]
    alarms.bot.click("alarm_logs", value, card.ts, user=VIEWER, channel=ALARM_CHANNEL)
    thread = [alarms.bot.card_text(m) for m in alarms.slack.channel(ALARM_CHANNEL) if m.thread_ts == card.ts]
    assert_clean(sent, [str(reply.responses)], RAW_FROM_AWS)
    assert any(ESCAPED in t for t in thread), thread


def test_alarm_names_in_status_and_alarms(alarms: AlarmsLambda, sent: Sent) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    name = f"{PREFIX}service-a-{CORPUS}"
    put_alarm(cloudwatch, name, CORPUS)
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason=CORPUS)
    status = command(alarms, sent, "/status", user=VIEWER)
    listed = command(alarms, sent, "/alarms", user=VIEWER)
    assert_clean(sent, [str(status.responses), str(listed.responses)], RAW_FROM_AWS)


def test_cost_groups_named_by_tags(alarms: AlarmsLambda, sent: Sent) -> None:
    from cost.support import ce_answer, queue_ce_answers

    from bot.cost import Window

    window = Window.ending_yesterday(7, time.time())
    assert window.previous_start is not None
    start = window.previous_start

    def services(_: Any) -> dict[str, float]:
        return {f"Amazon {CORPUS}": 12.0, "Amazon Elastic Container Service": 10.0}

    def tags(_: Any) -> dict[str, float]:
        return {CORPUS: 12.0, "service-a": 10.0}

    queue_ce_answers(
        ce_answer(start, 14, services),
        ce_answer(start, 14, tags, key=lambda name: f"Service${name}"),
    )
    reply = command(alarms, sent, "/cost week", user=VIEWER)
    assert_clean(sent, [str(reply.responses)], RAW_FROM_AWS)


def test_an_admins_unlock_of_someone_elses_lock_and_the_audit_trail(alarms: AlarmsLambda, sent: Sent) -> None:
    command(alarms, sent, f"/ops lock service-a production {CORPUS}", user=DEPLOYER2)
    command(alarms, sent, "/ops unlock service-a", user=ADMIN)
    audit = command(alarms, sent, "/ops audit", user=VIEWER)
    assert_clean(sent, [str(audit.responses)])


def test_the_corpus_check_itself_sees_an_unescaped_mention() -> None:
    """The check above is only worth its name if it fails on a raw sequence anywhere in a payload."""
    payload = {"text": "ok", "blocks": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "<!here>"}]}]}
    assert [t for t in strings(payload) if any(raw in t for raw in RAW)] == ["<!here>"]
    aws = {
        "text": "Q&amp;A from AWS",
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "<!here>"}}],
    }
    assert [t for t in strings(aws) if any(raw in t for raw in RAW_FROM_AWS)] == ["Q&amp;A from AWS"]
