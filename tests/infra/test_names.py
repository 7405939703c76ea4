"""Names under terraform.tfvars.example, as Terraform computes them, against AWS limits and the bot's config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .tfchecks import INFRA, REPO, evaluate_names, name_limit_errors


def test_names_fit_aws_limits(names: dict[str, Any]) -> None:
    assert name_limit_errors(names) == []


def test_names_include_the_environment(names: dict[str, Any]) -> None:
    for key in ("cluster", "alb"):
        assert "production" in names[key]
    for key in ("ecs_services", "ecr_repositories", "log_groups", "target_groups", "task_roles"):
        assert all("production" in value for value in names[key].values()), key


def test_names_follow_the_bot_config_convention(names: dict[str, Any]) -> None:
    config = yaml.safe_load((REPO / "config" / "example.yaml").read_text())
    templates = config["naming"]
    project, env = config["project"], config["default_environment"]
    assert names["cluster"] == templates["cluster"].format(project=project, env=env)
    for service in (s["name"] for s in config["services"]):
        fields = {"project": project, "env": env, "name": service}
        assert names["ecs_services"][service] == templates["ecs_service"].format(**fields)
        assert names["task_families"][service] == templates["task_family"].format(**fields)
        assert names["containers"][service] == templates["container"].format(**fields)
        assert names["ecr_repositories"][service] == templates["ecr_repository"].format(**fields)
        assert names["log_groups"][service] == templates["log_group"].format(**fields)
        assert names["alarm_prefixes"][service] == templates["alarm_prefix"].format(**fields)
    assert names["singletons"]["alb_5xx_alarm"] == f"{project}-{env}-alb-5xx"
    assert names["singletons"]["alarm_topic"] == f"{project}-{env}-alarms"


def test_target_group_names_are_short_distinct_and_readable(names: dict[str, Any]) -> None:
    groups = names["target_groups"]
    assert len(set(groups.values())) == len(groups)
    for service, name in groups.items():
        assert name.startswith(f"production-{service}-")
        assert len(name) <= 32


def test_a_third_service_is_one_map_entry(tmp_path: Path) -> None:
    tfvars = tmp_path / "three.tfvars"
    tfvars.write_text(
        (INFRA / "terraform.tfvars.example")
        .read_text()
        .replace("services = {", 'services = {\n  "service-c" = {\n    port = 8002\n  }', 1)
    )
    names = evaluate_names(INFRA, tfvars, tmp_path)
    assert set(names["ecs_services"]) == {"service-a", "service-b", "service-c"}
    assert names["ecs_services"]["service-c"] == "ecs-microservices-production-service-c"
    assert name_limit_errors(names) == []
