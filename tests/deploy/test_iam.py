"""template.yaml grants each function exactly what bot/permissions.py lists, and code calls all of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.permissions import GRANTS, NO_AWS_CALLS, Function, Scope, actions_for

from .checks import (
    RESOURCE_MARKERS,
    boto3_method,
    code_sources,
    iam_problems,
    load_template,
    uncalled_actions,
    uncommented_wildcards,
)


def test_template_grants_exactly_the_table(template: dict[str, Any]) -> None:
    problems = iam_problems(template)
    assert not problems, "template.yaml and bot/permissions.py disagree:\n" + "\n".join(problems)


def test_every_wildcard_resource_says_why(template_text: str) -> None:
    problems = uncommented_wildcards(template_text)
    assert not problems, "\n".join(problems)


def test_every_scope_has_a_resource_rule() -> None:
    assert set(RESOURCE_MARKERS) == set(Scope)


def test_every_action_in_the_table_is_called_by_the_code() -> None:
    problems = uncalled_actions(GRANTS, code_sources())
    assert not problems, "actions granted but never called:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("action", "method"),
    [
        ("ecs:UpdateService", "update_service"),
        ("cloudwatch:DescribeAlarms", "describe_alarms"),
        ("ce:GetCostAndUsage", "get_cost_and_usage"),
        ("dynamodb:BatchGetItem", "batch_get_item"),
        ("application-autoscaling:RegisterScalableTarget", "register_scalable_target"),
    ],
)
def test_boto3_method_names(action: str, method: str) -> None:
    assert boto3_method(action) == method


# --- the checks bite ---------------------------------------------------------------------------


def _without_line(text: str, line: str) -> str:
    assert line in text, f"{line!r} is not in the template any more; update this test"
    return text.replace(line, "", 1)


@pytest.mark.parametrize(
    ("removed", "reported"),
    [
        ("                - ecs:UpdateService\n", "SlackFunction: needs ecs:UpdateService"),
        ("                - dynamodb:BatchGetItem\n", "SlackFunction: needs dynamodb:BatchGetItem"),
        (
            "                - ce:GetCostAndUsage # Cost Explorer has no resource-level permission\n",
            "needs ce:GetCost",
        ),
    ],
)
def test_removing_a_needed_permission_is_reported(template_text: str, removed: str, reported: str) -> None:
    broken = load_template(_without_line(template_text, removed))
    assert any(reported in p for p in iam_problems(broken))


def _replaced_once(text: str, old: str, new: str) -> dict[str, Any]:
    """The template with the first `old` replaced by `new`."""
    return load_template(text.replace(old, new, 1))


def test_a_permission_the_table_lacks_is_reported(template_text: str) -> None:
    broken = _replaced_once(
        template_text,
        "                - ecs:UpdateService\n",
        "                - ecs:UpdateService\n                - ecs:DeleteService\n",
    )
    assert any("grants ecs:DeleteService" in p for p in iam_problems(broken))


def test_a_permission_for_the_wrong_function_is_reported(template: dict[str, Any]) -> None:
    deployments = template["Resources"]["DeploymentsFunction"]["Properties"]["Policies"][0]["Statement"]
    deployments.append({"Sid": "Self", "Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": "x"})
    try:
        assert any(
            "DeploymentsFunction: the template grants lambda:InvokeFunction" in p for p in iam_problems(template)
        )
    finally:
        deployments.pop()


def test_a_wildcard_for_a_scoped_action_is_reported(template_text: str) -> None:
    scoped = "Resource: !GetAtt StateTable.Arn"
    broken = load_template(template_text.replace(scoped, 'Resource: "*"'))
    assert any("SlackFunction/StateTable: Resource must not be '*'" in p for p in iam_problems(broken))


def test_pass_role_without_its_condition_is_reported(template_text: str) -> None:
    broken = load_template(template_text.replace("ecs-tasks.amazonaws.com", "lambda.amazonaws.com"))
    assert any("iam:PassedToService" in p for p in iam_problems(broken))


def test_a_policy_template_is_reported(template_text: str) -> None:
    broken = _replaced_once(
        template_text,
        "      Policies:\n        - Version",
        "      Policies:\n        - AmazonECS_FullAccess\n        - Version",
    )
    assert any("not an inline document" in p for p in iam_problems(broken))


def test_an_uncommented_wildcard_is_reported(template_text: str) -> None:
    line = '              Resource: "*" # AWS offers no resource-level permission for the actions above'
    broken = template_text.replace(line, '              Resource: "*"')
    assert any("needs a comment" in p for p in uncommented_wildcards(broken))


def test_an_action_no_code_calls_is_reported(tmp_path: Path) -> None:
    sources = code_sources()
    without = {path: text.replace(".update_service(", ".noop(") for path, text in sources.items()}
    assert any(p.startswith("ecs:UpdateService:") for p in uncalled_actions(GRANTS, without))


def test_a_library_call_needs_our_code_to_use_the_library() -> None:
    # Without the library (and without bot/history.py's own update_item), nothing would call UpdateItem.
    sources = {
        path: text.replace("DynamoDBPersistenceLayer", "X").replace("update_item", "X")
        for path, text in code_sources().items()
    }
    idempotency_only = [g for g in GRANTS if g.action == "dynamodb:UpdateItem"]
    assert uncalled_actions(idempotency_only, sources) == [
        "dynamodb:UpdateItem: granted for aws_lambda_powertools.utilities.idempotency.persistence.dynamodb, "
        "which bot/ and handlers/ do not use"
    ]


def test_each_function_of_the_table_has_actions() -> None:
    """Except the functions declared to call no AWS API, which must then have none."""
    assert {f for f in Function if not actions_for(f)} == NO_AWS_CALLS


def test_a_function_that_calls_no_aws_api_has_no_policies(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SAM's generated role is all such a function gets: an inline policy there would be unchecked extra access.
    No function is one today (issue F10 gave the lazy-failures function the bot token): the check is tried on a
    function declared so, which has Policies."""
    from . import checks

    monkeypatch.setattr(checks, "NO_AWS_CALLS", frozenset({Function.LAZY_FAILURES}))
    assert template["Resources"]["LazyFailuresFunction"]["Properties"].get("Policies")
    assert any("LazyFailuresFunction: calls no AWS API" in p for p in iam_problems(template))
