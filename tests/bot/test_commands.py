"""Each command end to end: signed Slack requests into handlers.slack.handler, moto behind it."""

from __future__ import annotations

import urllib.parse
from typing import Any

import boto3
import pytest
from harness import ADMIN, CHANNEL, DEPLOYER, OPERATOR, VIEWER, Bot, container_image, ecs_service, signed_headers

from bot.aws import is_platform_mutation, recorded_calls


def plan_and_confirm(bot: Bot, text: str, user: str = DEPLOYER, confirmer: str | None = None) -> str:
    """Type a mutating command, press Confirm; returns the final card's text."""
    reply = bot.command(text, user=user)
    assert reply.status == 200
    assert reply.text == "", reply.text  # nothing went wrong: the plan card is the answer
    card = bot.last_card()
    value = bot.button(card, "plan_confirm")["value"]
    bot.click("plan_confirm", value, card.ts, user=confirmer or user)
    return bot.card_text(next(m for m in bot.slack.channel(CHANNEL) if m.ts == card.ts))


def test_deploy_plans_first_and_changes_nothing_until_confirmed(bot: Bot) -> None:
    with recorded_calls() as calls:
        reply = bot.command("/deploy service-a v1.3.0")
    assert reply.status == 200
    assert not [c for c in calls if is_platform_mutation(c)]
    card = bot.last_card()
    text = bot.card_text(card)
    assert "`v1.2.0` → `v1.3.0`" in text
    assert "ecs-microservices-production-service-a:3" in text
    assert "Confirm" in text
    assert "Cancel" in text
    assert ecs_service("service-a")["taskDefinition"].endswith(":3")


def test_deploy_registers_a_revision_with_only_the_image_changed_and_updates_the_service(bot: Bot) -> None:
    before = ecs_service("service-a")["taskDefinition"]
    final = plan_and_confirm(bot, "/deploy service-a v1.3.0")
    after = ecs_service("service-a")["taskDefinition"]
    assert after.endswith(":4")
    assert container_image(after).endswith("ecs-microservices-production-service-a:v1.3.0")
    ecs = boto3.client("ecs", region_name="us-east-1")
    old = ecs.describe_task_definition(taskDefinition=before)["taskDefinition"]
    new = ecs.describe_task_definition(taskDefinition=after)["taskDefinition"]
    for key in ("cpu", "memory", "executionRoleArn", "taskRoleArn", "networkMode"):
        assert old[key] == new[key]
    env = {e["name"]: e["value"] for e in new["containerDefinitions"][0]["environment"]}
    assert env["APP_VERSION"] == "v1.3.0"
    assert "Rollout: *in progress*" in final
    assert "service-a:4" in final
    assert f"Confirmed by <@{DEPLOYER}>" in final


def test_deploy_without_tag_takes_the_newest_pushed_tag_and_says_so(bot: Bot) -> None:
    bot.command("/deploy service-a")
    text = bot.card_text(bot.last_card())
    assert "`v1.2.0` → `v1.3.0`" in text
    assert "`v1.3.0` is the newest pushed tag" in text


def test_deploy_of_an_unknown_tag_lists_the_five_newest_and_changes_nothing(bot: Bot) -> None:
    with recorded_calls() as calls:
        reply = bot.command("/deploy service-a v9.9.9")
    assert "Tag `v9.9.9` is not in the ECR repository" in reply.text
    assert "`v1.3.0`, `v1.2.0`, `v1.1.0`, `v1.0.0`" in reply.text
    assert not [c for c in calls if is_platform_mutation(c)]
    assert bot.slack.channel(CHANNEL) == []


def test_deploy_latest_is_refused_in_the_ack(bot: Bot) -> None:
    with recorded_calls() as calls:
        reply = bot.command("/deploy service-a latest")
    assert "`latest` cannot be deployed" in reply.ack["text"]
    assert calls == ["dynamodb:PutItem"]  # only the request's replay record (bot/replay.py): nothing of /deploy


def test_scale_sets_desired_count_and_pins_autoscaling_minimum(bot: Bot) -> None:
    final = plan_and_confirm(bot, "/scale service-b 4", user=OPERATOR)
    assert ecs_service("service-b")["desiredCount"] == 4
    aas = boto3.client("application-autoscaling", region_name="us-east-1")
    target = aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    bounds = {t["ResourceId"].rpartition("/")[2]: (t["MinCapacity"], t["MaxCapacity"]) for t in target}
    assert bounds["ecs-microservices-production-service-b"] == (4, 10)
    assert "desired tasks: `2` → `4`" in final
    assert "autoscaling min: `1` → `4`" in final


def test_scale_auto_restores_the_configured_minimum(bot: Bot) -> None:
    plan_and_confirm(bot, "/scale service-b 4", user=OPERATOR)
    final = plan_and_confirm(bot, "/scale service-b auto", user=OPERATOR)
    aas = boto3.client("application-autoscaling", region_name="us-east-1")
    targets = aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    mins = {t["ResourceId"].rpartition("/")[2]: t["MinCapacity"] for t in targets}
    assert mins["ecs-microservices-production-service-b"] == 1
    assert "autoscaling min: `4` → `1`" in final


def test_rollback_goes_to_the_revision_that_ran_before(bot: Bot) -> None:
    plan_and_confirm(bot, "/deploy service-a v1.3.0")  # revision 4, never reached steady state
    final = plan_and_confirm(bot, "/rollback service-a")
    # Revision 3 is the one that last ran: revision 4 never completed, so it is not "before".
    assert ecs_service("service-a")["taskDefinition"].endswith(":3")
    assert "service-a:4` → `ecs-microservices-production-service-a:3" in final


def test_rollback_without_a_deploy_goes_to_the_previous_revision_that_ran(bot: Bot) -> None:
    final = plan_and_confirm(bot, "/rollback service-a")
    assert ecs_service("service-a")["taskDefinition"].endswith(":2")
    assert "`v1.2.0` → `v1.1.0`" in final


def test_rollback_to_a_named_revision(bot: Bot) -> None:
    plan_and_confirm(bot, "/rollback service-a 1")
    assert ecs_service("service-a")["taskDefinition"].endswith(":1")


def test_rollback_to_a_revision_that_does_not_exist_is_explained(bot: Bot) -> None:
    reply = bot.command("/rollback service-a 77")
    assert "Describe task definition failed" in reply.text or "revision" in reply.text.lower()
    assert ecs_service("service-a")["taskDefinition"].endswith(":3")


def test_status_shows_tasks_revision_tag_and_last_change(bot: Bot) -> None:
    plan_and_confirm(bot, "/scale service-b 3", user=OPERATOR)
    reply = bot.command("/status", user=VIEWER)
    text = "\n".join(str(b.get("text", {}).get("text", "")) for r in reply.responses for b in r.get("blocks", []))
    assert "*service-a*  revision 3, image `v1.2.0`" in text
    assert "3 running / 3 desired" in text
    assert f"scale service-b 3 (production) by <@{OPERATOR}>" in text


def test_logs_show_recent_lines_with_a_console_link(bot: Bot) -> None:
    reply = bot.command("/logs service-a 30m", user=VIEWER)
    blob = str(reply.responses)
    assert "upstream timeout" in blob
    assert "console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/" in blob


def test_logs_with_a_filter_shows_only_matching_lines(bot: Bot) -> None:
    reply = bot.command("/logs service-a 1h timeout", user=VIEWER)
    blob = str(reply.responses)
    assert "upstream timeout" in blob
    assert "/health" not in blob


def all_alarms_ok() -> Any:
    """Every alarm of the seeded platform OK; returns the CloudWatch client."""
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    for alarm in cloudwatch.describe_alarms()["MetricAlarms"]:
        cloudwatch.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue="OK", StateReason="fine")
    return cloudwatch


def test_alarms_lists_alarms_not_ok_with_their_service(bot: Bot) -> None:
    all_alarms_ok().set_alarm_state(
        AlarmName="ecs-microservices-production-service-b-cpu-high", StateValue="ALARM", StateReason="CPU 93%"
    )
    reply = bot.command("/alarms", user=VIEWER)
    blob = str(reply.responses)
    assert "ecs-microservices-production-service-b-cpu-high" in blob
    assert "service: service-b" in blob
    assert "service-a-cpu-high" not in blob


def test_alarms_when_all_are_ok(bot: Bot) -> None:
    all_alarms_ok()
    reply = bot.command("/alarms", user=VIEWER)
    assert "All alarms in production are OK" in reply.text


@pytest.mark.parametrize("text", ["/ops help", "/ops", "/deploy help", "/ops help scale"])
def test_help_is_answered(bot: Bot, text: str) -> None:
    reply = bot.command(text, user=VIEWER)
    assert "Usage" in reply.text or "`/" in reply.text


@pytest.mark.parametrize("command", ["deploy", "scale", "rollback"])
def test_help_says_a_changing_command_alone_opens_its_form(bot: Bot, command: str) -> None:
    reply = bot.command(f"/ops help {command}", user=VIEWER)
    assert f"`/{command}` alone opens a form" in reply.text
    assert "opens a form" not in bot.command("/ops help status", user=VIEWER).text


def test_ops_umbrella_runs_the_same_commands(bot: Bot) -> None:
    bot.command("/ops deploy service-a v1.3.0")
    assert "`v1.2.0` → `v1.3.0`" in bot.card_text(bot.last_card())


def test_the_ack_answers_before_the_work_starts_and_the_work_answers_after(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behaviour only: the lazy work is held back until the ack has answered. How fast the ack is, is
    bench/ack_latency.py's to measure (warm p99 against a minimal Bolt app, in `make bench`)."""
    body = urllib.parse.urlencode(
        {
            "command": "/status",
            "text": "",
            "user_id": ADMIN,
            "channel_id": CHANNEL,
            "team_id": "T0TEST",
            "trigger_id": "t-1",
            "response_url": bot.slack.response_url("ack"),
        }
    )
    runner = bot.handler.get_handler().app.listener_runner.lazy_listener_runner
    start = runner.start
    held: list[tuple[Any, Any]] = []
    monkeypatch.setattr(runner, "start", lambda function, request: held.append((function, request)))
    status, _ = bot.send(body, signed_headers(body))
    assert status == 200
    assert held, "the ack handed the work to a lazy listener"
    assert bot.slack.responses() == [], "nothing answered before the work ran"
    for function, request in held:
        start(function, request)
    bot.drain()
    assert bot.slack.responses(), "the lazy listener answered through response_url after the ack"
