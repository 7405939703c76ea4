"""Finding 11 (issue 14): narrower grants in template.yaml, held to bot/permissions.py both ways.

(a) application-autoscaling:RegisterScalableTarget was granted on every scalable target of the account (a
    DynamoDB table's, an Aurora cluster's, another team's ECS service's): it is limited to ECS services'
    desired count by the action's condition keys, and the code calls it with exactly those values.
(b) The Slack signing secret was readable by four functions that only use the bot token: secrets are
    granted per function, on only the secret each reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from bot.permissions import GRANTS, Function, Scope

from .checks import REPO, code_sources, functions, iam_problems, load_template, policy_statements

GET_SECRET = "secretsmanager:GetSecretValue"
SIGNING_SECRET = "${SlackSigningSecretName}"
BOT_TOKEN = "${SlackBotTokenSecretName}"
REGISTER = "application-autoscaling:RegisterScalableTarget"
ECS_DESIRED_COUNT = {
    "StringEquals": {
        "application-autoscaling:service-namespace": "ecs",
        "application-autoscaling:scalable-dimension": "ecs:service:DesiredCount",
    }
}


def _handler_sources(handler: str) -> list[str]:
    """The source of a Handler's module and of every handlers/ module it imports, transitively."""
    pending, seen, sources = [handler.rsplit(".", 1)[0]], set(), []
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        source = (REPO / (module.replace(".", "/") + ".py")).read_text()
        sources.append(source)
        pending += re.findall(r"^\s*(?:from|import) (handlers\.\w+)", source, flags=re.MULTILINE)
    return sources


def _secrets_readable(template: Mapping[str, Any]) -> dict[str, set[str]]:
    """Function -> which Slack secrets its policies let it read."""
    statements, _ = policy_statements(template)
    readable: dict[str, set[str]] = {name: set() for name in functions(template)}
    for st in statements:
        if GET_SECRET in st.actions or "secretsmanager:*" in st.actions:
            rendered = json.dumps(st.resource)
            readable[st.function] |= {s for s in (SIGNING_SECRET, BOT_TOKEN) if s in rendered}
    return readable


# --- (a) scalable targets ---------------------------------------------------------------------------


def test_finding_11a_register_scalable_target_is_limited_to_ecs_services_desired_count(
    template: dict[str, Any],
) -> None:
    """Exploit: the Slack function's role could move the capacity of any scalable target in the account
    (DynamoDB, Aurora, Spot Fleet, another team's ECS service), not only the platform's services."""
    statements, _ = policy_statements(template)
    granting = [st for st in statements if REGISTER in st.actions]
    assert granting, f"no statement grants {REGISTER}"
    for st in granting:
        assert st.condition == ECS_DESIRED_COUNT, f"{st.function}/{st.sid}: {st.condition}"
        assert json.dumps(st.resource).count(":scalable-target/") == 1, f"{st.function}/{st.sid}: {st.resource}"


def test_finding_11a_a_scalable_target_grant_without_its_conditions_is_reported(template_text: str) -> None:
    condition = (
        "              Condition:\n"
        "                StringEquals:\n"
        "                  application-autoscaling:service-namespace: ecs\n"
        "                  application-autoscaling:scalable-dimension: ecs:service:DesiredCount\n"
    )
    assert condition in template_text
    broken = load_template(template_text.replace(condition, "", 1))
    assert any(
        "ScalableTargets" in p and "application-autoscaling:service-namespace" in p for p in iam_problems(broken)
    )


def _arguments(text: str, start: int) -> str:
    """The text of a call's arguments, from just after its "(" to the matching ")"."""
    depth = 1
    for at in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[at], 0)
        if depth == 0:
            return text[start:at]
    raise AssertionError("unbalanced call")


def test_finding_11a_the_code_registers_only_what_the_conditions_allow() -> None:
    """The other direction: a call with another namespace or dimension would be denied by the conditions."""
    calls = [
        (path, _arguments(text, match.end()))
        for path, text in code_sources().items()
        for match in re.finditer(r"\.register_scalable_target\(", text)
    ]
    assert calls, "no register_scalable_target call in bot/ or handlers/: remove the grant"
    for path, arguments in calls:
        assert 'ServiceNamespace="ecs"' in arguments, path
        assert 'ScalableDimension="ecs:service:DesiredCount"' in arguments, path


# --- (b) Slack secrets per function ---------------------------------------------------------------------


def test_finding_11b_only_the_slack_function_can_read_the_signing_secret(template: dict[str, Any]) -> None:
    """Exploit: code running in the alarms, escalation, deployments or costs function (each fed by events
    from outside the bot) could read the signing secret and forge signed Slack requests to the bot."""
    readable = _secrets_readable(template)
    assert {f for f, secrets in readable.items() if SIGNING_SECRET in secrets} == {Function.SLACK.value}
    assert {f for f, secrets in readable.items() if BOT_TOKEN in secrets} == {
        Function.SLACK.value,
        Function.DEPLOYMENTS.value,
        Function.COSTS.value,
        Function.ALARMS.value,
        Function.ESCALATION.value,
        Function.LAZY_FAILURES.value,  # issue F10: a form's dropped work is told in the person's messages
    }


def test_finding_11b_the_table_scopes_each_secret_per_function() -> None:
    scopes = {g.scope: g.functions for g in GRANTS if g.action == GET_SECRET}
    assert scopes[Scope.SLACK_SIGNING_SECRET] == {Function.SLACK}
    assert scopes[Scope.SLACK_BOT_TOKEN] == {
        Function.SLACK,
        Function.DEPLOYMENTS,
        Function.COSTS,
        Function.ALARMS,
        Function.ESCALATION,
        Function.LAZY_FAILURES,
    }


def _add_to_alarms_function(template_text: str, statement: str) -> str:
    """The alarms function's policy with one more statement (before its EnvironmentRoles)."""
    start = template_text.index("  AlarmsFunction:\n")
    anchor = template_text.index("            - !If\n", start)
    return template_text[:anchor] + statement + template_text[anchor:]


def test_finding_11b_a_signing_secret_grant_to_the_alarms_function_is_reported(template_text: str) -> None:
    statement = (
        "            - Sid: SlackSigningSecret\n"
        "              Effect: Allow\n"
        "              Action:\n"
        "                - secretsmanager:GetSecretValue\n"
        '              Resource: !Sub "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:'
        'secret:${SlackSigningSecretName}-??????"\n'
    )
    problems = iam_problems(load_template(_add_to_alarms_function(template_text, statement)))
    assert any(
        p.startswith("AlarmsFunction: the template grants secretsmanager:GetSecretValue (SlackSigningSecret)")
        for p in problems
    ), problems


def test_finding_11b_the_signing_secret_inside_the_bot_token_statement_is_reported(template_text: str) -> None:
    start = template_text.index("  AlarmsFunction:\n")
    token = (
        '              Resource: !Sub "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:'
        'secret:${SlackBotTokenSecretName}-??????"\n'
    )
    at = template_text.index(token, start)
    both = (
        "              Resource:\n"
        '                - !Sub "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:'
        'secret:${SlackBotTokenSecretName}-??????"\n'
        '                - !Sub "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:'
        'secret:${SlackSigningSecretName}-??????"\n'
    )
    broken = load_template(template_text[:at] + both + template_text[at + len(token) :])
    problems = iam_problems(broken)
    assert any(p.startswith("AlarmsFunction/SlackBotToken") and SIGNING_SECRET in p for p in problems), problems


def test_finding_11b_the_functions_whose_handler_reads_the_signing_secret_are_those_granted_it(
    template: dict[str, Any],
) -> None:
    """Code <-> table: a function whose handler (or a handlers/ module it imports) names the signing secret's
    variable needs the grant, and only such a function gets it."""
    readers = {
        name
        for name, properties in functions(template).items()
        if any("SLACK_SIGNING_SECRET" in source for source in _handler_sources(properties["Handler"]))
    }
    granted = {f.value for g in GRANTS if g.scope is Scope.SLACK_SIGNING_SECRET for f in g.functions}
    assert readers == granted
