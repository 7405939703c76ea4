"""Every AWS action the bot's code calls, in one table.

This is the single source of truth for the IAM policies in template.yaml: tests check both
directions (each action here is granted to the functions that use it, on its scope, and the template
grants nothing that is not here), and the client factory refuses, in strict mode, any call that is not
declared here. Add a row when code starts calling a new operation; remove it when it stops.

An action may have several rows, one per scope, each naming the functions that need it there:
secretsmanager:GetSecretValue reaches the signing secret from the Slack function only, and the bot
token from every function that posts to Slack.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Function(StrEnum):
    """The Lambda functions of template.yaml (logical ids)."""

    SLACK = "SlackFunction"
    DEPLOYMENTS = "DeploymentsFunction"
    COSTS = "CostsFunction"
    ALARMS = "AlarmsFunction"
    ESCALATION = "EscalationFunction"
    LAZY_FAILURES = "LazyFailuresFunction"


class Scope(StrEnum):
    """What an action may touch; template.yaml builds the resource ARNs from these."""

    CLUSTER_SERVICES = "the platform's ECS services in its cluster"
    TASK_DEFINITION_FAMILIES = "the platform's task-definition families"
    TASK_AND_EXECUTION_ROLES = "the task and execution roles, passed only to ecs-tasks.amazonaws.com"
    ECR_REPOSITORIES = "the platform's ECR repositories"
    LOG_GROUPS = "the platform's log groups"
    SCALABLE_TARGETS = "Application Auto Scaling targets, limited by its condition keys to ECS services' desired count"
    PLATFORM_ALARMS = "the platform's CloudWatch alarms"
    STATE_TABLE = "the bot's own DynamoDB table"
    SLACK_SIGNING_SECRET = "the Slack signing secret in Secrets Manager"  # noqa: S105 - a description, not a secret
    SLACK_BOT_TOKEN = "the Slack bot token in Secrets Manager"  # noqa: S105 - a description, not a secret
    SELF = "the function itself (Bolt's lazy listeners)"
    ENVIRONMENT_ROLES = "the role infra/modules/workload_access creates in each workload account (WorkloadAccountIds)"
    ANY = "'*': AWS offers no resource-level permission for these actions"


@dataclass(frozen=True, slots=True)
class Grant:
    action: str
    scope: Scope
    functions: frozenset[Function]
    why: str


def _grant(action: str, scope: Scope, *functions: Function, why: str) -> Grant:
    return Grant(action, scope, frozenset(functions), why)


S, D, C = Function.SLACK, Function.DEPLOYMENTS, Function.COSTS
A, E = Function.ALARMS, Function.ESCALATION

GRANTS: tuple[Grant, ...] = (
    # ECS: read
    _grant(
        "ecs:DescribeServices",
        Scope.CLUSTER_SERVICES,
        S,
        A,
        D,
        E,
        why="/status, plans, alarm deploy correlation, an alarm's service from its TargetGroup dimension, "
        "whether the circuit breaker put a failed deploy back, "
        "the sweep of deploy cards no event ended",
    ),
    _grant(
        "ecs:DescribeTaskDefinition",
        Scope.ANY,
        S,
        A,
        D,
        E,
        why="image tag of a revision; an alarm card's what changed (the two revisions a deploy went between); "
        "the App Home's tags, refreshed when a rollout ends (an event, or the sweep); no resource-level permission",
    ),
    _grant(
        "ecs:ListTaskDefinitions",
        Scope.ANY,
        S,
        why="rollback candidates; no resource-level permission",
    ),
    # ECS: mutate
    _grant(
        "ecs:RegisterTaskDefinition",
        Scope.ANY,
        S,
        why="/deploy registers a new revision; no resource-level permission",
    ),
    _grant(
        "ecs:DeregisterTaskDefinition",
        Scope.ANY,
        S,
        why="undo a revision registered by a /deploy whose update failed; no resource-level permission",
    ),
    _grant("ecs:UpdateService", Scope.CLUSTER_SERVICES, S, why="/deploy, /rollback, /scale"),
    _grant("iam:PassRole", Scope.TASK_AND_EXECUTION_ROLES, S, why="register_task_definition passes both roles"),
    # ECR
    _grant("ecr:DescribeImages", Scope.ECR_REPOSITORIES, S, why="tag must exist; newest tags"),
    # Application Auto Scaling
    _grant(
        "application-autoscaling:DescribeScalableTargets",
        Scope.ANY,
        S,
        why="keep /scale coherent with autoscaling; Describe* has no resource-level permission",
    ),
    _grant(
        "application-autoscaling:RegisterScalableTarget",
        Scope.SCALABLE_TARGETS,
        S,
        why="/scale moves MinCapacity (ECS services' desired count only: the grant's conditions)",
    ),
    # Logs and alarms
    _grant("logs:FilterLogEvents", Scope.LOG_GROUPS, S, why="/logs and the alarm card's Show logs"),
    _grant(
        "cloudwatch:DescribeAlarms",
        Scope.ANY,
        S,
        A,
        D,
        E,
        why="/alarms, /status, plan cards, a composite alarm card's children, the App Home's alarms (refreshed "
        "when a rollout ends); read-only. '*' because the call "
        "returns composite alarms too, which AWS's DescribeAlarms reference allows only with the permission "
        "scoped to '*'",
    ),
    _grant(
        "cloudwatch:DescribeAlarmHistory",
        Scope.PLATFORM_ALARMS,
        S,
        why="/ops timeline: the state changes of the service's alarms (one call per alarm, by its name)",
    ),
    _grant(
        "cloudwatch:ListTagsForResource",
        Scope.PLATFORM_ALARMS,
        S,
        A,
        D,
        E,
        why="an alarm's service from its tag (alarms.service_tag_key): the cards, /alarms, /status and the App "
        "Home alike",
    ),
    _grant(
        "cloudwatch:GetMetricWidgetImage",
        Scope.ANY,
        A,
        why="the graph on an alarm card (bot/alarms/graph.py); read-only. '*' because the action supports no "
        "resource type (AWS's Service Authorization Reference): it draws any metric the account can read",
    ),
    # Cost Explorer
    _grant("ce:GetCostAndUsage", Scope.ANY, S, C, why="/cost and the weekly post; no resource-level permission"),
    # The bot's own state
    _grant("dynamodb:GetItem", Scope.STATE_TABLE, S, D, C, A, E, why="locks, plans, cards, idempotency"),
    _grant(
        "dynamodb:PutItem",
        Scope.STATE_TABLE,
        S,
        D,
        C,
        A,
        E,
        why="locks, plans, cards, audit, idempotency, escalation levels (scheduled, claimed once), "
        "Slack signatures already seen (replays)",
    ),
    _grant(
        "dynamodb:UpdateItem",
        Scope.STATE_TABLE,
        S,
        D,
        C,
        A,
        E,
        why="idempotency, card state, revision history, the alarm channel's lease (a waiter's mark, its release)",
    ),
    _grant(
        "dynamodb:DeleteItem",
        Scope.STATE_TABLE,
        S,
        D,
        C,
        A,
        E,
        why="lock release, idempotency, escalation levels done, an offer of alarms taken back or answered "
        "(the alarm channel's hand-over)",
    ),
    _grant(
        "dynamodb:Query",
        Scope.STATE_TABLE,
        S,
        D,
        C,
        A,
        E,
        why="audit by service and time, deploy history, /cost's bot changes, escalation levels that are due, "
        "the App Home's last changes",
    ),
    _grant(
        "dynamodb:BatchGetItem",
        Scope.STATE_TABLE,
        S,
        D,
        A,
        E,
        why="/status in one call, alarm cards, escalation stops, the App Home's locks",
    ),
    # Secrets and self
    _grant(
        "secretsmanager:GetSecretValue",
        Scope.SLACK_SIGNING_SECRET,
        S,
        why="verify Slack's requests; only the Slack function receives them",
    ),
    _grant(
        "secretsmanager:GetSecretValue",
        Scope.SLACK_BOT_TOKEN,
        S,
        D,
        C,
        A,
        E,
        Function.LAZY_FAILURES,
        why="post and update messages with the Web API (the lazy-failures function: dropped work of a form or "
        "the App Home, told in the person's messages)",
    ),
    _grant("lambda:InvokeFunction", Scope.SELF, S, why="Bolt runs lazy listeners by invoking the function"),
    _grant(
        "sts:AssumeRole",
        Scope.ENVIRONMENT_ROLES,
        S,
        C,
        A,
        D,
        E,
        why="environments in other accounts (the deployments and sweep functions ask their ECS too)",
    ),
)


# Functions whose code calls no AWS API: the template gives them no Policies, and their role holds only what SAM
# generates (their logs, X-Ray, their SQS event source). None today: the lazy-failures function reads the bot
# token to write to a person who has no response_url (issue F10).
NO_AWS_CALLS: frozenset[Function] = frozenset()


# What is the platform's, in the account of the environment it belongs to: an environment with a role_arn makes
# these calls with that role, which infra/modules/workload_access grants exactly these rows (one statement per
# scope, scoped as template.yaml scopes them here; tests/infra/test_workload_access.py compares the two).
WORKLOAD_SCOPES: frozenset[Scope] = frozenset(
    {
        Scope.CLUSTER_SERVICES,
        Scope.TASK_DEFINITION_FAMILIES,
        Scope.TASK_AND_EXECUTION_ROLES,
        Scope.ECR_REPOSITORIES,
        Scope.LOG_GROUPS,
        Scope.SCALABLE_TARGETS,
        Scope.PLATFORM_ALARMS,
        Scope.ANY,
    }
)


def workload_grants() -> tuple[Grant, ...]:
    """The rows the role in a workload account grants (infra/modules/workload_access)."""
    return tuple(g for g in GRANTS if g.scope in WORKLOAD_SCOPES)


def actions_for(function: Function) -> frozenset[str]:
    """IAM actions one Lambda function needs."""
    return frozenset(g.action for g in GRANTS if function in g.functions)


ALL_ACTIONS: frozenset[str] = frozenset(g.action for g in GRANTS)
