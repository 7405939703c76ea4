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
    assert len(guarded) == 7
    for arn in guarded:
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
    basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    assert evaluate(policies, "iam:AttachRolePolicy", function_role, {"iam:PolicyARN": basic}) == "Allow"
