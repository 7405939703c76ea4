"""Forms: /deploy, /scale and /rollback with no arguments open a modal within Slack's trigger window; picking an
environment and a service loads the choices from AWS (tags, counts, revisions); submitting plans the change
through the same path as the typed command, and a form that would not parse gets its errors back."""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from harness import (
    ADMIN,
    CHANNEL,
    DEPLOYER,
    OPERATOR,
    STATE_TABLE,
    VIEWER,
    Bot,
    config_data,
    ecs_service,
    signed_headers,
    stores,
)

from bot.aws import is_platform_mutation, recorded_calls
from sandbox.seed import DEFAULT_TAGS, SeedPlan

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def options(view: dict[str, Any], block_prefix: str) -> list[tuple[str, str]]:
    """(text, value) of the select in the block whose id starts with `block_prefix`."""
    for block in view["blocks"]:
        if str(block.get("block_id", "")).startswith(block_prefix):
            return [(o["text"]["text"], o["value"]) for o in block["element"]["options"]]
    raise AssertionError(f"no block {block_prefix} in {[b.get('block_id') for b in view['blocks']]}")


def block_id(view: dict[str, Any], prefix: str) -> str:
    return next(str(b["block_id"]) for b in view["blocks"] if str(b.get("block_id", "")).startswith(prefix))


def context_text(view: dict[str, Any]) -> str:
    return "\n".join(
        str(element.get("text", ""))
        for block in view["blocks"]
        if block["type"] == "context"
        for element in block["elements"]
    )


def open_form(bot: Bot, command: str, user: str = DEPLOYER) -> dict[str, Any]:
    reply = bot.command(command, user)
    assert reply.status == 200
    assert reply.text == "", reply.text  # no message: the form is the answer
    assert reply.elapsed < 3.0
    modal = bot.slack.modal(user)
    assert modal is not None, "no modal was opened"
    return modal


def pick(bot: Bot, modal: dict[str, Any], env: str, service: str, user: str = DEPLOYER) -> dict[str, Any]:
    bot.view_action(user, modal, "env", "modal_env", env)
    bot.view_action(user, modal, "service", "modal_service", service)
    shown = bot.slack.modal(user)
    assert shown is not None
    return shown


@pytest.mark.parametrize("command", ["/deploy", "/scale", "/rollback", "/ops deploy"])
def test_the_command_alone_opens_its_form_with_environments_and_services(bot: Bot, command: str) -> None:
    with recorded_calls() as calls:
        modal = open_form(bot, command)
    assert [call for call in calls if not call.startswith("dynamodb:")] == []  # the ack reads no platform
    assert options(modal, "env") == [("production", "production"), ("staging", "staging")]
    assert options(modal, "service") == [("service-a", "service-a"), ("service-b", "service-b")]
    assert "Pick an environment and a service" in context_text(modal)


def test_deploy_form_offers_the_newest_tags_marking_the_running_and_the_bad_one(bot: Bot) -> None:
    history = stores().history
    arn = ecs_service("service-a")["taskDefinition"]
    family = arn.rpartition(":")[0]  # v1.1.0 was rolled back from (seed_plan); v1.0.0 failed once, as revision 9
    history.deployed("production", "service-a", f"{family}:9", "repo:v1.0.0", by=DEPLOYER, at=1.0)
    history.failed("production", "service-a", f"{family}:9", "circuit breaker", at=1.0)
    modal = pick(bot, open_form(bot, "/deploy"), "production", "service-a")
    shown = options(modal, "tag:production:service-a")
    values = [value for _, value in shown]
    assert set(values) == {"v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0", "v1.4.0-rc1"}
    texts = {value: text for text, value in shown}
    assert "running now" in texts["v1.2.0"]
    assert "known bad: failed" in texts["v1.0.0"]
    assert "known bad: rolled back from" in texts["v1.1.0"]
    assert "pushed " in texts["v1.3.0"]
    assert "known bad" not in texts["v1.3.0"]
    assert all(len(text) <= 75 for text, _ in shown)
    assert "runs `v1.2.0` (revision 3)" in context_text(modal)
    assert "pre-release" in texts["v1.4.0-rc1"]  # production is protected: /deploy without a tag skips it


def test_submitting_the_deploy_form_gives_the_plan_card_of_the_typed_command(bot: Bot) -> None:
    modal = pick(bot, open_form(bot, "/deploy"), "production", "service-a")
    with recorded_calls() as calls:
        reply = bot.submit_view(DEPLOYER, modal, {block_id(modal, "tag:"): "v1.3.0"})
    assert reply.ack == {}
    assert bot.slack.modal(DEPLOYER) is None  # accepted: the form closes
    assert not [call for call in calls if is_platform_mutation(call)]
    card = bot.card_text(bot.last_card())
    assert "`v1.2.0` → `v1.3.0`" in card
    assert "Confirm" in card
    entry = stores().audit.trail("production", "service-a", limit=1)[0]
    assert entry.command == "/deploy service-a v1.3.0 production"
    assert entry.request == "/deploy service-a v1.3.0 production (form)"

    bot.click("plan_confirm", bot.button(bot.last_card(), "plan_confirm")["value"], bot.last_card().ts)
    assert ecs_service("service-a")["taskDefinition"].endswith(":4")


def submission(bot: Bot, user: str, view: dict[str, Any]) -> str:
    """The body Slack posts when `user` submits `view` (as the stand-in has it, with its state)."""
    payload = {"type": "view_submission", "team": {"id": "T0TEST"}, "user": {"id": user}, "view": view}
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def test_the_same_submission_delivered_twice_plans_once(bot: Bot) -> None:
    modal = pick(bot, open_form(bot, "/scale"), "production", "service-b")
    assert bot.slack.fill(DEPLOYER, modal["id"], {"count:production:service-b": "4"}) == {}
    view = bot.slack.view(modal["id"])
    assert view is not None
    body = submission(bot, DEPLOYER, view)
    now = int(time.time())  # two fixed seconds: now - 1 taken after a second boundary would repeat the first
    assert bot.send(body, signed_headers(body, timestamp=now))[0] == 200
    assert bot.send(body, signed_headers(body, timestamp=now - 1))[0] == 200  # Slack's retry
    bot.drain()
    assert len([m for m in bot.slack.channel(CHANNEL) if m.thread_ts is None]) == 1


def test_scale_form_shows_running_desired_and_the_allowed_range(bot: Bot) -> None:
    modal = pick(bot, open_form(bot, "/scale"), "production", "service-b")
    words = context_text(modal)
    assert "2 running, 2 desired" in words
    assert "allowed 1 to 10 tasks" in words
    assert "autoscaling between 1 and 10" in words
    count = next(b for b in modal["blocks"] if b.get("block_id") == "count:production:service-b")
    assert count["element"].get("initial_value") == "2"


def test_a_count_outside_the_range_is_shown_in_the_form_and_nothing_is_planned(bot: Bot) -> None:
    modal = pick(bot, open_form(bot, "/scale"), "production", "service-b")
    reply = bot.submit_view(DEPLOYER, modal, {"count:production:service-b": "50"})
    assert reply.ack["response_action"] == "errors"
    assert bot.slack.modal_errors(DEPLOYER) == {
        "count:production:service-b": "service-b runs between 1 and 10 tasks; 50 is outside that."
    }
    assert bot.slack.channel(CHANNEL) == []

    again = bot.submit_view(DEPLOYER, modal, {"count:production:service-b": "ten"})
    assert "is not a task count" in bot.slack.modal_errors(DEPLOYER)["count:production:service-b"]
    assert again.ack["response_action"] == "errors"


def test_a_viewer_submitting_is_refused_like_the_typed_command(bot: Bot) -> None:
    typed = bot.command("/scale service-b 3", VIEWER)
    modal = pick(bot, open_form(bot, "/scale", VIEWER), "production", "service-b", VIEWER)
    with recorded_calls() as calls:
        bot.submit_view(VIEWER, modal, {"count:production:service-b": "3"})
    assert not [call for call in calls if is_platform_mutation(call)]
    told = [m for m in bot.slack.state.messages if m.channel == CHANNEL and m.ephemeral_to == VIEWER]
    assert told
    assert told[-1].text == typed.text
    assert "needs the *operator* role" in told[-1].text
    assert ecs_service("service-b")["desiredCount"] == 2


@pytest.fixture
def seed_plan() -> SeedPlan:
    return SeedPlan(tags=(*DEFAULT_TAGS, "v1.4.0-rc1"), ran=(1, 2, 3), rolled_back=(2,))


def test_rollback_form_offers_the_known_good_revisions_with_image_deployer_and_date(bot: Bot) -> None:
    # The seed's records name no deployer: revision 1 is said to be deployed by DEPLOYER on 2 January 1970.
    boto3.client("dynamodb").update_item(
        TableName=STATE_TABLE,
        Key={"pk": {"S": "rev#production#service-a"}, "sk": {"S": "0000000001"}},
        UpdateExpression="SET deployed_by = :by, deployed_at = :at",
        ExpressionAttributeValues={":by": {"S": DEPLOYER}, ":at": {"N": "86400"}},
    )
    modal = pick(bot, open_form(bot, "/rollback"), "production", "service-a")
    shown = options(modal, "revision:production:service-a")
    assert [value for _, value in shown] == ["1"]  # 2 was rolled back from, 3 runs
    assert shown[0][0].startswith("revision 1 · v1.0.0 · 1970-01-02")
    assert f"deployed by <@{DEPLOYER}>" in context_text(modal)

    bot.submit_view(DEPLOYER, modal, {block_id(modal, "revision:"): "1"})
    card = bot.card_text(bot.last_card())
    assert "service-a:1" in card
    assert "Confirm" in card


def test_a_forged_channel_is_not_taken(bot: Bot) -> None:
    modal = pick(bot, open_form(bot, "/scale"), "production", "service-b")
    bot.slack.fill(DEPLOYER, modal["id"], {"count:production:service-b": "3"})
    view = bot.slack.view(modal["id"])
    assert view is not None
    forged = {**view, "private_metadata": json.dumps({"channel": "<!channel>"})}
    status, ack = bot.send(submission(bot, DEPLOYER, forged))
    bot.drain()
    assert status == 200
    assert ack["response_action"] == "errors"
    assert bot.slack.channel(CHANNEL) == []


def test_an_update_made_for_an_older_pick_does_not_overwrite_the_newer_one(
    bot: Bot, log_messages: Callable[..., list[str]]
) -> None:
    modal = open_form(bot, "/deploy")
    bot.view_action(DEPLOYER, modal, "env", "modal_env", "production")
    before = bot.slack.view(modal["id"])  # as Slack sent it with the person's first pick of a service
    assert before is not None
    bot.view_action(DEPLOYER, modal, "service", "modal_service", "service-a")
    # The lazy work of an earlier pick (service-b) finishes last: its view's hash is no longer the form's.
    values = before["state"]["values"]
    values["service"] = {"modal_service": {"type": "static_select", "selected_option": {"value": "service-b"}}}
    payload = {
        "type": "block_actions",
        "team": {"id": "T0TEST"},
        "user": {"id": DEPLOYER},
        "container": {"type": "view", "view_id": modal["id"]},
        "view": before,
        "actions": [{"action_id": "modal_service", "block_id": "service", "action_ts": str(time.time())}],
    }
    info = log_messages("bot.app", logging.INFO)
    bot.send(urllib.parse.urlencode({"payload": json.dumps(payload)}))
    bot.drain()
    shown = bot.slack.modal(DEPLOYER)
    assert shown is not None
    assert options(shown, "tag:production:service-a")  # the newer pick's choices stand
    assert any("changed meanwhile" in message for message in info)


NO_ROLE = "U0OUTSIDER"
NAMED_ROLES_ONLY = config_data(roles={"admin": [ADMIN], "deployer": [DEPLOYER], "operator": [OPERATOR]})


@pytest.mark.parametrize("config_dict", [NAMED_ROLES_ONLY])
@pytest.mark.parametrize("command", ["/deploy", "/scale", "/rollback"])
def test_a_person_with_no_role_reads_nothing_through_a_form(bot: Bot, command: str) -> None:
    typed = bot.command("/status service-a production", user=NO_ROLE).text
    assert "you have no role there" in typed
    with recorded_calls() as calls:
        modal = pick(bot, open_form(bot, command, NO_ROLE), "production", "service-a", NO_ROLE)
    assert not [call for call in calls if call.startswith(("ecs:", "ecr:", "application-autoscaling:"))]
    shown = json.dumps(modal)
    assert "you have no role there" in context_text(modal)
    assert not [word for word in ("v1.2.0", "v1.3.0", "desired") if word in shown]
    assert [b["block_id"] for b in modal["blocks"] if b["type"] == "input"] == ["env", "service"]


@pytest.mark.parametrize("config_dict", [config_data(channels=["C0PRODOPS"])])
def test_a_form_from_a_channel_the_environment_does_not_allow_reads_nothing(bot: Bot) -> None:
    typed = bot.command("/status service-a production", user=DEPLOYER, channel="C0RANDOM").text
    assert "not allowed to operate production" in typed
    bot.command("/rollback", DEPLOYER, channel="C0RANDOM")
    modal = bot.slack.modal(DEPLOYER)
    assert modal is not None
    modal = pick(bot, modal, "production", "service-a")
    assert "not allowed to operate production" in context_text(modal)
    assert "<#C0PRODOPS>" in context_text(modal)
    assert "runs revision" not in json.dumps(modal)
    staging = pick(bot, modal, "staging", "service-a")  # no allowlist: read (the seed has no staging cluster)
    assert "Could not load the choices: Describe ECS services failed" in context_text(staging)


def test_a_scale_count_shown_for_one_service_is_not_carried_to_another(bot: Bot) -> None:
    boto3.client("ecs", region_name="us-east-1").update_service(
        cluster="ecs-microservices-production-cluster",
        service="ecs-microservices-production-service-b",
        desiredCount=6,
    )
    modal = pick(bot, open_form(bot, "/scale"), "production", "service-a")
    count = next(b for b in modal["blocks"] if b.get("block_id") == "count:production:service-a")
    assert count["element"]["initial_value"] == "2"
    bot.view_action(DEPLOYER, modal, "service", "modal_service", "service-b")
    modal = bot.slack.modal(DEPLOYER)
    assert modal is not None
    assert "6 desired" in context_text(modal)
    counts = {b["block_id"]: b["element"].get("initial_value") for b in modal["blocks"] if b["type"] == "input"}
    assert counts == {"env": None, "service": None, "count:production:service-b": "6"}  # service-b's own count
    bot.submit_view(DEPLOYER, modal, {"count:production:service-b": "4"})
    assert "scale service-b 4 (production)" in bot.card_text(bot.last_card())


@pytest.mark.parametrize("command", ["/scale", "/deploy", "/rollback"])
def test_a_submit_with_the_choices_of_another_service_is_refused(bot: Bot, command: str) -> None:
    """Two quick picks: the update for the older one landed, the newer one's was dropped (hash_conflict). The
    form shows service-b picked with service-a's choices: submitting it plans nothing."""
    modal = pick(bot, open_form(bot, command), "production", "service-a")
    bot.slack.select(DEPLOYER, modal["id"], "service", "modal_service", "service-b")  # its update never lands
    reply = bot.submit_view(DEPLOYER, modal)
    assert reply.ack["response_action"] == "errors"
    assert "service-a" in bot.slack.modal_errors(DEPLOYER)["service"]
    assert "pick the service again" in bot.slack.modal_errors(DEPLOYER)["service"]
    assert bot.slack.channel(CHANNEL) == []
    assert stores().audit.trail("production", "service-b", limit=1) == []
