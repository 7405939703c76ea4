"""infra/modules/workload_access: what the chat-ops bot of another account needs in this one (issue 21, item 1).

Two sources, both the real Terraform CLI:
- the apply into moto (tests/infra/tfreal.py applies infra/ with bot_access set, as a workload account would):
  the policies as the real provider renders them, compared with bot/permissions.py and checked against AWS's
  action database (tests/iam_database.py); then the forwarding of deployment events, in moto;
- `terraform test` with the mocked provider (infra/tests/workload_access.tftest.hcl): off by default, and the
  module's own refusals (a short or missing external id, a wildcard principal).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from deploy.checks import SCOPE_OF_SID
from iam_database import check_policies, check_statement, evaluate

from bot.permissions import Scope, workload_grants

from .mockplan import Results, results
from .tfchecks import REPO
from .tfreal import (
    ACCOUNT,
    BOT_ACCOUNT,
    BOT_ALARM_QUEUE_ARN,
    BOT_EVENT_BUS_ARN,
    BOT_EXTERNAL_ID,
    BOT_ROLE_ARNS,
    REGION,
    WORKLOAD_ALARM_TOPIC_ARN,
    Applied,
    applied,
)

pytestmark = pytest.mark.slow

FILE = "workload_access.tftest.hcl"
MODULE = "module.workload_access[0]"
PREFIX = "ecs-microservices-production"
CLUSTER = f"{PREFIX}-cluster"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    return applied(tmp_path_factory)


@pytest.fixture(scope="module")
def tftest(tmp_path_factory: pytest.TempPathFactory) -> Results:
    return results(tmp_path_factory)


def module_resource(platform: Applied, address: str) -> dict[str, Any]:
    """A resource of the module by its address inside it (`aws_iam_role.bot`), from the applied state."""
    [module] = [m for m in platform.state["values"]["root_module"]["child_modules"] if m["address"] == MODULE]
    [found] = [r["values"] for r in module["resources"] if r["address"] == f"{MODULE}.{address}"]
    return found


def document(text: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --------------------------------------------------------------------------- the role the bot assumes


def test_the_role_grants_exactly_what_bot_permissions_lists_for_the_platform(platform: Applied) -> None:
    policy = document(module_resource(platform, "aws_iam_role_policy.bot")["policy"])
    granted = {
        (action, SCOPE_OF_SID[statement["Sid"]])
        for statement in policy["Statement"]
        for action in as_list(statement["Action"])
    }
    listed = {(g.action, g.scope) for g in workload_grants()}
    assert granted == listed, f"missing {sorted(listed - granted)}, not listed {sorted(granted - listed)}"
    assert all(statement["Effect"] == "Allow" for statement in policy["Statement"])


def test_each_statement_is_scoped_to_this_platform_as_the_template_scopes_it(platform: Applied) -> None:
    policy = document(module_resource(platform, "aws_iam_role_policy.bot")["policy"])
    outputs = platform.outputs
    resources = {s["Sid"]: sorted(as_list(s["Resource"])) for s in policy["Statement"]}
    arn = f"{REGION}:{ACCOUNT}"
    assert resources == {
        "NoResourceLevelPermission": ["*"],
        "ClusterServices": [f"arn:aws:ecs:{arn}:service/{CLUSTER}/{PREFIX}-*"],
        "TaskAndExecutionRoles": sorted([*outputs["task_role_arns"].values(), outputs["execution_role_arn"]]),
        "EcrRepositories": sorted(outputs["ecr_repository_arns"].values()),
        "ScalableTargets": [f"arn:aws:application-autoscaling:{arn}:scalable-target/*"],
        "LogGroups": [f"arn:aws:logs:{arn}:log-group:/ecs/{PREFIX}-*"],
        "PlatformAlarms": [f"arn:aws:cloudwatch:{arn}:alarm:{PREFIX}-*"],
    }
    conditions = {s["Sid"]: s.get("Condition") for s in policy["Statement"] if s.get("Condition")}
    assert conditions == {
        "TaskAndExecutionRoles": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        "ScalableTargets": {
            "StringEquals": {
                "application-autoscaling:service-namespace": "ecs",
                "application-autoscaling:scalable-dimension": "ecs:service:DesiredCount",
            }
        },
    }
    # Every statement, its resources and conditions, as AWS's action database has them.
    assert check_policies({"workload role": policy}) == []
    assert all(g.scope is not Scope.STATE_TABLE for g in workload_grants())  # the bot's own stays at home


def test_a_statement_on_the_wrong_resource_type_would_be_reported() -> None:
    """The database check of the test above can fail: UpdateService on the cluster's ARN never matches."""
    problems = check_statement(
        {
            "Sid": "ClusterServices",
            "Effect": "Allow",
            "Action": ["ecs:UpdateService"],
            "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/{PREFIX}-*",
        }
    )
    assert any("ecs:UpdateService does not act on" in p for p in problems), problems


def test_the_role_trusts_only_the_bots_function_roles_with_the_external_id(platform: Applied) -> None:
    role = module_resource(platform, "aws_iam_role.bot")
    assert role["name"] == "opsbot-workload-access"
    assert platform.outputs["bot_access_role_arn"] == role["arn"]
    [statement] = document(role["assume_role_policy"])["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert sorted(as_list(statement["Principal"]["AWS"])) == sorted(BOT_ROLE_ARNS)
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": BOT_EXTERNAL_ID}}


# --------------------------------------------------------------------------- deployment events


def test_the_rule_forwards_the_clusters_deployment_events_to_the_bots_bus(platform: Applied) -> None:
    rule = module_resource(platform, "aws_cloudwatch_event_rule.deployments")
    assert rule["event_bus_name"] == "default"
    assert document(rule["event_pattern"]) == {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Deployment State Change"],
        "resources": [{"prefix": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/"}],
    }
    target = module_resource(platform, "aws_cloudwatch_event_target.bot_bus")
    forwarder = module_resource(platform, "aws_iam_role.forwarder")
    assert (target["arn"], target["role_arn"]) == (BOT_EVENT_BUS_ARN, forwarder["arn"])
    [trust] = document(forwarder["assume_role_policy"])["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnEquals": {"aws:SourceArn": rule["arn"]},
    }
    policy = document(module_resource(platform, "aws_iam_role_policy.forwarder")["policy"])
    assert [(s["Action"], s["Resource"]) for s in policy["Statement"]] == [("events:PutEvents", BOT_EVENT_BUS_ARN)]
    assert check_policies({"forwarder": policy, "forwarder trust": document(forwarder["assume_role_policy"])}) == []


@pytest.fixture(scope="module")
def clients(platform: Applied) -> tuple[Any, Any]:
    """(a boto3 client factory in the platform's account, one in the bot's), on the moto server."""
    common = {"region_name": REGION, "endpoint_url": platform.endpoint_url}
    workload = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    credentials = workload.client("sts", **common).assume_role(
        RoleArn=f"arn:aws:iam::{BOT_ACCOUNT}:role/admin", RoleSessionName="workload-access-test"
    )["Credentials"]
    bot = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    return (lambda service: workload.client(service, **common)), (lambda service: bot.client(service, **common))


def test_a_deployment_of_the_platform_reaches_the_bots_bus_and_other_clusters_do_not(
    platform: Applied, clients: tuple[Any, Any]
) -> None:
    """In moto: the platform's account puts ECS deployment events on its default bus; the applied rule sends
    those of its cluster to the bot account's bus, where a rule hands them to a queue (standing in for the
    template's WorkloadDeploymentsRule and its function).

    moto re-puts a forwarded event in the receiving account as a new event of that account, without its
    `resources` (real EventBridge keeps the event, its account and resources): so the bot's rule here matches
    on source and detail-type only, and the template's `account` match is checked in tests/deploy
    (test_workload_accounts.py)."""
    workload, bot = clients
    sqs = bot("sqs")
    queue_url = sqs.create_queue(QueueName="forwarded-deployments")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert queue_arn.split(":")[4] == BOT_ACCOUNT
    events = bot("events")
    events.put_rule(
        Name="forwarded-deployments",
        EventPattern=json.dumps({"source": ["aws.ecs"], "detail-type": ["ECS Deployment State Change"]}),
    )
    events.put_targets(Rule="forwarded-deployments", Targets=[{"Id": "queue", "Arn": queue_arn}])
    for cluster, deployment in ((CLUSTER, "ecs-svc/ours"), ("someone-elses-cluster", "ecs-svc/theirs")):
        service = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{PREFIX}-service-a"
        detail = {"eventType": "INFO", "eventName": "SERVICE_DEPLOYMENT_COMPLETED", "deploymentId": deployment}
        entry = {
            "Source": "aws.ecs",
            "DetailType": "ECS Deployment State Change",
            "Resources": [service],
            "Detail": json.dumps(detail),
        }
        assert workload("events").put_events(Entries=[entry])["FailedEntryCount"] == 0
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
    forwarded = [json.loads(m["Body"])["detail"]["deploymentId"] for m in messages]
    assert forwarded == ["ecs-svc/ours"]


# --------------------------------------------------------------------------- the alarm topic


def test_the_alarm_topic_lets_the_bots_queue_subscribe_and_cloudwatch_publish(platform: Applied) -> None:
    """AWS's cross-account SQS subscription: the queue's owner subscribes it, the topic's policy allows that
    account sns:Subscribe for that queue over SQS only. moto enforces no topic policy and delivers to a queue of
    the topic's own account (the subscription's), so the policy is checked as written and against the database;
    the alarms publishing to the topic are the monitoring module's, unchanged."""
    [policy] = [r["values"]["policy"] for r in platform.resources("aws_sns_topic_policy")]
    statements = {s["Sid"]: s for s in document(policy)["Statement"]}
    assert set(statements) == {"CloudWatchAlarmsPublish", "BotQueueSubscribes", "BotDeployReadsTopic"}
    # Issue 21 review 1, finding 8: CloudFormation's AWS::SNS::Subscription handlers call sns:GetTopicAttributes
    # (create, read, delete); across accounts the topic's policy must allow it too, with no Subscribe condition.
    read = statements["BotDeployReadsTopic"]
    assert read["Principal"] == {"AWS": f"arn:aws:iam::{BOT_ACCOUNT}:root"}
    assert read["Action"] == "sns:GetTopicAttributes"
    assert read["Resource"] == platform.outputs["alarm_topic_arn"]
    assert "Condition" not in read
    subscribe = statements["BotQueueSubscribes"]
    assert subscribe["Principal"] == {"AWS": f"arn:aws:iam::{BOT_ACCOUNT}:root"}
    assert subscribe["Action"] == "sns:Subscribe"
    assert subscribe["Resource"] == platform.outputs["alarm_topic_arn"]
    assert subscribe["Condition"] == {"StringEquals": {"sns:Protocol": "sqs", "sns:Endpoint": BOT_ALARM_QUEUE_ARN}}
    assert check_policies({"alarm topic": document(policy)}) == []
    actions = {a for r in platform.resources("aws_cloudwatch_metric_alarm") for a in r["values"]["alarm_actions"]}
    assert actions == {platform.outputs["alarm_topic_arn"]}


def test_the_bot_deploy_role_subscribes_the_bots_queue_to_the_listed_workload_topics_only(platform: Applied) -> None:
    """In the bot's own account, bot_workload_alarm_topic_arns lets its deploy role make the template's
    WorkloadAlarmSubscriptionN (its queue, over SQS, to exactly those topics) and put the bus policy."""
    [role] = [r["values"] for r in platform.resources("aws_iam_role") if r["values"]["name"].endswith("-bot-deploy")]
    attached = {
        a["values"]["policy_arn"]
        for a in platform.resources("aws_iam_role_policy_attachment")
        if a["values"]["role"] == role["name"]
    }
    policies = [p["values"]["policy"] for p in platform.resources("aws_iam_policy") if p["values"]["arn"] in attached]
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{PREFIX}-opsbot-alarms"
    other_topic = WORKLOAD_ALARM_TOPIC_ARN.replace("staging", "other")

    def subscribe(topic: str, protocol: str, endpoint: str) -> str:
        return evaluate(policies, "sns:Subscribe", topic, {"sns:Protocol": protocol, "sns:Endpoint": endpoint})

    assert subscribe(WORKLOAD_ALARM_TOPIC_ARN, "sqs", queue) == "Allow"
    assert subscribe(WORKLOAD_ALARM_TOPIC_ARN, "sqs", f"arn:aws:sqs:{REGION}:{ACCOUNT}:someone-elses") != "Allow"
    assert subscribe(WORKLOAD_ALARM_TOPIC_ARN, "https", "https://attacker.example/") != "Allow"
    assert subscribe(other_topic, "sqs", queue) != "Allow"
    # The subscription's handlers read the topic (finding 8): the listed topics only.
    assert evaluate(policies, "sns:GetTopicAttributes", WORKLOAD_ALARM_TOPIC_ARN) == "Allow"
    assert evaluate(policies, "sns:GetTopicAttributes", other_topic) != "Allow"
    assert evaluate(policies, "events:PutPermission", "*") == "Allow"


# --------------------------------------------------------------------------- off by default, refusals


def test_nothing_is_planned_without_bot_access(tftest: Results) -> None:
    run = tftest.run("platform_agreement.tftest.hcl", "platform")
    assert run.status == "pass", run.diagnostics
    assert not run.resources("module.workload_access"), "planned without bot_access"
    assert run.resources("module.monitoring.aws_sns_topic_policy.alarms"), "the plan was read"


@pytest.mark.parametrize("name", ["enabled", "short_external_id", "external_id_required", "wildcard_principal_refused"])
def test_the_module_plans_and_refuses_what_it_should(tftest: Results, name: str) -> None:
    run = tftest.run(FILE, name)
    assert run.status == "pass", run.diagnostics


def test_enabled_plans_the_role_the_rule_and_its_target(tftest: Results) -> None:
    planned = {
        address: values
        for address, values in tftest.run(FILE, "enabled").resources(MODULE).items()
        if ".data." not in address
    }
    assert set(planned) == {
        f"{MODULE}.{address}"
        for address in (
            "aws_iam_role.bot",
            "aws_iam_role_policy.bot",
            "aws_cloudwatch_event_rule.deployments",
            "aws_iam_role.forwarder",
            "aws_iam_role_policy.forwarder",
            "aws_cloudwatch_event_target.bot_bus",
        )
    }
    # The tftest's bot is the apply's (same account, region and bus).
    assert planned[f"{MODULE}.aws_cloudwatch_event_target.bot_bus"]["arn"] == BOT_EVENT_BUS_ARN


def test_the_walkthrough_names_every_step() -> None:
    text = (REPO / "docs" / "deploy.md").read_text()
    section = text[text.index("## Adding an AWS account") :]
    for needle in ("bot_access", "bot_external_id", "WorkloadAccountIds", "WorkloadAlarmTopicArns", "/status"):
        assert needle in section, needle
