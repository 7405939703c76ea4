"""Issue 15, 1 and 3: a rollback never goes forward, and a deploy without a tag never picks a known-bad one.

The revision history (bot/history.py) records what became of each revision: it reached steady state, it
failed, it was rolled back from (by the circuit breaker, /rollback or a card's button). Everything here is
driven through the Lambda handlers: slash commands and clicks through handlers.slack, ECS deployment
events through handlers.deployments, alarms through handlers.alarms.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from harness import (
    CHANNEL,
    DEPLOYER,
    DEPLOYER2,
    Bot,
    config_data,
    deployment_event,
    ecs_service,
    lambda_context,
    state_table,
)

from bot.history import RevisionHistory
from sandbox.seed import DEFAULT_TAGS, SeedPlan

from .support import ALARM_CHANNEL, CLUSTER, PREFIX, AlarmsLambda, alarm_config, metric_alarm

RC = "v1.4.0-rc1"


@pytest.fixture
def seed_plan() -> SeedPlan:
    """The default platform (service-a runs :3, v1.2.0) with a newer pre-release tag pushed last."""
    return replace(SeedPlan(), tags=(*DEFAULT_TAGS, RC), pushed_days_ago=(40, 26, 12, 2, 0.1))


def history() -> RevisionHistory:
    return RevisionHistory(state_table())


def running() -> str:
    return str(ecs_service("service-a")["taskDefinition"]).rpartition(":")[2]


def plan_text(bot: Bot, text: str, user: str = DEPLOYER) -> tuple[Any, str]:
    reply = bot.command(text, user=user)
    assert reply.text == "", reply.text
    card = bot.last_card(CHANNEL)
    return card, bot.card_text(card)


def confirm(bot: Bot, card: Any, user: str = DEPLOYER, channel: str = CHANNEL) -> None:
    bot.click("plan_confirm", bot.button(card, "plan_confirm")["value"], card.ts, user=user, channel=channel)


def rollout_ends(deployments: Any, name: str, reason: str = "") -> dict[str, Any]:
    service = ecs_service("service-a")
    event = deployment_event(service["serviceArn"], name, service["deployments"][0]["id"], reason=reason)
    result: dict[str, Any] = deployments.handler(event, lambda_context("DeploymentsFunction"))
    return result


def circuit_breaker_puts_back(revision: int) -> None:
    """What ECS does when a deployment fails with the circuit breaker's rollback on (infra/)."""
    boto3.client("ecs", region_name="us-east-1").update_service(
        cluster=CLUSTER, service=f"{PREFIX}service-a", taskDefinition=f"{PREFIX}service-a:{revision}"
    )


@pytest.mark.parametrize("config_dict", [alarm_config()])
def test_a_rollback_never_goes_forward_after_the_circuit_breaker_restored_a_revision(
    alarms: AlarmsLambda, deployments: Any
) -> None:
    """The sequence of the issue: deploy v1.3.0 (:4), the alarm card's Roll back to :3, deploy v1.4.0-rc1
    (:5) which fails and the circuit breaker puts :3 back. The FAILED card offered Roll back, and it (and
    /rollback) planned v1.2.0 -> v1.3.0, :3 -> :4: re-applying the release just rolled back."""
    bot = alarms.bot
    card, _ = plan_text(bot, "/deploy service-a v1.3.0")
    confirm(bot, card)
    assert rollout_ends(deployments, "SERVICE_DEPLOYMENT_COMPLETED")["result"] == "completed"
    assert running() == "4"

    alarms.deliver(metric_alarm(at=datetime.now(UTC)))
    alarm_card = alarms.cards()[-1]
    button = alarms.buttons(alarm_card)["alarm_rollback"]
    assert button["text"]["text"] == "Roll back to revision 3"
    bot.click("alarm_rollback", button["value"], alarm_card.ts, user=DEPLOYER, channel=ALARM_CHANNEL)
    confirm(bot, bot.last_card(ALARM_CHANNEL), channel=ALARM_CHANNEL)
    assert running() == "3"
    rollout_ends(deployments, "SERVICE_DEPLOYMENT_COMPLETED")

    card, _ = plan_text(bot, f"/deploy service-a {RC}")
    confirm(bot, card)
    assert running() == "5"
    circuit_breaker_puts_back(3)
    rollout_ends(deployments, "SERVICE_DEPLOYMENT_FAILED", "ECS deployment circuit breaker: tasks failed to start.")
    failed = bot.card_text(next(m for m in bot.slack.channel(CHANNEL) if m.ts == card.ts))
    assert "The circuit breaker put revision 3 back" in failed
    with pytest.raises(AssertionError):
        bot.button(next(m for m in bot.slack.channel(CHANNEL) if m.ts == card.ts), "rollback_request")

    _, rollback = plan_text(bot, "/rollback service-a")
    assert ":3` → `ecs-microservices-production-service-a:2`" in rollback
    assert ":4`" not in rollback
    assert "last known-good: revision 2" in rollback

    records = {r.number: r for r in history().revisions("production", "service-a")}
    assert records[4].outcome().startswith(f"rolled back from by <@{DEPLOYER}>")
    assert "alarm card" in records[4].rolled_back_how
    assert records[5].rolled_back_how == "the circuit breaker"
    assert not records[5].known_good

    alarms.deliver(metric_alarm(at=datetime.now(UTC), name=f"{PREFIX}service-a-memory-high"))
    newest = alarms.cards()[-1]
    offered = [b["text"]["text"] for b in alarms.buttons(newest).values()]
    assert "Roll back to revision 4" not in offered
    assert "Roll back to revision 5" not in offered


def test_a_rollback_plan_says_why_it_chose_its_revision(bot: Bot) -> None:
    _, text = plan_text(bot, "/rollback service-a")
    assert "`…:3` → `…:2`".replace("…", "ecs-microservices-production-service-a") in text
    assert "last known-good: revision 2, `v1.1.0`, ran 23 h 58 min" in text  # the seed's day, less its start


@pytest.mark.parametrize("seed_plan", [replace(SeedPlan(), rolled_back=(2,))])
def test_the_revision_that_ran_before_is_skipped_when_it_was_rolled_back_from(bot: Bot) -> None:
    """Revision 2 was rolled back from: going back from :3 lands on :1, not on revision - 1."""
    _, text = plan_text(bot, "/rollback service-a")
    assert "ecs-microservices-production-service-a:1`" in text
    assert "last known-good: revision 1, `v1.0.0`" in text


@pytest.mark.parametrize("seed_plan", [replace(SeedPlan(), rolled_back=(1, 2))])
def test_with_no_known_good_revision_it_says_so_and_lists_what_became_of_each(bot: Bot) -> None:
    reply = bot.command("/rollback service-a", user=DEPLOYER)
    assert "has no known-good revision below 3 to roll back to" in reply.text
    assert "revision 3 `v1.2.0`: reached steady state" in reply.text
    assert "revision 2 `v1.1.0`: rolled back from" in reply.text
    assert bot.slack.channel(CHANNEL) == []


@pytest.mark.parametrize("seed_plan", [replace(SeedPlan(), ran=())])
def test_revisions_from_before_the_bot_are_offered_only_with_a_warning(bot: Bot) -> None:
    _, text = plan_text(bot, "/rollback service-a")
    assert "ecs-microservices-production-service-a:2`" in text
    assert "no record of how revision 2 ran" in text


def test_a_revision_that_does_not_exist_is_named_with_the_recent_ones(bot: Bot) -> None:
    """`/rollback service-a 99` answered "Describe task definition failed"."""
    reply = bot.command("/rollback service-a 99", user=DEPLOYER)
    assert "service-a (production) has no revision 99" in reply.text
    assert "Recent revisions: revision 3 `v1.2.0`: reached steady state" in reply.text
    assert "Describe task definition failed" not in reply.text


@pytest.mark.parametrize("seed_plan", [replace(SeedPlan(), rolled_back=(2,))])
def test_naming_a_revision_that_was_rolled_back_from_is_refused_with_the_way_to_release_it(bot: Bot) -> None:
    reply = bot.command("/rollback service-a 2", user=DEPLOYER)
    assert "Revision 2 (`v1.1.0`) of service-a was rolled back from" in reply.text
    assert "`/deploy service-a v1.1.0`" in reply.text


# --- issue 15, 3: /deploy without a tag -------------------------------------------------------------------


def test_without_a_tag_a_protected_environment_never_picks_a_pre_release(bot: Bot) -> None:
    _, text = plan_text(bot, "/deploy service-a")
    assert "`v1.2.0` → `v1.3.0`" in text
    assert f"`{RC}` (a pre-release; name it to deploy it here)" in text


@pytest.mark.parametrize("config_dict", [config_data(protected=False)])
def test_without_a_tag_a_tag_that_failed_is_skipped_and_the_plan_says_so(bot: Bot, deployments: Any) -> None:
    bot.command(f"/deploy service-a {RC}", user=DEPLOYER)  # runs at once: no confirmation here
    assert running() == "4"
    circuit_breaker_puts_back(3)
    rollout_ends(deployments, "SERVICE_DEPLOYMENT_FAILED", "ECS deployment circuit breaker: tasks failed to start.")
    bot.command("/deploy service-a", user=DEPLOYER2)
    card = bot.last_card(CHANNEL)
    text = bot.card_text(card)
    assert "`v1.2.0` → `v1.3.0`" in text
    assert f"skipped `{RC}` (rolled back from (the circuit breaker))" in text
    assert running() == "5"
