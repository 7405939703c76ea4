"""Offline checks of the Terraform in infra/, written as functions over a directory.

Each check returns a list of human-readable problems (empty when all is well), so the tests can
run them on infra/ itself and on deliberately broken copies of it. Terraform itself is the real CLI
(tfreal.py: the project's CLI config, the provider from a local mirror): fmt, init, validate and the
naming module's expressions; without it those tests skip, and fail in CI.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

from .tfreal import copy_infra, error_summaries, terraform

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"

# AWS name limits of the resources modules/naming names.
NAME_LIMITS: dict[str, int] = {
    "alb": 32,
    "target_groups": 32,
    "cluster": 255,
    "ecs_services": 255,
    "task_families": 255,
    "containers": 255,
    "ecr_repositories": 256,
    "log_groups": 512,
    "security_groups": 255,
    "task_roles": 64,
    "alarm_prefixes": 255 - len("running-tasks-low"),
}
SINGLETON_LIMITS: dict[str, int] = {
    "alb_security_group": 255,
    "alb_logs_bucket": 63,
    "alb_5xx_alarm": 255,
    "alarm_topic": 256,
    "dashboard": 255,
    "endpoint_sg": 255,
    "execution_role": 64,
    "flow_log_group": 512,
    "flow_log_role": 64,
    "github_actions_role": 64,
    "github_plan_role": 64,
    "kms_alias": 256,
    "vpc": 255,
    "waf_acl": 128,
    "waf_log_group": 512,
}

# Lines the infra tests want in pytest's terminal summary (see conftest.py).
SUMMARY_LINES: list[str] = []

_META_ARGS = {"source", "version", "providers", "count", "for_each", "depends_on"}
_READ_ONLY_VERBS = ("Describe", "List", "Get", "BatchGet", "BatchCheck")
_OPTIONS = SerializationOptions(with_comments=True)


# --------------------------------------------------------------------------- parsing helpers


def unquote(value: Any) -> Any:
    """python-hcl2 keeps string literals quoted ('"x"'); return the bare string."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def parse_dir(directory: Path) -> dict[str, dict[str, Any]]:
    """Every .tf file of one module directory (not its subdirectories), parsed (each text once a process: the
    checks read the same modules over and over, and python-hcl2 takes seconds for the tree)."""
    return {path.name: copy.deepcopy(_parsed(path.read_text())) for path in sorted(directory.glob("*.tf"))}


@functools.lru_cache(maxsize=1024)
def _parsed(text: str) -> dict[str, Any]:
    parsed: dict[str, Any] = hcl2.loads(text, serialization_options=_OPTIONS)
    return parsed


def module_dirs(root: Path) -> list[Path]:
    """The root module and every module under modules/."""
    return [root, *sorted(p for p in (root / "modules").iterdir() if p.is_dir())]


def blocks(parsed: dict[str, dict[str, Any]], kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(file, label, body) of every single-label block of a kind (variable, output, module)."""
    for file, doc in parsed.items():
        for entry in doc.get(kind, []):
            for label, body in entry.items():
                yield file, unquote(label), body


def typed_blocks(parsed: dict[str, dict[str, Any]], kind: str) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(file, type, name, body) of every two-label block (resource, data)."""
    for file, doc in parsed.items():
        for entry in doc.get(kind, []):
            for rtype, named in entry.items():
                for name, body in named.items():
                    yield file, unquote(rtype), unquote(name), body


def strings(node: Any, skip: frozenset[str] = frozenset({"__comments__"})) -> Iterator[str]:
    """Every string (expression text included) in a parsed tree, except under the keys in skip."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key not in skip:
                yield key
                yield from strings(value, skip)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item, skip)


# --------------------------------------------------------------------------- checks


def module_call_errors(root: Path = INFRA) -> list[str]:
    """Each local module call passes every required variable of the module and nothing else."""
    problems = []
    for directory in module_dirs(root):
        for file, name, body in blocks(parse_dir(directory), "module"):
            source = unquote(body["source"])
            if not source.startswith("./"):
                continue
            target = (directory / source).resolve()
            declared = {var: vbody for _, var, vbody in blocks(parse_dir(target), "variable")}
            given = {key for key in body if key not in _META_ARGS and not key.startswith("__")}
            where = f"{directory.relative_to(root.parent)}/{file}: module {name!r}"
            problems += [f"{where}: unknown argument {arg!r}" for arg in sorted(given - declared.keys())]
            required = {var for var, vbody in declared.items() if "default" not in vbody}
            problems += [f"{where}: missing required argument {arg!r}" for arg in sorted(required - given)]
    return problems


def reference_errors(root: Path = INFRA) -> list[str]:
    """Every var., local. and module.x.y reference names something declared."""
    problems = []
    for directory in module_dirs(root):
        parsed = parse_dir(directory)
        variables = {name for _, name, _ in blocks(parsed, "variable")}
        locals_ = {key for doc in parsed.values() for entry in doc.get("locals", []) for key in entry}
        modules = {name: unquote(body["source"]) for _, name, body in blocks(parsed, "module")}
        text = "\n".join(strings(list(parsed.values())))
        where = directory.relative_to(root.parent)
        for name in sorted(set(re.findall(r"\bvar\.([A-Za-z_][\w-]*)", text)) - variables):
            problems.append(f"{where}: var.{name} is not declared")
        for name in sorted(set(re.findall(r"\blocal\.([A-Za-z_][\w-]*)", text)) - locals_):
            problems.append(f"{where}: local.{name} is not defined")
        for module, output in sorted(set(re.findall(r"\bmodule\.([A-Za-z_][\w-]*)\.([A-Za-z_][\w-]*)", text))):
            if module not in modules:
                problems.append(f"{where}: module.{module} is not called")
                continue
            outputs = {n for _, n, _ in blocks(parse_dir((directory / modules[module]).resolve()), "output")}
            if output not in outputs:
                problems.append(f"{where}: module.{module} has no output {output!r}")
    return problems


def interface_errors(root: Path = INFRA) -> list[str]:
    """Every variable and output has a description; every variable has a type."""
    problems = []
    for directory in module_dirs(root):
        parsed = parse_dir(directory)
        where = directory.relative_to(root.parent)
        for _, name, body in blocks(parsed, "variable"):
            problems += [f"{where}: variable {name!r} has no {k}" for k in ("type", "description") if k not in body]
        for _, name, body in blocks(parsed, "output"):
            if "description" not in body:
                problems.append(f"{where}: output {name!r} has no description")
    return problems


def alarm_action_errors(root: Path = INFRA) -> list[str]:
    """Every CloudWatch alarm notifies on ALARM and on OK."""
    problems = []
    for directory in module_dirs(root):
        for file, rtype, name, body in typed_blocks(parse_dir(directory), "resource"):
            if rtype != "aws_cloudwatch_metric_alarm":
                continue
            for key in ("alarm_actions", "ok_actions"):
                if not body.get(key):
                    problems.append(f"{directory.relative_to(root.parent)}/{file}: {rtype}.{name} has no {key}")
    return problems


def ecs_exec_logging_errors(root: Path = INFRA) -> list[str]:
    """ECS Exec sessions are not logged: each cluster's execute_command_configuration has logging = "NONE".

    "DEFAULT" (also what AWS does without the block) writes a session's output to the awslogs log group of
    the task's container, which `/logs` shows to every viewer; a shell session may print secrets. The
    CKV_AWS_224 skip on the cluster gives this as its reason.
    """
    problems = []
    for directory in module_dirs(root):
        for file, rtype, name, body in typed_blocks(parse_dir(directory), "resource"):
            if rtype != "aws_ecs_cluster":
                continue
            where = f"{directory.relative_to(root.parent)}/{file}: {rtype}.{name}"
            settings = [
                exec_config
                for configuration in body.get("configuration", [])
                for exec_config in configuration.get("execute_command_configuration", [])
            ]
            if not settings:
                problems.append(f'{where} has no execute_command_configuration (AWS then logs "DEFAULT")')
            for exec_config in settings:
                logging = unquote(exec_config.get("logging", '"DEFAULT"'))
                if logging != "NONE":
                    problems.append(
                        f"{where}: ECS Exec logging = {logging!r} writes session output where viewers read "
                        '(/logs); set "NONE"'
                    )
    return problems


def is_mutating(action: str) -> bool:
    verb = action.split(":", 1)[-1]
    return not verb.startswith(_READ_ONLY_VERBS)


def iam_wildcard_errors(root: Path = INFRA) -> list[str]:
    """A policy statement that allows a mutating action on "*" must carry a "# wildcard: why" comment."""
    problems = []
    for directory in module_dirs(root):
        for file, rtype, name, body in typed_blocks(parse_dir(directory), "data"):
            if rtype != "aws_iam_policy_document":
                continue
            for index, statement in enumerate(body.get("statement", [])):
                if unquote(statement.get("effect", '"Allow"')) == "Deny":
                    continue
                raw = statement.get("resources", [])
                resources = [unquote(r) for r in raw] if isinstance(raw, list) else [raw]
                actions = statement.get("actions", [])
                actions = [unquote(a) for a in actions] if isinstance(actions, list) else [actions]
                mutating = [a for a in actions if not isinstance(a, str) or a.startswith("$") or is_mutating(a)]
                comments = " ".join(c.get("value", "") for c in statement.get("__comments__", []))
                if "*" in resources and mutating and "wildcard:" not in comments:
                    sid = unquote(statement.get("sid", f"#{index}"))
                    problems.append(
                        f"{directory.relative_to(root.parent)}/{file}: {name} statement {sid} allows "
                        f"{', '.join(map(str, mutating))} on '*' without a '# wildcard: <why>' comment"
                    )
    return problems


# --------------------------------------------------------------------------- Terraform itself


def fmt_problems(root: Path = INFRA) -> list[str]:
    """`terraform fmt -check -recursive`: the files whose formatting differs (nothing is rewritten)."""
    result = terraform(providers=False).run(root, "fmt", "-check", "-recursive", "-list=true", "-no-color")
    files = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 and not files:
        return [f"terraform fmt failed (exit {result.returncode}): {result.stderr.strip()}"]
    return files


def init_problems(root: Path, workdir: Path) -> list[str]:
    """`terraform init -backend=false` on a copy (providers from the mirror): the errors it reports.

    The copy is left initialised at workdir/"init" for validate_problems().
    """
    copy = copy_infra(root, workdir / "init")
    result = terraform().run(copy, "init", "-backend=false", "-input=false", "-no-color")
    if result.returncode == 0:
        return []
    return error_summaries(result.stderr) or [f"terraform init failed (exit {result.returncode}): {result.stderr}"]


def validate_problems(directory: Path) -> list[str]:
    """`terraform validate` of an initialised directory: each error as "file:line: summary: detail"."""
    result = terraform().run(directory, "validate", "-json", "-no-color")
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        return [f"terraform validate printed no JSON (exit {result.returncode}): {result.stderr[-3000:]}"]
    problems = []
    for diagnostic in report.get("diagnostics", []):
        if diagnostic.get("severity") != "error":
            continue
        where = diagnostic.get("range", {})
        location = f"{where.get('filename', '?')}:{where.get('start', {}).get('line', '?')}: " if where else ""
        problems.append(f"{location}{diagnostic.get('summary')}: {diagnostic.get('detail', '')}".strip())
    if result.returncode != 0 and not problems:
        problems.append(f"terraform validate failed (exit {result.returncode}): {result.stderr[-3000:]}")
    return problems


def _extract_block(text: str, header: str) -> str:
    start = text.index(header)
    depth = 0
    for i in range(text.index("{", start), len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start : i + 1]
    raise ValueError(f"unbalanced block {header!r}")


def evaluate_names(root: Path, tfvars: Path, workdir: Path, account_id: str = "123456789012") -> dict[str, Any]:
    """The names infra/ gives its resources under a tfvars file, evaluated by Terraform.

    A scratch root gets infra/'s variables.tf (defaults and validations included), the
    `module "naming"` block exactly as infra/main.tf writes it, and modules/naming, which uses
    no provider; `terraform apply` then evaluates it offline.
    """
    scratch = workdir / "names"
    shutil.copytree(root / "modules" / "naming", scratch / "modules" / "naming")
    shutil.copy(root / "variables.tf", scratch / "variables.tf")
    call = _extract_block((root / "main.tf").read_text(), 'module "naming"')
    (scratch / "main.tf").write_text(
        f'locals {{\n  account = "{account_id}"\n}}\n\n{call}\n\noutput "names" {{\n  value = module.naming\n}}\n'
    )
    shutil.copy(tfvars, scratch / "terraform.tfvars")
    tf = terraform(providers=False)
    tf.check(scratch, "init", "-input=false", "-no-color")
    tf.check(scratch, "apply", "-auto-approve", "-input=false", "-no-color", "-var=image_tag=0123456789ab")
    return json.loads(tf.check(scratch, "output", "-json", "-no-color").stdout)["names"]["value"]


def name_limit_errors(names: dict[str, Any]) -> list[str]:
    """Names longer than AWS allows."""
    problems = []
    for key, limit in NAME_LIMITS.items():
        values = names[key] if isinstance(names[key], dict) else {"": names[key]}
        for service, value in values.items():
            if len(value) > limit:
                problems.append(f"{key}[{service}] = {value!r} has {len(value)} characters; AWS allows {limit}")
    for key, limit in SINGLETON_LIMITS.items():
        value = names["singletons"][key]
        if len(value) > limit:
            problems.append(f"singletons.{key} = {value!r} has {len(value)} characters; AWS allows {limit}")
    bucket = names["singletons"]["alb_logs_bucket"]
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
        problems.append(f"S3 bucket name {bucket!r} is not valid")
    for value in [names["alb"], *names["target_groups"].values()]:
        if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?", value):
            problems.append(f"load balancer / target group name {value!r} has invalid characters or edges")
    return problems


def run_checkov(checkov: Path, root: Path = INFRA) -> dict[str, Any]:
    """checkov on the Terraform framework; returns its JSON report (summary and failed checks)."""
    completed = subprocess.run(
        [
            str(checkov),
            "--directory",
            str(root),
            "--framework",
            "terraform",
            "--quiet",
            "--compact",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError as error:
        raise AssertionError(
            f"checkov printed no JSON (exit {completed.returncode}):\n{completed.stderr[-3000:]}"
        ) from error
    reports = report if isinstance(report, list) else [report]
    terraform = [r for r in reports if r.get("check_type") == "terraform"]
    if not terraform:
        raise AssertionError(f"checkov reported no terraform results: {completed.stdout[:2000]}")
    return terraform[0]
