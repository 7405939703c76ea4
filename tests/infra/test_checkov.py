"""checkov (in its own virtualenv) finds nothing in infra/ beyond inline, justified skips."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .tfchecks import INFRA, SUMMARY_LINES, run_checkov

SKIP = re.compile(r"#\s*checkov:skip=(CKV2?_[A-Z0-9_]+)(?::(.*))?")


@pytest.mark.slow
def test_checkov_reports_no_failed_check(checkov_bin: Path, record_property: pytest.RecordProperty) -> None:
    report = run_checkov(checkov_bin)
    summary = report["summary"]
    counts = f"checkov terraform: passed={summary['passed']} failed={summary['failed']} skipped={summary['skipped']}"
    record_property("checkov", counts)
    SUMMARY_LINES.append(counts)  # printed by conftest.pytest_terminal_summary
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in report["results"].get("failed_checks", [])
    ]
    assert failed == [], f"{counts}\n" + "\n".join(failed)
    assert summary["passed"] > 200, counts


def test_every_checkov_skip_is_inline_and_justified() -> None:
    skips = [
        (path.relative_to(INFRA), m.group(1), (m.group(2) or "").strip())
        for path in INFRA.rglob("*.tf")
        for m in SKIP.finditer(path.read_text())
    ]
    assert skips, "expected the documented skips"
    unjustified = [f"{p}: {check}" for p, check, reason in skips if len(reason) < 20]
    assert unjustified == []
