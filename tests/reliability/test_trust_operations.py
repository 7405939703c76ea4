"""Security review findings on the mutation path (issue 14: 1, 2, 3, 9) and duplicate answers (issue 23, 3).

Each test drives handlers.slack.handler (and handlers.deployments) against moto and the Slack stand-in,
the way the finding was reproduced; the exploit or defect is in the test's docstring.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from harness import (
    ADMIN,
    CHANNEL,
    DEPLOYER,
    DEPLOYER2,
    OPERATOR,
    VIEWER,
    Bot,
    config_data,
    deployment_event,
    ecs_service,
    lambda_context,
    stores,
)

from bot.aws import recorded_calls
from bot.model import Plan, PlanStatus
from bot.stores import plan_of_json

from .aws_faults import AwsFaults

MAX_ATTEMPTS = 1 + 5  # bot.aws.ClientFactory: botocore's first attempt and five retries


def plan_card(bot: Bot, text: str, user: str = DEPLOYER) -> tuple[str, str]:
    reply = bot.command(text, user=user)
    assert reply.text == "", reply.text
    card = bot.last_card()
    return card.ts, bot.button(card, "plan_confirm")["value"]


def card_text(bot: Bot, ts: str) -> str:
    return bot.card_text(next(m for m in bot.slack.channel(CHANNEL) if m.ts == ts))


def revision(service: str) -> str:
    return str(ecs_service(service)["taskDefinition"]).rpartition(":")[2]


# --- finding 1: a refused click never consumes the button ----------------------------------------------


def test_finding_1_a_viewers_refused_confirm_does_not_consume_the_button(bot: Bot) -> None:
    """Exploit: the click's idempotency key was message ts + action + value, without the person, and a
    refusal was returned as the click's result and stored for 24 h. A viewer clicking Confirm on a
    rollback card made the deployer's later click answer "Already done by @viewer" while nothing ran."""
    ts, plan_id = plan_card(bot, "/rollback service-a")
    refused = bot.click("plan_confirm", plan_id, ts, user=VIEWER)
    assert "needs the *deployer* role" in refused.text
    assert revision("service-a") == "3"
    with recorded_calls() as calls:
        confirmed = bot.click("plan_confirm", plan_id, ts, user=DEPLOYER)
    assert "Already" not in confirmed.text, confirmed.text
    assert calls.count("ecs:UpdateService") == 1
    assert revision("service-a") == "2"
    assert f"Confirmed by <@{DEPLOYER}>" in card_text(bot, ts)


@pytest.mark.parametrize("config_dict", [config_data(four_eyes=True)])
def test_finding_1_four_eyes_works_in_the_natural_order(bot: Bot) -> None:
    """Exploit: under four-eyes the requester clicking their own Confirm (people do) stored the refusal
    under the card's key, so the second approver's click on the same card was told "Already done" and
    the deploy could never run from that card."""
    ts, plan_id = plan_card(bot, "/deploy service-a v1.3.0", user=DEPLOYER)
    own = bot.click("plan_confirm", plan_id, ts, user=DEPLOYER)
    assert "Four-eyes" in own.text
    assert "someone else" in own.text
    assert revision("service-a") == "3"
    with recorded_calls() as calls:
        second = bot.click("plan_confirm", plan_id, ts, user=DEPLOYER2)
        late = bot.click("plan_confirm", plan_id, ts, user=ADMIN)
    assert "Already" not in second.text, second.text
    assert calls.count("ecs:UpdateService") == 1
    assert revision("service-a") == "4"
    # "Already done" only once the stored plan shows that it ran, and naming who ran it.
    assert f"Already done by <@{DEPLOYER2}>" in late.text
    decisions = [e.decision for e in stores().audit.trail("production", "service-a")]
    assert decisions.count("executed") == 1
    assert "denied" in decisions


def test_finding_1_a_refusal_is_told_to_the_person_and_changes_nothing_stored(bot: Bot) -> None:
    """A refused click leaves the plan pending: the card keeps its buttons for someone who may confirm."""
    ts, plan_id = plan_card(bot, "/deploy service-a v1.3.0")
    bot.click("plan_confirm", plan_id, ts, user=OPERATOR)
    stored = stores().plans.load(plan_id)
    assert stored is not None
    assert stored.status is PlanStatus.PENDING
    assert "Confirm" in str(next(m for m in bot.slack.channel(CHANNEL) if m.ts == ts).blocks)


# --- finding 2: a change that happened is recorded as executed -------------------------------------------


def test_finding_2_a_failed_write_after_update_service_does_not_record_the_change_as_failed(
    bot: Bot, aws_faults: AwsFaults, deployments: Any
) -> None:
    """Defect: a bookkeeping write after UpdateService (e.g. a throttled DynamoDB write of the image cache)
    raised into the failure path: ECS ran the new revision, but the audit and the plan said "failed", no
    deploy card was saved (no progress, no Roll back button) and the lock stayed held until its TTL."""
    ts, plan_id = plan_card(bot, "/deploy service-a v1.3.0")
    # Failing through all of botocore's attempts once; the bot's own retry then gets it written. (A 500, not
    # throttling: that would slow the adaptive retry mode's client for seconds, and the test with it.)
    fault = aws_faults.add("PutItem", "InternalServerError", times=MAX_ATTEMPTS, status=500, matching=b"image#")
    reply = bot.click("plan_confirm", plan_id, ts, user=DEPLOYER)
    assert fault.sent == MAX_ATTEMPTS
    assert revision("service-a") == "4"
    assert ":x:" not in card_text(bot, ts)
    assert "Rolling out revision 4" in card_text(bot, ts)
    assert "failed" not in reply.text
    state = stores()
    assert state.audit.trail("production", "service-a")[0].decision == "executed"
    stored = state.plans.load(plan_id)
    assert stored is not None
    assert stored.status is PlanStatus.DONE
    # The deploy card is tracked: the rollout's end updates it and releases the lock.
    service = ecs_service("service-a")
    event = deployment_event(service["serviceArn"], "SERVICE_DEPLOYMENT_COMPLETED", service["deployments"][0]["id"])
    assert deployments.handler(event, lambda_context())["result"] == "completed"
    assert "Rollout: *completed*" in card_text(bot, ts)
    assert state.locks.get("production", "service-a") is None


def test_finding_2_bookkeeping_that_keeps_failing_is_a_warning_not_a_failure(
    bot: Bot, aws_faults: AwsFaults, log_messages: Callable[..., list[str]]
) -> None:
    """The deploy card, the plan and the last change cannot be written at all (a table the bot may not
    write, here): the change still ran, the audit (written elsewhere) says "executed", the card shows the
    rollout, and the lock the deploy took is released, since no deploy card is left to release it."""
    ts, plan_id = plan_card(bot, "/deploy service-a v1.3.0")
    fault = aws_faults.add("PutItem", "AccessDeniedException", matching=b'"card#arn:')
    warnings = log_messages("bot.operations")
    bot.click("plan_confirm", plan_id, ts, user=DEPLOYER)
    assert fault.sent >= 3
    assert revision("service-a") == "4"
    assert "Rolling out revision 4" in card_text(bot, ts)
    state = stores()
    assert state.audit.trail("production", "service-a")[0].decision == "executed"
    assert state.locks.get("production", "service-a") is None
    assert "after the change, could not save the deploy card (3 attempts)" in warnings


# --- finding 3: a Confirm between posting the card and saving it is not undone -------------------------


def test_finding_3_a_confirm_processed_before_the_card_was_saved_is_not_undone(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect: request() posted the plan card, then overwrote the stored plan unconditionally. A Confirm
    processed in between (the card is visible as soon as Slack has it) went back to "pending", and a later
    Cancel "cancelled" a change that had run."""
    from bot.slack import SlackOut

    post = SlackOut.post
    ran: list[str] = []

    def post_then_confirm(self: SlackOut, channel: str, msg: dict[str, Any], thread_ts: str | None = None) -> str:
        ts = post(self, channel, msg, thread_ts)
        plan_id = next(
            e["value"] for b in msg["blocks"] for e in b.get("elements", []) if e.get("action_id") == "plan_confirm"
        )
        # The Confirm click, processed by another invocation before this one stores the card's ts.
        body = bot.click_body("plan_confirm", plan_id, ts, DEPLOYER)
        worker = threading.Thread(target=lambda: ran.append(str(bot.send(body)[0])))
        worker.start()
        worker.join()
        bot.drain()
        return ts

    monkeypatch.setattr(SlackOut, "post", post_then_confirm)
    reply = bot.command("/deploy service-a v1.3.0", user=DEPLOYER)
    monkeypatch.setattr(SlackOut, "post", post)
    assert ran == ["200"]
    assert revision("service-a") == "4"
    assert reply.status == 200
    card = bot.last_card()
    stored = [p for p in _plans() if p.status is not PlanStatus.PENDING]
    assert len(stored) == 1, "the executed plan went back to pending"
    assert stored[0].status is PlanStatus.DONE
    plan_id = stored[0].id
    cancel = bot.click("plan_cancel", plan_id, card.ts, user=DEPLOYER)
    assert "already done" in cancel.text
    decisions = [e.decision for e in stores().audit.trail("production", "service-a")]
    assert "cancelled" not in decisions


def _plans() -> list[Plan]:
    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName="fargate-chatops-state")["Items"]
    return [plan_of_json(json.loads(i["data"]["S"])["plan"]) for i in items if i["pk"]["S"].startswith("plan#")]


# --- finding 9: roles and locks at confirm time --------------------------------------------------------

GROUP_CONFIG = config_data()
GROUP_CONFIG["environments"][0]["roles"]["deployer"] = ["S0PLATFORM"]


@pytest.mark.parametrize("config_dict", [GROUP_CONFIG])
def test_finding_9_group_membership_is_read_again_when_confirming(bot: Bot) -> None:
    """Defect: user-group membership was cached for 5 minutes also at confirm time, so a person removed
    from the deployer group could still confirm a production change for up to five minutes."""
    bot.slack.state.user_groups["S0PLATFORM"] = ["U0GROUPIE"]
    ts, plan_id = plan_card(bot, "/deploy service-a v1.3.0", user="U0GROUPIE")
    bot.slack.state.user_groups["S0PLATFORM"] = []  # removed from the group a minute later
    reply = bot.click("plan_confirm", plan_id, ts, user="U0GROUPIE")
    assert "needs the *deployer* role" in reply.text
    assert revision("service-a") == "3"


def test_finding_9_scaling_a_locked_service_warns_on_the_card_and_tells_the_holder(bot: Bot) -> None:
    """Defect: scaling a service someone else had locked went through with no word to anyone. Scaling stays
    allowed (it is the lever of an incident, docs/security.md), but the plan card shows the lock as a
    warning and the holder is told in the card's thread when it runs."""
    assert ":lock:" in bot.command("/ops lock service-b production db migration", user=DEPLOYER2).text
    ts, plan_id = plan_card(bot, "/scale service-b 4", user=OPERATOR)
    text = card_text(bot, ts)
    assert f"locked by <@{DEPLOYER2}>" in text
    assert "db migration" in text
    bot.click("plan_confirm", plan_id, ts, user=OPERATOR)
    assert ecs_service("service-b")["desiredCount"] == 4
    notes = [m.text for m in bot.slack.channel(CHANNEL) if m.thread_ts == ts]
    assert len(notes) == 1
    assert f"<@{DEPLOYER2}>" in notes[0]
    assert f"<@{OPERATOR}>" in notes[0]


def test_finding_9_the_holder_scaling_their_own_locked_service_gets_no_note(bot: Bot) -> None:
    bot.command("/ops lock service-b", user=ADMIN)
    ts, plan_id = plan_card(bot, "/scale service-b 4", user=ADMIN)
    bot.click("plan_confirm", plan_id, ts, user=ADMIN)
    assert ecs_service("service-b")["desiredCount"] == 4
    assert [m for m in bot.slack.channel(CHANNEL) if m.thread_ts == ts] == []


# --- issue 23, 3: duplicates spend a response_url at most once -----------------------------------------


def test_double_clicks_by_the_same_person_spend_no_response_url_on_already_being_done(bot: Bot) -> None:
    """Defect: every duplicate click was answered "Already being done" through the same response_url;
    Slack refuses a response_url's 6th use, and the first click's card already says what happened."""
    ts, plan_id = plan_card(bot, "/deploy service-a v1.3.0")
    url = bot.slack.response_url("double-click")
    bodies = [_click_with_url(bot, plan_id, ts, DEPLOYER, url) for _ in range(8)]
    with recorded_calls() as calls:
        bot.send_at_once(bodies)
    assert calls.count("ecs:UpdateService") == 1
    used = [r for r in bot.slack.responses() if "Already" in str(r.get("text", ""))]
    assert used == []
    assert f"Confirmed by <@{DEPLOYER}>" in card_text(bot, ts)


def test_someone_else_clicking_a_card_being_run_is_told_who_runs_it(bot: Bot) -> None:
    ts, plan_id = plan_card(bot, "/deploy service-a v1.3.0")
    bot.click("plan_confirm", plan_id, ts, user=DEPLOYER)
    other = bot.click("plan_confirm", plan_id, ts, user=DEPLOYER2)
    assert f"Already done by <@{DEPLOYER}>" in other.text


def _click_with_url(bot: Bot, plan_id: str, ts: str, user: str, url: str) -> str:
    body = bot.click_body("plan_confirm", plan_id, ts, user)
    payload = json.loads(urllib.parse.parse_qs(body)["payload"][0])
    payload["response_url"] = url
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def test_a_refused_cancel_and_a_refused_unlock_are_audited(bot: Bot) -> None:
    """The security review found refusals that were answered but left no audit line."""
    ts, plan_id = plan_card(bot, "/deploy service-a v1.3.0")
    assert "needs the *deployer* role" in bot.click("plan_cancel", plan_id, ts, user=VIEWER).text
    bot.command("/ops lock service-b", user=DEPLOYER2)
    assert "only they or an admin" in bot.command("/ops unlock service-b", user=DEPLOYER).text
    state = stores()
    cancel = state.audit.trail("production", "service-a")[0]
    assert (cancel.actor, cancel.decision) == (VIEWER, "denied")
    unlock = state.audit.trail("production", "service-b")[0]
    assert (unlock.actor, unlock.decision) == (DEPLOYER, "denied")
