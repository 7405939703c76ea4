"""The real SAM CLI accepts template.yaml (`sam validate --lint`) and builds it (`sam build`, no container), and
every function's Handler imports from what was built, with nothing else on sys.path.

The arm64 build is the deployable one: it is checked for its contents (code-only functions, one layer holding
every requirement, binary modules for the runtime's Python on aarch64). Its binary wheels cannot be imported on
this x86_64 machine, so the imports run against a host build of the same layer target (lambda/Makefile,
WHEEL_PLATFORM=host) next to the functions' code from the SAM build. The three commands run at once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .checks import REPO, TEMPLATE, functions, load_template
from .test_handlers import import_errors, lambda_like_environment

SAM_HINT = "run `make sam-venv` (the SAM CLI lives in its own virtualenv) or set SAM=<path to sam>"
LAYER = "DependenciesLayer"
CODE = ["bot", "config", "handlers"]


def _sam() -> Path:
    path = Path(os.environ.get("SAM") or REPO / ".venv-sam" / "bin" / "sam")
    if not path.is_file():
        message = f"the SAM CLI is not at {path}: {SAM_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must prove the build
        pytest.skip(message)
    return path


@dataclass(frozen=True)
class Run:
    command: str
    returncode: int
    output: str
    seconds: float

    def check(self) -> None:
        assert self.returncode == 0, f"`{self.command}` failed (exit {self.returncode}):\n{self.output[-4000:]}"


@dataclass(frozen=True)
class Builds:
    validate: Run
    sam_build: Run
    host_layer: Run
    build_dir: Path
    host_layer_dir: Path

    def built_template(self) -> dict[str, Any]:
        self.sam_build.check()
        return load_template((self.build_dir / "template.yaml").read_text())


def _run(command: list[str], environ: Mapping[str, str]) -> Run:
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=REPO, env=dict(environ), capture_output=True, text=True, timeout=240, check=False
    )
    return Run(" ".join(command[:3]), result.returncode, result.stdout + result.stderr, time.monotonic() - started)


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Builds:
    sam = str(_sam())
    work = tmp_path_factory.mktemp("sam")
    # SAM's own settings in a directory of the test's: telemetry off, and the weekly "newer version?" request
    # to the package index marked as just done (SAM makes it after the command; the test stays off the network
    # except for pip).
    app_dir = work / "sam-app"
    app_dir.mkdir()
    (app_dir / "metadata.json").write_text(json.dumps({"telemetryEnabled": False, "lastVersionCheck": time.time()}))
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("PYTHON", "WHEEL_PLATFORM")},
        "SAM_CLI_TELEMETRY": "0",
        "__SAM_CLI_APP_DIR": str(app_dir),
        # No AWS call is expected; should one be made, it cannot reach an account.
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        # lambda/Makefile's pip: this Python (it has pip); the wheels' target comes from the Makefile.
        "PYTHON": sys.executable,
    }
    build_dir, host_layer_dir = work / "build", work / "host-layer"
    commands = {
        "validate": [sam, "validate", "--lint", "--template-file", str(TEMPLATE)],
        # --build-in-source: make reads the repository in place, as scripts/deploy-bot.sh builds; --parallel: the
        # layer and the (quick) functions at once.
        "sam_build": [
            sam, "build", "--parallel", "--build-in-source",
            "--template-file", str(TEMPLATE), "--build-dir", str(build_dir),
        ],
        "host_layer": [
            "make", "--silent", "-f", "lambda/Makefile", f"build-{LAYER}",
            "WHEEL_PLATFORM=host", f"ARTIFACTS_DIR={host_layer_dir}",
        ],
    }  # fmt: skip
    with ThreadPoolExecutor(len(commands)) as pool:
        runs = dict(zip(commands, pool.map(lambda c: _run(c, environ), commands.values()), strict=True))
    for name, run in runs.items():
        print(f"{name}: {run.seconds:.1f} s")
    return Builds(**runs, build_dir=build_dir, host_layer_dir=host_layer_dir)


def test_sam_validate_lint_accepts_the_template(builds: Builds) -> None:
    builds.validate.check()
    assert "is a valid SAM Template" in builds.validate.output, builds.validate.output[-2000:]


def test_each_built_function_holds_only_the_code_and_the_layer_every_dependency(
    builds: Builds, template: dict[str, Any]
) -> None:
    built = builds.built_template()
    for name, properties in functions(built).items():
        code = builds.build_dir / properties["CodeUri"]
        assert sorted(p.name for p in code.iterdir()) == CODE, f"{name}: the built function holds more than its code"
        assert {"Ref": LAYER} in properties["Layers"], f"{name} was built without {LAYER}"
    layer = builds.build_dir / built["Resources"][LAYER]["Properties"]["ContentUri"]
    assert [p.name for p in layer.iterdir()] == ["python"], "the layer's packages must be under python/"
    installed = {_normalise(p.name.split("-")[0]) for p in (layer / "python").glob("*.dist-info")}
    required = {_normalise(re.split(r"[<>=!~\[; ]", line)[0]) for line in _requirements()}
    assert required <= installed, f"the layer lacks {sorted(required - installed)}"


def test_the_layers_binary_modules_are_for_the_functions_runtime(builds: Builds, template: dict[str, Any]) -> None:
    built = builds.built_template()
    layer = builds.build_dir / built["Resources"][LAYER]["Properties"]["ContentUri"]
    runtime = template["Globals"]["Function"]["Runtime"].removeprefix("python").replace(".", "")
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"]
    binaries = sorted(p.name for p in layer.rglob("*.so"))
    assert binaries, "no binary module in the layer (pydantic_core has one): was it built?"
    wrong = [b for b in binaries if "aarch64" not in b or ("cpython-" in b and f"cpython-{runtime}-" not in b)]
    assert not wrong, f"binary modules not for CPython {runtime} on aarch64: {wrong}"


# Lambda's start: /var/task (the function's code, the working directory) then /opt/python (the layer) on
# sys.path. The child runs with -I -S: no site-packages, no PYTHONPATH, only the standard library and these two.
IMPORT_FROM_ARTEFACT = """
import importlib, sys
handler, task_root, layer = sys.argv[1:]
sys.path[:0] = [task_root, layer]
module_name, _, name = handler.rpartition(".")
module = importlib.import_module(module_name)
assert callable(getattr(module, name)), handler
assert module.__file__.startswith(task_root), module.__file__
"""


def import_from_artefact(function: str, properties: Mapping[str, Any], code: Path, layer: Path) -> str:
    """Import the Handler in a fresh interpreter that sees only the built code and layer; return the error."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        **lambda_like_environment(function, properties),
    }
    return import_errors(
        [sys.executable, "-I", "-S", "-c", IMPORT_FROM_ARTEFACT, properties["Handler"], str(code), str(layer)],
        code,
        environment,
    )


def test_every_handler_imports_from_the_built_code_and_the_host_layer(builds: Builds, template: dict[str, Any]) -> None:
    built = builds.built_template()
    builds.host_layer.check()
    layer = builds.host_layer_dir / "python"

    def check(item: tuple[str, Mapping[str, Any]]) -> tuple[str, str]:
        name, properties = item
        code = builds.build_dir / built["Resources"][name]["Properties"]["CodeUri"]
        return f"{name} ({properties['Handler']})", import_from_artefact(name, properties, code, layer)

    # One import first writes the byte code of the shared packages; the others reuse it, two at a time.
    first, *others = functions(template).items()
    errors = dict([check(first)])
    with ThreadPoolExecutor(2) as pool:
        errors.update(pool.map(check, others))
    failed = {name: error for name, error in errors.items() if error}
    assert not failed, "\n".join(f"{name} does not import from the build:\n{error}" for name, error in failed.items())


def test_the_import_check_fails_without_the_layer(builds: Builds, template: dict[str, Any], tmp_path: Path) -> None:
    built = builds.built_template()
    code = builds.build_dir / built["Resources"]["SlackFunction"]["Properties"]["CodeUri"]
    error = import_from_artefact("SlackFunction", functions(template)["SlackFunction"], code, tmp_path)
    assert "ModuleNotFoundError" in error, error or "the handler imported with an empty layer"


def _requirements() -> list[str]:
    lines = (REPO / "lambda" / "requirements.txt").read_text().splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()
