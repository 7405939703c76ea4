"""The configuration fails at start-up with a message that names the field and the problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from harness import config_data

from bot.config import ConfigError, Role, load_config, parse_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.yaml"


def test_the_example_config_loads_and_matches_infra_naming() -> None:
    config = load_config({"OPSBOT_CONFIG_FILE": str(EXAMPLE)})
    target = config.target("service-a")
    assert target.cluster == "ecs-microservices-production-cluster"
    assert target.ecs_service == "ecs-microservices-production-service-a"
    assert target.task_family == "ecs-microservices-production-service-a"
    assert target.ecr_repository == "ecs-microservices-production-service-a"
    assert target.log_group == "/ecs/ecs-microservices-production-service-a"
    assert target.container == "service-a"
    assert config.environment().confirmation_required


def test_environment_variables_alone_make_a_working_config() -> None:
    config = load_config(
        {
            "OPSBOT_PROJECT": "shop",
            "OPSBOT_ENVIRONMENT": "staging",
            "AWS_REGION": "eu-west-1",
            "OPSBOT_SERVICES": "web, worker",
            "OPSBOT_STATE_TABLE": "shop-bot",
            "OPSBOT_CLUSTER": "shop-cluster",
            "OPSBOT_ACCOUNT_ID": "111122223333",
        }
    )
    assert config.service_names == ["web", "worker"]
    assert config.target("worker").ecs_service == "shop-staging-worker"
    assert config.target("worker").cluster == "shop-cluster"
    assert config.state_table == "shop-bot"
    assert config.environment().region == "eu-west-1"
    assert config.environment().account_id == "111122223333"


def with_change(path: str, value: Any) -> dict[str, Any]:
    data = config_data()
    node: Any = data
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node[key]
    last = keys[-1]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return data


INVALID = [
    ("project", "Bad Name", "project"),
    ("environments.0.region", "mars-1", "environments.0.region"),
    ("environments.0.plan_ttl_minutes", 0, "environments.0.plan_ttl_minutes"),
    ("environments.0.lock_ttl_minutes", 1, "environments.0.lock_ttl_minutes"),
    ("environments.0.role_arn", "not-an-arn", "environments.0.role_arn"),
    ("environments.0.account_id", "12345", "environments.0.account_id"),
    ("environments.0.channels", ["#ops"], "environments.0.channels"),
    ("environments.0.roles", {"deployer": ["alice"]}, "environments.0.roles.deployer"),
    ("environments.0.roles", {"superuser": ["U1"]}, "environments.0.roles.superuser"),
    ("environments.0.protected", "maybe", "environments.0.protected"),
    ("environments.0.colour", "blue", "environments.0.colour"),
    ("environments", [], "environments"),
    ("services", [], "services"),
    ("services.0.name", "Service A", "services.0.name"),
    ("services.0", {"name": "a", "min_tasks": 5, "max_tasks": 2}, "services.0"),
    ("services.0", {"name": "a", "min_tasks": -1}, "services.0.min_tasks"),
    ("services.0", {"name": "a", "max_tasks": 0}, "services.0.max_tasks"),
    ("services.1.name", "service-a", "services"),
    ("default_environment", "qa", "default_environment"),
    ("naming", {"cluster": "{project}-{region}"}, "naming.cluster"),
    ("unknown_setting", 1, "unknown_setting"),
]


@pytest.mark.parametrize(("path", "value", "named"), INVALID, ids=[i[0] + "=" + str(i[1])[:12] for i in INVALID])
def test_every_invalid_field_is_named(path: str, value: Any, named: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(with_change(path, value))
    message = str(raised.value)
    assert message.startswith("invalid configuration:")
    assert f"  {named}" in message, message
    print(f"config error for {path}: {message.splitlines()[1].strip()}")


def test_a_config_file_that_is_not_yaml_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("project: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config({"OPSBOT_CONFIG_FILE": str(bad)})
    with pytest.raises(ConfigError, match="cannot read OPSBOT_CONFIG_FILE"):
        load_config({"OPSBOT_CONFIG_FILE": str(tmp_path / "missing.yaml")})


def test_roles_include_the_ones_below() -> None:
    assert Role.ADMIN > Role.DEPLOYER > Role.OPERATOR > Role.VIEWER


@pytest.mark.parametrize("variable", ["OPSBOT_ALARM_CHANNEL", "OPSBOT_COST_CHANNEL"])
def test_a_bad_environment_variable_is_named(variable: str) -> None:
    with pytest.raises(ConfigError, match=f"{variable}: '#ops' is not a Slack channel ID"):
        load_config({"OPSBOT_CONFIG_FILE": str(EXAMPLE), variable: "#ops"})


def test_empty_variables_are_unset() -> None:
    config = load_config({"OPSBOT_CONFIG_FILE": str(EXAMPLE), "OPSBOT_PROJECT": "", "OPSBOT_ALARM_CHANNEL": ""})
    assert config == load_config({"OPSBOT_CONFIG_FILE": str(EXAMPLE)})
