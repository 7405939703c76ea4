"""The Lambda bundle's requirements are the project's dependencies, and the build targets match the functions."""

from __future__ import annotations

import re
import subprocess
import tomllib
from typing import Any

from .checks import REPO, functions

REQUIREMENTS = REPO / "lambda" / "requirements.txt"
MAKEFILE = REPO / "lambda" / "Makefile"


def _requirements(lines: list[str]) -> set[str]:
    return {re.sub(r"\s+", "", line.split("#", 1)[0]) for line in lines} - {""}


def test_bundle_requirements_are_the_project_dependencies() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    bundle = REQUIREMENTS.read_text().splitlines()
    assert _requirements(bundle) == _requirements(project), (
        "lambda/requirements.txt differs from pyproject.toml's [project] dependencies: keep them equal"
    )


def test_every_function_has_a_build_target(template: dict[str, Any]) -> None:
    for name in functions(template):
        metadata = template["Resources"][name].get("Metadata", {})
        assert metadata.get("BuildMethod") == "makefile", f"{name}: build with lambda/Makefile"
        assert metadata.get("ContextPath") == "lambda", f"{name}: ContextPath must point at lambda/"
        dry_run = subprocess.run(
            ["make", "--dry-run", "-f", str(MAKEFILE), f"build-{name}", "ARTIFACTS_DIR=/nowhere"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        assert dry_run.returncode == 0, f"lambda/Makefile cannot build-{name}:\n{dry_run.stderr}"
