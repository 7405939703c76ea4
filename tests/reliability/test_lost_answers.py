"""AWS did the change, and its answer was lost on the way back (a 500 after ECS applied it, then the retries
refused): the bot must not take the change for failed, undo part of it, or tell the person it did not happen."""

from __future__ import annotations

from harness import DEPLOYER, Bot, ecs_service, stores

from .aws_faults import AwsFaults, Fault
from .test_aws_faults import lock_holder, plan_deploy, revision_status


def lose_update_service_answer(aws_faults: AwsFaults) -> Fault:
    lost = aws_faults.add("UpdateService", "InternalServerError", status=500, times=1, applied=True)
    aws_faults.add("UpdateService", "InternalServerError", status=500)  # botocore's retries: refused
    return lost


def test_a_deploy_whose_update_answer_was_lost_is_taken_as_made(bot: Bot, aws_faults: AwsFaults) -> None:
    ts, confirm = plan_deploy(bot)
    lose_update_service_answer(aws_faults)

    reply = bot.click("plan_confirm", confirm, ts, user=DEPLOYER)

    assert ecs_service("service-a")["taskDefinition"].endswith(":4")  # ECS applied it
    assert revision_status(4) == "ACTIVE"  # and the revision it now runs was not deregistered under it
    assert "failed" not in reply.text
    assert "Rolling out revision 4" in bot.card_text(bot.last_card())
    decisions = {e.decision for e in stores().audit.trail("production", "service-a")}
    assert "executed" in decisions
    assert "failed" not in decisions
    assert lock_holder() == DEPLOYER  # held until the rollout ends, as for any deploy


def test_a_deploy_whose_update_failed_and_whose_service_cannot_be_read_keeps_the_revision_and_says_so(
    bot: Bot, aws_faults: AwsFaults
) -> None:
    ts, confirm = plan_deploy(bot)
    lost = lose_update_service_answer(aws_faults)
    aws_faults.add("DescribeServices", "InternalServerError", status=500, after=lost)

    reply = bot.click("plan_confirm", confirm, ts, user=DEPLOYER)

    assert revision_status(4) == "ACTIVE"  # it may be what the service runs: never deregistered blind
    assert "not known" in reply.text
    assert "/status" in reply.text


def test_a_rollback_whose_update_answer_was_lost_is_taken_as_made(bot: Bot, aws_faults: AwsFaults) -> None:
    assert bot.command("/rollback service-a", user=DEPLOYER).text == ""
    card = bot.last_card()
    lose_update_service_answer(aws_faults)

    reply = bot.click("plan_confirm", bot.button(card, "plan_confirm")["value"], card.ts, user=DEPLOYER)

    assert ecs_service("service-a")["taskDefinition"].endswith(":2")
    assert "failed" not in reply.text
    decisions = {e.decision for e in stores().audit.trail("production", "service-a")}
    assert "executed" in decisions
    assert "failed" not in decisions
