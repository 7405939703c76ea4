"""The checks bite: each one reports a deliberately broken copy of infra/ (infra/ itself is never edited)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .tfchecks import (
    INFRA,
    alarm_action_errors,
    ecs_exec_logging_errors,
    evaluate_names,
    fmt_problems,
    iam_wildcard_errors,
    init_problems,
    module_call_errors,
    name_limit_errors,
    reference_errors,
    validate_problems,
)


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "tfplan"))
    return copy


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) >= 1, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_misspelled_module_argument_is_reported(broken: Path, tmp_path: Path) -> None:
    replace_once(
        broken / "main.tf",
        "  keep_last_images = var.ecr_keep_last_images",
        "  keep_last_image = var.ecr_keep_last_images",
    )
    problems = module_call_errors(broken)
    assert any("unknown argument 'keep_last_image'" in p for p in problems)
    # Terraform itself agrees: init installs the modules, validate rejects the argument.
    assert init_problems(broken, tmp_path) == []
    assert any("Unsupported argument" in p and "keep_last_image" in p for p in validate_problems(tmp_path / "init"))


def test_missing_required_module_argument_is_reported(broken: Path) -> None:
    replace_once(broken / "main.tf", "  repositories     = module.naming.ecr_repositories\n", "")
    assert any("missing required argument 'repositories'" in p for p in module_call_errors(broken))


def test_undeclared_variable_and_unknown_module_output_are_reported(broken: Path) -> None:
    replace_once(broken / "main.tf", "var.ecr_force_delete", "var.ecr_force_delet")
    replace_once(broken / "outputs.tf", "module.ecs.cluster_name", "module.ecs.cluster_nam")
    problems = reference_errors(broken)
    assert any("var.ecr_force_delet is not declared" in p for p in problems)
    assert any("has no output 'cluster_nam'" in p for p in problems)


def test_name_past_its_aws_limit_is_reported(broken: Path, tmp_path: Path) -> None:
    # Undo the shortening: target groups named like the ECS services are 38 characters long.
    naming = broken / "modules" / "naming" / "main.tf"
    text = naming.read_text()
    start = text.index("  target_groups = {")
    end = text.index("\n  }", start) + len("\n  }")
    naming.write_text(
        text[:start]
        + '  target_groups = { for name, port in var.service_ports : name => "${local.prefix}-${name}" }'
        + text[end:]
    )
    names = evaluate_names(broken, broken / "terraform.tfvars.example", tmp_path)
    problems = name_limit_errors(names)
    assert any("target_groups[service-a]" in p and "AWS allows 32" in p for p in problems)


def test_alarm_without_ok_actions_is_reported(broken: Path) -> None:
    path = broken / "modules" / "monitoring" / "main.tf"
    text = path.read_text()
    start = text.index('resource "aws_cloudwatch_metric_alarm" "memory_high"')
    ok = text.index("  ok_actions          = [aws_sns_topic.alarms.arn]\n", start)
    path.write_text(text[:ok] + text[ok:].replace("  ok_actions          = [aws_sns_topic.alarms.arn]\n", "", 1))
    assert alarm_action_errors(broken) == [
        "infra/modules/monitoring/main.tf: aws_cloudwatch_metric_alarm.memory_high has no ok_actions"
    ]


@pytest.mark.parametrize(
    ("old", "new"),
    [('logging = "NONE"', 'logging = "DEFAULT"'), ('logging = "NONE"', 'logging = "OVERRIDE"')],
)
def test_finding_11c_ecs_exec_logging_other_than_none_is_reported(broken: Path, old: str, new: str) -> None:
    replace_once(broken / "modules" / "ecs" / "main.tf", old, new)
    [problem] = ecs_exec_logging_errors(broken)
    assert "aws_ecs_cluster.this: ECS Exec logging" in problem


def test_finding_11c_a_cluster_without_exec_configuration_is_reported(broken: Path) -> None:
    path = broken / "modules" / "ecs" / "main.tf"
    text = path.read_text()
    start = text.index("  configuration {\n    execute_command_configuration {")
    end = text.index("\n  }\n", start) + len("\n  }\n")
    path.write_text(text[:start] + text[end:])
    assert any("has no execute_command_configuration" in p for p in ecs_exec_logging_errors(broken))


def test_unjustified_wildcard_is_reported(broken: Path) -> None:
    replace_once(
        broken / "modules" / "iam" / "main.tf",
        "# wildcard: the SSM messages channel actions have no resource-level permission.",
        "# (no reason given)",
    )
    problems = iam_wildcard_errors(broken)
    assert len(problems) == 1
    assert "EcsExecSessions" in problems[0]


def test_unformatted_file_is_reported_and_left_alone(broken: Path) -> None:
    path = broken / "modules" / "ecr" / "outputs.tf"
    messy = path.read_text().replace("  value       =", "  value =", 1)
    path.write_text(messy)
    assert fmt_problems(broken) == ["modules/ecr/outputs.tf"]
    assert path.read_text() == messy
