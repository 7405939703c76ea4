from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

import pytest
import run_summary

from . import tfreal
from .tfchecks import INFRA, REPO, SUMMARY_LINES, evaluate_names
from .tfreal import Applied


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


@pytest.fixture(scope="session")
def terraform_applied(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    """infra/ applied into moto with the example variables, once a run (tfreal.applied())."""
    return tfreal.applied(tmp_path_factory)


@pytest.fixture(scope="session")
def terraform_state(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`terraform show -json` of that apply."""
    return tfreal.applied(tmp_path_factory).state


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the apply into moto as soon as the tests are collected, when any selected test's module uses it.

    It takes about two minutes, mostly waiting (the provider's fixed delays, e.g. 30 s twice for the load
    balancer), so it runs in a thread beside the tests that come first, and the tests that need it (near the
    end: tests/infra) find it done. The lock in tfreal.applied() keeps it to one apply for the whole run.
    """
    if not any(getattr(getattr(item, "module", None), "applied", None) is tfreal.applied for item in session.items):
        return
    factory: pytest.TempPathFactory | None = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    factory.getbasetemp()  # made here, not raced for by the thread and the first test

    def apply() -> None:
        # The outcome (or the reason it was skipped) is the test's to report: applied() again gives it.
        with contextlib.suppress(BaseException):
            tfreal.applied(factory)

    threading.Thread(target=apply, name="terraform-apply", daemon=True).start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Show the checkov counts (and the apply's timings) in every run's output, not only with -s
    (tests/run_summary.py prints them); interrupt an apply the run no longer waits for."""
    tfreal.stop_running()
    run_summary.lines(session.config, "infra", SUMMARY_LINES)
