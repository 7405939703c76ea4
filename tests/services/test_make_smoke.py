"""`make smoke` (scripts/test-services.sh) against the services as `make run` starts them, without AWS or Terraform.

The services are started from sandbox.main.platform_services, the very specification `make run` starts them
from (same command, directory and environment, API docs on), on free loopback ports. The rest of the sandbox
(moto, the bot, the Slack page) has no part in what the services answer, so it is not started here;
tests/services/test_sandbox_run.py covers the whole `make run`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from svc_support import REPO, RunningService, free_port, launch

from sandbox.main import platform_services

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def make_run_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningService]]:
    """service-b and service-a (pointed at it) as `make run` runs them, by name."""
    ports = {"SERVICE_A_PORT": str(free_port()), "SERVICE_B_PORT": str(free_port())}
    logs = tmp_path_factory.mktemp("make-run-services")
    started: dict[str, RunningService] = {}
    try:
        for child in platform_services({**os.environ, **ports}):  # service-b first: service-a calls it
            assert child.cwd is not None
            started[child.name] = launch(
                list(child.argv),
                cwd=child.cwd,
                env={**os.environ, **child.env},
                port=child.port,
                output=logs / f"{child.name}.log",
            )
        yield started
    finally:
        for service in started.values():
            service.stop()


def fake_tool(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/usr/bin/env bash\n{script}\n")
    path.chmod(0o755)


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    """A directory put first on PATH: `aws` and `terraform` there record that they were called, and fail."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("aws", "terraform"):
        fake_tool(bin_dir, name, f'echo "$0 $*" >> "{tmp_path}/called"; exit 1')
    return bin_dir


def make_smoke(tools: Path, *variables: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["make", "--no-print-directory", "smoke", *variables],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_make_smoke_passes_against_make_run_services_without_aws_or_terraform(
    make_run_services: dict[str, RunningService], tools: Path
) -> None:
    base_url = make_run_services["service-a"].url

    result = make_smoke(tools, f"BASE_URL={base_url}")

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"All checks passed for {base_url}." in result.stdout
    for path in ("/health", "/api/hello", "/api/info", "/api/backend"):
        assert f"GET {base_url}{path}\n" in result.stdout
    assert '"service_a":"success"' in result.stdout  # the body of /api/backend is shown
    assert "not checked" in result.stdout  # make run serves the API docs on purpose
    assert not (tools.parent / "called").exists(), (tools.parent / "called").read_text()


def test_make_smoke_fails_naming_the_endpoint_that_did_not_answer_200(
    make_run_services: dict[str, RunningService], tools: Path
) -> None:
    wrong_service = make_run_services["service-b"].url  # answers /health, but has no /api/*

    result = make_smoke(tools, f"BASE_URL={wrong_service}")

    assert result.returncode != 0
    assert f"GET {wrong_service}/api/hello answered 404, expected 200" in result.stderr


def test_make_smoke_without_base_url_tests_the_alb_url_terraform_outputs(
    make_run_services: dict[str, RunningService], tools: Path
) -> None:
    alb_url = make_run_services["service-a"].url
    fake_tool(tools, "terraform", f'echo "$*" >> "{tools}/terraform-args"; echo \'"{alb_url}"\'')

    result = make_smoke(tools)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"All checks passed for {alb_url}." in result.stdout
    assert (tools / "terraform-args").read_text() == "-chdir=infra output -no-color -json alb_url\n"


@pytest.mark.parametrize(
    ("terraform", "reason"),
    [
        # What terraform says when infra/ is initialised but nothing was applied, or was not initialised.
        ('echo "Error: Output \\"alb_url\\" not found" >&2; exit 1', 'Output "alb_url" not found'),
        ('echo "Error: Backend initialization required" >&2; exit 1', "Backend initialization required"),
        ("echo null", "output alb_url is not a URL: null"),
    ],
    ids=["nothing-applied", "not-initialised", "no-url"],
)
def test_make_smoke_without_base_url_says_why_terraform_gave_no_address_and_what_to_do(
    tools: Path, terraform: str, reason: str
) -> None:
    fake_tool(tools, "terraform", terraform)

    result = make_smoke(tools)

    assert result.returncode != 0
    assert reason in result.stderr
    assert "make smoke BASE_URL=" in result.stderr
    assert "make apply" in result.stderr
