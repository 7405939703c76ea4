"""Checkers for the deployment files: each returns the problems it finds, one readable line each.

The tests run them on the real template.yaml and manifest.yaml (expecting no problem) and on broken
copies (expecting the break to be reported), so a checker that cannot fail is caught too.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cfnlint.decode import decode_str

from bot.permissions import GRANTS, NO_AWS_CALLS, Function, Grant, Scope

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
MANIFEST = REPO / "manifest.yaml"
CODE_DIRS = ("bot", "handlers")
SERVERLESS_FUNCTION = "AWS::Serverless::Function"

# --- template -----------------------------------------------------------------------------------


def load_template(text: str) -> dict[str, Any]:
    """Parse CloudFormation YAML (short-form tags become Fn:: mappings), as cfn-lint does."""
    template, matches = decode_str(text)
    if matches or template is None:
        raise ValueError("template.yaml does not parse: " + "; ".join(str(m) for m in matches))
    return template


def functions(template: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Logical id -> properties of every AWS::Serverless::Function, with Globals.Function merged in."""
    defaults = template.get("Globals", {}).get("Function", {})
    merged = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != SERVERLESS_FUNCTION:
            continue
        properties = {**defaults, **resource.get("Properties", {})}
        # SAM merges maps from Globals: a function's own variables add to the global ones.
        variables = {
            **defaults.get("Environment", {}).get("Variables", {}),
            **resource.get("Properties", {}).get("Environment", {}).get("Variables", {}),
        }
        if variables:
            properties["Environment"] = {"Variables": variables}
        merged[logical_id] = properties
    return merged


# --- IAM: template <-> bot/permissions.py ---------------------------------------------------------

# Each policy statement is named after the Scope it grants; the Sid says what the resources are.
SID_OF_SCOPE: dict[Scope, str] = {
    scope: "".join(part.capitalize() for part in scope.name.split("_")) for scope in Scope
} | {Scope.ANY: "NoResourceLevelPermission"}
SCOPE_OF_SID = {sid: scope for scope, sid in SID_OF_SCOPE.items()}

# What the Resource of each scope's statement must mention: ARNs built from the stack's parameters.
RESOURCE_MARKERS: dict[Scope, tuple[str, ...]] = {
    Scope.CLUSTER_SERVICES: (":service/${ClusterName}/${ProjectName}-${EnvironmentName}-",),
    Scope.TASK_DEFINITION_FAMILIES: (":task-definition/${ProjectName}-${EnvironmentName}-",),
    Scope.TASK_AND_EXECUTION_ROLES: ('"Ref": "TaskRoleArns"', '"Ref": "ExecutionRoleArn"'),
    Scope.ECR_REPOSITORIES: ('"Ref": "EcrRepositoryArns"',),
    Scope.LOG_GROUPS: (":log-group:/ecs/${ProjectName}-${EnvironmentName}-",),
    Scope.SCALABLE_TARGETS: (":application-autoscaling:${AWS::Region}:${AWS::AccountId}:scalable-target/",),
    Scope.PLATFORM_ALARMS: (":alarm:${ProjectName}-${EnvironmentName}-",),
    Scope.STATE_TABLE: ('{"Fn::GetAtt": ["StateTable", "Arn"]}',),
    Scope.SLACK_SIGNING_SECRET: (":secret:${SlackSigningSecretName}-",),
    Scope.SLACK_BOT_TOKEN: (":secret:${SlackBotTokenSecretName}-",),
    Scope.SELF: (":function:${ProjectName}-${EnvironmentName}-opsbot-slack",),
    Scope.ENVIRONMENT_ROLES: (":iam::*:role/${WorkloadRoleName}",),
    Scope.ANY: (),
}

# Conditions a scope's statement must carry, exactly, and why.
REQUIRED_CONDITIONS: dict[Scope, tuple[dict[str, Any], str]] = {
    Scope.ENVIRONMENT_ROLES: (
        {"StringEquals": {"aws:ResourceAccount": {"Ref": "WorkloadAccountIds"}}},
        "the role's name is the same in every account: without the listed accounts the grant reaches a role of "
        "that name in any account",
    ),
    Scope.TASK_AND_EXECUTION_ROLES: (
        {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        "the roles may be passed to ECS tasks only",
    ),
    Scope.SCALABLE_TARGETS: (
        {
            "StringEquals": {
                "application-autoscaling:service-namespace": "ecs",
                "application-autoscaling:scalable-dimension": "ecs:service:DesiredCount",
            }
        },
        "scalable-target ARNs end in a random id, so without them the grant covers every scalable target "
        "in the account (DynamoDB, Aurora, other teams' services)",
    ),
}


@dataclass(frozen=True, slots=True)
class Statement:
    function: str
    sid: str
    actions: tuple[str, ...]
    resource: Any
    condition: Any


def _unwrap_if(statement: Any) -> list[Any]:
    """A statement behind Fn::If counts as granted (the condition depends on parameters only)."""
    if isinstance(statement, Mapping) and "Fn::If" in statement:
        _, when_true, when_false = statement["Fn::If"]
        return [s for s in (when_true, when_false) if s != {"Ref": "AWS::NoValue"}]
    return [statement]


def policy_statements(template: Mapping[str, Any]) -> tuple[list[Statement], list[str]]:
    """Every statement of every function's Policies, and what keeps a policy from being checked.

    What SAM adds to a function's generated role on its own is not here: logs (AWSLambdaBasicExecutionRole),
    X-Ray (Tracing), an SQS event source's poller policy, and, for EventInvokeConfig's DestinationConfig with
    Type SQS, sqs:SendMessage on exactly that Destination (test_lazy_failures.py checks it is the template's
    own queue). None of it is an action our code calls.
    """
    statements: list[Statement] = []
    problems: list[str] = []
    for function, props in functions(template).items():
        if "Role" in props:
            problems.append(f"{function}: a Role of its own bypasses the checked Policies; use Policies")
        for policy in props.get("Policies", []):
            if not isinstance(policy, Mapping) or "Statement" not in policy:
                problems.append(
                    f"{function}: policy {json.dumps(policy, default=str)} is not an inline document; "
                    "SAM policy templates and managed policies grant actions bot/permissions.py does not list"
                )
                continue
            for raw in (s for item in policy["Statement"] for s in _unwrap_if(item)):
                actions = raw.get("Action", [])
                statements.append(
                    Statement(
                        function=function,
                        sid=raw.get("Sid", "<no Sid>"),
                        actions=tuple([actions] if isinstance(actions, str) else actions),
                        resource=raw.get("Resource"),
                        condition=raw.get("Condition"),
                    )
                )
                if raw.get("Effect") != "Allow" or {"NotAction", "NotResource"} & set(raw):
                    problems.append(f"{function}/{raw.get('Sid')}: only Allow with Action and Resource is checked")
    return statements, problems


def iam_problems(template: Mapping[str, Any], grants: Iterable[Grant] = GRANTS) -> list[str]:
    """Differences between the template's policies and the table, in both directions."""
    grants = tuple(grants)
    statements, problems = policy_statements(template)
    iam_resources = [rid for rid, r in template["Resources"].items() if r["Type"].startswith("AWS::IAM::")]
    problems += [f"{rid}: IAM resources outside the functions' Policies are not checked" for rid in iam_resources]

    declared = {f.value for f in Function}
    present = set(functions(template))
    problems += [f"{f}: in bot/permissions.py's Function but not in the template" for f in sorted(declared - present)]
    problems += [f"{f}: a function the table does not know (add it to Function)" for f in sorted(present - declared)]

    # An action may have several rows (one per scope); each names the functions that need it there.
    scopes_of_action: dict[str, set[Scope]] = {}
    for g in grants:
        scopes_of_action.setdefault(g.action, set()).add(g.scope)
    why = {(g.action, g.scope): g.why for g in grants}
    for function in sorted(declared & present):
        if Function(function) in NO_AWS_CALLS and functions(template)[function].get("Policies"):
            problems.append(f"{function}: calls no AWS API (bot/permissions.py NO_AWS_CALLS) but has Policies")
        needed = {(g.action, g.scope) for g in grants if Function(function) in g.functions}
        granted: dict[tuple[str, Scope], str] = {}
        for st in (s for s in statements if s.function == function):
            scope = SCOPE_OF_SID.get(st.sid)
            if scope is None:
                problems.append(f"{function}/{st.sid}: Sid names no Scope (expected one of {sorted(SCOPE_OF_SID)})")
                continue
            problems += _resource_problems(st, scope)
            for action in st.actions:
                granted[(action, scope)] = st.sid
                table_scopes = scopes_of_action.get(action, set())
                if table_scopes and scope not in table_scopes:
                    problems.append(
                        f"{function}: {action} is granted under {st.sid} but bot/permissions.py scopes it to "
                        + ", ".join(f"{SID_OF_SCOPE[s]} ({s.value})" for s in sorted(table_scopes))
                    )
        for action, scope in sorted(needed - set(granted)):
            problems.append(
                f"{function}: needs {action} on {SID_OF_SCOPE[scope]} ({why[(action, scope)]}) "
                "but the template does not grant it"
            )
        for action, scope in sorted(set(granted) - needed):
            problems.append(
                f"{function}: the template grants {action} ({granted[(action, scope)]}) but bot/permissions.py "
                "does not list it for this function"
            )
    return problems


def _resource_problems(st: Statement, scope: Scope) -> list[str]:
    where = f"{st.function}/{st.sid}"
    if scope is Scope.ANY:
        return [] if st.resource == "*" else [f"{where}: Resource must be '*' (and commented)"]
    rendered = json.dumps(st.resource, default=str)
    problems = [f"{where}: Resource must not be '*'"] if st.resource == "*" or '"*"' in rendered else []
    problems += [
        f"{where}: Resource should mention {marker} ({scope.value})"
        for marker in RESOURCE_MARKERS[scope]
        if marker not in rendered
    ]
    # A statement grants its own scope only: e.g. the bot token's statement must not name the signing secret.
    problems += [
        f"{where}: Resource mentions {marker}, which is {SID_OF_SCOPE[other]} ({other.value}), not {scope.value}"
        for other, markers in RESOURCE_MARKERS.items()
        if other is not scope
        for marker in markers
        if marker in rendered
    ]
    if scope in REQUIRED_CONDITIONS:
        condition, reason = REQUIRED_CONDITIONS[scope]
        if st.condition != condition:
            problems.append(f"{where}: needs exactly the Condition {json.dumps(condition)}: {reason}")
    return problems


def uncommented_wildcards(template_text: str, grants: Iterable[Grant] = GRANTS) -> list[str]:
    """Every Resource "*" and every action granted on "*" carries a comment saying why."""
    problems = []
    any_actions = {g.action for g in grants if g.scope is Scope.ANY}
    for number, line in enumerate(template_text.splitlines(), start=1):
        code, _, comment = line.partition(" #")
        stripped = code.strip()
        is_star = re.fullmatch(r"Resource:\s*[\"']\*[\"']", stripped)
        is_any_action = stripped.removeprefix("- ").strip() in any_actions
        if (is_star or is_any_action) and not comment.strip():
            problems.append(f"template.yaml:{number}: `{stripped}` needs a comment saying why '*' is needed")
    return problems


# --- IAM: table <-> code ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LibraryCall:
    """An action a library makes on our behalf: our code must use the library, the library must call it."""

    our_code_uses: str  # text that shows our code uses the library
    module: str  # where the library makes the call
    method: str  # the boto3 method it calls


# Actions no line of bot/ or handlers/ calls by name, and who calls them instead.
LIBRARY_CALLS: dict[str, LibraryCall] = {
    # Bolt runs lazy listeners by invoking the same function asynchronously.
    "lambda:InvokeFunction": LibraryCall(
        "slack_bolt.adapter.aws_lambda", "slack_bolt.adapter.aws_lambda.lazy_listener_runner", "invoke"
    ),
    # Powertools parameters fetch (and cache) the signing secret and the bot token.
    "secretsmanager:GetSecretValue": LibraryCall(
        "get_secret", "aws_lambda_powertools.utilities.parameters.secrets", "get_secret_value"
    ),
    # Powertools idempotency keeps its records in the state table.
    **{
        f"dynamodb:{op}": LibraryCall(
            "DynamoDBPersistenceLayer",
            "aws_lambda_powertools.utilities.idempotency.persistence.dynamodb",
            method,
        )
        for op, method in (
            ("GetItem", "get_item"),
            ("PutItem", "put_item"),
            ("UpdateItem", "update_item"),
            ("DeleteItem", "delete_item"),
        )
    },
}

# Permissions AWS checks inside another call rather than an API of their own.
CHECKED_WITHIN: dict[str, str] = {
    # ECS checks PassRole for taskRoleArn and executionRoleArn when a task definition is registered.
    "iam:PassRole": "register_task_definition",
}


def boto3_method(action: str) -> str:
    """ecs:UpdateService -> update_service, the name boto3 gives the operation."""
    operation = action.split(":", 1)[1]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", operation).lower()


def code_sources(root: Path = REPO) -> dict[str, str]:
    """Source of bot/ and handlers/, without the table itself."""
    return {
        str(path.relative_to(root)): path.read_text()
        for directory in CODE_DIRS
        for path in sorted((root / directory).rglob("*.py"))
        if path.name != "permissions.py"
    }


def calls(method: str, sources: Iterable[str]) -> bool:
    """A client call (`.update_service(`) or a paginator/waiter name (`"describe_alarms"`)."""
    pattern = re.compile(rf"\.{method}\(|[\"']{method}[\"']")
    return any(pattern.search(text) for text in sources)


def _library_source(module: str) -> str:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return ""
    return Path(spec.origin).read_text()


def uncalled_actions(grants: Iterable[Grant], sources: Mapping[str, str]) -> list[str]:
    """Actions of the table that neither our code nor a library it uses calls."""
    texts = list(sources.values())
    problems = []
    for grant in grants:
        method = CHECKED_WITHIN.get(grant.action, boto3_method(grant.action))
        if calls(method, texts):
            continue
        library = LIBRARY_CALLS.get(grant.action)
        if library is None:
            problems.append(f"{grant.action}: no `.{method}(` in bot/ or handlers/; remove the grant or the row")
        elif not any(library.our_code_uses in text for text in texts):
            problems.append(f"{grant.action}: granted for {library.module}, which bot/ and handlers/ do not use")
        elif not calls(library.method, [_library_source(library.module)]):
            problems.append(f"{grant.action}: {library.module} no longer calls {library.method}")
    return problems


# --- manifest <-> app ---------------------------------------------------------------------------

PLACEHOLDER_URL = "https://EXAMPLE.execute-api.REGION.amazonaws.com/slack/events"
ALLOWED_BOT_SCOPES = frozenset(
    {"commands", "chat:write", "chat:write.public", "usergroups:read", "files:write", "files:read"}
)
# usergroups:read: roles may be granted to user groups (S...), whose members the bot reads
# (bot/slack.py SlackOut.group_members). files:write and files:read: the graph on an alarm card is
# uploaded (SlackOut.upload) and shown once files.info says Slack has processed it (SlackOut.file_ready).
REQUIRED_BOT_SCOPES = frozenset({"commands", "chat:write", "usergroups:read", "files:write", "files:read"})


def manifest_problems(manifest_text: str, handled: Iterable[str]) -> list[str]:
    """The manifest declares exactly the commands the app handles, each described, and minimal scopes."""
    manifest = yaml.safe_load(manifest_text)
    commands = manifest.get("features", {}).get("slash_commands", [])
    declared = [c.get("command") for c in commands]
    handled = set(handled)
    problems = [f"{c}: handled by the app but missing from manifest.yaml" for c in sorted(handled - set(declared))]
    problems += [f"{c}: in manifest.yaml but the app does not handle it" for c in sorted(set(declared) - handled)]
    problems += [f"{c}: declared twice" for c in sorted({c for c in declared if declared.count(c) > 1})]
    for command in commands:
        name = command.get("command")
        problems += [f"{name}: needs a {field}" for field in ("description", "usage_hint") if not command.get(field)]
        if command.get("url") != PLACEHOLDER_URL:
            problems.append(f"{name}: url must be the placeholder {PLACEHOLDER_URL} (docs/deploy.md replaces it)")
    interactivity = manifest.get("settings", {}).get("interactivity", {})
    if not interactivity.get("is_enabled") or interactivity.get("request_url") != PLACEHOLDER_URL:
        problems.append(f"interactivity must be enabled with request_url {PLACEHOLDER_URL}")
    scopes = set(manifest.get("oauth_config", {}).get("scopes", {}).get("bot", []))
    problems += [f"bot scope {s} is not needed" for s in sorted(scopes - ALLOWED_BOT_SCOPES)]
    problems += [f"bot scope {s} is missing" for s in sorted(REQUIRED_BOT_SCOPES - scopes)]
    return problems + event_problems(manifest)


def event_problems(manifest: dict[str, Any], events: Iterable[str] | None = None) -> list[str]:
    """The manifest subscribes to exactly the events the app handles (bot.app.EVENTS), at the one URL, and
    enables the home tab the app publishes on app_home_opened."""
    if events is None:
        from bot.app import EVENTS

        events = EVENTS
    handled = set(events)
    subscriptions = manifest.get("settings", {}).get("event_subscriptions") or {}
    declared = set(subscriptions.get("bot_events") or [])
    problems = [
        f"event {e}: handled by the app but not subscribed in manifest.yaml" for e in sorted(handled - declared)
    ]
    problems += [
        f"event {e}: subscribed in manifest.yaml but the app does not handle it" for e in sorted(declared - handled)
    ]
    if declared and subscriptions.get("request_url") != PLACEHOLDER_URL:
        problems.append(f"event_subscriptions: request_url must be the placeholder {PLACEHOLDER_URL}")
    home = manifest.get("features", {}).get("app_home") or {}
    if "app_home_opened" in handled and home.get("home_tab_enabled") is not True:
        problems.append("features.app_home.home_tab_enabled must be true: the app publishes the home tab")
    return problems
