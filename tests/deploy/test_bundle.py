"""The Lambda bundle's requirements are the project's dependencies, the build targets match the functions,
and every function takes its dependencies from one layer built for the functions' runtime."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from typing import Any

from .checks import REPO, functions

REQUIREMENTS = REPO / "lambda" / "requirements.txt"
MAKEFILE = REPO / "lambda" / "Makefile"
LAYER = "DependenciesLayer"
# The wheel platform of each Lambda architecture (lambda/Makefile's WHEEL_PLATFORM ends with it).
WHEEL_MACHINE = {"arm64": "aarch64", "x86_64": "x86_64"}
# Runtimes Lambda deprecates first: python3.11 is deprecated from mid-2027.
OLDEST_RUNTIME = (3, 12)


def _requirements(lines: list[str]) -> set[str]:
    return {re.sub(r"\s+", "", line.split("#", 1)[0]) for line in lines} - {""}


def test_bundle_requirements_are_the_project_dependencies() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    bundle = REQUIREMENTS.read_text().splitlines()
    assert _requirements(bundle) == _requirements(project), (
        "lambda/requirements.txt differs from pyproject.toml's [project] dependencies: keep them equal"
    )


def makefile_variable(name: str) -> str:
    """The default of a `NAME ?= value` line of lambda/Makefile."""
    found = re.search(rf"^{name}\s*\?=\s*(\S+)\s*$", MAKEFILE.read_text(), re.MULTILINE)
    assert found, f"lambda/Makefile has no `{name} ?= ...` line"
    return found.group(1)


def _dry_run(target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--dry-run", "-f", str(MAKEFILE), target, "ARTIFACTS_DIR=/nowhere"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def test_every_function_has_a_build_target(template: dict[str, Any]) -> None:
    for name in [*functions(template), LAYER]:
        metadata = template["Resources"][name].get("Metadata", {})
        assert metadata.get("BuildMethod") == "makefile", f"{name}: build with lambda/Makefile"
        assert metadata.get("ContextPath") == "lambda", f"{name}: ContextPath must point at lambda/"
        dry_run = _dry_run(f"build-{name}")
        assert dry_run.returncode == 0, f"lambda/Makefile cannot build-{name}:\n{dry_run.stderr}"


def test_the_functions_run_a_python_the_bundle_is_built_for(template: dict[str, Any]) -> None:
    runtime = template["Globals"]["Function"]["Runtime"]
    version = makefile_variable("PYTHON_VERSION")
    assert runtime == f"python{version}", (
        f"template.yaml's Runtime {runtime} differs from lambda/Makefile's PYTHON_VERSION {version}: "
        "the dependencies would be installed for another Python"
    )
    assert tuple(map(int, version.split("."))) >= OLDEST_RUNTIME, (
        f"{runtime}: python3.11 is deprecated on Lambda from mid-2027; use python3.12 or later"
    )
    for name, properties in functions(template).items():
        assert properties["Runtime"] == runtime, f"{name} overrides the Globals Runtime: the layer is built for one"


def test_the_tests_and_the_tools_run_on_the_functions_python(template: dict[str, Any]) -> None:
    version = template["Globals"]["Function"]["Runtime"].removeprefix("python")
    root = re.search(r"^PYTHON_VERSION\s*:=\s*(\S+)\s*$", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert root, "the Makefile has no `PYTHON_VERSION := ...` line (the Python of its virtualenvs)"
    assert root.group(1) == version, f"the Makefile's virtualenvs use Python {root.group(1)}, the functions {version}"
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={version}"
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + version.replace(".", ""), "ruff's target-version"
    assert pyproject["tool"]["mypy"]["python_version"] == version, "mypy's python_version"
    running = "{}.{}".format(*sys.version_info[:2])
    assert running == version, (
        f"the tests run on Python {running}, the functions on {version}: `make venv` makes .venv anew with {version}"
    )


def test_every_function_takes_its_dependencies_from_the_one_layer(template: dict[str, Any]) -> None:
    layers = [name for name, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::LayerVersion"]
    assert layers == [LAYER], f"one dependencies layer expected, found {layers}"
    layer = template["Resources"][LAYER]
    globals_ = template["Globals"]["Function"]
    assert layer["Properties"]["CompatibleRuntimes"] == [globals_["Runtime"]]
    architectures = globals_["Architectures"]
    assert layer["Properties"]["CompatibleArchitectures"] == architectures
    assert [layer["Metadata"]["BuildArchitecture"]] == architectures, f"{LAYER}: BuildArchitecture {architectures}"
    assert layer["Properties"]["ContentUri"] == "lambda", f"{LAYER}: a new version only when lambda/ changes"
    platform = makefile_variable("WHEEL_PLATFORM")
    assert platform.endswith(WHEEL_MACHINE[architectures[0]]), (
        f"lambda/Makefile's WHEEL_PLATFORM {platform} is not for {architectures[0]}"
    )
    for name, properties in functions(template).items():
        assert {"Ref": LAYER} in properties.get("Layers", []), f"{name} does not use {LAYER}: its imports would fail"


def test_the_layer_holds_the_dependencies_and_the_functions_only_the_code() -> None:
    layer = _dry_run(f"build-{LAYER}").stdout
    assert "--requirement" in layer, "build-DependenciesLayer does not install lambda/requirements.txt"
    assert '--target "/nowhere/python"' in layer, "the layer's packages must be under python/ (/opt/python)"
    function = _dry_run("build-SlackFunction").stdout
    assert "--requirement" not in function, "a function installs dependencies: they belong in the layer"
    # The one pip a function's build may run installs PyYAML for the build's own use (lambda/compile_config.py,
    # when the Python running make has none) into a directory the same recipe removes.
    targets = re.findall(r'--target "([^"]*)"', function)
    assert set(targets) <= {"/nowhere/.build-yaml"}, f"a function's build installs into its bundle: {targets}"
    if targets:
        assert 'rm -rf "/nowhere/.build-yaml"' in function, "the build's own PyYAML is shipped in the bundle"
