"""template.yaml's IAM statements agree with AWS's action database (issue 16, item 3).

The checker (tests/iam_database.py) is run on the real template, resolved with the values
scripts/deploy-bot.sh passes from Terraform's outputs, and on broken copies: each kind of mistake it
exists for must be reported, so a checker that cannot fail is caught too.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from iam_database import check_policies, check_statement, count_statements, template_policies

ACCOUNT = "123456789012"
SERVICES = ("service-a", "service-b")
PREFIX = "ecs-microservices-production"
# What scripts/deploy-bot.sh fills in from infra/'s outputs (see test_deploy_script.terraform_outputs),
# plus workload accounts and their topics, so the optional statements (EnvironmentRoles, the event bus policy,
# the queue's WorkloadAlarmTopicsSend) are checked too.
PARAMETERS: dict[str, Any] = {
    "ProjectName": "ecs-microservices",
    "EnvironmentName": "production",
    "ClusterName": f"{PREFIX}-cluster",
    "ServiceNames": list(SERVICES),
    "EcrRepositoryArns": [f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/{PREFIX}-{s}" for s in SERVICES],
    "TaskRoleArns": [f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-{s}-task" for s in SERVICES],
    "ExecutionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-execution",
    "AlarmTopicArn": f"arn:aws:sns:eu-west-1:{ACCOUNT}:{PREFIX}-alarms",
    "FunctionPermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/{PREFIX}-github-bot-deploy-functions-boundary",
    "WorkloadAccountIds": ["210987654321", "109876543210"],
    "WorkloadAlarmTopicArns": [
        "arn:aws:sns:eu-west-1:210987654321:ecs-microservices-staging-alarms",
        "arn:aws:sns:eu-west-1:109876543210:ecs-microservices-production-alarms",
    ],
}


def _policies(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return template_policies(template, PARAMETERS)


def _statement(template: dict[str, Any], function: str, sid: str) -> dict[str, Any]:
    for policy in template["Resources"][function]["Properties"]["Policies"]:
        for statement in policy.get("Statement", []):
            if isinstance(statement, dict) and statement.get("Sid") == sid:
                return statement
    raise AssertionError(f"{function} has no statement {sid}")


def test_every_template_statement_is_what_aws_authorises(template: dict[str, Any]) -> None:
    policies = _policies(template)
    # Every function's inline policy, the alarm queue's resource policy, the optional environment roles.
    assert {
        "SlackFunction Policies[0]",
        "AlarmQueuePolicy PolicyDocument",
        "WorkloadDeploymentEventsPolicy Statement",
    } <= set(policies)
    [queue_policy] = [policies["AlarmQueuePolicy PolicyDocument"]]
    assert [s["Sid"] for s in queue_policy["Statement"]] == ["AlarmTopicSends", "WorkloadAlarmTopicsSend"]
    assert count_statements(policies.values()) >= 25
    assert check_policies(policies) == []


def test_a_wrong_arn_is_reported(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    # UpdateService on a task-definition ARN: valid-looking, and never matches a request.
    _statement(broken, "SlackFunction", "ClusterServices")["Resource"] = {
        "Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/${ProjectName}-*:*"
    }
    problems = check_policies(_policies(broken))
    assert any("ecs:UpdateService does not act on arn:aws:ecs:eu-west-1:" in p for p in problems), problems
    assert all("SlackFunction" in p for p in problems)


def test_a_wrong_condition_key_is_reported(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    _statement(broken, "SlackFunction", "TaskAndExecutionRoles")["Condition"] = {
        "StringEquals": {"iam:PassedToServices": "ecs-tasks.amazonaws.com"}
    }
    problems = check_policies(_policies(broken))
    assert problems == [
        "SlackFunction Policies[0]: TaskAndExecutionRoles: iam:PassRole has no condition key "
        "iam:PassedToServices (AWS would treat it as absent)"
    ]


def _problems_granting(template: dict[str, Any], function: str, sid: str, action: str) -> list[str]:
    """What the check finds in the template with `action` added to the statement `sid` of `function`."""
    broken = copy.deepcopy(template)
    _statement(broken, function, sid)["Action"].append(action)
    return check_policies(_policies(broken))


def test_a_scoped_action_without_resource_types_is_reported(template: dict[str, Any]) -> None:
    problems = _problems_granting(template, "SlackFunction", "ClusterServices", "ecs:ListTaskDefinitions")
    assert len(problems) == 1
    assert "ecs:ListTaskDefinitions supports no resource type, so AWS authorises it only against '*'" in problems[0]


def test_describe_alarms_scoped_to_alarms_is_reported(template: dict[str, Any]) -> None:
    """The database lists DescribeAlarms on alarms; its API reference requires '*' for composite alarms."""
    problems = _problems_granting(template, "AlarmsFunction", "PlatformAlarms", "cloudwatch:DescribeAlarms")
    assert len(problems) == 1
    assert "cloudwatch:DescribeAlarms must be granted on '*'" in problems[0]


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ({"Action": "ecs:UpdateServices", "Resource": "*"}, "ecs:UpdateServices is no action of AWS's database"),
        ({"Action": "s3:GetObject", "Resource": "arn:aws:s3:::state"}, "s3:GetObject does not act on"),
        ({"Action": "s3:ListBucket", "Resource": "arn:aws:s3:::state/env/*"}, "s3:ListBucket does not act on"),
        ({"Action": "iam:PassRole", "Resource": "arn:aws:iam:eu-west-1:1:role/x"}, "iam:PassRole does not act on"),
        (
            {"Action": "logs:DescribeLogStreams", "Resource": "arn:aws:logs:eu-west-1:1:log-group:/g:log-stream:*"},
            "logs:DescribeLogStreams does not act on",
        ),
        (
            {"Action": "ecs:Describe*", "Resource": "arn:aws:s3:::bucket"},
            "none of the actions ecs:Describe* names acts on arn:aws:s3:::bucket",
        ),
        (
            {
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"token.actions.githubusercontent.com:sub": "repo:o/r:ref:x"}},
            },
            "sts:AssumeRole has no condition key token.actions.githubusercontent.com:sub",
        ),
    ],
    ids=[
        "misspelt",
        "object-on-bucket",
        "bucket-on-object",
        "iam-with-region",
        "group-action-on-stream",
        "wildcard",
        "oidc-key-on-assume",
    ],
)
def test_each_kind_of_mistake_is_named(statement: dict[str, Any], expected: str) -> None:
    problems = check_statement({"Sid": "S", "Effect": "Allow", **statement})
    assert any(expected in p for p in problems), problems


def test_correct_statements_pass() -> None:
    good = [
        {"Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::state/ecs/*"},
        {"Action": "ecs:Describe*", "Resource": "arn:aws:ecs:eu-west-1:1:service/c/x"},
        {
            "Action": ["ecs:UpdateService", "ecs:UpdateCluster"],
            "Resource": ["arn:aws:ecs:eu-west-1:1:service/c/x", "arn:aws:ecs:eu-west-1:1:cluster/c"],
        },
        {"Action": "logs:PutLogEvents", "Resource": "arn:aws:logs:eu-west-1:1:log-group:/ecs/x:log-stream:*"},
        # CloudWatch Logs evaluates log-group actions on the group's ARN with ":*" appended.
        {"Action": "logs:DescribeLogStreams", "Resource": "arn:aws:logs:eu-west-1:1:log-group:/vpc/x/flow-logs:*"},
        {"Action": "secretsmanager:GetSecretValue", "Resource": "arn:aws:secretsmanager:eu-west-1:1:secret:a/b-??????"},
        {
            "Action": "iam:CreateRole",
            "Resource": "arn:aws:iam::1:role/x-*",
            "Condition": {"StringEquals": {"iam:PermissionsBoundary": "arn:aws:iam::1:policy/b"}},
        },
        {
            "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {"token.actions.githubusercontent.com:sub": "repo:o/r:environment:p"}},
        },
    ]
    for statement in good:
        assert check_statement({"Sid": "S", "Effect": "Allow", **statement}) == [], statement
