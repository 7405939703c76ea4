"""AWS failing under the bot: throttling (retried by botocore's adaptive mode, then a clear message),
AccessDenied, a service deleted and a revision deregistered between plan and confirm. Each ends in a
message that says what failed and what to do, and leaves nothing half-done."""

from __future__ import annotations

import boto3
from fixtures_bot import RetryWaits
from harness import ADMIN, CHANNEL, DEPLOYER, VIEWER, Bot, ecs_service, stores

from bot.aws import is_platform_mutation, recorded_calls

from .aws_faults import AwsFaults
from .counts import count

CLUSTER = "ecs-microservices-production-cluster"
FAMILY = "ecs-microservices-production-service-a"
# bot.aws.ClientFactory's max_attempts=5: botocore reads `retries.max_attempts` as retries after the first.
MAX_ATTEMPTS = 1 + 5


def assert_throttling_backoff(waits: list[float], retries: int) -> None:
    """botocore waited once before each retry of a throttled call, a random part of 1 s, 2 s, 4 s ... (its
    exponential backoff with jitter)."""
    assert len(waits) == retries, waits
    for wait, ceiling in zip(sorted(waits), [2**attempt for attempt in range(retries)], strict=True):
        assert 0 <= wait < ceiling, waits


def plan_deploy(bot: Bot, text: str = "/deploy service-a v1.3.0") -> tuple[str, str]:
    reply = bot.command(text, user=DEPLOYER)
    assert reply.text == "", reply.text
    card = bot.last_card()
    return card.ts, bot.button(card, "plan_confirm")["value"]


def revision_status(revision: int) -> str:
    ecs = boto3.client("ecs", region_name="us-east-1")
    return str(ecs.describe_task_definition(taskDefinition=f"{FAMILY}:{revision}")["taskDefinition"]["status"])


def lock_holder() -> str | None:
    lock = stores().locks.get("production", "service-a")
    return lock.holder if lock else None


def test_throttling_is_retried_by_the_adaptive_mode_and_the_answer_still_comes(
    bot: Bot, aws_faults: AwsFaults, retry_waits: RetryWaits
) -> None:
    fault = aws_faults.add("DescribeServices", "ThrottlingException", times=2)
    reply = bot.command("/status", user=VIEWER)
    count("aws faults", fault.sent)
    assert fault.sent == 2
    assert_throttling_backoff(retry_waits.aws, 2)
    assert "*service-a*" in str(reply.responses)
    assert "throttling" not in reply.text


def test_throttling_that_does_not_stop_gives_a_clear_message_and_undoes_the_half_made_deploy(
    bot: Bot, aws_faults: AwsFaults, retry_waits: RetryWaits
) -> None:
    ts, plan_id = plan_deploy(bot)
    fault = aws_faults.add("UpdateService", "ThrottlingException")
    with recorded_calls() as calls:
        reply = bot.click("plan_confirm", plan_id, ts, user=DEPLOYER)
    count("aws faults", fault.sent)
    assert calls.count("ecs:UpdateService") == 1  # one call by the bot ...
    assert fault.sent == MAX_ATTEMPTS  # ... every attempt botocore's retry mode allows, then it gives up
    assert_throttling_backoff(retry_waits.aws, MAX_ATTEMPTS - 1)
    assert "Update ECS service failed: AWS is throttling requests" in reply.text
    assert "Wait a minute and try again" in reply.text
    assert "was deregistered again" in reply.text
    assert calls.count("ecs:RegisterTaskDefinition") == 1
    assert calls.count("ecs:DeregisterTaskDefinition") == 1
    assert revision_status(4) == "INACTIVE"
    assert ecs_service("service-a")["taskDefinition"].endswith(":3")
    assert lock_holder() is None


def test_access_denied_is_named_as_a_permission_problem_and_nothing_changes(bot: Bot, aws_faults: AwsFaults) -> None:
    ts, plan_id = plan_deploy(bot)
    fault = aws_faults.add("RegisterTaskDefinition", "AccessDeniedException")
    with recorded_calls() as calls:
        reply = bot.click("plan_confirm", plan_id, ts, user=DEPLOYER)
    count("aws faults", fault.sent)
    assert fault.sent == 1  # not retried: waiting does not grant a permission
    assert "Register task definition failed: the bot's IAM role is not allowed to do this" in reply.text
    assert "permissions" in reply.text
    assert "ecs:UpdateService" not in calls
    assert ecs_service("service-a")["taskDefinition"].endswith(":3")
    assert lock_holder() is None


def test_access_denied_on_a_read_says_so(bot: Bot, aws_faults: AwsFaults) -> None:
    fault = aws_faults.add("DescribeAlarms", "AccessDenied", status=403)
    reply = bot.command("/alarms", user=VIEWER)
    count("aws faults", fault.sent)
    assert "Describe alarms failed: the bot's IAM role is not allowed to do this" in reply.text


def test_a_service_deleted_between_plan_and_confirm_is_reported_and_nothing_is_registered(bot: Bot) -> None:
    ts, plan_id = plan_deploy(bot)
    ecs = boto3.client("ecs", region_name="us-east-1")
    ecs.delete_service(cluster=CLUSTER, service=FAMILY, force=True)
    count("aws faults")
    with recorded_calls() as calls:
        reply = bot.click("plan_confirm", plan_id, ts, user=DEPLOYER)
    assert "is not an active service" in reply.text
    assert "/status" in reply.text
    assert [c for c in calls if is_platform_mutation(c)] == []
    assert lock_holder() is None
    card = next(m for m in bot.slack.channel(CHANNEL) if m.ts == ts)
    assert not [b for b in card.blocks if b["type"] == "actions"]  # no Confirm left to press again


def test_a_revision_deregistered_between_plan_and_confirm_is_not_rolled_back_to(bot: Bot) -> None:
    reply = bot.command("/rollback service-a", user=ADMIN)
    assert reply.text == "", reply.text
    card = bot.last_card()
    assert ":2" in bot.card_text(card)
    boto3.client("ecs", region_name="us-east-1").deregister_task_definition(taskDefinition=f"{FAMILY}:2")
    count("aws faults")
    with recorded_calls() as calls:
        reply = bot.click("plan_confirm", bot.button(card, "plan_confirm")["value"], card.ts, user=ADMIN)
    assert "deregistered" in reply.text
    assert "Plan again" in reply.text
    assert [c for c in calls if is_platform_mutation(c)] == []
    assert ecs_service("service-a")["taskDefinition"].endswith(":3")
    assert lock_holder() is None


def test_a_deploy_whose_current_revision_was_deregistered_meanwhile_still_deploys_cleanly(bot: Bot) -> None:
    """The new revision is a copy of the current one; a deregistered revision can still be read."""
    ts, plan_id = plan_deploy(bot)
    boto3.client("ecs", region_name="us-east-1").deregister_task_definition(taskDefinition=f"{FAMILY}:3")
    count("aws faults")
    reply = bot.click("plan_confirm", plan_id, ts, user=DEPLOYER)
    assert reply.text == "", reply.text
    assert ecs_service("service-a")["taskDefinition"].endswith(":4")
    assert revision_status(4) == "ACTIVE"
