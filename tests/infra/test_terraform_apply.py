"""infra/ applied for real (terraform apply, example variables) into moto, then the bot operates exactly that.

The apply happens once a run (tfreal.applied(): a file lock across pytest-xdist workers, moto in server mode
as a process of its own, with the extensions tests/infra/motoserver.py documents). The bot is the deployed
Slack function in-process (tests/harness.py), configured with config/example.yaml unchanged, its boto3
pointed at that moto server: every name it uses comes from its config, every resource from Terraform.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from cfnlint.decode import decode_str
from harness import BOT_TOKEN, DEPLOYER, SIGNING_SECRET, VIEWER, Bot
from moto import mock_aws

from bot.config import Config, parse_config
from sandbox.seed import alarm_names, create_state_table, manifest, seed
from sandbox.slack_api import SlackStandIn

from .tfchecks import SUMMARY_LINES
from .tfreal import ACCOUNT, IMAGE_TAG, REGION, REPO, Applied, applied

pytestmark = pytest.mark.slow

CONFIG_FILE = REPO / "config" / "example.yaml"
NEW_TAG = "v2.0.0"  # what CI pushes next, for the /deploy plan


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    result = applied(tmp_path_factory)
    SUMMARY_LINES.append(
        "terraform apply into moto (once a run): "
        + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in result.seconds.items())
        + (f"; a second attempt, after: {result.retried}" if result.retried else "")
    )
    return result


@pytest.fixture(scope="module")
def config() -> Config:
    return parse_config(yaml.safe_load(CONFIG_FILE.read_text()))


@pytest.fixture(scope="module")
def aws(platform: Applied) -> Iterator[Any]:
    """boto3 clients on the moto server Terraform applied into: aws("ecs")."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": platform.endpoint_url,
        }.items():
            patch.setenv(name, value)
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_LAMBDA_FUNCTION_NAME"):
            patch.delenv(name, raising=False)
        yield lambda service: boto3.client(service, region_name=REGION, endpoint_url=platform.endpoint_url)


@pytest.fixture(scope="module")
def bot(platform: Applied, config: Config, aws: Any) -> Iterator[Bot]:
    """The Slack function with config/example.yaml, its AWS the applied platform (plus its own state table)."""
    import handlers.slack

    try:
        create_state_table(config, platform.endpoint_url)  # template.yaml's, not infra/'s
    except aws("dynamodb").exceptions.ResourceInUseException:
        pass  # the other pytest-xdist worker made it
    slack = SlackStandIn().start()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "OPSBOT_CONFIG_FILE": str(CONFIG_FILE),
            "OPSBOT_STRICT_ACTIONS": "1",  # every AWS call must be one bot/permissions.py grants
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": slack.api_url,
            "OPSBOT_LAZY": "thread",
        }.items():
            patch.setenv(name, value)
        handlers.slack.reset()
        harness = Bot(slack)
        yield harness
        harness.drain()
        handlers.slack.reset()
    slack.stop()


def blocks_text(reply: Any) -> str:
    parts = [reply.text]
    for response in reply.responses:
        for block in response.get("blocks", []):
            text = block.get("text")
            parts.append(str(text.get("text", "")) if isinstance(text, dict) else str(text or ""))
            parts += [str(e.get("text", "")) for e in block.get("elements", []) if isinstance(e, dict)]
            parts += [str(f.get("text", "")) for f in block.get("fields", []) if isinstance(f, dict)]
    return "\n".join(parts)


# --------------------------------------------------------------------------- what Terraform created


def test_apply_created_the_platform_the_bot_config_names(platform: Applied, config: Config) -> None:
    outputs = platform.outputs
    assert outputs["cluster_name"] == config.cluster()
    targets = {t.name: t for t in config.targets()}
    assert set(outputs["ecs_service_names"]) == set(targets) == {"service-a", "service-b"}
    for name, target in targets.items():
        assert outputs["ecs_service_names"][name] == target.ecs_service
        assert outputs["task_definition_families"][name] == target.task_family
        assert outputs["log_group_names"][name] == target.log_group
        assert outputs["ecr_repository_urls"][name].endswith(f"/{target.ecr_repository}")
    assert len(platform.resources("aws_ecs_service")) == 2
    assert len(platform.resources("aws_appautoscaling_target")) == 2  # the one moto needed an extension for


# --------------------------------------------------------------------------- the bot against it


def test_status_lists_both_services_with_their_revisions(bot: Bot) -> None:
    reply = bot.command("/status", user=VIEWER)
    assert reply.status == 200
    text = blocks_text(reply)
    for service in ("service-a", "service-b"):
        assert f"*{service}*  revision 1, image `{IMAGE_TAG}`" in text, text


def test_deploy_plan_finds_the_repository_and_the_task_definition(bot: Bot, aws: Any, config: Config) -> None:
    [target] = [t for t in config.targets() if t.name == "service-a"]
    # What CI does before a deploy: push the image (a manifest is all ECR keeps of it).
    aws("ecr").put_image(
        repositoryName=target.ecr_repository, imageManifest=manifest(target.ecr_repository, NEW_TAG), imageTag=NEW_TAG
    )
    reply = bot.command(f"/deploy service-a {NEW_TAG}", user=DEPLOYER)
    assert reply.status == 200
    assert reply.text == "", reply.text  # no refusal: the plan card is the answer
    card = bot.card_text(bot.last_card())
    assert f"`{IMAGE_TAG}` → `{NEW_TAG}`" in card, card
    assert f"{target.task_family}:1" in card, card
    assert "Confirm" in card


def test_alarms_lists_the_eight_alarms_with_their_services(bot: Bot, platform: Applied, aws: Any) -> None:
    names = sorted(r["values"]["alarm_name"] for r in platform.resources("aws_cloudwatch_metric_alarm"))
    assert len(names) == 8  # 4 per service, less service-b's unhealthy-hosts (not behind the ALB), + the ALB's
    cloudwatch = aws("cloudwatch")
    for name in names:  # /alarms lists the alarms that are not OK: all of them fire (moto never evaluates)
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="threshold crossed")
    reply = bot.command("/alarms", user=VIEWER)
    lines = blocks_text(reply).splitlines()
    listed = {
        line.split("*")[1]: following.removeprefix("service: ")
        for line, following in itertools.pairwise(lines)
        if line.startswith(":rotating_light: *")
    }
    expected = {
        name: next((s for s in ("service-a", "service-b") if f"-{s}-" in name), "no known service") for name in names
    }
    assert listed == expected, "\n".join(lines)


def test_logs_reads_each_service_log_group(bot: Bot, aws: Any, config: Config) -> None:
    logs = aws("logs")
    for target in config.targets():
        stream = f"ecs/{target.container}/{uuid.uuid4().hex}"  # awslogs-stream-prefix "ecs", as ECS writes
        logs.create_log_stream(logGroupName=target.log_group, logStreamName=stream)
        logs.put_log_events(
            logGroupName=target.log_group,
            logStreamName=stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": f"hello from {target.name} in moto"}],
        )
    for target in config.targets():
        reply = bot.command(f"/logs {target.name} 15m", user=VIEWER)
        assert f"hello from {target.name} in moto" in str(reply.responses), reply.text


NO_VALUE = object()
# The stack made here is a single-account install (no WorkloadAlarmTopicArns): its optional statements are absent.
SINGLE_ACCOUNT_CONDITIONS = {"HasWorkloadTopics": False}


def resolve(value: Any, refs: dict[str, str], attributes: dict[tuple[str, str], str]) -> Any:
    """CloudFormation's Ref, Fn::GetAtt, Fn::Sub (of refs) and Fn::If (SINGLE_ACCOUNT_CONDITIONS), enough for the
    relay queue's few properties."""
    if isinstance(value, dict) and len(value) == 1:
        [(function, argument)] = value.items()
        if function == "Ref":
            return NO_VALUE if argument == "AWS::NoValue" else refs[argument]
        if function == "Fn::GetAtt":
            return attributes[tuple(argument)]
        if function == "Fn::Sub":
            return re.sub(r"\$\{([^}]+)\}", lambda m: refs[m.group(1)], argument)
        if function == "Fn::If":
            condition, then, otherwise = argument
            return resolve(then if SINGLE_ACCOUNT_CONDITIONS[condition] else otherwise, refs, attributes)
    if isinstance(value, dict):
        return {key: resolve(item, refs, attributes) for key, item in value.items()}
    if isinstance(value, list):
        return [item for item in (resolve(item, refs, attributes) for item in value) if item is not NO_VALUE]
    return value


def sqs_attribute(value: Any) -> str:
    """A queue property as the SQS API takes it: JSON for a map (RedrivePolicy), "true" for True."""
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_the_relay_queue_of_template_yaml_subscribes_to_the_alarm_topic(platform: Applied, aws: Any) -> None:
    """template.yaml's AlarmQueue, AlarmQueuePolicy and AlarmSubscription (not in infra/), made as the stack
    would make them with AlarmTopicArn = Terraform's alarm_topic_arn, receive what reaches the topic."""
    topic_arn = platform.outputs["alarm_topic_arn"]
    [topic] = platform.resources("aws_sns_topic")
    policies = [r["values"]["policy"] for r in platform.resources("aws_sns_topic_policy")] + [topic["values"]["policy"]]
    for policy in policies:  # the topic's policy has no Deny that would stop the stack's subscription
        for statement in json.loads(policy)["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert statement["Effect"] != "Deny" or not {a.lower() for a in actions} & {"sns:subscribe", "sns:*", "*"}
    # The topic is encrypted with the platform key: CloudWatch must be able to use it to publish at all.
    [key] = [k for k in platform.resources("aws_kms_key") if k["values"]["arn"] == topic["values"]["kms_master_key_id"]]
    grants = [
        statement
        for statement in json.loads(key["values"]["policy"])["Statement"]
        if statement["Effect"] == "Allow" and statement["Principal"].get("Service") == "cloudwatch.amazonaws.com"
    ]
    granted = {a for st in grants for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
    assert "kms:Decrypt" in granted, grants
    assert any(a.startswith("kms:GenerateDataKey") for a in granted), grants

    template = decode_str((REPO / "template.yaml").read_text())[0]
    resources = template["Resources"]
    refs = {"ProjectName": "ecs-microservices", "EnvironmentName": "production", "AlarmTopicArn": topic_arn}
    sqs, sns = aws("sqs"), aws("sns")
    known: dict[tuple[str, str], str] = {}
    for logical_id in ("AlarmDeadLetterQueue", "AlarmQueue"):  # the queue's redrive names its DLQ
        queue = resolve(resources[logical_id]["Properties"], refs, known)
        attributes = {key: sqs_attribute(value) for key, value in queue.items() if key != "QueueName"}
        queue_url = sqs.create_queue(QueueName=queue["QueueName"], Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        known[(logical_id, "Arn")] = arn
    policy = resolve(resources["AlarmQueuePolicy"]["Properties"]["PolicyDocument"], refs, known)
    [statement] = policy["Statement"]
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == topic_arn  # Terraform's topic may send
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    subscription = resolve(resources["AlarmSubscription"]["Properties"], refs, known)
    sns.subscribe(
        TopicArn=subscription["TopicArn"],
        Protocol=subscription["Protocol"],
        Endpoint=subscription["Endpoint"],
        Attributes={"RawMessageDelivery": str(subscription["RawMessageDelivery"]).lower()},
    )
    alarm = {"AlarmName": "ecs-microservices-production-alb-5xx", "NewStateValue": "ALARM", "AWSAccountId": ACCOUNT}
    sns.publish(TopicArn=topic_arn, Message=json.dumps(alarm))
    messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2).get("Messages", [])
    envelopes = [json.loads(m["Body"]) for m in messages]
    assert [(e["TopicArn"], json.loads(e["Message"])) for e in envelopes] == [(topic_arn, alarm)]


# --------------------------------------------------------------------------- the sandbox's seed agrees


def names_in(resources: list[dict[str, Any]], key: str) -> set[str]:
    return {r["values"][key] for r in resources}


def test_the_sandbox_seeds_the_names_terraform_creates(platform: Applied, config: Config, tmp_path: Path) -> None:
    """sandbox/seed.py stands in for this apply (make run, the bot tests): the same cluster, services, task
    families, repositories, log groups, alarms and topic, so the two cannot drift."""
    terraform = {
        "cluster": names_in(platform.resources("aws_ecs_cluster"), "name"),
        "services": names_in(platform.resources("aws_ecs_service"), "name"),
        "families": names_in(platform.resources("aws_ecs_task_definition"), "family"),
        "repositories": names_in(platform.resources("aws_ecr_repository"), "name"),
        "log_groups": {n for n in names_in(platform.resources("aws_cloudwatch_log_group"), "name") if "/ecs/" in n},
        "alarms": names_in(platform.resources("aws_cloudwatch_metric_alarm"), "alarm_name"),
        "topic": names_in(platform.resources("aws_sns_topic"), "name"),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with mock_aws():
            seeded = seed(config)
            ecs, ecr = boto3.client("ecs", region_name=REGION), boto3.client("ecr", region_name=REGION)
            [cluster_arn] = ecs.list_clusters()["clusterArns"]
            service_arns = ecs.list_services(cluster=cluster_arn)["serviceArns"]
            logs = boto3.client("logs", region_name=REGION).describe_log_groups(logGroupNamePrefix="/ecs/")
            alarms = boto3.client("cloudwatch", region_name=REGION).describe_alarms()["MetricAlarms"]
            sandbox = {
                "cluster": {cluster_arn.rpartition("/")[2]},
                "services": {
                    s["serviceName"]
                    for s in ecs.describe_services(cluster=cluster_arn, services=service_arns)["services"]
                },
                "families": set(ecs.list_task_definition_families()["families"]),
                "repositories": {r["repositoryName"] for r in ecr.describe_repositories()["repositories"]},
                "log_groups": {g["logGroupName"] for g in logs["logGroups"]},
                "alarms": {a["AlarmName"] for a in alarms if not a["AlarmName"].startswith("TargetTracking-")},
                "topic": {seeded.topic_arn.rpartition(":")[2]},
            }
    assert sandbox == terraform
    assert set(seeded.alarm_names) == terraform["alarms"]
    assert {n for group in alarm_names(config).values() for n in group} == terraform["alarms"]
    assert all(arn.startswith(f"arn:aws:ecs:{REGION}:{ACCOUNT}:") for arn in service_arns)
