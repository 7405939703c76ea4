"""The live deploy card: ECS deployment state change events (EventBridge shape) through handlers.deployments."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from harness import CHANNEL, DEPLOYER, DEPLOYER2, Bot, deployment_event, ecs_service, lambda_context, stores


def deploy(bot: Bot) -> tuple[str, str, str]:
    bot.command("/deploy service-a v1.3.0")
    card = bot.last_card()
    bot.click("plan_confirm", bot.button(card, "plan_confirm")["value"], card.ts)
    service = ecs_service("service-a")
    return card.ts, service["serviceArn"], service["deployments"][0]["id"]


def card(bot: Bot, ts: str) -> Any:
    return next(m for m in bot.slack.channel(CHANNEL) if m.ts == ts)


def thread(bot: Bot, ts: str) -> list[str]:
    return [m.text for m in bot.slack.channel(CHANNEL) if m.thread_ts == ts]


def test_completed_updates_the_card_replies_with_duration_and_releases_the_lock(bot: Bot, deployments: Any) -> None:
    ts, arn, deployment_id = deploy(bot)
    handle = deployments.handler
    assert (
        handle(deployment_event(arn, "SERVICE_DEPLOYMENT_IN_PROGRESS", deployment_id), lambda_context())["result"]
        == "in_progress"
    )
    assert "Rollout: *in progress*" in bot.card_text(card(bot, ts))
    result = handle(deployment_event(arn, "SERVICE_DEPLOYMENT_COMPLETED", deployment_id, minutes=3), lambda_context())
    assert result["result"] == "completed"
    assert "Rollout: *completed*" in bot.card_text(card(bot, ts))
    replies = thread(bot, ts)
    assert len(replies) == 1
    assert "Completed in 3m" in replies[0]
    state = stores()
    assert state.locks.get("production", "service-a") is None
    newest = state.history.revisions("production", "service-a")[0]
    assert newest.number == 4
    assert newest.known_good
    # The same COMPLETED delivered again does nothing more.
    again = handle(deployment_event(arn, "SERVICE_DEPLOYMENT_COMPLETED", deployment_id), lambda_context())
    assert again["result"] == "ignored"
    assert len(thread(bot, ts)) == 1
    # Someone else may deploy now.
    assert bot.command("/deploy service-a v1.1.0", user=DEPLOYER2).text == ""


def test_failed_shows_the_circuit_breaker_reason_and_a_roll_back_button(bot: Bot, deployments: Any) -> None:
    ts, arn, deployment_id = deploy(bot)
    reason = "ECS deployment circuit breaker: tasks failed to start. Rolling back to the previous deployment."
    result = deployments.handler(
        deployment_event(arn, "SERVICE_DEPLOYMENT_FAILED", deployment_id, reason, minutes=1), lambda_context()
    )
    assert result["result"] == "failed"
    shown = card(bot, ts)
    text = bot.card_text(shown)
    assert "Rollout: *failed*" in text
    assert "circuit breaker: tasks failed to start" in text
    button = bot.button(shown, "rollback_request")
    assert button["value"] == "production:service-a"
    assert "Failed after 1m" in thread(bot, ts)[0]
    state = stores()
    assert state.locks.get("production", "service-a") is None
    # The button plans a rollback to the revision that ran before (3), through the same safety path.
    bot.click("rollback_request", button["value"], ts, user=DEPLOYER)
    plan_card = bot.last_card()
    assert "service-a:4` → `ecs-microservices-production-service-a:3" in bot.card_text(plan_card)


def test_events_for_deployments_the_bot_did_not_start_are_ignored(bot: Bot, deployments: Any) -> None:
    ts, arn, _ = deploy(bot)
    before = bot.card_text(card(bot, ts))
    other = deployments.handler(deployment_event(arn, "SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/999"), lambda_context())
    unknown = deployments.handler(
        deployment_event(arn.replace("service-a", "service-b"), "SERVICE_DEPLOYMENT_FAILED", "ecs-svc/1"),
        lambda_context(),
    )
    assert other["result"] == "ignored"
    assert unknown["result"] == "ignored"
    assert bot.card_text(card(bot, ts)) == before


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"source": "aws.ecs", "detail-type": "ECS Task State Change", "detail": {}},
        {
            "source": "aws.ecs",
            "detail-type": "ECS Deployment State Change",
            "detail": {"eventName": "X"},
            "resources": ["a"],
        },
        {"source": "aws.ecs", "detail-type": "ECS Deployment State Change", "resources": []},
    ],
)
def test_other_events_never_crash(bot: Bot, deployments: Any, event: dict[str, Any]) -> None:
    assert deployments.handler(event, lambda_context())["result"] == "ignored"


def test_the_deployer_is_named_on_the_card(bot: Bot, deployments: Any) -> None:
    ts, arn, deployment_id = deploy(bot)
    deployments.handler(deployment_event(arn, "SERVICE_DEPLOYMENT_COMPLETED", deployment_id), lambda_context())
    assert f"<@{DEPLOYER}>" in bot.card_text(card(bot, ts))


# --- issue 15, 2: no deploy card stays "in progress" forever ------------------------------------------


def test_a_second_deploy_while_one_rolls_out_is_refused(bot: Bot) -> None:
    """Two deploys confirmed back to back were both allowed: the second took over the first one's card,
    which then said "in progress" forever, with no outcome in its audit."""
    deploy(bot)
    reply = bot.command("/deploy service-a v1.1.0", user=DEPLOYER)
    assert "service-a (production) is rolling out revision 4 since" in reply.text
    assert f"by <@{DEPLOYER}>" in reply.text
    assert "Wait until its card says completed or failed" in reply.text
    assert len([m for m in bot.slack.channel(CHANNEL) if m.thread_ts is None]) == 1


def test_a_rollback_during_a_rollout_supersedes_it_and_both_cards_end(bot: Bot, deployments: Any) -> None:
    """The alarm right after a deploy: rolling back must not wait for the rollout, and the interrupted
    rollout's card must not stay "in progress"."""
    first, arn, deployment_id = deploy(bot)
    bot.command("/rollback service-a", user=DEPLOYER)
    plan = bot.last_card()
    bot.click("plan_confirm", bot.button(plan, "plan_confirm")["value"], plan.ts)
    assert ecs_service("service-a")["taskDefinition"].endswith(":3")
    superseded = bot.card_text(card(bot, first))
    assert "Rollout: *superseded*" in superseded
    assert f"Superseded by a rollback to revision 3 by <@{DEPLOYER}>" in superseded
    assert any("Superseded by a rollback" in t for t in thread(bot, first))
    state = stores()
    assert "superseded" in [e.decision for e in state.audit.trail("production", "service-a")]
    # The rollback's own card ends with the next event, and the lock the deploy took is released with it.
    assert (
        deployments.handler(deployment_event(arn, "SERVICE_DEPLOYMENT_COMPLETED", deployment_id), lambda_context())[
            "result"
        ]
        == "completed"
    )
    assert "Rollout: *completed*" in bot.card_text(card(bot, plan.ts))
    assert state.locks.get("production", "service-a") is None


@pytest.fixture
def schedule(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The one-minute schedule's function (escalations and the deploy-card sweep), on a settable clock."""
    import handlers.escalation

    now = [time.time()]
    from handlers.runtime import Clocks

    handlers.escalation.reset(Clocks(wall=lambda: now[0]))
    yield SimpleNamespace(run=lambda: handlers.escalation.handler({}, lambda_context("EscalationFunction")), now=now)
    handlers.escalation.reset()


def test_a_card_no_event_ended_is_settled_from_ecs_after_the_services_timeout(bot: Bot, schedule: Any) -> None:
    """An ECS event lost on the way left the card "in progress" and the lock held: the one-minute sweep asks
    ECS once the service's deploy_timeout_minutes (30) have passed without an event."""
    ts, _, _ = deploy(bot)
    schedule.now[0] += 29 * 60
    assert schedule.run()["deploy_cards_settled"] == []
    assert "Rollout: *in progress*" in bot.card_text(card(bot, ts))
    schedule.now[0] += 2 * 60
    assert schedule.run()["deploy_cards_settled"] == ["completed"]
    assert "Rollout: *completed*" in bot.card_text(card(bot, ts))
    assert "no event arrived: settled by asking ECS" in bot.card_text(card(bot, ts))
    state = stores()
    assert state.locks.get("production", "service-a") is None
    assert state.audit.trail("production", "service-a")[0].decision == "completed"
    assert schedule.run()["deploy_cards_settled"] == []  # settled once
    assert bot.command("/deploy service-a v1.1.0", user=DEPLOYER2).text == ""


def test_a_cards_roll_back_button_pressed_again_after_a_cancel_makes_a_new_plan(bot: Bot, deployments: Any) -> None:
    """The button's plan was keyed on the card, the button and its value only: once its plan was cancelled,
    pressing Roll back again quietly did nothing. Each press is a request of its own (its action_ts)."""
    ts, arn, deployment_id = deploy(bot)
    deployments.handler(
        deployment_event(arn, "SERVICE_DEPLOYMENT_FAILED", deployment_id, "tasks failed"), lambda_context()
    )
    button = bot.button(card(bot, ts), "rollback_request")
    for _ in range(2):
        assert bot.click("rollback_request", button["value"], ts).text == ""
        plan = bot.last_card()
        assert "Plan: Roll back service-a" in bot.card_text(plan)
        bot.click("plan_cancel", bot.button(plan, "plan_cancel")["value"], plan.ts)
        assert "Cancelled" in bot.card_text(card(bot, plan.ts))
    plans = [m for m in bot.slack.channel(CHANNEL) if m.thread_ts is None and "Roll back service-a" in bot.card_text(m)]
    assert len(plans) == 2
