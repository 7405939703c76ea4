"""cfn-lint and checkov pass on template.yaml: 0 errors, 0 warnings, 0 failed checks, skips justified."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from .checks import REPO, TEMPLATE

CHECKOV_HINT = "run `make checkov-venv` (checkov lives in its own virtualenv) or set CHECKOV=<path to checkov>"
MIN_SKIP_REASON = 40  # characters: a reason, not a shrug


def test_cfn_lint_reports_no_error_and_no_warning(template_text: str) -> None:
    matches = lint(template_text, config=ManualArgs(regions=["us-east-1"]))
    blocking = [m for m in matches if m.rule.id[0] in "EW"]
    assert not blocking, "cfn-lint template.yaml:\n" + "\n".join(
        f"{m.rule.id} line {m.linenumber}: {m.message}" for m in blocking
    )


def test_cfn_lint_would_catch_a_broken_template(template_text: str) -> None:
    broken, replaced = re.subn(r"Runtime: python3\.\d+", "Runtime: python2.7", template_text)
    assert replaced, "template.yaml has no `Runtime: python3.x` line to break"
    assert any(m.rule.id.startswith("E") for m in lint(broken, config=ManualArgs(regions=["us-east-1"])))


def _checkov() -> Path:
    path = Path(os.environ.get("CHECKOV") or REPO / ".venv-checkov" / "bin" / "checkov")
    if not path.is_file():
        pytest.fail(f"checkov not found at {path}: {CHECKOV_HINT}")
    return path


def run_checkov(template: Path) -> dict[str, Any]:
    """checkov's JSON report on one CloudFormation/SAM template (SAM resources are in that framework)."""
    # --skip-download: no call home for guidelines; the checks and their results are the same offline.
    command = [str(_checkov()), "--file", str(template), "--framework", "cloudformation", "--output", "json"]
    result = subprocess.run([*command, "--skip-download"], capture_output=True, text=True, timeout=120, check=False)
    assert result.stdout.strip(), f"checkov printed nothing (exit {result.returncode}):\n{result.stderr[-3000:]}"
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_checkov_finds_no_failure_and_every_skip_is_justified() -> None:
    report = run_checkov(TEMPLATE)
    summary, results = report["summary"], report["results"]
    print(f"checkov: {summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped")
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in results["failed_checks"]]
    assert not failed, "checkov failed checks on template.yaml:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] > 0, "checkov scanned nothing"
    assert summary["passed"] > 0, "checkov ran no check"
    unjustified = [
        f"{c['check_id']} {c['resource']}"
        for c in results["skipped_checks"]
        if len((c.get("check_result") or {}).get("suppress_comment") or "") < MIN_SKIP_REASON
    ]
    assert not unjustified, "checkov skips need a reason in the template's Metadata:\n" + "\n".join(unjustified)


def test_checkov_would_catch_a_table_without_point_in_time_recovery(template_text: str, tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    broken.write_text(template_text.replace("PointInTimeRecoveryEnabled: true", "PointInTimeRecoveryEnabled: false"))
    failed = {c["check_id"] for c in run_checkov(broken)["results"]["failed_checks"]}
    assert "CKV_AWS_28" in failed
