"""scripts/ behave on any region and fail loudly; workflows pin actions to commit SHAs."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from .tfchecks import REPO

SCRIPTS = ("setup-backend.sh", "push-images.sh", "test-services.sh")
WORKFLOWS = REPO / ".github" / "workflows"


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_is_strict_executable_bash(script: str) -> None:
    path = REPO / "scripts" / script
    assert os.access(path, os.X_OK)
    assert "set -euo pipefail" in path.read_text()
    subprocess.run(["bash", "-n", str(path)], check=True)


def fake_aws(tmp_path: Path, existing: bool) -> tuple[Path, Path]:
    """An `aws` stand-in that logs its arguments; head-bucket/describe-table succeed if `existing`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "aws.log"
    status = 0 if existing else 254
    (bin_dir / "aws").write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> "{log}"\n'
        'case "$1 $2" in\n'
        f'  "s3api head-bucket"|"dynamodb describe-table") exit {status} ;;\n'
        "esac\n"
    )
    (bin_dir / "aws").chmod(0o755)
    return bin_dir, log


def run_setup_backend(tmp_path: Path, region: str, existing: bool) -> list[str]:
    bin_dir, log = fake_aws(tmp_path, existing)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    env.pop("AWS_REGION", None)
    subprocess.run(
        [str(REPO / "scripts" / "setup-backend.sh"), "my-state-bucket", region],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return log.read_text().splitlines()


def test_setup_backend_us_east_1_has_no_location_constraint(tmp_path: Path) -> None:
    calls = run_setup_backend(tmp_path, "us-east-1", existing=False)
    [create] = [c for c in calls if c.startswith("s3api create-bucket")]
    assert "LocationConstraint" not in create


def test_setup_backend_other_region_sets_location_constraint(tmp_path: Path) -> None:
    calls = run_setup_backend(tmp_path, "eu-west-1", existing=False)
    [create] = [c for c in calls if c.startswith("s3api create-bucket")]
    assert "LocationConstraint=eu-west-1" in create
    assert any(c.startswith("dynamodb create-table") for c in calls)


def test_setup_backend_is_idempotent(tmp_path: Path) -> None:
    calls = run_setup_backend(tmp_path, "eu-west-1", existing=True)
    assert not any("create-bucket" in c or "create-table" in c for c in calls)
    assert any(c.startswith("s3api put-bucket-versioning") for c in calls)


def test_setup_backend_fails_loudly_when_aws_fails(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text("#!/usr/bin/env bash\necho 'AccessDenied' >&2\nexit 255\n")
    (bin_dir / "aws").chmod(0o755)
    result = subprocess.run(
        [str(REPO / "scripts" / "setup-backend.sh"), "my-state-bucket", "eu-west-1"],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "AccessDenied" in result.stderr


def test_push_images_refuses_latest() -> None:
    result = subprocess.run(
        [str(REPO / "scripts" / "push-images.sh"), "latest"], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "not 'latest'" in result.stderr


def test_test_services_uses_failing_curl() -> None:
    text = (REPO / "scripts" / "test-services.sh").read_text()
    assert "--fail" in text


def workflow_files() -> list[Path]:
    return [WORKFLOWS / "ci.yml", WORKFLOWS / "deploy.yml.disabled"]


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_actions_are_pinned_to_full_commit_shas(path: Path) -> None:
    uses = re.findall(r"^\s*-?\s*uses:\s*(\S+)", path.read_text(), flags=re.MULTILINE)
    assert uses
    unpinned = [u for u in uses if not re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", u)]
    assert unpinned == []


def test_ci_runs_the_terraform_checks_and_make_test() -> None:
    text = (WORKFLOWS / "ci.yml").read_text()
    for step in ("terraform fmt -check -recursive", "terraform init -backend=false", "terraform validate",
                 "tflint --recursive", "checkov", "make test"):  # fmt: skip
        assert step in text, step
    yaml.safe_load(text)


def test_deploy_workflow_is_oidc_sha_tagged_and_applies_only_on_main() -> None:
    text = (WORKFLOWS / "deploy.yml.disabled").read_text()
    workflow = yaml.safe_load(text)
    assert "concurrency" in workflow
    jobs = workflow["jobs"]
    assert jobs["deploy"]["permissions"]["id-token"] == "write"
    assert "refs/heads/main" in jobs["deploy"]["if"]
    assert jobs["deploy"]["environment"] == "production"
    assert "pull_request" in jobs["plan"]["if"]
    assert "aws-access-key-id" not in text
    assert ":latest" not in text
    assert "terraform -chdir=infra apply" in text
    assert "aws ecs wait services-stable" in text
    assert "TF_VAR_github_repo: ${{ github.repository }}" in text
