"""The real Terraform CLI for the tests: the project's own CLI config, and infra/ applied into moto once a run.

Terraform reaches no registry here: hashicorp/aws comes from a local filesystem mirror, named in a CLI
config of the project's own (CLI_CONFIG, git-ignored). `make test` writes it (`python tests/infra/tfreal.py`)
and passes it as TF_CLI_CONFIG_FILE; the tests write the same file with the same function (cli_config()).
The mirror is $TF_PROVIDER_MIRROR, else the first of MIRROR_CANDIDATES holding registry.terraform.io/hashicorp/aws.

Without terraform on PATH (or without a mirror) a test that needs it is skipped with the reason, except
when $CI is set (CI=true on GitHub): there it fails, so the checks cannot silently vanish from CI.

For other tests (the IAM check of the Terraform-rendered policies, for one), from any test directory:

    from infra.tfreal import applied

    @pytest.fixture(scope="session")
    def state(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
        return applied(tmp_path_factory).state        # exactly `terraform show -json` after the apply

(tests/infra/conftest.py has the same as the session fixtures `terraform_state` and `terraform_applied`, and
starts the apply in a thread as soon as the tests are collected when a selected test's module imports applied.)

`applied()` applies infra/ with infra/terraform.tfvars.example (image_tag=IMAGE_TAG, a certificate imported
into moto's ACM for the example's placeholder certificate_arn, and bot_access for a bot in BOT_ACCOUNT, so the
module a workload account of the bot enables is applied too) into moto in server mode,
ONCE per pytest run even under pytest-xdist: the first worker to ask applies under a file lock in the run's
shared temporary directory and writes the result to a JSON file there; every other caller reads that file.
The moto server (tests/infra/motoserver.py, with the moto extensions the apply needs) is a process of its
own that lives until the run ends, so any worker can drive the bot against exactly what Terraform created
(Applied.endpoint_url). A failed apply is recorded too: every caller fails with its message, none retries.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
EXAMPLE_TFVARS = INFRA / "terraform.tfvars.example"
CLI_CONFIG = REPO / ".terraform-cli" / "config.tfrc"
MIRROR_CANDIDATES = (
    Path("/opt/tf-plugins"),
    Path.home() / ".terraform.d" / "plugins",
    Path.home() / ".local" / "share" / "terraform" / "plugins",
    Path("/usr/local/share/terraform/plugins"),
    Path("/usr/share/terraform/plugins"),
)
PROVIDER = Path("registry.terraform.io") / "hashicorp" / "aws"
IMAGE_TAG = "0123456789ab"  # what `make plan` passes as image_tag (a commit SHA); the test pushes this tag
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's
APPLY_TIMEOUT = 420  # seconds; a moto gap makes the provider retry until its own timeouts, far longer
# The chat-ops bot in another account (issue 21): the apply enables infra/'s bot_access as a workload account
# of this bot would, so its role, rule and topic statement are applied (and checked) too.
BOT_ACCOUNT = "210987654321"
BOT_PREFIX = "ecs-microservices-production-opsbot"
BOT_ROLE_ARNS = tuple(
    f"arn:aws:iam::{BOT_ACCOUNT}:role/{BOT_PREFIX}-{f}FunctionRole-ABCDEF123456"
    for f in ("Slack", "Deployments", "Costs", "Alarms", "Escalation")
)
BOT_EVENT_BUS_ARN = f"arn:aws:events:{REGION}:{BOT_ACCOUNT}:event-bus/default"
BOT_ALARM_QUEUE_ARN = f"arn:aws:sqs:{REGION}:{BOT_ACCOUNT}:{BOT_PREFIX}-alarms"
BOT_EXTERNAL_ID = "opsbot-0123456789abcdef"
# And the other way round: this account's own bot subscribing to a workload account's alarm topic (its deploy
# role's dynamic statements).
WORKLOAD_ALARM_TOPIC_ARN = f"arn:aws:sns:{REGION}:109876543210:ecs-microservices-staging-alarms"
IGNORED_WHEN_COPYING = shutil.ignore_patterns(".terraform*", "*.tfstate*", "tfplan", "terraform.tfvars")

# The aws provider's endpoint keys for every service infra/ creates something in (or reads from).
MOTO_ENDPOINTS = (
    "acm", "appautoscaling", "cloudwatch", "ec2", "ecr", "ecs", "elbv2", "events", "iam", "kms", "logs", "s3",
    "servicediscovery", "sns", "sqs", "ssm", "secretsmanager", "sts", "wafv2",
)  # fmt: skip


# --------------------------------------------------------------------------- the CLI and its config


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def unavailable(reason: str) -> None:
    """Skip with the reason on a machine without Terraform; fail in CI, where it must run."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: the Terraform checks must run here, not be skipped)", pytrace=False)
    pytest.skip(reason)


def provider_mirror() -> Path | None:
    """The filesystem mirror holding hashicorp/aws: $TF_PROVIDER_MIRROR, else the first known place that has it."""
    explicit = os.environ.get("TF_PROVIDER_MIRROR")
    candidates = [Path(explicit)] if explicit else list(MIRROR_CANDIDATES)
    return next((c for c in candidates if (c / PROVIDER).is_dir()), None)


def cli_config_text(mirror: Path) -> str:
    """hashicorp/* only from the mirror, nothing from the network.

    An unpacked mirror (this machine's) is linked into .terraform/providers, not copied, so `init` takes about
    a second and needs no plugin cache; a packed one (.zip files, what `terraform providers mirror` writes, as
    CI would) is unpacked by every init, so a plugin cache next to the config keeps that to the first one.
    """
    lines = [
        "# Written by tests/infra/tfreal.py (make test): Terraform's providers come from a local mirror.",
        "disable_checkpoint = true",
    ]
    if any(mirror.glob(f"{PROVIDER}/*.zip")):
        # infra/ commits no .terraform.lock.hcl, and without one Terraform 1.4+ bypasses the cache unless told.
        lines.append(f'plugin_cache_dir   = "{CLI_CONFIG.parent / "plugin-cache"}"')
        lines.append("plugin_cache_may_break_dependency_lock_file = true")
    lines += [
        "",
        "provider_installation {",
        "  filesystem_mirror {",
        f'    path    = "{mirror}"',
        '    include = ["registry.terraform.io/hashicorp/*"]',
        "  }",
        "  direct {",
        '    exclude = ["registry.terraform.io/hashicorp/*"]',
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def cli_config(mirror: Path) -> Path:
    """Write CLI_CONFIG for this mirror (atomically: pytest-xdist workers may write it at the same time)."""
    text = cli_config_text(mirror)
    if not CLI_CONFIG.is_file() or CLI_CONFIG.read_text() != text:
        CLI_CONFIG.parent.mkdir(parents=True, exist_ok=True)
        if "plugin_cache_dir" in text:
            (CLI_CONFIG.parent / "plugin-cache").mkdir(exist_ok=True)
        partial = CLI_CONFIG.with_name(f"{CLI_CONFIG.name}.{os.getpid()}")
        partial.write_text(text)
        partial.replace(CLI_CONFIG)
    return CLI_CONFIG


_RUNNING: set[subprocess.Popen[str]] = set()


def stop_running() -> None:
    """Interrupt the terraform commands still running (the run ends while the apply's thread is mid-way)."""
    for process in list(_RUNNING):
        process.terminate()  # Terraform stops as on Ctrl-C


@dataclass(frozen=True)
class Terraform:
    """The terraform binary, run with the project's CLI config (when a mirror was asked for)."""

    binary: str
    config: Path | None

    def env(self) -> dict[str, str]:
        env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
        for name in ("TF_CLI_ARGS", "TF_WORKSPACE", "TF_DATA_DIR"):
            env.pop(name, None)
        env = {k: v for k, v in env.items() if not k.startswith(("TF_CLI_ARGS_", "TF_VAR_"))}
        if self.config is not None:
            env["TF_CLI_CONFIG_FILE"] = str(self.config)
        elif not Path(env.get("TF_CLI_CONFIG_FILE", "/")).is_file():
            env.pop("TF_CLI_CONFIG_FILE", None)  # one that does not exist only earns a warning on every command
        return env

    def run(self, directory: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        command = [self.binary, f"-chdir={directory}", *args]
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env()
        ) as process:
            _RUNNING.add(process)
            try:
                stdout, stderr = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                raise
            finally:
                _RUNNING.discard(process)
        return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)

    def check(self, directory: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run; raise AssertionError with Terraform's own error lines when it fails."""
        result = self.run(directory, *args, timeout=timeout)
        if result.returncode != 0:
            raise AssertionError(
                f"terraform {' '.join(args)} failed (exit {result.returncode}) in {directory}:\n"
                f"{result.stderr[-6000:]}\n{result.stdout[-3000:]}"
            )
        return result


def terraform(providers: bool = True) -> Terraform:
    """The real CLI, or skip (fail in CI). providers=True also needs the hashicorp/aws mirror.

    The project's CLI config is used whenever there is a mirror, so no command ever reaches a registry.
    """
    binary = shutil.which("terraform")
    if binary is None:
        unavailable("terraform is not on PATH: install Terraform >= 1.5 to run the Terraform checks")
    assert binary is not None
    mirror = provider_mirror()
    if mirror is None and providers:
        looked = os.environ.get("TF_PROVIDER_MIRROR") or ", ".join(map(str, MIRROR_CANDIDATES))
        unavailable(
            "no filesystem mirror of hashicorp/aws found: set TF_PROVIDER_MIRROR to a directory holding "
            f"{PROVIDER} (`terraform providers mirror DIR` in infra/ makes one; looked at {looked})"
        )
    return Terraform(binary, None if mirror is None else cli_config(mirror))


def error_summaries(output: str) -> list[str]:
    """The `Error: ...` headlines of Terraform's human-readable output."""
    return re.findall(r"^(?:│ )?Error: (.+)$", output, flags=re.MULTILINE)


def copy_infra(root: Path, destination: Path) -> Path:
    shutil.copytree(root, destination, ignore=IGNORED_WHEN_COPYING)
    return destination


# --------------------------------------------------------------------------- moto and the override


def moto_override(endpoint_url: str) -> str:
    """infra/ against moto: the provider's endpoints, fake credentials, no account lookups, a local backend.

    Written as `moto_override.tf` into a copy of infra/ only; Terraform merges it over providers.tf and
    backend.tf (override files), so every resource is exactly production's.
    """
    endpoints = "\n".join(f'    {key:<15} = "{endpoint_url}"' for key in MOTO_ENDPOINTS)
    return f"""# Test only (tests/infra/tfreal.py): infra/ applied into moto on 127.0.0.1.
terraform {{
  backend "local" {{}}
}}

provider "aws" {{
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {{
{endpoints}
  }}
}}
"""


def start_moto(workdir: Path, owner: int) -> str:
    """Start tests/infra/motoserver.py (a process of its own, gone with `owner`); return its endpoint URL."""
    port_file = workdir / "moto.port"
    log = (workdir / "moto.log").open("w")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    env["MOTO_ECS_SERVICE_RUNNING"] = "1"  # rolloutState COMPLETED for services of one task (the example's min)
    script = Path(__file__).with_name("motoserver.py")
    process = subprocess.Popen(
        [sys.executable, str(script), "--owner", str(owner), "--port-file", str(port_file)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # not killed with a worker's process group; it watches `owner` instead
    )
    deadline = time.monotonic() + 60
    while not port_file.is_file():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the moto server did not start:\n{(workdir / 'moto.log').read_text()[-3000:]}")
        time.sleep(0.1)
    url = f"http://127.0.0.1:{int(port_file.read_text())}"
    with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=10):  # moto answers
        pass
    return url


def import_certificate(endpoint_url: str, domain: str = "ecs-microservices.example.com") -> str:
    """A self-signed certificate imported into moto's ACM; its ARN.

    The example tfvars names a placeholder certificate (`.../certificate/CHANGE-ME` in another account) that
    a user replaces with their own, as production requires one (or allow_http = true). The apply does the
    same with this one: moto's ELBv2 refuses a listener whose certificate ACM does not hold, and the
    provider then retries CertificateNotFound for minutes.
    """
    import datetime

    import boto3
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    acm = boto3.client(
        "acm",
        region_name=REGION,
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # moto's
    )
    arn: str = acm.import_certificate(
        Certificate=certificate.public_bytes(serialization.Encoding.PEM),
        PrivateKey=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )["CertificateArn"]
    return arn


# --------------------------------------------------------------------------- the apply, once a run


@dataclass(frozen=True)
class Applied:
    """infra/ as applied into moto: where moto answers, `terraform show -json`, the outputs, the timings."""

    endpoint_url: str
    state: dict[str, Any]
    outputs: dict[str, Any]
    seconds: dict[str, float]
    directory: Path
    retried: str = ""  # the first attempt's failure, when it took a second one (_apply_twice)

    def resources(self, rtype: str) -> list[dict[str, Any]]:
        """Every resource of a type in the state, from every module."""
        found: list[dict[str, Any]] = []
        pending = [self.state["values"]["root_module"]]
        while pending:
            module = pending.pop()
            found += [r for r in module.get("resources", []) if r["type"] == rtype and r["mode"] == "managed"]
            pending += module.get("child_modules", [])
        return found


def shared_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's temporary directory that every pytest-xdist worker shares (this process's own otherwise)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def run_owner() -> int:
    """The process whose end ends the run: pytest-xdist's controller (a worker's parent), else this process."""
    return os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else os.getpid()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """One pytest-xdist worker at a time inside (an exclusive lock on `path`, shared by every worker)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # stdlib; released when the handle closes, even on a crash
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def bot_access_hcl() -> str:
    """infra/'s bot_access for a bot in BOT_ACCOUNT, as an HCL object on the command line."""
    roles = ", ".join(f'"{arn}"' for arn in BOT_ROLE_ARNS)
    return (
        f'{{bot_role_arns = [{roles}], event_bus_arn = "{BOT_EVENT_BUS_ARN}", '
        f'alarm_queue_arn = "{BOT_ALARM_QUEUE_ARN}"}}'
    )


def _apply(workdir: Path) -> dict[str, Any]:
    tf = terraform()
    seconds: dict[str, float] = {}
    endpoint_url = start_moto(workdir, run_owner())
    directory = copy_infra(INFRA, workdir / "infra")
    (directory / "moto_override.tf").write_text(moto_override(endpoint_url))
    started = time.perf_counter()
    tf.check(directory, "init", "-input=false", "-no-color")
    seconds["init"] = time.perf_counter() - started
    started = time.perf_counter()
    tf.check(
        directory,
        "apply",
        "-auto-approve",
        "-input=false",
        "-no-color",
        "-parallelism=20",  # the provider mostly waits (fixed delays); more calls in flight shorten the apply
        f"-var-file={EXAMPLE_TFVARS}",
        f"-var=image_tag={IMAGE_TAG}",
        f"-var=certificate_arn={import_certificate(endpoint_url)}",  # the example's is a CHANGE-ME placeholder
        f"-var=bot_access={bot_access_hcl()}",
        f"-var=bot_external_id={BOT_EXTERNAL_ID}",
        f'-var=bot_workload_alarm_topic_arns=["{WORKLOAD_ALARM_TOPIC_ARN}"]',
        timeout=APPLY_TIMEOUT,
    )
    seconds["apply"] = time.perf_counter() - started
    started = time.perf_counter()
    state = json.loads(tf.check(directory, "show", "-json", "-no-color").stdout)
    seconds["show"] = time.perf_counter() - started
    outputs = {name: body["value"] for name, body in state["values"].get("outputs", {}).items()}
    return {
        "endpoint_url": endpoint_url,
        "state": state,
        "outputs": outputs,
        "seconds": seconds,
        "directory": str(directory),
    }


def _apply_twice(shared: Path) -> dict[str, Any]:
    """The apply, and once more into a fresh moto server when it fails. moto in server mode is not AWS: under
    a loaded machine it once went silent for 71 s mid-apply, the provider's retry of CreateRole then met the
    role its first try had made (EntityAlreadyExists), and every test of the apply failed with it. A fault of
    infra/ fails both attempts; the second attempt's success is reported with the first's error (`retried`)."""
    first: Exception | None = None
    for attempt in ("terraform-applied", "terraform-applied-again"):
        workdir = shared / attempt
        workdir.mkdir(exist_ok=True)
        try:
            data = _apply(workdir)
        except (AssertionError, subprocess.TimeoutExpired) as error:
            if first is not None:
                return {"error": f"{first}\n\nand again, into a fresh moto server:\n{error}"}
            first = error
            continue
        if first is not None:
            lines = str(first).strip().splitlines() or ["failed"]
            data["retried"] = next((line for line in lines if line.startswith("Error:")), lines[-1])[:300]
        return data
    raise AssertionError("unreachable")


def applied(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    """infra/ applied into moto (example variables), once for the whole run; see the module's docstring."""
    terraform()  # skip (or fail in CI) before taking the lock
    shared = shared_directory(tmp_path_factory)
    result = shared / "terraform-applied.json"
    with locked(shared / "terraform-applied.lock"):
        if not result.is_file():
            data = _apply_twice(shared)
            result.write_text(json.dumps(data))
    data = json.loads(result.read_text())
    if "error" in data:
        pytest.fail(f"applying infra/ into moto failed (once for the run):\n{data['error']}", pytrace=False)
    return Applied(
        endpoint_url=data["endpoint_url"],
        state=data["state"],
        outputs=data["outputs"],
        seconds=data["seconds"],
        directory=Path(data["directory"]),
        retried=data.get("retried", ""),
    )


if __name__ == "__main__":
    # make test / make fmt: write the CLI config and say where it is (or why there is none).
    found = provider_mirror()
    if found is None:
        print(
            "tfreal: no hashicorp/aws mirror found (set TF_PROVIDER_MIRROR); the Terraform tests will skip "
            "(fail with CI set)",
            file=sys.stderr,
        )
    else:
        print(cli_config(found))
