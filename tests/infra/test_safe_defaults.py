"""Safe defaults (issue 16, item 8) and a teardown that works in production (item 6, infra side).

infra/tests/safe_defaults.tftest.hcl runs the real Terraform CLI against a mocked AWS provider (offline,
tests/infra/mockplan.py); the structural checks read infra/ with python-hcl2 where Terraform has no
command that shows the property (unused declarations, dependency order).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from .mockplan import Results, Run, results
from .tfchecks import INFRA, blocks, module_dirs, strings, typed_blocks, unquote
from .tfchecks import parse_dir as parse_dir_uncached

FILE = "safe_defaults.tftest.hcl"


@cache
def parse_dir(directory: Path) -> dict[str, dict[str, Any]]:
    return parse_dir_uncached(directory)


@pytest.fixture(scope="module")
def tftest(tmp_path_factory: pytest.TempPathFactory) -> Results:
    return results(tmp_path_factory)


def passed(tftest: Results, name: str, file: str = FILE) -> Run:
    run = tftest.run(file, name)
    assert run.status == "pass", f"run {name!r} of {file}: {run.status}: {run.diagnostics}"
    return run


@pytest.mark.parametrize(
    "name",
    [
        "production_without_certificate_is_refused",  # expect_failures = [var.certificate_arn]
        "production_with_an_empty_certificate_is_refused",  # what CI passes for an unset variable
        "staging_may_serve_http",
        "teardown",  # production, no certificate, allow_http = true: plans, and serves HTTP
    ],
)
def test_production_needs_a_certificate_unless_http_is_allowed_explicitly(tftest: Results, name: str) -> None:
    passed(tftest, name)


def test_the_refusal_says_what_to_do() -> None:
    """The expected failure's text is what a person running `make plan` without a certificate reads."""
    text = (INFRA / "variables.tf").read_text()
    block = text[text.index('variable "certificate_arn"') :]
    message = block[: block.index("\n}\n")]
    assert "allow_http = true" in message
    assert "certificate_arn" in message


def test_toggling_fargate_spot_forces_a_new_deployment(tftest: Results) -> None:
    """platform_agreement.tftest.hcl applies the ECS module without Spot, then plans it with Spot."""
    passed(tftest, "service_created", "platform_agreement.tftest.hcl")
    service = passed(tftest, "service_updated", "platform_agreement.tftest.hcl").resources()[
        'aws_ecs_service.this["web"]'
    ]
    assert {s["capacity_provider"] for s in service["capacity_provider_strategy"]} == {"FARGATE", "FARGATE_SPOT"}
    assert service["force_new_deployment"] is True


# --------------------------------------------------------------------------- teardown


def protections(run: Run) -> dict[str, Any]:
    planned = run.resources()
    repositories = [v for k, v in planned.items() if k.startswith("module.ecr.aws_ecr_repository.")]
    discovery = [v for k, v in planned.items() if k.startswith("module.ecs.aws_service_discovery_service.")]
    assert repositories
    assert discovery
    return {
        "alb deletion protection": planned["module.alb.aws_lb.this"]["enable_deletion_protection"],
        "log bucket force_destroy": planned["module.alb.aws_s3_bucket.access_logs"]["force_destroy"],
        "ECR force_delete": {r["force_delete"] for r in repositories},
        "Cloud Map force_destroy": {s["force_destroy"] for s in discovery},
    }


def test_production_is_protected_by_default(tftest: Results) -> None:
    run = passed(tftest, "platform", "platform_agreement.tftest.hcl")
    assert protections(run) == {
        "alb deletion protection": True,
        "log bucket force_destroy": False,
        "ECR force_delete": {False},
        "Cloud Map force_destroy": {False},
    }


def test_allow_destroy_lifts_everything_that_blocks_terraform_destroy(tftest: Results) -> None:
    assert protections(passed(tftest, "teardown")) == {
        "alb deletion protection": False,
        "log bucket force_destroy": True,
        "ECR force_delete": {True},
        "Cloud Map force_destroy": {True},
    }


# --------------------------------------------------------------------------- names on replacement


def test_resources_replaced_before_destroy_get_generated_names(tftest: Results) -> None:
    """create_before_destroy makes the new one while the old one exists: a fixed name collides
    (InvalidGroup.Duplicate, DuplicateTargetGroupName). AWS generates a fresh name from name_prefix."""
    planned = passed(tftest, "platform", "platform_agreement.tftest.hcl")
    groups = {
        address: values
        for address, values in planned.resources().items()
        if re.match(r"module\.\w+\.aws_(security_group|lb_target_group)\.", address)
    }
    assert len(groups) >= 4  # a group per service, the ALB's, a target group per routed service
    for address, values in groups.items():
        assert values.get("name_prefix"), f"{address} has a fixed name"
        assert planned.unknown(address).get("name") is True, f"{address}: AWS should pick the name"
        if ".aws_lb_target_group." in address:
            assert len(values["name_prefix"]) <= 6, f"{address}: AWS allows a target group name_prefix of 6"
        assert (values.get("tags") or {}).get("Name"), f"{address}: the readable name belongs in the Name tag"


def test_no_resource_created_before_destroy_has_a_fixed_name() -> None:
    """Also the ones the example variables do not create (VPC endpoints)."""
    fixed = []
    for directory in module_dirs(INFRA):
        for file, rtype, name, body in typed_blocks(parse_dir(directory), "resource"):
            lifecycle = (body.get("lifecycle") or [{}])[0]
            if lifecycle.get("create_before_destroy") is True and "name" in body:
                fixed.append(f"{directory.name}/{file}: {rtype}.{name}")
    assert fixed == []


# --------------------------------------------------------------------------- dependencies and lint


def test_no_unused_declarations() -> None:
    """tflint's terraform_unused_declarations (ci.yml runs tflint): data sources, variables, locals."""
    unused = []
    for directory in module_dirs(INFRA):
        parsed = parse_dir(directory)
        code = "\n".join(strings(list(parsed.values())))
        for _, rtype, name, _ in typed_blocks(parsed, "data"):
            if f"data.{rtype}.{name}" not in code:
                unused.append(f"{directory.name}: data.{rtype}.{name}")
        for doc in parsed.values():
            for entry in doc.get("variable", []):
                for name in entry:
                    if not re.search(rf"\bvar\.{re.escape(unquote(name))}\b", code):
                        unused.append(f"{directory.name}: var.{unquote(name)}")
            for entry in doc.get("locals", []):
                for name in entry:
                    if not name.startswith("__") and not re.search(rf"\blocal\.{re.escape(name)}\b", code):
                        unused.append(f"{directory.name}: local.{name}")
    assert unused == []


def test_services_start_only_after_the_execution_role_can_pull() -> None:
    """The first tasks of a fresh apply pull their image with the execution role: the ECS services must wait
    for the role's policy, not only for the role (its ARN exists before the policy is attached)."""
    [ecs] = [body for _, name, body in blocks(parse_dir(INFRA), "module") if name == "ecs"]
    assert "${module.iam}" in ecs.get("depends_on", []), "module ecs does not depend on module iam"
    # Module-level depends_on defers the module's data sources to apply time whenever the IAM module has
    # changes, which would make the task definitions unknown and replace them: the ECS module reads none.
    data_sources = [
        f"{rtype}.{name}" for _, rtype, name, _ in typed_blocks(parse_dir(INFRA / "modules" / "ecs"), "data")
    ]
    assert data_sources == []
