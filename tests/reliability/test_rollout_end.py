"""The end of a rollout, as the deployment tracker settles it: it gives back only the lock its deploy took, and
a failing write on the way never leaves the card "in progress" for good."""

from __future__ import annotations

from typing import Any

from harness import ADMIN, CHANNEL, DEPLOYER, DEPLOYER2, Bot, deployment_event, ecs_service, lambda_context, stores

from .aws_faults import AwsFaults


def deployed(bot: Bot) -> tuple[str, dict[str, Any]]:
    assert bot.command("/deploy service-a v1.3.0", user=DEPLOYER).text == ""
    card = bot.last_card()
    bot.click("plan_confirm", bot.button(card, "plan_confirm")["value"], card.ts, user=DEPLOYER)
    service = ecs_service("service-a")
    event = deployment_event(service["serviceArn"], "SERVICE_DEPLOYMENT_COMPLETED", service["deployments"][0]["id"])
    return card.ts, event


def card_text(bot: Bot, ts: str) -> str:
    return bot.card_text(next(m for m in bot.slack.channel(CHANNEL) if m.ts == ts))


def lock_holder() -> str | None:
    lock = stores().locks.get("production", "service-a")
    return lock.holder if lock else None


def test_the_end_of_a_deploy_leaves_a_lock_someone_else_took_meanwhile(bot: Bot, deployments: Any) -> None:
    _, completed = deployed(bot)
    bot.command("/ops unlock service-a", user=ADMIN)
    assert ":lock:" in bot.command("/ops lock service-a production db migration", user=DEPLOYER2).text

    deployments.handler(completed, lambda_context())

    assert lock_holder() == DEPLOYER2


def test_the_end_of_a_deploy_leaves_the_deployers_own_lock_taken_meanwhile(bot: Bot, deployments: Any) -> None:
    _, completed = deployed(bot)
    assert ":lock:" in bot.command("/ops lock service-a production hold: db migration next", user=DEPLOYER).text

    deployments.handler(completed, lambda_context())

    lock = stores().locks.get("production", "service-a")
    assert lock is not None
    assert lock.reason == "hold: db migration next"


def test_the_end_of_a_deploy_gives_back_the_lock_it_took(bot: Bot, deployments: Any) -> None:
    _, completed = deployed(bot)
    assert lock_holder() == DEPLOYER

    deployments.handler(completed, lambda_context())

    assert lock_holder() is None


def test_a_lock_that_cannot_be_given_back_still_ends_the_rollout_on_its_card(
    bot: Bot, deployments: Any, aws_faults: AwsFaults
) -> None:
    ts, completed = deployed(bot)
    aws_faults.add("DeleteItem", "InternalServerError", status=500, matching=b"lock#")

    deployments.handler(completed, lambda_context())

    assert "Rollout: *completed*" in card_text(bot, ts)
    assert "completed" in {e.decision for e in stores().audit.trail("production", "service-a")}
    [entry] = [e for e in stores().audit.trail("production", "service-a") if e.decision == "completed"]
    assert entry.plan_id  # the rollout's end names its plan, as its other entries do


def test_a_plan_that_cannot_be_read_still_ends_the_rollout_on_its_card(
    bot: Bot, deployments: Any, aws_faults: AwsFaults
) -> None:
    ts, completed = deployed(bot)
    aws_faults.add("GetItem", "InternalServerError", status=500, matching=b"plan#")

    deployments.handler(completed, lambda_context())
    aws_faults.faults.clear()

    assert lock_holder() is None
    assert "completed" in {e.decision for e in stores().audit.trail("production", "service-a")}
    assert any(m.thread_ts == ts for m in bot.slack.channel(CHANNEL))  # the reply in the card's thread
