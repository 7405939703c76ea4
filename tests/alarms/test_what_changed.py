"""Issue 19.3: "what changed" on an alarm card that followed a deploy: the diff of the two task-definition
revisions (image, environment and secret names, CPU/memory, ports), never a value."""

from __future__ import annotations

import copy
import json
import logging
import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from slack_payloads import problems

from bot.alarms.changed import MESSAGE_BLOCK_CHARS, WhatChanged, changed_reply, diff
from bot.alarms.store import AlarmCard, RecentDeploy
from bot.aws import ClientFactory
from bot.config import Config
from bot.history import RevisionHistory
from bot.platform import Platform
from sandbox.seed import Seeded

from .support import ALARM_CHANNEL, AlarmsLambda, metric_alarm

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecs-microservices-production-service-a"
ENV_SENTINEL = "s3cr3t-ENV-VALUE-7f1c"
SECRET_SENTINEL = "arn:aws:secretsmanager:us-east-1:123456789012:secret:SENTINEL-db-password-AbCdEf"
HOSTILE = ("<!channel>", "<http://x|y>", "<@U0EVIL>")


def definition(
    revision: int = 3,
    *,
    image: str = REPO + ":v1.2.0",
    env: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    cpu: str = "256",
    memory: str = "512",
    container_memory: int | None = 512,
    ports: tuple[int, ...] = (8000,),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A DescribeTaskDefinition `taskDefinition` of service-a, one container."""
    container: dict[str, Any] = {
        "name": "app",
        "image": image,
        "essential": True,
        "portMappings": [{"containerPort": p, "hostPort": p, "protocol": "tcp"} for p in ports],
        "environment": [{"name": k, "value": v} for k, v in (env or {"APP_VERSION": "v1.2.0"}).items()],
        "secrets": [{"name": k, "valueFrom": v} for k, v in (secrets or {}).items()],
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/service-a"}},
        **(extra or {}),
    }
    if container_memory is not None:
        container["memory"] = container_memory
    return {
        "taskDefinitionArn": f"arn:aws:ecs:us-east-1:123456789012:task-definition/svc-a:{revision}",
        "family": "svc-a",
        "revision": revision,
        "cpu": cpu,
        "memory": memory,
        "containerDefinitions": [container],
    }


def text_of(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


def reply(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    message = changed_reply(diff(before, after), "service-a", 3, 4)
    assert problems("chat.postMessage", message) == []
    return message


# --- the diff, each kind of change ---------------------------------------------------------------------


def test_an_image_tag_change_shows_old_and_new_tag_not_the_repository() -> None:
    changes = diff(definition(), definition(4, image=REPO + ":v1.3.0"))
    (container,) = changes.containers
    assert (container.image_tag.before, container.image_tag.after) == ("v1.2.0", "v1.3.0")  # type: ignore[union-attr]
    assert container.image_repository is None
    text = text_of(reply(definition(), definition(4, image=REPO + ":v1.3.0")))
    assert "`v1.2.0` → `v1.3.0`" in text
    assert "repository" not in text
    assert "service-a" in text
    assert "revision 3 → 4" in text


def test_a_new_image_repository_is_shown() -> None:
    other = "123456789012.dkr.ecr.us-east-1.amazonaws.com/other-repo:v1.2.0"
    (container,) = diff(definition(), definition(4, image=other)).containers
    assert container.image_repository is not None
    assert container.image_repository.after.endswith("/other-repo")
    assert container.image_tag is None
    assert "other-repo" in text_of(reply(definition(), definition(4, image=other)))


def test_environment_names_added_removed_and_changed_never_their_values() -> None:
    before = definition(env={"KEEP": ENV_SENTINEL, "GONE": ENV_SENTINEL + "-gone", "TUNED": ENV_SENTINEL + "-1"})
    after = definition(4, env={"KEEP": ENV_SENTINEL, "FRESH": ENV_SENTINEL + "-new", "TUNED": ENV_SENTINEL + "-2"})
    (container,) = diff(before, after).containers
    assert container.env_added == ("FRESH",)
    assert container.env_removed == ("GONE",)
    assert container.env_changed == ("TUNED",)
    text = text_of(reply(before, after))
    for name in ("FRESH", "GONE", "TUNED"):
        assert f"`{name}`" in text
    assert "KEEP" not in text  # unchanged: not in scope
    assert ENV_SENTINEL not in text
    assert ENV_SENTINEL not in repr(diff(before, after))  # nor in the diff a log line could print


def test_secrets_by_name_only_never_where_they_come_from() -> None:
    before = definition(secrets={"DB_PASSWORD": SECRET_SENTINEL, "OLD_TOKEN": SECRET_SENTINEL + "x"})
    after = definition(4, secrets={"DB_PASSWORD": SECRET_SENTINEL + "-v2", "API_KEY": SECRET_SENTINEL + "y"})
    (container,) = diff(before, after).containers
    assert (container.secrets_added, container.secrets_removed, container.secrets_changed) == (
        ("API_KEY",),
        ("OLD_TOKEN",),
        ("DB_PASSWORD",),
    )
    text = text_of(reply(before, after))
    assert "SENTINEL" not in text
    assert "secretsmanager" not in text
    assert "`API_KEY`" in text
    assert "`OLD_TOKEN`" in text
    assert "`DB_PASSWORD`" in text
    assert "SENTINEL" not in repr(diff(before, after))


def test_task_and_container_cpu_and_memory() -> None:
    before = definition(cpu="256", memory="512", container_memory=512, extra={"cpu": 128})
    after = definition(4, cpu="512", memory="1024", container_memory=1024, extra={"cpu": 128})
    changes = diff(before, after)
    assert changes.cpu is not None
    assert (changes.cpu.before, changes.cpu.after) == ("256", "512")
    assert changes.memory is not None
    assert (changes.memory.before, changes.memory.after) == ("512", "1024")
    (container,) = changes.containers
    assert container.memory is not None
    assert (container.memory.before, container.memory.after) == ("512", "1024")
    assert container.cpu is None  # unchanged
    text = text_of(reply(before, after))
    assert "`256` → `512`" in text
    assert "`512` → `1024`" in text


def test_ports_added_and_removed() -> None:
    (container,) = diff(definition(ports=(8000, 9000)), definition(4, ports=(8080, 9000))).containers
    assert container.ports_added == ("8080/tcp",)
    assert container.ports_removed == ("8000/tcp",)
    text = text_of(reply(definition(ports=(8000, 9000)), definition(4, ports=(8080, 9000))))
    assert "8080/tcp" in text
    assert "8000/tcp" in text
    assert "9000" not in text


def test_a_container_added_and_one_removed() -> None:
    before = definition()
    after = definition(4)
    sidecar = copy.deepcopy(after["containerDefinitions"][0]) | {"name": "envoy", "image": "envoyproxy/envoy:v1.30"}
    after["containerDefinitions"].append(sidecar)
    changes = diff(before, after)
    assert [(c.name, c.status) for c in changes.containers] == [("envoy", "added")]
    assert "envoy" in text_of(reply(before, after))
    assert [(c.name, c.status) for c in diff(after, before).containers] == [("envoy", "removed")]


def test_nothing_in_scope_changed_says_so() -> None:
    before = definition()
    after = definition(4, extra={"healthCheck": {"command": ["CMD", "true"]}, "readonlyRootFilesystem": True})
    changes = diff(before, after)
    assert changes.empty
    text = text_of(reply(before, after))
    assert "No differences in image, environment, CPU/memory or ports" in text


# --- what Slack receives: escaped, within its limits ----------------------------------------------------


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def test_hostile_names_are_escaped() -> None:
    names = {f"A{h}": ENV_SENTINEL for h in HOSTILE} | {"*bold*": ENV_SENTINEL, "x`*y*`z": ENV_SENTINEL}
    before = definition(env={}, image=REPO + ":v1")
    after = definition(4, env=names, image=REPO + ":<!channel>")
    after["containerDefinitions"][0]["name"] = "<!here>"
    before["containerDefinitions"][0]["name"] = "<!here>"
    message = reply(before, after)
    for text in strings(message):
        for raw in (*HOSTILE, "<!here>"):
            assert raw not in text
    whole = text_of(message)
    assert "&lt;!channel&gt;" in whole
    assert "&lt;http://x|y&gt;" in whole
    assert "`*bold*`" in whole  # inside code: shown as typed, never bold
    assert "x`*y*`z" not in whole  # a backtick cannot end the code span early
    assert ENV_SENTINEL not in whole


def test_many_long_names_stay_within_slacks_limits() -> None:
    env = {f"VAR_{i:04d}_" + "X" * 300: ENV_SENTINEL for i in range(600)}
    ports = tuple(range(1000, 1300))
    before = definition(env={}, ports=())
    after = definition(4, env=env, ports=ports)
    for _ in range(10):  # many containers too
        sidecar = copy.deepcopy(after["containerDefinitions"][0])
        sidecar["name"] = f"side-{len(after['containerDefinitions'])}"
        after["containerDefinitions"].append(sidecar)
    message = reply(before, after)
    assert len(message["blocks"]) <= 50
    assert len(json.dumps(message["blocks"])) <= MESSAGE_BLOCK_CHARS  # Slack refuses a bigger message whole
    assert "more" in text_of(message)
    assert ENV_SENTINEL not in text_of(message)


def test_many_containers_each_with_many_changes_stay_within_the_messages_size() -> None:
    names = [f"SETTING_{i:02d}_" + "Y" * 60 for i in range(40)]
    container = definition(env=dict.fromkeys(names, "old"), secrets={name + "_S": "arn:old" for name in names})
    changed = definition(4, env=dict.fromkeys(names, "new"), secrets={name + "_S": "arn:new" for name in names})
    before, after = copy.deepcopy(container), copy.deepcopy(changed)
    for n in range(1, 6):  # six containers, each with 80 names changed
        for whole, one in ((before, container), (after, changed)):
            sidecar = copy.deepcopy(one["containerDefinitions"][0])
            sidecar["name"] = f"side-{n}"
            whole["containerDefinitions"].append(sidecar)
    message = reply(before, after)
    assert len(json.dumps(message["blocks"])) <= MESSAGE_BLOCK_CHARS
    assert problems("chat.postMessage", message) == []
    assert re.search(r"\d+ more lines? not shown", text_of(message))


# --- with moto: the two revisions as ECS holds them ---------------------------------------------------


@pytest.fixture
def ecs(aws: Seeded) -> Any:
    return boto3.client("ecs", region_name="us-east-1")


def register_next(ecs: Any, config: Config, **changes: Any) -> int:
    """A new revision of service-a's family: the newest one with `changes` to its first container."""
    family = config.target("service-a").task_family
    current = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    keep = ("family", "requiresCompatibilities", "networkMode", "cpu", "memory", "executionRoleArn", "taskRoleArn")
    new = {k: current[k] for k in keep if k in current}
    new["containerDefinitions"] = [current["containerDefinitions"][0] | changes]
    return int(ecs.register_task_definition(**new)["taskDefinition"]["revision"])


def card(config: Config, deploy: RecentDeploy | None) -> AlarmCard:
    return AlarmCard(
        key="123456789012#us-east-1#ecs-microservices-production-service-a-cpu-high",
        name="ecs-microservices-production-service-a-cpu-high",
        channel=ALARM_CHANNEL,
        ts="1764158400.000100",
        incident="x@1",
        state="ALARM",
        changed_at=1.0,
        opened_at=1.0,
        env="production",
        service="service-a",
        region="us-east-1",
        deploy=deploy,
    )


def what_changed(config: Config) -> WhatChanged:
    from harness import state_table

    return WhatChanged(Platform(config, ClientFactory()), state_table())


def deploy_record(before: int, after: int) -> RecentDeploy:
    return RecentDeploy("U0DEPLOYER", 1.0, "deploy service-a v1.3.0", before, after, "v1.2.0", "v1.3.0")


def test_reply_for_a_card_after_a_deploy_diffs_the_two_revisions_in_ecs(ecs: Any, config: Config) -> None:
    before = ecs.describe_task_definition(taskDefinition=config.target("service-a").task_family)["taskDefinition"]
    environment = [*before["containerDefinitions"][0]["environment"], {"name": "FEATURE_X", "value": ENV_SENTINEL}]
    after = register_next(ecs, config, environment=environment, memory=1024)
    message = what_changed(config).reply_for(card(config, deploy_record(before["revision"], after)))
    assert message is not None
    assert problems("chat.postMessage", message) == []
    text = text_of(message)
    assert f"revision {before['revision']} → {after}" in text
    assert "`FEATURE_X`" in text
    assert ENV_SENTINEL not in text
    assert "`512` → `1024`" in text


def test_without_a_deploy_there_is_no_reply(aws: Seeded, config: Config) -> None:
    assert what_changed(config).reply_for(card(config, None)) is None


def test_a_record_without_the_previous_revision_takes_it_from_the_revision_history(ecs: Any, config: Config) -> None:
    family = config.target("service-a").task_family
    before = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    after = register_next(ecs, config, image=REPO + ":v9.9.9")
    from harness import state_table

    history = RevisionHistory(state_table())
    history.deployed("production", "service-a", f"{family}:{before['revision']}", REPO + ":v1.2.0", "U0X", at=1.0)
    history.ran("production", "service-a", f"{family}:{before['revision']}", at=2.0)
    message = what_changed(config).reply_for(card(config, deploy_record(0, after)))
    assert message is not None
    assert f"revision {before['revision']} → {after}" in text_of(message)
    assert "`v9.9.9`" in text_of(message)


def test_an_aws_failure_is_one_log_line_and_no_reply(
    ecs: Any, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.alarms.changed"):
        assert what_changed(config).reply_for(card(config, deploy_record(3, 999))) is None
    assert len([r for r in caplog.records if r.name == "bot.alarms.changed"]) == 1


# --- through handlers.alarms.handler: the reply in the card's thread ----------------------------------


def deploy_service_a(alarms: AlarmsLambda) -> None:
    bot = alarms.bot
    assert bot.command("/deploy service-a v1.3.0").text == ""
    plan = bot.last_card()
    bot.click("plan_confirm", bot.button(plan, "plan_confirm")["value"], plan.ts)


def replies(alarms: AlarmsLambda, card: Any) -> list[Any]:
    return [m for m in alarms.slack.channel(ALARM_CHANNEL) if m.thread_ts == card.ts]


def test_a_card_opened_after_a_deploy_gets_what_changed_in_its_thread_once(alarms: AlarmsLambda) -> None:
    deploy_service_a(alarms)
    alarm = metric_alarm(at=datetime.now(UTC) + timedelta(minutes=6))
    alarms.deliver(alarm)
    card = alarms.card()
    (reply,) = [m for m in replies(alarms, card) if "What changed" in m.text]
    text = text_of({"text": reply.text, "blocks": reply.blocks})
    assert "revision 3 → 4" in text
    assert "image tag `v1.2.0` → `v1.3.0`" in text
    alarms.deliver(alarm)  # the same notification again (SQS delivers at least once)
    assert len([m for m in replies(alarms, card) if "What changed" in m.text]) == 1


def test_a_card_with_no_deploy_before_it_gets_no_what_changed(alarms: AlarmsLambda) -> None:
    alarms.deliver(metric_alarm(at=datetime.now(UTC)))
    card = alarms.card()
    assert not [m for m in replies(alarms, card) if "What changed" in m.text]


class FlakySlack:
    """A SlackPort whose first `fail` posts are refused, as Slack does on a bad day."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.posts: list[tuple[str, dict[str, Any], str | None]] = []

    def post(self, channel: str, msg: dict[str, Any], thread_ts: str | None = None, broadcast: bool = False) -> str:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("Slack refused the post")
        self.posts.append((channel, msg, thread_ts))
        return "1764158400.000200"

    def update(self, channel: str, ts: str, msg: dict[str, Any]) -> None:
        raise AssertionError("what changed never edits")


def test_a_reply_that_could_not_be_read_or_posted_is_posted_when_the_notification_comes_again(
    ecs: Any, config: Config
) -> None:
    before = ecs.describe_task_definition(taskDefinition=config.target("service-a").task_family)["taskDefinition"]
    after = register_next(ecs, config, image=REPO + ":v9.9.9")
    changed = what_changed(config)
    slack = FlakySlack(fail=1)

    def opened_now(before_rev: int, after_rev: int) -> AlarmCard:  # its record lives as long as a card does
        return replace(card(config, deploy_record(before_rev, after_rev)), opened_at=time.time())

    assert not changed.reply_once(opened_now(before["revision"], 999), slack)  # no revision 999: nothing posted
    assert not changed.reply_once(opened_now(before["revision"], after), slack)  # Slack refuses the post
    assert changed.reply_once(opened_now(before["revision"], after), slack)  # SQS delivers it again: posted
    assert not changed.reply_once(opened_now(before["revision"], after), slack)  # and only once
    assert [thread for _, _, thread in slack.posts] == ["1764158400.000100"]
