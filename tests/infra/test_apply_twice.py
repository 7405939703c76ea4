"""The apply into moto is tried once more, into a fresh moto server, when moto fails it (tfreal._apply_twice);
a fault of infra/ fails both attempts and is reported with both errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from . import tfreal

MOTO_FAULT = "terraform apply failed (exit 1):\n\nError: creating IAM Role (x): EntityAlreadyExists\n\n  with module"


def test_a_failure_then_a_success_is_a_success_that_names_the_first_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[str] = []

    def apply(workdir: Path) -> dict[str, Any]:
        attempts.append(workdir.name)
        if len(attempts) == 1:
            raise AssertionError(MOTO_FAULT)
        return {"state": {}, "seconds": {"apply": 1.0}}

    monkeypatch.setattr(tfreal, "_apply", apply)
    data = tfreal._apply_twice(tmp_path)
    assert attempts == ["terraform-applied", "terraform-applied-again"]  # each into its own directory
    assert data["retried"] == "Error: creating IAM Role (x): EntityAlreadyExists"
    assert "error" not in data


def test_two_failures_are_a_failure_with_both_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def apply(workdir: Path) -> dict[str, Any]:
        raise AssertionError(f"broken in {workdir.name}")

    monkeypatch.setattr(tfreal, "_apply", apply)
    data = tfreal._apply_twice(tmp_path)
    assert "broken in terraform-applied\n" in data["error"]
    assert "and again, into a fresh moto server:\nbroken in terraform-applied-again" in data["error"]
