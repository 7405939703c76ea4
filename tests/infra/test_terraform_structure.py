"""infra/ as Terraform reads it: formatting, module interfaces, references, conventions."""

from __future__ import annotations

import re
from pathlib import Path

from .tfchecks import (
    INFRA,
    alarm_action_errors,
    blocks,
    ecs_exec_logging_errors,
    fmt_problems,
    iam_wildcard_errors,
    init_problems,
    interface_errors,
    module_call_errors,
    module_dirs,
    parse_dir,
    reference_errors,
    strings,
    typed_blocks,
    unquote,
    validate_problems,
)

MODULES = ("vpc", "alb", "ecs", "ecr", "iam", "monitoring")

# Outputs the bot's deploy (scripts/deploy-bot.sh) and the seed's README rely on.
REQUIRED_OUTPUTS = {
    "project_name", "environment", "aws_region", "cluster_name", "ecs_service_names",
    "task_definition_families", "log_group_names", "ecr_repository_urls", "ecr_repository_arns",
    "task_role_arns", "execution_role_arn", "alarm_topic_arn", "alb_dns_name", "alb_url",
    "github_actions_role_arn", "cloudwatch_dashboard_url",
}  # fmt: skip


def test_terraform_fmt_check_passes() -> None:
    assert fmt_problems() == [], "run `make fmt`: terraform fmt would rewrite these files"


def test_terraform_init_and_validate_pass(tmp_path: Path) -> None:
    """`terraform init -backend=false` (modules, and hashicorp/aws from the mirror), then `terraform validate`."""
    assert init_problems(INFRA, tmp_path) == []
    assert validate_problems(tmp_path / "init") == []


def test_module_calls_match_module_variables() -> None:
    assert module_call_errors() == []


def test_every_reference_resolves() -> None:
    assert reference_errors() == []


def test_variables_typed_and_described_outputs_described() -> None:
    assert interface_errors() == []


def test_each_module_has_the_standard_files() -> None:
    for name in MODULES:
        present = {p.name for p in (INFRA / "modules" / name).glob("*.tf")}
        assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf"} <= present, name


def test_root_outputs_include_what_the_bot_deploy_reads() -> None:
    outputs = {name for _, name, _ in blocks(parse_dir(INFRA), "output")}
    assert REQUIRED_OUTPUTS - outputs == set()


def test_every_alarm_notifies_on_alarm_and_ok() -> None:
    assert alarm_action_errors() == []


def test_no_unjustified_wildcard_on_mutating_iam_actions() -> None:
    assert iam_wildcard_errors() == []


def test_backend_is_partial_s3_with_locking() -> None:
    text = (INFRA / "backend.tf").read_text()
    assert 'backend "s3"' in text
    assert "dynamodb_table" in text
    assert "encrypt        = true" in text
    assert not re.search(r"^\s*(bucket|region)\s*=", text, flags=re.MULTILINE), "bucket/region come from init"


def test_service_names_appear_only_in_the_services_data() -> None:
    """Adding a service is a map entry: no resource is written for service-a or service-b."""
    offenders = []
    for directory in module_dirs(INFRA):
        for file, doc in parse_dir(directory).items():
            if directory == INFRA and file == "variables.tf":
                continue  # the services map's default is the one place they are named
            code = "\n".join(strings(doc, frozenset({"__comments__", "description"})))
            if re.search(r"service-[ab]\b", code):
                offenders.append(f"{directory.name}/{file}")
    assert offenders == []


def test_per_service_resources_iterate_over_the_services_map() -> None:
    per_service = {
        "aws_ecs_service", "aws_ecs_task_definition", "aws_ecr_repository", "aws_lb_target_group",
        "aws_appautoscaling_target", "aws_iam_role.task", "aws_cloudwatch_log_group.service",
        "aws_security_group.service", "aws_cloudwatch_metric_alarm.cpu_high",
    }  # fmt: skip
    seen = set()
    for directory in module_dirs(INFRA):
        for file, rtype, name, body in typed_blocks(parse_dir(directory), "resource"):
            if rtype in per_service or f"{rtype}.{name}" in per_service:
                seen.add(rtype if rtype in per_service else f"{rtype}.{name}")
                assert "for_each" in body, f"{directory.name}/{file}: {rtype}.{name} is not driven by the map"
    assert seen == per_service


def test_ecs_service_hands_desired_count_to_autoscaling_and_rolls_back() -> None:
    parsed = parse_dir(INFRA / "modules" / "ecs")
    [service] = [body for _, rtype, _, body in typed_blocks(parsed, "resource") if rtype == "aws_ecs_service"]
    ignored = service["lifecycle"][0]["ignore_changes"]
    assert "${desired_count}" in ignored or "desired_count" in ignored
    breaker = service["deployment_circuit_breaker"][0]
    assert breaker["enable"] is True
    assert breaker["rollback"] is True


def test_ecs_service_target_group_comes_through_the_listener_rule() -> None:
    """A service attached to a target group that has no listener rule yet fails to create."""
    outputs = {name: body for _, name, body in blocks(parse_dir(INFRA / "modules" / "alb"), "output")}
    assert "aws_lb_listener_rule" in outputs["target_group_arns"]["value"]


def test_waf_has_rate_limit_and_managed_rule_groups_with_logging() -> None:
    text = (INFRA / "modules" / "alb" / "main.tf").read_text()
    for needle in (
        "rate_based_statement",
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "aws_wafv2_web_acl_logging_configuration",
        "drop_invalid_header_fields = true",
    ):
        assert needle in text
    defaults = {name: body for _, name, body in blocks(parse_dir(INFRA), "variable")}
    assert defaults["waf_rate_limit"]["default"] == 2000


def test_tfvars_example_sets_only_declared_variables() -> None:
    import hcl2

    declared = {name for _, name, _ in blocks(parse_dir(INFRA), "variable")}
    example = hcl2.loads((INFRA / "terraform.tfvars.example").read_text())
    assert {k for k in example if not k.startswith("__")} - declared == set()
    assert {unquote(v) for v in [example["project_name"], example["environment"]]} == {
        "ecs-microservices",
        "production",
    }


def test_for_each_filters_use_values_known_at_plan_time() -> None:
    """Filtering a for_each map on an ARN or id (unknown until apply) breaks the first plan."""
    offenders = []
    for directory in module_dirs(INFRA):
        for file, doc in parse_dir(directory).items():
            for text in strings(doc):
                if re.search(r"\bif\s+[^}]*(_arn|_arn_suffix|_id)\b[^}]*(!=|==)\s*null", text):
                    offenders.append(f"{directory.name}/{file}: {text}")
    assert offenders == []


def test_finding_11c_ecs_exec_sessions_are_not_logged_where_viewers_read() -> None:
    """Defect (issue 14, finding 11c): the CKV_AWS_224 skip said ECS Exec output is deliberately not logged,
    while the cluster's execute_command_configuration had logging = "DEFAULT", which writes each session's
    output to the task's log group, the one every viewer reads with /logs."""
    assert ecs_exec_logging_errors() == []
    [skip] = [
        line for line in (INFRA / "modules" / "ecs" / "main.tf").read_text().splitlines() if "CKV_AWS_224" in line
    ]
    assert "not logged" in skip
