"""Safe operations: who may do what, plan/confirm, four-eyes, expiry, supersession, locks, exactly once, audit."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import harness
import pytest
from harness import ADMIN, CHANNEL, DEPLOYER, DEPLOYER2, OPERATOR, VIEWER, Bot, config_data, ecs_service, signed_headers

from bot.aws import recorded_calls
from bot.stores import LockedError


def plan(bot: Bot, text: str, user: str = DEPLOYER) -> tuple[Any, str]:
    reply = bot.command(text, user=user)
    assert reply.text == "", reply.text
    card = bot.last_card()
    return card, bot.button(card, "plan_confirm")["value"]


def card_now(bot: Bot, ts: str) -> str:
    return bot.card_text(next(m for m in bot.slack.channel(CHANNEL) if m.ts == ts))


def test_fifty_concurrent_duplicate_confirms_run_exactly_once(bot: Bot) -> None:
    card, plan_id = plan(bot, "/deploy service-a v1.3.0")
    bodies = [bot.click_body("plan_confirm", plan_id, card.ts, DEPLOYER) for _ in range(50)]
    with recorded_calls() as calls:
        statuses = bot.send_at_once(bodies)
    assert statuses == [200] * 50
    assert calls.count("ecs:UpdateService") == 1
    assert calls.count("ecs:RegisterTaskDefinition") == 1
    # The clicker's card says what happened; their 49 duplicates spend no response_url on "already".
    answers = [str(r.get("text", "")) for r in bot.slack.responses()]
    assert answers == [], answers
    assert f"Confirmed by <@{DEPLOYER}>" in card_now(bot, card.ts)
    print("\nduplicate clicks: 50 sent, 1 executed, 0 answered through response_url")
    assert ecs_service("service-a")["taskDefinition"].endswith(":4")


def test_a_used_card_has_no_buttons_left(bot: Bot) -> None:
    card, plan_id = plan(bot, "/deploy service-a v1.3.0")
    bot.click("plan_confirm", plan_id, card.ts)
    after = next(m for m in bot.slack.channel(CHANNEL) if m.ts == card.ts)
    assert not [b for b in after.blocks if b["type"] == "actions"]
    assert f"Confirmed by <@{DEPLOYER}>" in bot.card_text(after)


def test_a_viewer_cannot_deploy_and_is_told_which_role_is_missing(bot: Bot) -> None:
    with recorded_calls() as calls:
        reply = bot.command("/deploy service-a v1.3.0", user=VIEWER)
    assert "needs the *deployer* role in production; you are viewer" in reply.text
    assert bot.slack.channel(CHANNEL) == []
    assert not [c for c in calls if c.startswith("ecs:")]
    audit = harness.stores().audit.trail("production", "service-a")
    assert audit[0].decision == "denied"
    assert audit[0].actor == VIEWER


def test_an_operator_can_scale_but_not_deploy(bot: Bot) -> None:
    assert "needs the *deployer* role" in bot.command("/rollback service-a", user=OPERATOR).text
    assert bot.command("/scale service-b 3", user=OPERATOR).text == ""


def test_a_viewer_cannot_confirm_someone_elses_plan(bot: Bot) -> None:
    card, plan_id = plan(bot, "/deploy service-a v1.3.0")
    reply = bot.click("plan_confirm", plan_id, card.ts, user=VIEWER)
    assert "needs the *deployer* role" in reply.text
    assert ecs_service("service-a")["taskDefinition"].endswith(":3")


@pytest.mark.parametrize("config_dict", [config_data(channels=["C0OPS"])])
def test_commands_from_a_channel_not_allowed_are_refused(bot: Bot) -> None:
    reply = bot.command("/deploy service-a v1.3.0", channel="C0RANDOM")
    assert "This channel is not allowed to operate production" in reply.text
    assert "<#C0OPS>" in reply.text
    assert bot.slack.channel("C0RANDOM") == []


@pytest.mark.parametrize("config_dict", [config_data(four_eyes=True)])
def test_four_eyes_needs_a_second_person(bot: Bot) -> None:
    card, plan_id = plan(bot, "/deploy service-a v1.3.0", user=DEPLOYER)
    own = bot.click("plan_confirm", plan_id, card.ts, user=DEPLOYER)
    assert "Four-eyes" in own.text
    assert ecs_service("service-a")["taskDefinition"].endswith(":3")
    bot.click("plan_confirm", plan_id, card.ts + "x", user=DEPLOYER2)  # another click, another person
    assert ecs_service("service-a")["taskDefinition"].endswith(":4")
    decisions = [e.decision for e in harness.stores().audit.trail("production", "service-a")]
    assert "denied" in decisions
    assert "executed" in decisions


def test_an_expired_plan_is_refused_with_a_prompt_to_plan_again(bot: Bot) -> None:
    card, plan_id = plan(bot, "/deploy service-a v1.3.0")
    state = harness.stores()
    stored = state.plans.load(plan_id)
    assert stored is not None
    stored.expires_at = time.time() - 1
    state.plans.save(stored)
    with recorded_calls() as calls:
        reply = bot.click("plan_confirm", plan_id, card.ts)
    assert "expired" in reply.text
    assert "Plan again" in reply.text
    assert "ecs:UpdateService" not in calls
    assert "Expired" in card_now(bot, card.ts)


def test_a_superseded_plan_is_refused(bot: Bot) -> None:
    card, plan_id = plan(bot, "/deploy service-a v1.3.0")
    ecs = boto3.client("ecs", region_name="us-east-1")
    ecs.update_service(
        cluster="ecs-microservices-production-cluster",
        service="ecs-microservices-production-service-a",
        taskDefinition="ecs-microservices-production-service-a:2",
    )
    with recorded_calls() as calls:
        reply = bot.click("plan_confirm", plan_id, card.ts)
    assert "changed since this plan was made" in reply.text
    assert "ecs:RegisterTaskDefinition" not in calls
    assert ecs_service("service-a")["taskDefinition"].endswith(":2")


def test_cancel_closes_the_card_and_a_later_confirm_does_nothing(bot: Bot) -> None:
    card, plan_id = plan(bot, "/deploy service-a v1.3.0")
    bot.click("plan_cancel", plan_id, card.ts)
    assert f"Cancelled by <@{DEPLOYER}>" in card_now(bot, card.ts)
    reply = bot.click("plan_confirm", plan_id, card.ts)
    assert "cancelled" in reply.text
    assert ecs_service("service-a")["taskDefinition"].endswith(":3")


def test_a_locked_service_refuses_someone_elses_deploy(bot: Bot) -> None:
    assert ":lock:" in bot.command("/ops lock service-a production db migration", user=DEPLOYER2).text
    reply = bot.command("/deploy service-a v1.3.0", user=DEPLOYER)
    assert f"locked by <@{DEPLOYER2}> since" in reply.text
    assert ": db migration." in reply.text
    assert bot.slack.channel(CHANNEL) == []
    # The holder may deploy; the plan card shows who holds the lock.
    bot.command("/deploy service-a v1.3.0", user=DEPLOYER2)
    assert f"lock: <@{DEPLOYER2}>" in bot.card_text(bot.last_card())


def test_only_the_holder_or_an_admin_can_unlock(bot: Bot) -> None:
    bot.command("/ops lock service-a", user=DEPLOYER2)
    assert "only they or an admin" in bot.command("/ops unlock service-a", user=DEPLOYER).text
    assert "is unlocked" in bot.command("/ops unlock service-a", user=ADMIN).text
    assert bot.command("/deploy service-a v1.3.0", user=DEPLOYER).text == ""


def test_lock_race_between_two_deployers_has_one_winner(bot: Bot) -> None:
    state = harness.stores()
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}

    def take(user: str) -> None:
        barrier.wait()
        try:
            state.locks.acquire("production", "service-a", user, "race", 600)
            results[user] = "won"
        except LockedError as error:
            results[user] = f"lost to {error.lock.holder}"

    threads = [threading.Thread(target=take, args=(u,)) for u in (DEPLOYER, DEPLOYER2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results.values())[1] == "won"
    loser = next(u for u, r in results.items() if r != "won")
    winner = next(u for u, r in results.items() if r == "won")
    assert results[loser] == f"lost to {winner}"


def test_an_expired_lock_is_free_to_take(bot: Bot) -> None:
    state = harness.stores()
    state.locks.acquire("production", "service-a", DEPLOYER2, "old", ttl_seconds=-5)
    assert state.locks.get("production", "service-a") is None
    assert state.locks.acquire("production", "service-a", DEPLOYER, "new", 600).holder == DEPLOYER


def test_a_deploy_takes_the_lock_while_it_rolls_out(bot: Bot) -> None:
    card, plan_id = plan(bot, "/deploy service-a v1.3.0")
    bot.click("plan_confirm", plan_id, card.ts)
    lock = harness.stores().locks.get("production", "service-a")
    assert lock is not None
    assert lock.holder == DEPLOYER
    # Another deploy waits for this one: its card is still rolling out (and the lock is held).
    assert "is rolling out revision 4" in bot.command("/deploy service-a v1.1.0", user=DEPLOYER2).text


@pytest.mark.parametrize("config_dict", [config_data(protected=False)])
def test_an_environment_without_confirmation_runs_at_once_but_still_once(bot: Bot) -> None:
    reply = bot.command("/scale service-b 5", user=OPERATOR)
    assert ecs_service("service-b")["desiredCount"] == 5
    card = bot.last_card()
    assert "Run by" in bot.card_text(card)
    assert not [b for b in card.blocks if b["type"] == "actions"]
    assert reply.status == 200


def test_audit_shows_requests_decisions_and_outcomes(bot: Bot) -> None:
    card, plan_id = plan(bot, "/scale service-b 3", user=OPERATOR)
    bot.click("plan_confirm", plan_id, card.ts, user=OPERATOR)
    bot.command("/deploy service-a v1.3.0", user=VIEWER)
    reply = bot.command("/ops audit service-b", user=VIEWER)
    blob = str(reply.responses)
    for decision in ("planned", "confirmed", "executed"):
        assert f"*{decision}*" in blob
    everything = str(bot.command("/ops audit", user=VIEWER).responses)
    assert "*denied*" in everything


GROUP_CONFIG = config_data()
GROUP_CONFIG["environments"][0]["roles"]["deployer"] = ["S0PLATFORM"]


@pytest.mark.parametrize("config_dict", [GROUP_CONFIG])
def test_roles_granted_to_a_user_group_apply_to_its_members(bot: Bot) -> None:
    bot.slack.state.user_groups["S0PLATFORM"] = ["U0GROUPIE"]
    assert bot.command("/deploy service-a v1.3.0", user="U0GROUPIE").text == ""
    assert "`v1.2.0` → `v1.3.0`" in bot.card_text(bot.last_card())
    assert "needs the *deployer* role" in bot.command("/deploy service-a v1.3.0", user="U0OUTSIDER").text
    # Membership is read once and cached for a few minutes, not on every click.
    assert [c.params["usergroup"] for c in bot.slack.calls("usergroups.users.list")] == ["S0PLATFORM"]


def test_a_retried_slash_command_makes_one_plan_card(bot: Bot) -> None:
    body = (
        "command=%2Fdeploy&text=service-a+v1.3.0&user_id=U0DEPLOYER&channel_id=C0OPS&team_id=T0TEST"
        f"&trigger_id=same-trigger&response_url={bot.slack.response_url('retry')}"
    )
    now = int(time.time())
    for copy in range(3):
        # Each delivery signed at its own second: a verbatim copy (same signature) is refused as a replay
        # before the app sees it (tests/reliability/test_replays.py); this is about copies that reach it.
        assert bot.send(body, signed_headers(body, timestamp=now - copy))[0] == 200
        bot.drain()
    cards = [m for m in bot.slack.channel(CHANNEL) if any(b["type"] == "actions" for b in m.blocks)]
    assert len(cards) == 1


def test_an_unexpected_failure_during_a_change_is_reported_without_a_traceback(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.platform import Platform

    def broken(*_: object, **__: object) -> None:
        raise KeyError("deployments")

    monkeypatch.setattr(Platform, "update_service", broken)
    card, plan_id = plan(bot, "/rollback service-a")
    reply = bot.click("plan_confirm", plan_id, card.ts)
    assert "The change failed on the bot's side" in reply.text
    assert "Traceback" not in card_now(bot, card.ts)
    assert ":x:" in card_now(bot, card.ts)
    assert harness.stores().audit.trail("production", "service-a")[0].decision == "failed"
    # The lock the rollback took is released again.
    assert harness.stores().locks.get("production", "service-a") is None
