"""scripts/ behave on any region and fail loudly; workflows pin actions to commit SHAs."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from .tfchecks import REPO

SCRIPTS = ("setup-backend.sh", "push-images.sh", "test-services.sh", "rollout.sh", "deploy-bot.sh")
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


class _Answers404(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"detail":"no such route here"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_test_services_fails_on_an_http_error_and_shows_its_body() -> None:
    """curl fails on a 4xx/5xx answer (--fail-with-body) and the script says which endpoint answered what,
    with the body the endpoint gave."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers404)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        result = subprocess.run(
            [str(REPO / "scripts" / "test-services.sh"), base], capture_output=True, text=True, timeout=60, check=False
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1, result.stdout + result.stderr
    assert f'GET {base}/health answered 404, expected 200: {{"detail":"no such route here"}}' in result.stderr


def workflow_files() -> list[Path]:
    return sorted(p for p in WORKFLOWS.iterdir() if p.name.endswith((".yml", ".yml.disabled")))


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
    # The same roll-out as `make rollout` (update-service to the newest revisions, wait for stability).
    assert 'scripts/rollout.sh "${IMAGE_TAG}"' in text


def test_ci_plans_with_the_committed_production_variables() -> None:
    """CI and `make plan` read the same committed file; nothing passed piecemeal as TF_VAR_."""
    text = (WORKFLOWS / "deploy.yml.disabled").read_text()
    plans = re.findall(r"terraform -chdir=infra plan [^\n]*", text)
    assert len(plans) == 2
    assert all("-var-file=production.tfvars" in p for p in plans), plans
    assert "TF_VAR_" not in text
    makefile = (REPO / "Makefile").read_text()
    assert "TFVARS       ?= $(ENV_NAME).tfvars" in makefile
    assert "ENV_NAME     ?= production" in makefile
    assert "infra/production.tfvars" not in (REPO / ".gitignore").read_text()
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", "infra/production.tfvars"], cwd=REPO, capture_output=True, check=False
    )
    assert tracked.returncode == 0, "infra/production.tfvars must be committed"


# --- every script, make target, Terraform output and variable the workflows use exists ----------------


def _makefile_targets() -> set[str]:
    return set(re.findall(r"^([a-zA-Z][\w-]*):", (REPO / "Makefile").read_text(), flags=re.MULTILINE))


def _terraform_blocks(kind: str) -> set[str]:
    names: set[str] = set()
    for path in (REPO / "infra").glob("*.tf"):
        names |= set(re.findall(rf'^{kind} "([\w-]+)"', path.read_text(), flags=re.MULTILINE))
    return names


def _run_lines(workflow: dict[str, Any]) -> list[str]:
    return [step.get("run", "") for job in workflow["jobs"].values() for step in job.get("steps", [])]


def references(text: str) -> dict[str, set[str]]:
    """Scripts, make targets, Terraform outputs, variables and var files named in shell text."""
    return {
        "scripts": set(re.findall(r"\bscripts/([\w-]+\.sh)\b", text)),
        "targets": set(re.findall(r"(?:^|[\s;&|(])make\s+(?:-\S+\s+)*([a-z][\w-]*)", text)),
        "outputs": set(re.findall(r"terraform\s+(?:-chdir=\S+\s+)?output\s+(?:-\S+\s+)*([a-z_][\w]*)", text)),
        "variables": set(re.findall(r'-var[= ]"?([a-z_][\w]*)=', text)) | set(re.findall(r"TF_VAR_([a-z_]\w*)", text)),
        "var_files": set(re.findall(r"-var-file=\"?([\w./$()-]+)", text)),
    }


def _script_outputs(script: Path) -> set[str]:
    """Outputs a script reads: `output -json NAME`/`-raw NAME`, and the names its Python checks for."""
    text = script.read_text()
    found = references(text)["outputs"]
    for block in re.findall(r"needed = \[(.*?)\]", text, flags=re.DOTALL):
        found |= set(re.findall(r'"([a-z_]+)"', block))
    return found


def test_every_script_target_output_and_variable_the_workflows_use_exists() -> None:
    targets, outputs, variables = _makefile_targets(), _terraform_blocks("output"), _terraform_blocks("variable")
    used: dict[str, set[str]] = {kind: set() for kind in ("scripts", "targets", "outputs", "variables", "var_files")}
    for path in workflow_files():
        for run in _run_lines(yaml.safe_load(path.read_text())):
            for kind, names in references(run).items():
                used[kind] |= names
    # What the scripts the workflows call read, and the make targets those call in turn.
    makefile = (REPO / "Makefile").read_text()
    for target in list(used["targets"]):
        recipe = re.search(rf"^{target}:.*?\n((?:\t.*\n)*)", makefile, flags=re.MULTILINE)
        if recipe:
            for kind, names in references(recipe.group(1)).items():
                used[kind] |= names
    for script in list(used["scripts"]):
        if (REPO / "scripts" / script).is_file():
            used["outputs"] |= _script_outputs(REPO / "scripts" / script)
    assert {"push-images.sh", "rollout.sh", "deploy-bot.sh"} <= used["scripts"]
    assert {"init", "deploy-bot", "test", "checkov-venv"} <= used["targets"]
    missing_scripts = [s for s in used["scripts"] if not os.access(REPO / "scripts" / s, os.X_OK)]
    assert missing_scripts == []
    assert used["targets"] - targets == set()
    assert used["outputs"] >= {"ecr_repository_urls", "cluster_name", "task_definition_families", "aws_region"}
    assert used["outputs"] - outputs == set()
    assert used["variables"] == {"image_tag"}
    assert used["variables"] - variables == set()
    assert used["var_files"] == {"production.tfvars"}
    assert all((REPO / "infra" / f).is_file() for f in used["var_files"])


def test_every_output_variable_and_target_the_makefile_and_docs_use_exists() -> None:
    """make plan/apply/deploy/destroy pass -var allow_destroy and -var image_tag; the docs name outputs."""
    makefile = (REPO / "Makefile").read_text()
    variables = _terraform_blocks("variable")
    assert {"allow_destroy", "image_tag"} <= references(makefile)["variables"] <= variables
    outputs = _terraform_blocks("output")
    docs = "\n".join((REPO / p).read_text() for p in ("README.md", "docs/deploy.md", "docs/infra.md"))
    named = set(re.findall(r"terraform output (?:-\S+ )*([a-z_]+)", docs)) | set(
        re.findall(r"`(github_[a-z_]+_arn)`", docs)
    )
    assert "github_bot_deploy_role_arn" in named
    assert named - outputs == set()
    assert set(re.findall(r"`make ([a-z][\w-]*)", docs)) - _makefile_targets() == set()


def test_the_reference_check_catches_a_missing_target_output_and_variable() -> None:
    found = references(
        "make init BUCKET=x && make deploy-bott\nterraform -chdir=infra output -raw cluster_nme\n"
        'terraform -chdir=infra plan -var-file=prod.tfvars -var="image_tagg=1"'
    )
    assert found["targets"] - _makefile_targets() == {"deploy-bott"}
    assert found["outputs"] - _terraform_blocks("output") == {"cluster_nme"}
    assert found["variables"] - _terraform_blocks("variable") == {"image_tagg"}
    assert found["var_files"] == {"prod.tfvars"}


# --- one documented order: README, docs/infra.md and docs/deploy.md agree, and the Makefile does it ---

DOCS = ("README.md", "docs/infra.md", "docs/deploy.md")
COMMAND = re.compile(r"`(make [a-z][\w-]*|scripts/[\w-]+\.sh|sam delete)")
FIRST_INSTALL = [
    "scripts/setup-backend.sh",
    "make init",
    "make ecr",
    "make push",
    "make plan",
    "make apply",
    "make rollout",
    "make deploy-bot",
    "scripts/deploy-bot.sh",
]
TEARDOWN = ["sam delete", "make destroy"]


def section(text: str, heading: str) -> str:
    """The text under the Markdown heading `heading` (any level) up to the next heading of its level or higher."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.fullmatch(rf"(#+) {heading}", line)), None)
    assert start is not None, f"no heading '{heading}'"
    level = len(lines[start].split(" ", 1)[0])
    end = next((i for i in range(start + 1, len(lines)) if re.match(rf"#{{1,{level}}} ", lines[i])), len(lines))
    return "\n".join(lines[start + 1 : end])


def numbered_steps(text: str) -> list[str]:
    """The commands of a numbered list, in order (a command repeated in a row counts once)."""
    items = re.findall(r"^\d+\. .*(?:\n {3,}.*)*", text, flags=re.MULTILINE)
    commands: list[str] = []
    for command in COMMAND.findall("\n".join(items)):
        if not commands or commands[-1] != command:
            commands.append(command)
    return commands


@pytest.mark.parametrize("doc", DOCS)
def test_the_docs_give_one_order_for_install_and_teardown(doc: str) -> None:
    text = (REPO / doc).read_text()
    assert numbered_steps(section(text, "First install")) == FIRST_INSTALL
    assert numbered_steps(section(text, "Teardown")) == TEARDOWN
    redeploy = COMMAND.findall(section(text, "Redeploy"))
    assert redeploy[0] == "make deploy"
    order = [c for c in redeploy if c in ("make push", "make plan", "make apply", "make rollout")]
    assert order[:4] == ["make push", "make plan", "make apply", "make rollout"]
    assert "make deploy-bot" in redeploy


def test_the_order_check_catches_a_doc_that_differs() -> None:
    text = (REPO / "docs" / "infra.md").read_text()
    swapped = text.replace("2. ECR: `make ecr`", "2. ECR: `make push`").replace(
        "3. Push: `make push`", "3. Push: `make ecr`"
    )
    assert swapped != text
    assert numbered_steps(section(swapped, "First install")) != FIRST_INSTALL


def _make(tmp_path: Path, *args: str, tfvars: str = 'aws_region = "eu-west-1"\n') -> tuple[int, str, list[str]]:
    """Run make with a `terraform` stand-in that logs its arguments, on a copy of the tfvars."""
    infra = tmp_path / "infra"
    infra.mkdir(exist_ok=True)
    (infra / "production.tfvars").write_text(tfvars)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "terraform.log"
    (bin_dir / "terraform").write_text(f'#!/usr/bin/env bash\necho "$*" >> "{log}"\n')
    (bin_dir / "terraform").chmod(0o755)
    result = subprocess.run(
        ["make", "--no-print-directory", "-s", f"INFRA={infra}", "TAG=abc123", *args],
        cwd=REPO,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.returncode, result.stderr, log.read_text().splitlines() if log.exists() else []


def test_make_destroy_needs_confirm_then_lifts_protection_before_destroying(tmp_path: Path) -> None:
    code, stderr, calls = _make(tmp_path, "destroy")
    assert code != 0
    assert "run 'make destroy CONFIRM=production'" in stderr
    assert calls == []
    code, stderr, calls = _make(tmp_path, "destroy", "CONFIRM=production")
    assert code == 0, stderr
    infra = tmp_path / "infra"
    arguments = "-var-file=production.tfvars -var=image_tag=abc123 -var=allow_destroy=true"
    assert calls == [f"-chdir={infra} apply {arguments}", f"-chdir={infra} destroy {arguments}"]


def test_make_plan_reads_the_committed_tfvars_and_refuses_placeholders(tmp_path: Path) -> None:
    code, stderr, calls = _make(tmp_path, "plan")
    assert code == 0, stderr
    assert calls == [f"-chdir={tmp_path / 'infra'} plan -var-file=production.tfvars -var=image_tag=abc123 -out=tfplan"]
    code, stderr, calls = _make(tmp_path, "plan", tfvars='alarm_email = "CHANGE-ME@example.com"\n')
    assert code != 0
    assert "replace every CHANGE-ME above" in stderr
    # The committed file still has its placeholders until an operator fills them in.
    assert "CHANGE-ME" in (REPO / "infra" / "production.tfvars").read_text()


def test_make_deploy_pushes_applies_and_rolls_out_in_that_order() -> None:
    recipe = subprocess.run(
        ["make", "-n", "--no-print-directory", "deploy", "TAG=abc123"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    steps = [line for line in recipe.splitlines() if line.startswith("make ")]
    assert [s.split()[1] for s in steps] == ["push", "plan", "apply", "rollout"]
    assert all("TAG=abc123" in s for s in steps if s.split()[1] != "apply")


# --- the versions the docs, messages and CI name are the ones infra/ and template.yaml require ---------


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _required_terraform() -> tuple[int, ...]:
    """infra/versions.tf's `required_version = ">= X.Y.Z"`, as (X, Y)."""
    found = re.search(r'required_version\s*=\s*">=\s*([\d.]+)"', (REPO / "infra" / "versions.tf").read_text())
    assert found, "infra/versions.tf has no required_version >= ..."
    return _version(found.group(1))[:2]


def test_docs_and_messages_name_the_terraform_version_infra_requires() -> None:
    """Every "Terraform >= X.Y" a person reads (docs, make's and the scripts' hints) is infra/'s minimum."""
    required = _required_terraform()
    texts = [REPO / p for p in ("README.md", "Makefile", "docs/infra.md", "docs/deploy.md")]
    texts += sorted((REPO / "scripts").glob("*.sh"))
    named = {
        f"{path.relative_to(REPO)}: Terraform >= {found}"
        for path in texts
        for found in re.findall(r"Terraform >= (\d+(?:\.\d+)*)", path.read_text())
    }
    assert len(named) >= 3, named  # the docs and make's hints do name it
    wrong = sorted(n for n in named if _version(n.rsplit(" ", 1)[1])[:2] != required)
    assert wrong == [], f"infra/versions.tf requires Terraform >= {'.'.join(map(str, required))}"


class _CfnLoader(yaml.SafeLoader):
    """template.yaml with its short-form intrinsic functions (!Ref, !Sub, ...) read as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_workflows_run_the_terraform_and_python_versions_the_code_requires() -> None:
    """Each workflow's Terraform is at least infra/'s minimum; its Python is the functions' runtime."""
    runtime = yaml.load((REPO / "template.yaml").read_text(), Loader=_CfnLoader)["Globals"]["Function"]["Runtime"]
    python = runtime.removeprefix("python")
    for path in workflow_files():
        text = path.read_text()
        for version in re.findall(r'terraform_version:\s*"([\d.]+)"', text):
            assert _version(version)[:2] >= _required_terraform(), f"{path.name}: terraform {version}"
        pythons = re.findall(r'python-version:\s*"([\d.]+)"', text)
        assert pythons == [python] * len(pythons), f"{path.name}: python-version {pythons}, the functions run {runtime}"


def test_ci_gives_make_test_terraform_and_the_provider_mirror() -> None:
    """make test's Terraform checks fail rather than skip when CI is set, so the job must provide both."""
    jobs = yaml.safe_load((WORKFLOWS / "ci.yml").read_text())["jobs"]
    [job] = [j for j in jobs.values() if any("make test" in s.get("run", "") for s in j["steps"])]
    steps = job["steps"]
    assert any(s.get("uses", "").startswith("hashicorp/setup-terraform@") for s in steps)
    mirror = [s for s in steps if "terraform" in s.get("run", "") and "providers mirror" in s.get("run", "")]
    assert mirror, "no `terraform providers mirror` step before make test"
    [make_test] = [s for s in steps if "make test" in s.get("run", "")]
    assert "TF_PROVIDER_MIRROR" in {**job.get("env", {}), **make_test.get("env", {})}
    assert steps.index(mirror[0]) < steps.index(make_test)


def test_every_make_variable_and_script_the_docs_name_exists() -> None:
    """`make <target> VAR=...` in the docs uses variables the Makefile reads; every scripts/x.sh exists."""
    makefile = (REPO / "Makefile").read_text()
    docs = "\n".join((REPO / p).read_text() for p in DOCS)
    variables = {
        name
        for call in re.findall(r"`make [a-z][\w-]*((?: [A-Z_]+=[^ `]*)+)`", docs)
        for name in re.findall(r"([A-Z_]+)=", call)
    }
    assert {"TAG", "CONFIRM", "BUCKET", "AWS_REGION"} <= variables
    assert sorted(v for v in variables if f"$({v})" not in makefile) == []
    scripts = set(re.findall(r"\bscripts/([\w-]+\.sh)\b", docs))
    assert sorted(s for s in scripts if not os.access(REPO / "scripts" / s, os.X_OK)) == []


def test_every_repository_variable_a_workflow_reads_is_documented() -> None:
    """Enabling a workflow means setting its `vars.X`: infra.md or deploy.md names each one."""
    docs = "\n".join((REPO / p).read_text() for p in ("docs/infra.md", "docs/deploy.md"))
    for path in workflow_files():
        used = set(re.findall(r"\bvars\.([A-Z_]+)", path.read_text()))
        assert sorted(v for v in used if f"`{v}`" not in docs) == [], path.name
