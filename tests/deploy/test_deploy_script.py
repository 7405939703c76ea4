"""scripts/deploy-bot.sh turns infra/'s Terraform outputs into exactly the template's parameters."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .checks import REPO

SCRIPT = REPO / "scripts" / "deploy-bot.sh"
ACCOUNT = "123456789012"
SERVICES = ("service-a", "service-b")


def terraform_outputs(project: str = "ecs-microservices", env: str = "production") -> dict[str, Any]:
    """What `terraform output -json` prints for infra/ (names follow config/example.yaml)."""
    prefix = f"{project}-{env}"
    values: dict[str, Any] = {
        "project_name": project,
        "environment": env,
        "aws_region": "eu-west-1",
        "cluster_name": f"{prefix}-cluster",
        "ecs_service_names": {s: f"{prefix}-{s}" for s in SERVICES},
        "task_definition_families": {s: f"{prefix}-{s}" for s in SERVICES},
        "log_group_names": {s: f"/ecs/{prefix}-{s}" for s in SERVICES},
        "ecr_repository_urls": {s: f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/{prefix}-{s}" for s in SERVICES},
        "ecr_repository_arns": {s: f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/{prefix}-{s}" for s in SERVICES},
        "task_role_arns": {s: f"arn:aws:iam::{ACCOUNT}:role/{prefix}-{s}-task" for s in SERVICES},
        "execution_role_arn": f"arn:aws:iam::{ACCOUNT}:role/{prefix}-execution",
        "alarm_topic_arn": f"arn:aws:sns:eu-west-1:{ACCOUNT}:{prefix}-alarms",
        "bot_functions_boundary_arn": f"arn:aws:iam::{ACCOUNT}:policy/{prefix}-github-bot-deploy-functions-boundary",
    }
    return {name: {"sensitive": False, "value": value} for name, value in values.items()}


def _stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!/usr/bin/env bash\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def run_script(
    tmp_path: Path,
    outputs: dict[str, Any],
    *,
    tools: tuple[str, ...] = ("terraform", "sam"),
    env: dict[str, str] | None = None,
):
    """Run the script with stand-ins for terraform and sam; sam records its arguments, one call a line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    calls = tmp_path / "sam-calls.jsonl"
    if "terraform" in tools:
        _stub(bin_dir, "terraform", f'cat "{tmp_path / "outputs.json"}"')
    if "sam" in tools:
        record = f"""{sys.executable} -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@" >> "{calls}" """
        outputs_json = '[{"OutputKey": "SlackRequestUrl", "OutputValue": "https://abc.example/slack/events"}]'
        _stub(bin_dir, "sam", f"{record}\n[[ $1 == list ]] && echo '{outputs_json}'\nexit 0")
    python_dir = Path(sys.executable).parent  # has python3
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "STACK_", "LOG_LEVEL", "CONFIG_"))},
        "PATH": f"{bin_dir}:{python_dir}:/usr/bin:/bin",
        **(env or {}),
    }
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=60, check=False
    )
    sam_calls = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    return result, sam_calls


SAM_PYTHON = REPO / ".venv-sam" / "bin" / "python"  # `make sam-venv`


def _overrides(deploy: list[str]) -> dict[str, str]:
    """What `sam deploy` makes of its --parameter-overrides: its own parser when the SAM CLI is installed
    (make test installs it), else Key=Value with SAM's double quotes around a value taken off."""
    start = deploy.index("--parameter-overrides") + 1
    end = next((i for i in range(start, len(deploy)) if deploy[i].startswith("--")), len(deploy))
    items = deploy[start:end]
    if SAM_PYTHON.is_file():
        parse = (
            "import json, sys; from samcli.cli.types import CfnParameterOverridesType as T; "
            "print(json.dumps(T().convert(tuple(sys.argv[1:]), None, None)))"
        )
        run = subprocess.run([str(SAM_PYTHON), "-c", parse, *items], capture_output=True, text=True, check=True)
        parsed: dict[str, str] = json.loads(run.stdout)
        return parsed
    pairs = (item.split("=", 1) for item in items)
    return {key: value[1:-1] if value[:1] == value[-1:] == '"' else value for key, value in pairs}


def documented_variables() -> dict[str, str]:
    """docs/deploy.md's parameter table: template parameter -> the environment variable that sets it."""
    rows = re.findall(r"^\| `(\w+)`(?:, `(\w+)`)? \| - \| env `(\w+)`(?:, `(\w+)`)?", DEPLOY_DOC.read_text(), re.M)
    found: dict[str, str] = {}
    for first, second, first_var, second_var in rows:
        found[first] = first_var
        if second:
            found[second] = second_var
    return found


DEPLOY_DOC = REPO / "docs" / "deploy.md"
# A valid value for each optional parameter (AllowedPattern / AllowedValues); a cron expression has spaces.
SAMPLE = {
    "SlackSigningSecretName": "team/signing-secret",
    "SlackBotTokenSecretName": "team/bot-token",
    "ConfigFile": "config/production.yaml",
    "LogLevel": "DEBUG",
    "WorkloadAccountIds": "210987654321,109876543210",
    "WorkloadAlarmTopicArns": "arn:aws:sns:eu-west-1:210987654321:staging-alarms",
    "WorkloadRoleName": "opsbot-workload-access",
    "ExternalId": "opsbot-0123456789abcdef",
    "AlarmChannel": "C0ALARMS",
    "CostReportChannel": "C0COSTS",
    "CostReportSchedule": "cron(0 9 ? * MON *)",
    "OwnAlarmEmail": "oncall@example.com",
}


def test_outputs_become_the_template_parameters(tmp_path: Path, template: dict[str, Any]) -> None:
    result, sam_calls = run_script(tmp_path, terraform_outputs())
    assert result.returncode == 0, result.stderr
    assert [call[0] for call in sam_calls] == ["build", "deploy", "list"]
    deploy = sam_calls[1]
    assert deploy[deploy.index("--region") + 1] == "eu-west-1"
    assert deploy[deploy.index("--stack-name") + 1] == "ecs-microservices-production-opsbot"
    overrides = _overrides(deploy)
    parameters = template["Parameters"]
    required = {name for name, p in parameters.items() if "Default" not in p}
    assert required <= set(overrides), f"not filled in: {sorted(required - set(overrides))}"
    assert set(overrides) <= set(parameters), f"not template parameters: {sorted(set(overrides) - set(parameters))}"
    assert overrides["ServiceNames"] == "service-a,service-b"
    assert overrides["TaskRoleArns"].count("arn:aws:iam::") == 2
    boundary = terraform_outputs()["bot_functions_boundary_arn"]["value"]
    assert overrides["FunctionPermissionsBoundary"] == boundary
    assert template["Globals"]["Function"]["PermissionsBoundary"] == {"Ref": "FunctionPermissionsBoundary"}
    assert "https://abc.example/slack/events" in result.stdout


def test_every_optional_parameter_is_set_by_its_documented_variable(tmp_path: Path, template: dict[str, Any]) -> None:
    """Each optional template parameter is in docs/deploy.md's table; those with an environment variable there
    reach `sam deploy` from it, as SAM reads them (spaces included)."""
    parameters = template["Parameters"]
    table = set(re.findall(r"^\| ((?:`\w+`(?:, )?)+) \|", DEPLOY_DOC.read_text(), re.M))
    in_table = {name for cell in table for name in re.findall(r"`(\w+)`", cell)}
    assert sorted(set(parameters) - in_table) == [], "template parameters missing from docs/deploy.md's table"
    variables = documented_variables()
    assert sorted(set(SAMPLE) - set(variables)) == [], "no environment variable documented"
    result, sam_calls = run_script(tmp_path, terraform_outputs(), env={variables[p]: v for p, v in SAMPLE.items()})
    assert result.returncode == 0, result.stderr
    overrides = _overrides(sam_calls[1])
    assert {p: overrides.get(p) for p in SAMPLE} == SAMPLE


def test_a_value_sam_would_misread_is_refused(tmp_path: Path) -> None:
    result, sam_calls = run_script(tmp_path, terraform_outputs(), env={"CONFIG_FILE": 'config/"x".yaml'})
    assert result.returncode != 0
    assert "parameter ConfigFile would be" in result.stderr
    assert sam_calls == []


def test_names_that_break_the_convention_stop_the_deploy(tmp_path: Path) -> None:
    outputs = terraform_outputs()
    outputs["log_group_names"]["value"]["service-b"] = "/aws/ecs/service-b"
    result, sam_calls = run_script(tmp_path, outputs)
    assert result.returncode != 0
    assert "log_group_names['service-b'] is '/aws/ecs/service-b'" in result.stderr
    assert sam_calls == []


def test_a_missing_output_is_named(tmp_path: Path) -> None:
    outputs = terraform_outputs()
    del outputs["alarm_topic_arn"]
    result, _ = run_script(tmp_path, outputs)
    assert result.returncode != 0
    assert "no Terraform output alarm_topic_arn" in result.stderr


@pytest.mark.parametrize("missing", ["sam", "terraform"])
def test_a_missing_tool_is_named(tmp_path: Path, missing: str) -> None:
    present = tuple(t for t in ("terraform", "sam") if t != missing)
    result, _ = run_script(tmp_path, terraform_outputs(), tools=present)
    assert result.returncode != 0
    assert f"'{missing}' is not installed" in result.stderr


# --- scripts/rollout.sh: the real aws CLI against moto in server mode --------------------------------

ROLLOUT = REPO / "scripts" / "rollout.sh"
AWS_CLI = Path(sys.executable).parent / "aws"  # awscli, a dev dependency


@pytest.fixture(scope="module")
def moto_ecs() -> Iterator[str]:
    """moto in server mode on 127.0.0.1; services report their desired count running (as a settled
    deployment does), so `aws ecs wait services-stable` can succeed."""
    from moto.server import ThreadedMotoServer

    if not AWS_CLI.is_file():
        pytest.fail(f"the aws CLI is missing from the virtualenv ({AWS_CLI}): run `make venv`", pytrace=False)
    previous = os.environ.get("MOTO_ECS_SERVICE_RUNNING")
    os.environ["MOTO_ECS_SERVICE_RUNNING"] = "1"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        if previous is None:
            os.environ.pop("MOTO_ECS_SERVICE_RUNNING", None)
        else:
            os.environ["MOTO_ECS_SERVICE_RUNNING"] = previous


def _ecs(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "ecs", region_name="eu-west-1", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test"
    )


def _platform(endpoint: str, prefix: str, tags: tuple[str, ...]) -> dict[str, Any]:
    """A cluster whose services run revision 1 while Terraform has registered the later ones (tags)."""
    ecs = _ecs(endpoint)
    ecs.create_cluster(clusterName=f"{prefix}-cluster")
    for service in SERVICES:
        family = f"{prefix}-{service}"
        for tag in tags:
            image = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/{family}:{tag}"
            ecs.register_task_definition(
                family=family, containerDefinitions=[{"name": service, "image": image, "memory": 512}]
            )
        ecs.create_service(
            cluster=f"{prefix}-cluster", serviceName=family, taskDefinition=f"{family}:1", desiredCount=1
        )
    outputs = terraform_outputs(env=prefix.rsplit("-", 1)[-1])
    outputs["cluster_name"]["value"] = f"{prefix}-cluster"
    outputs["ecs_service_names"]["value"] = {s: f"{prefix}-{s}" for s in SERVICES}
    outputs["task_definition_families"]["value"] = {s: f"{prefix}-{s}" for s in SERVICES}
    return outputs


def run_rollout(tmp_path: Path, endpoint: str, outputs: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    _stub(bin_dir, "terraform", f'cat "{tmp_path / "outputs.json"}"')
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "PATH": f"{bin_dir}:{AWS_CLI.parent}:/usr/bin:/bin",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    return subprocess.run(
        ["bash", str(ROLLOUT), *args], env=environment, capture_output=True, text=True, timeout=120, check=False
    )


def _running(endpoint: str, prefix: str) -> dict[str, str]:
    services = _ecs(endpoint).describe_services(
        cluster=f"{prefix}-cluster", services=[f"{prefix}-{s}" for s in SERVICES]
    )["services"]
    return {s["serviceName"]: s["taskDefinition"].rsplit("/", 1)[-1] for s in services}


@pytest.mark.slow
def test_rollout_moves_every_service_to_the_newest_revision_and_waits(tmp_path: Path, moto_ecs: str) -> None:
    """`make apply` only registers revisions 2 and 3; the rollout puts both services on revision 3."""
    prefix = "ecs-microservices-rollout"
    outputs = _platform(moto_ecs, prefix, ("v1", "v2", "v3"))
    assert set(_running(moto_ecs, prefix).values()) == {f"{prefix}-service-a:1", f"{prefix}-service-b:1"}
    result = run_rollout(tmp_path, moto_ecs, outputs, "v3")
    assert result.returncode == 0, result.stderr
    assert _running(moto_ecs, prefix) == {f"{prefix}-{s}": f"{prefix}-{s}:3" for s in SERVICES}
    assert "waiting until" in result.stdout
    assert result.stdout.rstrip().endswith("run the newest revisions of tag v3.")


def test_rollout_refuses_a_revision_of_another_tag_and_changes_nothing(tmp_path: Path, moto_ecs: str) -> None:
    prefix = "ecs-microservices-wrongtag"
    outputs = _platform(moto_ecs, prefix, ("v1", "v2"))
    result = run_rollout(tmp_path, moto_ecs, outputs, "v3")
    assert result.returncode != 0
    assert f"the newest revision of {prefix}-service-a ({prefix}-service-a:2) runs" in result.stderr
    assert "not tag v3: apply TAG=v3 first" in result.stderr
    assert set(_running(moto_ecs, prefix).values()) == {f"{prefix}-service-a:1", f"{prefix}-service-b:1"}


def test_rollout_names_a_missing_output_and_a_missing_family(tmp_path: Path, moto_ecs: str) -> None:
    outputs = terraform_outputs()
    del outputs["task_definition_families"]
    result = run_rollout(tmp_path, moto_ecs, outputs)
    assert result.returncode != 0
    assert "no Terraform output task_definition_families" in result.stderr
    result = run_rollout(tmp_path, moto_ecs, terraform_outputs(env="nothing"))
    assert result.returncode != 0
    assert "cannot read task definition family ecs-microservices-nothing-service-a" in result.stderr


def test_more_alarm_topics_than_the_template_subscribes_stop_the_deploy(
    tmp_path: Path, template: dict[str, Any]
) -> None:
    """Issue 21 review 1, finding 3: template.yaml subscribes the alarm queue to the first five topics of
    WorkloadAlarmTopicArns (five fixed slots); a sixth was deployed and its alarms were never heard."""
    slots = len([r for r in template["Resources"] if r.startswith("WorkloadAlarmSubscription")])
    topics = [f"arn:aws:sns:us-east-1:21098765432{i}:ecs-microservices-staging-alarms" for i in range(slots + 1)]
    result, sam_calls = run_script(tmp_path, terraform_outputs(), env={"WORKLOAD_ALARM_TOPIC_ARNS": ",".join(topics)})
    assert result.returncode != 0
    assert f"WORKLOAD_ALARM_TOPIC_ARNS lists {slots + 1} topics" in result.stderr
    assert f"at most {slots}" in result.stderr
    assert topics[-1] in result.stderr  # the one that would never be heard
    assert "Traceback" not in result.stderr
    assert sam_calls == []
    result, sam_calls = run_script(
        tmp_path, terraform_outputs(), env={"WORKLOAD_ALARM_TOPIC_ARNS": ",".join(topics[:-1])}
    )
    assert result.returncode == 0, result.stderr
    assert _overrides(sam_calls[1])["WorkloadAlarmTopicArns"] == ",".join(topics[:-1])
