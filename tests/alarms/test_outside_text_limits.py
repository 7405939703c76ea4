"""Outside text at Slack's limits: escaped everywhere it is shown, cut only where a cut leaves no half escape
sequence, and never at the cost of what the person needs (the newest change in /status, every decision in the
audit). Found by a review reading the bot as Slack renders it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError
from harness import ADMIN, CHANNEL, DEPLOYER, DEPLOYER2, VIEWER

from bot.errors import describe_client_error
from sandbox.seed import manifest, put_alarm

from .support import PREFIX, AlarmsLambda, metric_alarm
from .test_injection_corpus import RAW, Sent

HALF_ENTITY = re.compile(r"&(?:a|am|amp|l|lt|g|gt)?(?:…|$)")


def sections(payloads: list[dict[str, Any]]) -> list[str]:
    return [
        block["text"]["text"]
        for payload in payloads
        for block in payload.get("blocks", [])
        if block.get("type") == "section" and isinstance(block.get("text"), dict)
    ]


def test_the_newest_tags_named_for_a_missing_tag_are_escaped(alarms: AlarmsLambda) -> None:
    sent = Sent(alarms)
    ecr = boto3.client("ecr", region_name="us-east-1")
    repository = next(
        r["repositoryName"] for r in ecr.describe_repositories()["repositories"] if r["repositoryName"].endswith("-a")
    )
    ecr.put_image(repositoryName=repository, imageManifest=manifest(repository, "<!channel>"), imageTag="<!channel>")
    reply = alarms.bot.command("/deploy service-a v9.9.9", user=DEPLOYER)
    sent.acks.append(reply.ack)
    assert "`&lt;!channel&gt;`" in reply.text.partition("Newest tags:")[2]
    assert sent.unescaped(RAW) == []


def test_status_with_many_firing_alarms_counts_those_left_out_and_keeps_the_last_change(
    alarms: AlarmsLambda,
) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    for n in range(30):
        name = f"{PREFIX}service-a-p99<&>latency-{n:02d}-" + "x" * 60
        put_alarm(cloudwatch, name, "d")
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="r")
    assert alarms.bot.command("/deploy service-a v1.3.0", user=DEPLOYER).text == ""
    plan = alarms.bot.last_card(CHANNEL)
    alarms.bot.click("plan_confirm", alarms.bot.button(plan, "plan_confirm")["value"], plan.ts, user=DEPLOYER)

    reply = alarms.bot.command("/status service-a", user=VIEWER)

    [text] = [t for t in sections(reply.responses) if "alarms:" in t]
    assert "last change:" in text
    shown = text.count("latency-")
    assert shown < 30
    assert f"and {30 - shown} more" in text
    assert not HALF_ENTITY.search(text)


def test_an_alarm_card_whose_escaped_text_passes_the_limit_is_cut_between_entities(alarms: AlarmsLambda) -> None:
    # 500 characters of description (2,000 escaped) and 600 of reason: more than a section holds once escaped
    alarms.deliver(metric_alarm(at=datetime.now(UTC), reason="R&D " * 150, description="<>" * 250))
    card = alarms.cards()[-1]
    [cut] = [t for t in sections([{"blocks": card.blocks}]) if t.endswith("…")]
    assert 2900 < len(cut) <= 3000
    assert not HALF_ENTITY.search(cut)


def test_an_aws_message_is_cut_before_it_is_escaped() -> None:
    message = "Invalid container image: 'repo:" + "a&b" * 100 + "'"
    error = ClientError({"Error": {"Code": "ClientException", "Message": message}}, "RegisterTaskDefinition")
    shown = describe_client_error("Register task definition", error).message
    assert "AWS rejected the request (Invalid container image: 'repo:a&amp;b" in shown
    assert not HALF_ENTITY.search(shown.rstrip(".)"))
    assert shown.count("(") == shown.count(")")
    assert "…)" in shown  # the cut is shown


def test_the_audit_shows_every_decision_of_long_requests(alarms: AlarmsLambda) -> None:
    why = "Freeze for the payments migration: orders & payments tables <CHG-4711>, " * 6  # under the 500 cap
    for _ in range(5):
        assert ":lock:" in alarms.bot.command(f"/ops lock service-a production {why.strip()}", user=DEPLOYER2).text
        alarms.bot.command("/ops unlock service-a", user=ADMIN)
    reply = alarms.bot.command("/ops audit service-a", user=VIEWER)
    [text] = sections(reply.responses)
    assert text.count("*locked*") == 5
    assert text.count("*unlocked*") == 5
    assert not HALF_ENTITY.search(text)
