"""The App Home tab through the Slack function: published on app_home_opened from what moto holds, refreshed
after a change, at most once per person per spacing (a retried event publishes nothing more), its buttons
held to the roles of the typed commands, outside text escaped."""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from collections.abc import Iterator
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
    state_table,
    stores,
)
from slack_sdk.signature import SignatureVerifier

from bot.aws import recorded_calls
from bot.config import Config
from bot.home import HOME_ACTIONS, RECENT_SECONDS, SPACING_SECONDS, HomeViewer, HomeViewers, can_refresh
from bot.home_view import DEPLOY_ACTION, LOCK_ACTION, SCALE_ACTION, UNLOCK_ACTION
from bot.permissions import Function
from bot.stores import AuditEntry
from handlers.runtime import Clocks
from sandbox.clock import SimulatedClock
from sandbox.seed import alarm_names

HARNESS_SECRET = "test-signing-secret"  # harness.SIGNING_SECRET


@pytest.fixture
def fake_wall() -> SimulatedClock:
    """The wall clock, plus the waits the home's debounce skipped (so tests do not sleep through them)."""
    return SimulatedClock(wall=True)


@pytest.fixture
def home_bot(bot: Bot, fake_wall: SimulatedClock) -> Iterator[Bot]:
    import handlers.slack
    from handlers.runtime import Clocks

    handlers.slack.reset(Clocks(wall=fake_wall.now, sleep=fake_wall.sleep))
    handlers.slack.prime()  # built on these clocks before the first request, as the `bot` fixture builds it
    yield bot
    bot.drain()


def shown(bot: Bot, user: str) -> str:
    home = bot.slack.home(user)
    assert home is not None, f"no home published for {user}"
    assert home["type"] == "home"
    return json.dumps(home["blocks"], ensure_ascii=False)


def publishes(bot: Bot, user: str) -> int:
    return sum(1 for call in bot.slack.calls("views.publish") if call.params.get("user_id") == user)


def event_body(user: str) -> str:
    """app_home_opened as Slack delivers it (the Events API's envelope)."""
    event = {"type": "app_home_opened", "user": user, "channel": f"D{user[1:]}", "tab": "home", "event_ts": "1.2"}
    envelope = {
        "token": "legacy",
        "team_id": "T0TEST",
        "api_app_id": "A0TEST",
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{uuid.uuid4().hex[:12].upper()}",
        "event_time": int(time.time()),
    }
    return json.dumps(envelope)


def delivered(body: str, retry: int | None = None) -> dict[str, str]:
    """Slack's headers for a JSON body, signed now (a retry a second earlier per number, so that its signature is
    new to the replay record, as a retry's later one is); a retry carries its number."""
    stamp = str(int(time.time()) - (retry or 0))
    headers = {
        "content-type": "application/json",
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": SignatureVerifier(HARNESS_SECRET).generate_signature(timestamp=stamp, body=body),
    }
    if retry is not None:
        headers |= {"x-slack-retry-num": str(retry), "x-slack-retry-reason": "http_timeout"}
    return headers


def executed(service: str, actor: str, command: str, at: float, env: str = "production") -> None:
    stores().audit.record(AuditEntry(env, service, actor, command, "executed", "done", at=at))


# --- published when opened ------------------------------------------------------------------------------


def test_opening_the_tab_publishes_the_platform_from_aws(home_bot: Bot, config: Config) -> None:
    cpu_alarm = alarm_names(config)["service-a"][0]
    boto3.client("cloudwatch", region_name="us-east-1").set_alarm_state(
        AlarmName=cpu_alarm, StateValue="ALARM", StateReason="CPU above 90%"
    )
    assert home_bot.command("/ops lock service-b production db migration", user=OPERATOR).text.count("locked")
    start = time.time() - 3600
    for minute in range(6):
        executed("service-a", ADMIN, f"/scale service-a {minute + 1}", start + 60 * minute)

    reply = home_bot.open_home(DEPLOYER)

    assert reply.status == 200
    home = shown(home_bot, DEPLOYER)
    assert "revision 3, image `v1.2.0`" in home  # the seeded service runs revision 3, image tag v1.2.0
    assert "tasks: 2 running / 2 desired" in home
    assert f"`{cpu_alarm}`" in home
    assert "locked by <@U0OPERATOR>" in home
    assert "db migration" in home
    for minute in range(1, 6):  # the last five changes, newest first, with who made them
        assert f"<@{ADMIN}> `/scale service-a {minute + 1}`" in home
    assert "/scale service-a 1`" not in home
    assert "production · you are deployer" in home
    assert "staging · you are deployer" in home
    assert publishes(home_bot, DEPLOYER) == 1


def test_a_retried_event_publishes_once(home_bot: Bot) -> None:
    body = event_body(DEPLOYER)
    assert home_bot.send(body, delivered(body))[0] == 200
    home_bot.drain()
    for retry in (1, 2):  # Slack signs each delivery anew: the replay record does not know them
        assert home_bot.send(body, delivered(body, retry))[0] == 200
    home_bot.drain()
    assert publishes(home_bot, DEPLOYER) == 1


def test_opening_again_within_the_spacing_publishes_nothing_more(home_bot: Bot, fake_wall: SimulatedClock) -> None:
    home_bot.open_home(VIEWER)
    home_bot.open_home(VIEWER)
    assert publishes(home_bot, VIEWER) == 1
    fake_wall.advance(SPACING_SECONDS)
    home_bot.open_home(VIEWER)
    assert publishes(home_bot, VIEWER) == 2


# --- refreshed after a change ---------------------------------------------------------------------------


def test_a_deploy_that_executes_refreshes_the_home_of_who_opened_it(home_bot: Bot, fake_wall: SimulatedClock) -> None:
    home_bot.open_home(DEPLOYER2)
    home_bot.command("/deploy service-a v1.3.0")
    card = home_bot.last_card()
    home_bot.click("plan_confirm", home_bot.button(card, "plan_confirm")["value"], card.ts)

    home = shown(home_bot, DEPLOYER2)
    assert "revision 4, image `v1.3.0`" in home
    assert "rolling out revision 4" in home
    assert f"<@{DEPLOYER}> `/deploy service-a v1.3.0`" in home
    assert publishes(home_bot, DEPLOYER2) == 2
    # The change came within the spacing of the publish on opening: the refresh waited for its slot.
    assert any(0 < wait <= SPACING_SECONDS for wait in fake_wall.slept)
    assert home_bot.slack.home(DEPLOYER) is None  # who never opened the tab gets nothing published


def test_a_change_refreshes_everyone_who_opened_the_tab_with_the_state_after_it(
    home_bot: Bot, fake_wall: SimulatedClock
) -> None:
    home_bot.open_home(VIEWER)
    fake_wall.advance(2 * SPACING_SECONDS)
    home_bot.open_home(DEPLOYER2)  # published just now: the change waits for their next slot; not VIEWER's
    home_bot.command("/scale service-b 3", user=OPERATOR)
    card = home_bot.last_card()
    home_bot.click("plan_confirm", home_bot.button(card, "plan_confirm")["value"], card.ts, user=OPERATOR)

    for user in (VIEWER, DEPLOYER2):
        assert "running / 3 desired" in shown(home_bot, user)
        assert f"<@{OPERATOR}> `/scale service-b 3`" in shown(home_bot, user)
        assert publishes(home_bot, user) == 2


def test_changes_inside_the_spacing_take_one_slot_each_never_two_publishes_at_once(
    aws: Any, fake_wall: SimulatedClock
) -> None:
    table = state_table()
    table.clock = fake_wall.now
    viewers = HomeViewers(table)
    assert viewers.claim(VIEWER, SPACING_SECONDS, opened=True) == 0  # opened: published now
    first = viewers.claim(VIEWER, SPACING_SECONDS)  # a change at once: waits for the next slot
    assert first is not None
    assert 0 < first <= SPACING_SECONDS
    assert viewers.claim(VIEWER, SPACING_SECONDS) is None  # another while that one waits: it shows both
    assert viewers.claim(VIEWER, SPACING_SECONDS, opened=True) is None  # opening meanwhile: the waiter publishes
    fake_wall.advance(first)
    second = viewers.claim(VIEWER, SPACING_SECONDS)  # its slot came: the next change waits for the one after
    assert second is not None
    assert 0 < second <= SPACING_SECONDS
    assert viewers.claim(OPERATOR, SPACING_SECONDS) is None  # never opened it: nothing to refresh


def test_a_lock_from_the_home_tab_runs_as_ops_lock_and_shows(home_bot: Bot) -> None:
    home_bot.open_home(OPERATOR)
    home = home_bot.slack.home(OPERATOR)
    assert home is not None
    home_bot.view_action(OPERATOR, home, "home:production:service-a", LOCK_ACTION)

    lock = stores().locks.get("production", "service-a")
    assert lock is not None
    assert lock.holder == OPERATOR
    told = [m.text for m in home_bot.slack.channel(OPERATOR)]
    assert any("is locked by" in text for text in told)
    assert "locked by <@U0OPERATOR>" in shown(home_bot, OPERATOR)
    trail = stores().audit.trail("production", "service-a")
    assert trail[0].decision == "locked"
    assert trail[0].command == "/ops lock service-a production"

    home_bot.view_action(OPERATOR, home_bot.slack.home(OPERATOR) or {}, "home:production:service-a", UNLOCK_ACTION)
    assert stores().locks.get("production", "service-a") is None
    assert "locked by" not in shown(home_bot, OPERATOR)


def test_a_viewer_sees_the_home_but_its_lock_button_is_refused_like_the_command(home_bot: Bot) -> None:
    home_bot.open_home(VIEWER)
    home = home_bot.slack.home(VIEWER)
    assert home is not None
    assert "production · you are viewer" in shown(home_bot, VIEWER)
    home_bot.view_action(VIEWER, home, "home:production:service-a", LOCK_ACTION)

    assert stores().locks.get("production", "service-a") is None
    told = " ".join(m.text for m in home_bot.slack.channel(VIEWER))
    typed = home_bot.command("/ops lock service-a production", user=VIEWER).text
    assert "This needs the *operator* role in production; you are viewer." in told
    assert "This needs the *operator* role in production; you are viewer." in typed
    denied = [e for e in stores().audit.trail("production", "service-a") if e.decision == "denied"]
    assert len(denied) == 2  # the button's refusal is audited as the typed command's is


@pytest.mark.parametrize("config_dict", [config_data(channels=[CHANNEL])])
def test_lock_from_the_home_tab_works_where_the_environment_allows_only_some_channels(home_bot: Bot) -> None:
    """The home has no channel: its buttons act from the environment's plan channel (bot.home.plan_channel),
    so an operator may lock from the home as they may by typing the command in an allowed channel (review F1)."""
    home_bot.open_home(OPERATOR)
    home_bot.view_action(OPERATOR, home_bot.slack.home(OPERATOR) or {}, "home:production:service-a", LOCK_ACTION)

    told = " ".join(m.text for m in home_bot.slack.channel(OPERATOR))
    assert "is locked by" in told, told
    lock = stores().locks.get("production", "service-a")
    assert lock is not None
    assert lock.holder == OPERATOR


def test_the_person_hears_the_outcome_of_a_lock_before_the_homes_are_refreshed(
    home_bot: Bot, fake_wall: SimulatedClock
) -> None:
    """Refreshing the homes waits for each person's slot: the answer comes first (review F9)."""
    home_bot.open_home(VIEWER)  # published now: a refresh waits for its next slot
    home_bot.open_home(OPERATOR)
    before = len(home_bot.slack.calls())
    home_bot.view_action(OPERATOR, home_bot.slack.home(OPERATOR) or {}, "home:production:service-a", LOCK_ACTION)

    calls = home_bot.slack.calls()[before:]
    told = [i for i, call in enumerate(calls) if call.method == "chat.postMessage"]
    published = [i for i, call in enumerate(calls) if call.method == "views.publish"]
    assert told
    assert published
    assert told[0] < published[0], [call.method for call in calls]  # the button's answer before any home
    assert "locked by <@U0OPERATOR>" in shown(home_bot, VIEWER)


def test_the_homes_refreshed_are_of_who_opened_the_tab_lately_newest_first(aws: Any, fake_wall: SimulatedClock) -> None:
    """Not the first ones by user id, nor one who opened it more than a day ago (review F9)."""
    table = state_table()
    table.clock = fake_wall.now
    viewers = HomeViewers(table)
    now = fake_wall.now()
    for user, opened in (("U0ZZZ", now - RECENT_SECONDS - 60), ("U0AAA", now - 10), ("U0BBB", now - 30)):
        viewers._write(HomeViewer(user, opened, version=1), None, opened)
    assert [v.user for v in viewers.recent(limit=5)] == ["U0AAA", "U0BBB"]
    assert [v.user for v in viewers.recent(limit=1)] == ["U0AAA"]


@pytest.mark.parametrize("config_dict", [config_data(channels=["C0PRODOPS"])])
def test_the_home_shows_an_environment_where_the_person_holds_a_role_whatever_its_channel_allowlist(
    home_bot: Bot,
) -> None:
    """Decided (review F5): the home is private to its person, so it shows every environment where they hold a
    role; an environment's channel allowlist governs where operations are asked for and answered in public, and
    the home's buttons act from its allowed channel (plan_channel)."""
    typed = home_bot.command("/status production", user=DEPLOYER, channel="C0RANDOM").text
    assert "not allowed to operate production" in typed
    home_bot.open_home(DEPLOYER)
    home = shown(home_bot, DEPLOYER)
    assert "production · you are deployer" in home
    assert "revision 3, image `v1.2.0`" in home


STAGING_ROLE = "arn:aws:iam::210987654321:role/fargate-chatops-workload"


def staging_in_another_account() -> dict[str, Any]:
    data = config_data()
    data["environments"][1] = {
        "name": "staging",
        "region": "us-east-1",
        "role_arn": STAGING_ROLE,
        "external_id": "opsbot-7f3a",
        "roles": {"deployer": ["*"]},
    }
    return data


@pytest.mark.parametrize("config_dict", [staging_in_another_account()])
def test_an_environment_whose_role_cannot_be_assumed_says_what_is_wrong_and_what_to_check(
    home_bot: Bot, aws_faults: Any
) -> None:
    """As /status all does (render.status_error): the error and its hint (review of many accounts, 4)."""
    aws_faults.add("AssumeRole", "AccessDenied", status=403, matching=b"fargate-chatops-workload")
    home_bot.open_home(DEPLOYER)
    home = shown(home_bot, DEPLOYER)
    assert f"Assuming the role of staging ({STAGING_ROLE}) failed" in home
    assert "trust policy in account 210987654321" in home  # the hint: what to check
    assert "revision 3, image `v1.2.0`" in home  # production is still shown


def test_outside_text_in_the_home_is_escaped(home_bot: Bot) -> None:
    home_bot.command("/ops lock service-a production <!channel> <https://evil.example|click>", user=OPERATOR)
    executed("service-b", ADMIN, "/deploy service-b <!here>", time.time() - 60)
    home_bot.open_home(ADMIN)
    home = shown(home_bot, ADMIN)
    assert "<!channel>" not in home
    assert "<!here>" not in home
    assert "<https://evil" not in home
    assert "&lt;!channel&gt;" in home
    assert "&lt;!here&gt;" in home


# --- Deploy / Scale / Roll back: the forms (bot.modals) ---------------------------------------------------


def test_deploy_from_the_home_tab_opens_its_form_with_the_service_picked_and_plans_as_typed(home_bot: Bot) -> None:
    home_bot.open_home(DEPLOYER)
    reply = home_bot.view_action(
        DEPLOYER, home_bot.slack.home(DEPLOYER) or {}, "home:production:service-a", DEPLOY_ACTION
    )
    assert reply.elapsed < 3.0
    modal = home_bot.slack.modal(DEPLOYER)
    assert modal is not None, "no form was opened"
    tags = next(b for b in modal["blocks"] if str(b.get("block_id", "")).startswith("tag:"))
    assert "v1.3.0" in [o["value"] for o in tags["element"]["options"]]  # the choices, loaded from ECR

    home_bot.submit_view(DEPLOYER, modal, {str(tags["block_id"]): "v1.3.0"})

    # The home has no channel: with no allowed channel nor routing.default_channel, the plan card comes to the
    # person's messages with the app.
    card = home_bot.card_text(home_bot.last_card(DEPLOYER))
    assert "`v1.2.0` → `v1.3.0`" in card
    assert stores().audit.trail("production", "service-a", limit=1)[0].command == "/deploy service-a v1.3.0 production"


def test_a_home_button_carries_no_channel_and_a_forged_one_is_not_used(home_bot: Bot) -> None:
    """The plan card of a form opened from the home goes where bot.home.plan_channel says for the environment
    submitted, never to a channel named in the request (review F4)."""
    home_bot.open_home(DEPLOYER)
    home = home_bot.slack.home(DEPLOYER) or {}
    values = {e["value"] for b in home["blocks"] if b.get("type") == "actions" for e in b["elements"] if "value" in e}
    assert "production:service-a" in values
    assert not any(value.count(":") > 1 for value in values)
    payload = {
        "type": "block_actions",
        "team": {"id": "T0TEST", "domain": "test"},
        "user": {"id": DEPLOYER, "username": "d", "name": "d", "team_id": "T0TEST"},
        "api_app_id": "A0TEST",
        "token": "legacy",
        "container": {"type": "view", "view_id": home["id"]},
        "trigger_id": home_bot.slack.trigger(DEPLOYER),
        "view": home,
        "actions": [
            {
                "type": "button",
                "action_id": DEPLOY_ACTION,
                "block_id": "home:production:service-a",
                "value": "production:service-a:C0ELSEWHERE",
                "action_ts": str(time.time()),
            }
        ],
    }
    home_bot._post(urllib.parse.urlencode({"payload": json.dumps(payload)}))
    modal = home_bot.slack.modal(DEPLOYER)
    assert modal is not None
    tags = next(b for b in modal["blocks"] if str(b.get("block_id", "")).startswith("tag:"))
    home_bot.submit_view(DEPLOYER, modal, {str(tags["block_id"]): "v1.3.0"})

    assert not home_bot.slack.channel("C0ELSEWHERE")
    assert "`v1.2.0` → `v1.3.0`" in home_bot.card_text(home_bot.last_card(DEPLOYER))


def test_a_home_button_whose_form_slack_did_not_open_tells_the_person_the_command_to_type(home_bot: Bot) -> None:
    """views.open failed in the ack (the trigger expired, Slack slow): the person hears it in their messages
    with the app, with the command to type instead (review F7)."""
    home_bot.open_home(DEPLOYER)
    home_bot.slack.inject("views.open", 500)
    home_bot.view_action(DEPLOYER, home_bot.slack.home(DEPLOYER) or {}, "home:production:service-a", DEPLOY_ACTION)

    assert home_bot.slack.modal(DEPLOYER) is None
    told = " ".join(m.text for m in home_bot.slack.channel(DEPLOYER))
    assert "Slack did not open the form" in told, told
    assert "`/deploy service-a [tag] production`" in told


def test_a_viewer_scaling_from_the_home_tab_is_refused_like_the_typed_command(home_bot: Bot) -> None:
    typed = home_bot.command("/scale service-b 3", user=VIEWER).text
    home_bot.open_home(VIEWER)
    home_bot.view_action(VIEWER, home_bot.slack.home(VIEWER) or {}, "home:production:service-b", SCALE_ACTION)
    modal = home_bot.slack.modal(VIEWER)
    assert modal is not None, "no form was opened"
    assert "2 running, 2 desired" in json.dumps(modal)  # the service picked, its counts loaded

    count = next(str(b["block_id"]) for b in modal["blocks"] if str(b.get("block_id", "")).startswith("count"))
    home_bot.submit_view(VIEWER, modal, {count: "3"})

    told = [m.text for m in home_bot.slack.state.messages if VIEWER in (m.channel, m.ephemeral_to)]
    assert typed in told
    assert "needs the *operator* role" in typed
    assert ecs_service("service-b")["desiredCount"] == 2


# --- a deployment that ends --------------------------------------------------------------------------------


def test_building_a_home_calls_only_what_can_refresh_requires(home_bot: Bot) -> None:
    executed("service-a", ADMIN, "/scale service-a 3", time.time() - 60)
    with recorded_calls() as calls:
        home_bot.open_home(ADMIN)
    assert shown(home_bot, ADMIN)
    assert set(calls) <= HOME_ACTIONS
    assert can_refresh(Function.SLACK)  # after an operation or a lock change, in the Slack function


def test_a_rollout_that_ends_refreshes_the_home_once(
    home_bot: Bot, deployments: Any, fake_wall: SimulatedClock
) -> None:
    """In the deployments function, whose role (bot/permissions.py, template.yaml) may read all a home shows."""
    home_bot.open_home(DEPLOYER2)
    home_bot.command("/deploy service-a v1.3.0")
    card = home_bot.last_card()
    home_bot.click("plan_confirm", home_bot.button(card, "plan_confirm")["value"], card.ts)
    assert "rolling out revision 4" in shown(home_bot, DEPLOYER2)
    before = publishes(home_bot, DEPLOYER2)
    fake_wall.advance(2 * SPACING_SECONDS)
    deployments.reset(Clocks(wall=fake_wall.now, sleep=fake_wall.sleep))
    service = ecs_service("service-a")
    event = deployment_event(service["serviceArn"], "SERVICE_DEPLOYMENT_COMPLETED", service["deployments"][0]["id"])
    assert deployments.handler(event, lambda_context())["result"] == "completed"
    assert deployments.handler(event, lambda_context())["result"] == "ignored"  # told once: one refresh
    assert publishes(home_bot, DEPLOYER2) == before + 1
    home = shown(home_bot, DEPLOYER2)
    assert "revision 4, image `v1.3.0`" in home
    assert "rolling out" not in home
    assert can_refresh(Function.DEPLOYMENTS)
    assert can_refresh(Function.ESCALATION)  # the sweep ends rollouts too


def test_the_home_is_published_when_the_state_table_cannot_record_the_opening(home_bot: Bot, aws_faults: Any) -> None:
    aws_faults.add("GetItem", "InternalServerError", status=500, matching=b"home")
    home_bot.open_home(DEPLOYER)
    assert "revision 3, image `v1.2.0`" in shown(home_bot, DEPLOYER)


def test_slacks_check_of_the_event_request_url_is_answered_with_its_challenge(home_bot: Bot) -> None:
    """Slack verifies settings.event_subscriptions.request_url (manifest.yaml) with a signed url_verification."""
    body = json.dumps(
        {
            "token": "legacy",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )
    status, answer = home_bot.send(body, delivered(body))
    assert status == 200
    assert answer.get("challenge") == "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
