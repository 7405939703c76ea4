"""Every Handler of template.yaml is in the Lambda bundle and imports there with the stack's environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from .checks import REPO, functions

# Values a deployment of the example platform would give the parameters (infra/terraform.tfvars.example).
SAMPLE_PARAMETERS = {
    "ProjectName": "ecs-microservices",
    "EnvironmentName": "production",
    "ClusterName": "ecs-microservices-production-cluster",
    "ServiceNames": ["service-a", "service-b"],
    "ConfigFile": "config/example.yaml",
    "SlackSigningSecretName": "fargate-chatops/slack-signing-secret",
    "SlackBotTokenSecretName": "fargate-chatops/slack-bot-token",
    "LogLevel": "INFO",
    "CostReportChannel": "C0COSTS",
    "AlarmChannel": "C0ALARMS",
    "ExternalId": "sample-external-id-0001",
}
SAMPLE_RESOURCES = {  # and pseudo parameters
    "StateTable": "opsbot-state",
    "OwnAlarmTopic": "arn:aws:sns:us-east-1:123456789012:ecs-microservices-production-opsbot-own-alarms",
    "AWS::AccountId": "123456789012",
}

# The variables the bot's code reads (bot/config.py and the handlers); the template must set each one.
CONTRACT_ENVIRONMENT = frozenset(
    {
        "OPSBOT_PROJECT",
        "OPSBOT_ENVIRONMENT",
        "OPSBOT_CLUSTER",
        "OPSBOT_ACCOUNT_ID",
        "OPSBOT_SERVICES",
        "OPSBOT_CONFIG_FILE",
        "OPSBOT_STATE_TABLE",
        "OPSBOT_EXTERNAL_ID",
        "SLACK_SIGNING_SECRET_NAME",
        "SLACK_BOT_TOKEN_SECRET_NAME",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_LOG_LEVEL",
        "POWERTOOLS_METRICS_NAMESPACE",
    }
)


def _resolve(value: Any) -> Any:
    """The few intrinsics the environment uses, with sample values."""
    if isinstance(value, Mapping) and "Ref" in value:
        return SAMPLE_PARAMETERS.get(value["Ref"]) or SAMPLE_RESOURCES[value["Ref"]]
    if isinstance(value, Mapping) and "Fn::Join" in value:
        separator, items = value["Fn::Join"]
        return separator.join(_resolve(items))
    return value


def lambda_environment(properties: Mapping[str, Any]) -> dict[str, str]:
    variables = properties.get("Environment", {}).get("Variables", {})
    return {name: str(_resolve(value)) for name, value in variables.items()}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What lambda/Makefile puts in a function: the code; the dependencies are the layer's (here the venv's).

    tests/deploy/test_sam_build.py imports each handler from a real `sam build` with only its layer."""
    artifacts = tmp_path_factory.mktemp("bundle")
    make = ["make", "--silent", "-f", "lambda/Makefile", "build-SlackFunction"]
    subprocess.run(
        [*make, f"ARTIFACTS_DIR={artifacts}"],
        cwd=REPO,
        check=True,
        timeout=60,
    )
    return artifacts


def test_the_bundle_holds_only_the_code_and_the_config(bundle: Path) -> None:
    assert sorted(p.name for p in bundle.iterdir()) == ["bot", "config", "handlers"]


def test_the_template_sets_every_variable_the_code_reads(template: dict[str, Any]) -> None:
    for name, properties in functions(template).items():
        missing = CONTRACT_ENVIRONMENT - set(lambda_environment(properties))
        assert not missing, f"{name} lacks environment variables {sorted(missing)}"


def test_the_config_file_is_in_the_bundle(template: dict[str, Any], bundle: Path) -> None:
    default = template["Parameters"]["ConfigFile"]["Default"]
    assert (bundle / default).is_file(), f"ConfigFile default {default} is not in the bundle"


IMPORT_HANDLER = (
    "import importlib, sys\n"
    "module, _, name = sys.argv[1].rpartition('.')\n"
    "assert callable(getattr(importlib.import_module(module), name)), sys.argv[1]\n"
)


def lambda_like_environment(function: str, properties: Mapping[str, Any]) -> dict[str, str]:
    """The function's environment variables from the template, and what Lambda sets, with credentials that
    cannot reach AWS: importing must not call it."""
    return {
        **lambda_environment(properties),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def import_in_lambda_like_process(function: str, properties: Mapping[str, Any], bundle: Path) -> str:
    """Import the function's Handler from the bundle in a fresh process; return the error, if any."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPSBOT_", "SLACK_", "AWS_"))},
        **lambda_like_environment(function, properties),
        "PYTHONPATH": str(bundle),
    }
    # Lambda's working directory is the bundle's root
    return import_errors([sys.executable, "-c", IMPORT_HANDLER, properties["Handler"]], bundle, environment)


def import_errors(argv: list[str], cwd: Path, environment: Mapping[str, str]) -> str:
    """Run `argv` (a handler's import) in `cwd` with only `environment`: "" when it imports, else the end of
    what it wrote to stderr."""
    result = subprocess.run(argv, cwd=cwd, env=environment, capture_output=True, text=True, timeout=60, check=False)
    return "" if result.returncode == 0 else result.stderr[-3000:]


def test_every_handler_imports_from_the_bundle(template: dict[str, Any], bundle: Path) -> None:
    errors = {
        f"{name} ({properties['Handler']})": import_in_lambda_like_process(name, properties, bundle)
        for name, properties in functions(template).items()
    }
    failed = {name: error for name, error in errors.items() if error}
    assert not failed, "\n".join(f"{name} does not import:\n{error}" for name, error in failed.items())


def test_a_handler_that_does_not_exist_is_reported(template: dict[str, Any], bundle: Path) -> None:
    properties = {**functions(template)["SlackFunction"], "Handler": "handlers.slack.no_such_handler"}
    assert "no_such_handler" in import_in_lambda_like_process("SlackFunction", properties, bundle)
