"""Every IAM policy Terraform renders agrees with AWS's action database, and no GitHub role can raise its
own privileges (issue 16, item 3).

The policies are read from `terraform show -json` of infra/ applied into moto (tests/infra/tfreal.py):
managed and inline policies, trust policies, the KMS key policy and every aws_iam_policy_document, as AWS
receives them. The escalation checks evaluate the deploy role's own policy set (Allow/Deny, resources,
conditions) on requests that would make it an administrator.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from iam_database import check_policies, count_statements, evaluate, terraform_policies

from .tfreal import applied

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
ESCALATIONS = (
    "iam:AttachRolePolicy",
    "iam:PutRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRolePermissionsBoundary",
    "iam:PutRolePermissionsBoundary",
)


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return applied(tmp_path_factory).state


def _resources(state: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    found, pending = [], [state["values"]["root_module"]]
    while pending:
        module = pending.pop()
        found += [r for r in module.get("resources", []) if r["type"] == rtype and r["mode"] == "managed"]
        pending += module.get("child_modules", [])
    return found


def _role(state: dict[str, Any], name_suffix: str) -> dict[str, Any]:
    [role] = [r["values"] for r in _resources(state, "aws_iam_role") if r["values"]["name"].endswith(name_suffix)]
    return role


def _role_policies(state: dict[str, Any], role_name: str) -> dict[str, str]:
    """policy ARN (or inline name) -> document, of every policy attached to or inline in the role."""
    managed = {p["values"]["arn"]: p["values"]["policy"] for p in _resources(state, "aws_iam_policy")}
    attached = {
        a["values"]["policy_arn"]: managed[a["values"]["policy_arn"]]
        for a in _resources(state, "aws_iam_role_policy_attachment")
        if a["values"]["role"] == role_name
    }
    inline = {
        f"inline:{p['values']['name']}": p["values"]["policy"]
        for p in _resources(state, "aws_iam_role_policy")
        if p["values"]["role"] == role_name
    }
    return attached | inline


def test_every_rendered_policy_is_what_aws_authorises(state: dict[str, Any]) -> None:
    policies = terraform_policies(state)
    kinds = {address.rsplit(".", 2)[-2].split("[")[0] for address in policies}
    # The deploy role's five managed policies, the bot deploy role's, the boundary, the inline policies,
    # the trust policies and the key policy are all read.
    assert {"github_deploy_terraform", "github_deploy_guard", "github_bot_deploy", "platform_boundary"} <= kinds
    assert any(a.endswith(".assume_role_policy") for a in policies)
    assert any(a.startswith("module.iam.aws_iam_role_policy.execution") for a in policies)
    assert count_statements(policies.values()) >= 100
    assert check_policies(policies) == []


@pytest.mark.parametrize("target", ["github-actions", "github-plan", "github-bot-deploy"])
def test_the_deploy_role_cannot_change_a_github_role(state: dict[str, Any], target: str) -> None:
    deploy = _role(state, "-github-actions")
    policies = list(_role_policies(state, deploy["name"]).values())
    assert len(policies) == 5
    arn = _role(state, f"-{target}")["arn"]
    boundary = next(
        p["values"]["arn"] for p in _resources(state, "aws_iam_policy") if "platform-boundary" in p["values"]["name"]
    )
    for action in ESCALATIONS:
        for context in ({"iam:PolicyARN": ADMIN}, {"iam:PolicyARN": ADMIN, "iam:PermissionsBoundary": boundary}):
            assert evaluate(policies, action, arn, context) != "Allow", (action, arn, context)


def test_the_deploy_role_cannot_rewrite_its_own_policies_or_the_boundary(state: dict[str, Any]) -> None:
    deploy = _role(state, "-github-actions")
    own = _role_policies(state, deploy["name"])
    policies = list(own.values())
    guarded = [arn for arn in own if not arn.startswith("inline:")]
    guarded += [p["values"]["arn"] for p in _resources(state, "aws_iam_policy") if "boundary" in p["values"]["name"]]
    guarded += [
        p["values"]["arn"] for p in _resources(state, "aws_iam_policy") if "github-bot-deploy" in p["values"]["name"]
    ]
    # Its five, the platform boundary, the bot deploy role's policy and the bot functions' boundary.
    assert len(set(guarded)) == 8
    for arn in set(guarded):
        for action in ("iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:DeletePolicy"):
            assert evaluate(policies, action, arn) != "Allow", (action, arn)
        # Reading versions is what Terraform's refresh does: allowed.
        assert evaluate(policies, "iam:ListPolicyVersions", arn) == "Allow"


def test_the_deploy_role_changes_platform_roles_only_within_the_boundary(state: dict[str, Any]) -> None:
    deploy = _role(state, "-github-actions")
    policies = list(_role_policies(state, deploy["name"]).values())
    [boundary] = [
        p["values"] for p in _resources(state, "aws_iam_policy") if p["values"]["name"].endswith("-platform-boundary")
    ]
    prefix = deploy["name"].removesuffix("-github-actions")
    for suffix in ("-service-a-task", "-ecs-execution"):
        role = _role(state, suffix)
        # Terraform creates them with the boundary, so the deploy role may keep managing them...
        assert role["permissions_boundary"] == boundary["arn"]
        within = {"iam:PermissionsBoundary": boundary["arn"]}
        assert evaluate(policies, "iam:PutRolePolicy", role["arn"], within) == "Allow"
        assert (
            evaluate(policies, "iam:PassRole", role["arn"], {"iam:PassedToService": "ecs-tasks.amazonaws.com"})
            == "Allow"
        )
        # ... but never without it, nor pass them to another service.
        assert evaluate(policies, "iam:PutRolePolicy", role["arn"]) != "Allow"
        assert evaluate(policies, "iam:PassRole", role["arn"], {"iam:PassedToService": "ec2.amazonaws.com"}) != "Allow"
    # A new role under the platform's prefix is not one of the exact ARNs.
    other = f"arn:aws:iam::123456789012:role/{prefix}-anything"
    assert evaluate(policies, "iam:CreateRole", other, {"iam:PermissionsBoundary": boundary["arn"]}) != "Allow"
    # The boundary grants no IAM at all: a role within it cannot grant itself more.
    assert not any(a.startswith("iam:") for s in json.loads(boundary["policy"])["Statement"] for a in s["Action"])


def test_the_bot_deploy_role_trusts_the_environment_subject(state: dict[str, Any]) -> None:
    """deploy-bot.yml's job declares `environment: production`: its token's subject names the environment."""
    role = _role(state, "-github-bot-deploy")
    [statement] = json.loads(role["assume_role_policy"])["Statement"]
    subjects = statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
    assert subjects == "repo:your-org/your-repo:environment:production"
    outputs = {name: body["value"] for name, body in state["values"]["outputs"].items()}
    assert outputs["github_bot_deploy_role_arn"] == role["arn"]
    policies = list(_role_policies(state, role["name"]).values())
    deploy_role = _role(state, "-github-actions")["arn"]
    for action in ESCALATIONS:
        assert evaluate(policies, action, deploy_role, {"iam:PolicyARN": ADMIN}) != "Allow", action
    function_role = f"{deploy_role.rsplit('-github-actions', 1)[0]}-opsbot-SlackFunctionRole-ABC123"
    assert evaluate(policies, "iam:AttachRolePolicy", function_role, {"iam:PolicyARN": ADMIN}) != "Allow"
    basic = {"iam:PolicyARN": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}
    within = basic | {"iam:PermissionsBoundary": _bot_boundary(state)}
    assert evaluate(policies, "iam:AttachRolePolicy", function_role, within) == "Allow"


def _bot_boundary(state: dict[str, Any]) -> str:
    [arn] = [
        p["values"]["arn"]
        for p in _resources(state, "aws_iam_policy")
        if p["values"]["name"].endswith("-github-bot-deploy-functions-boundary")
    ]
    return arn


def test_the_bot_deploy_role_creates_and_changes_roles_only_within_the_bot_boundary(state: dict[str, Any]) -> None:
    """issue 16.3 review F1: a role `{prefix}-x` made by the bot's token cannot be given more than the boundary."""
    role = _role(state, "-github-bot-deploy")
    policies = list(_role_policies(state, role["name"]).values())
    boundary = _bot_boundary(state)
    outputs = {name: body["value"] for name, body in state["values"]["outputs"].items()}
    assert outputs["bot_functions_boundary_arn"] == boundary
    evil = "arn:aws:iam::123456789012:role/ecs-microservices-production-evil"
    basic = {"iam:PolicyARN": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}
    for action in (
        "iam:CreateRole",
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:DetachRolePolicy",
        "iam:UpdateAssumeRolePolicy",
        "iam:PutRolePermissionsBoundary",
    ):
        assert evaluate(policies, action, evil, basic) != "Allow", action
        assert evaluate(policies, action, evil, basic | {"iam:PermissionsBoundary": boundary}) == "Allow", action
        other = basic | {"iam:PermissionsBoundary": _role(state, "-ecs-execution")["permissions_boundary"]}
        assert evaluate(policies, action, evil, other) != "Allow", action
    assert evaluate(policies, "iam:DeleteRolePermissionsBoundary", evil, {"iam:PermissionsBoundary": boundary}) != (
        "Allow"
    )
    # Neither its own token nor the platform's deploy role may rewrite the boundary.
    deploy = list(_role_policies(state, _role(state, "-github-actions")["name"]).values())
    for action in ("iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:DeletePolicy"):
        assert evaluate(policies, action, boundary) != "Allow", action
        assert evaluate(deploy, action, boundary) != "Allow", action
    # The boundary grants no IAM but passing the platform's task roles to ECS, and no AssumeRole in this account.
    [document] = [p["values"]["policy"] for p in _resources(state, "aws_iam_policy") if p["values"]["arn"] == boundary]
    capped = [json.loads(document)]
    for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:PassRole", "organizations:LeaveOrganization"):
        assert evaluate(capped, action, evil, {"iam:PassedToService": "lambda.amazonaws.com"}) != "Allow", action
    own = {"aws:ResourceAccount": "123456789012"}
    assert evaluate(capped, "sts:AssumeRole", "arn:aws:iam::123456789012:role/admin", own) != "Allow"
    theirs = {"aws:ResourceAccount": "210987654321"}
    assert evaluate(capped, "sts:AssumeRole", "arn:aws:iam::210987654321:role/opsbot", theirs) == "Allow"
    task = _role(state, "-service-a-task")["arn"]
    assert evaluate(capped, "iam:PassRole", task, {"iam:PassedToService": "ecs-tasks.amazonaws.com"}) == "Allow"


def test_the_bot_deploy_role_maps_and_subscribes_only_the_bots_functions_and_queues(state: dict[str, Any]) -> None:
    """issue 16.3 review F7/F8."""
    role = _role(state, "-github-bot-deploy")
    policies = list(_role_policies(state, role["name"]).values())
    function = "arn:aws:lambda:us-east-1:123456789012:function:ecs-microservices-production-opsbot-alarms"
    other = "arn:aws:lambda:us-east-1:123456789012:function:someone-elses"
    mapping = "arn:aws:lambda:us-east-1:123456789012:event-source-mapping:*"
    for resource in ("*", mapping):
        assert evaluate(policies, "lambda:CreateEventSourceMapping", resource, {"lambda:FunctionArn": other}) != "Allow"
    assert evaluate(policies, "lambda:CreateEventSourceMapping", "*", {"lambda:FunctionArn": function}) == "Allow"

    platform = "arn:aws:sns:us-east-1:123456789012:ecs-microservices-production-alarms"
    own = "arn:aws:sns:us-east-1:123456789012:ecs-microservices-production-opsbot-own-alarms"
    queue = "arn:aws:sqs:us-east-1:123456789012:ecs-microservices-production-opsbot-alarms"
    allowed = {
        (platform, "sqs", queue),
        (own, "lambda", function),
        (own, "email", "ops@example.com"),
    }
    refused = {
        (platform, "https", "https://attacker.example/"),
        (own, "https", "https://attacker.example/"),
        (platform, "sqs", "arn:aws:sqs:us-east-1:210987654321:theirs"),
        (platform, "lambda", other),
        (own, "lambda", other),
        (platform, "email", "someone@example.com"),
    }
    for topic, protocol, endpoint in allowed | refused:
        context = {"sns:Protocol": protocol, "sns:Endpoint": endpoint}
        expected = (topic, protocol, endpoint) in allowed
        assert (evaluate(policies, "sns:Subscribe", topic, context) == "Allow") == expected, (topic, protocol)


def _boundary(state: dict[str, Any]) -> dict[str, Any]:
    [boundary] = [
        p["values"] for p in _resources(state, "aws_iam_policy") if p["values"]["name"].endswith("-platform-boundary")
    ]
    return boundary


def test_the_boundary_reads_only_the_platforms_secrets_and_parameters(state: dict[str, Any]) -> None:
    """A task role within the boundary (which the deploy role may give any inline policy) reads no other
    team's secret or parameter."""
    boundary = _boundary(state)
    prefix = boundary["name"].removesuffix("-platform-boundary")
    account = boundary["arn"].split(":")[4]
    region = json.loads(_role(state, "-ecs-execution")["assume_role_policy"])["Statement"][0]["Condition"]["ArnLike"][
        "aws:SourceArn"
    ].split(":")[3]
    secrets = f"arn:aws:secretsmanager:{region}:{account}:secret"
    parameters = f"arn:aws:ssm:{region}:{account}:parameter"
    policy = [boundary["policy"]]
    assert evaluate(policy, "secretsmanager:GetSecretValue", f"{secrets}:other-team/db-AbCdEf") != "Allow"
    assert evaluate(policy, "ssm:GetParameters", f"{parameters}/other-team/db") != "Allow"
    assert evaluate(policy, "secretsmanager:GetSecretValue", f"{secrets}:{prefix}/db-AbCdEf") == "Allow"
    assert evaluate(policy, "ssm:GetParameters", f"{parameters}/{prefix}/db") == "Allow"


def test_the_deploy_role_cannot_change_whom_a_platform_role_trusts(state: dict[str, Any]) -> None:
    """A task role trusting an outside account would be a back door that outlives the deploy."""
    deploy = _role(state, "-github-actions")
    policies = list(_role_policies(state, deploy["name"]).values())
    boundary = _boundary(state)["arn"]
    for suffix in ("-service-a-task", "-ecs-execution", "-vpc-flow-logs"):
        arn = _role(state, suffix)["arn"]
        for context in ({}, {"iam:PermissionsBoundary": boundary}):
            assert evaluate(policies, "iam:UpdateAssumeRolePolicy", arn, context) != "Allow", (arn, context)


def test_the_deploy_role_trusts_only_the_environment_subject(state: dict[str, Any]) -> None:
    """deploy.yml's deploy job declares `environment: production`; a branch subject would admit any job on
    main without the environment's reviewers."""
    role = _role(state, "-github-actions")
    [statement] = json.loads(role["assume_role_policy"])["Statement"]
    subjects = statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
    assert subjects == "repo:your-org/your-repo:environment:production"


def test_the_deploy_role_cannot_lock_out_the_platform_key_or_grant_it_away(state: dict[str, Any]) -> None:
    deploy = _role(state, "-github-actions")
    policies = list(_role_policies(state, deploy["name"]).values())
    [key] = [k["values"]["arn"] for k in _resources(state, "aws_kms_key")]
    bypass = {"kms:BypassPolicyLockoutSafetyCheck": "true"}
    assert evaluate(policies, "kms:PutKeyPolicy", key, bypass) == "ExplicitDeny"
    assert evaluate(policies, "kms:PutKeyPolicy", key, {"kms:BypassPolicyLockoutSafetyCheck": "false"}) == "Allow"
    assert evaluate(policies, "kms:CreateGrant", key, {"kms:GrantIsForAWSResource": "false"}) != "Allow"
    assert evaluate(policies, "kms:CreateGrant", key) != "Allow"
    assert evaluate(policies, "kms:CreateGrant", key, {"kms:GrantIsForAWSResource": "true"}) == "Allow"


def test_every_platform_role_carries_the_boundary(state: dict[str, Any]) -> None:
    """The deploy role changes a platform role only with the boundary attached: the flow-log role too."""
    boundary = _boundary(state)["arn"]
    for suffix in ("-service-a-task", "-ecs-execution", "-vpc-flow-logs"):
        assert _role(state, suffix)["permissions_boundary"] == boundary, suffix
