from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import run_summary

from .tfchecks import INFRA, REPO, SUMMARY_LINES, evaluate_names


@pytest.fixture(scope="session")
def names(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Names of the platform under terraform.tfvars.example, evaluated by Terraform."""
    return evaluate_names(INFRA, INFRA / "terraform.tfvars.example", tmp_path_factory.mktemp("names"))


@pytest.fixture(scope="session")
def checkov_bin() -> Path:
    """$CHECKOV (what `make test` passes), else the repository's own checkov virtualenv."""
    candidates = [os.environ.get("CHECKOV"), str(REPO / ".venv-checkov" / "bin" / "checkov")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    pytest.fail(
        "checkov not found: set CHECKOV to its path or run `make checkov-venv` "
        f"(looked at {[c for c in candidates if c]}). The infra checks must not be skipped.",
        pytrace=False,
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Show the checkov counts in every run's output, not only with -s (tests/run_summary.py prints them)."""
    run_summary.lines(session.config, "infra", SUMMARY_LINES)
