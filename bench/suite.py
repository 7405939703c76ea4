"""The test suite's time: how long the last `make test` took, and its 15 slowest tests.

Read, not run: the whole suite takes minutes, more than every other benchmark together, so `make bench`
reports the figures the last `make test` left in .run/ (git-ignored): `.run/make-test.json`, the whole
target's wall-clock time (lint, types and virtualenv checks included) written when it passed, and
`.run/junit.xml`, pytest's JUnit report with each test's time (setup, call and teardown). Run `make test`
first for figures of the current commit; the section names the commit and the load they were measured at.
Baseline, from the same run: pytest's own time within the target, and the sum of every test's time over
the workers' wall-clock time (how well the workers were kept busy).
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.support import ROOT, table

RUN = ROOT / ".run"
JUNIT = RUN / "junit.xml"
MAKE_TEST = RUN / "make-test.json"
TARGET_SECONDS = 8 * 60  # issue 18: `make test` within 8 minutes on this 2-core machine, warm virtualenv
SLOWEST = 15


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:04.1f} s"


def tests(junit: Path) -> tuple[dict[str, Any], list[tuple[float, str]]]:
    """The suite's totals and (seconds, test id) for every test in a JUnit report."""
    root = ElementTree.parse(junit).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        raise ValueError(f"{junit}: no testsuite")
    totals = {key: suite.get(key, "0") for key in ("tests", "failures", "errors", "skipped", "time", "timestamp")}
    timed = [
        (float(case.get("time", "0")), f"{case.get('classname', '')}::{case.get('name', '')}")
        for case in suite.iter("testcase")
    ]
    return totals, sorted(timed, reverse=True)


def head() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> dict[str, Any]:
    if not JUNIT.exists() or not MAKE_TEST.exists():
        missing = ", ".join(f".run/{p.name}" for p in (JUNIT, MAKE_TEST) if not p.exists())
        markdown = (
            f"Not measured: {missing} missing; `make test` writes them when it passes. "
            f"Target: `make test` <= {TARGET_SECONDS // 60} min -> **missed** (no figure)."
        )
        print(markdown)
        return {"title": "Test suite (last `make test`)", "markdown": markdown, "target_met": False}

    run = json.loads(MAKE_TEST.read_text())
    totals, timed = tests(JUNIT)
    whole = float(run["seconds"])
    pytest_seconds = float(totals["time"])
    workers = max(1, int(run.get("workers", 1)))
    busy = sum(seconds for seconds, _ in timed) / (pytest_seconds * workers) if pytest_seconds else 0.0
    finished = datetime.fromtimestamp(MAKE_TEST.stat().st_mtime, UTC)
    commit = str(run.get("commit", "unknown"))
    current = head()
    passed = int(totals["tests"]) - sum(int(totals[k]) for k in ("failures", "errors", "skipped"))
    met = whole <= TARGET_SECONDS and totals["failures"] == "0" and totals["errors"] == "0"
    slowest = timed[:SLOWEST]
    rows = [[f"{seconds:.1f}", "`" + name.replace("|", "\\|") + "`"] for seconds, name in slowest]
    markdown = "\n\n".join(
        [
            f"Read from the last `make test` (not re-run here): commit `{commit}`"
            + ("" if commit == current else f" (HEAD is now `{current}`)")
            + f", finished {finished:%Y-%m-%d %H:%M} UTC, {workers} pytest-xdist workers, load average "
            f"{run.get('loadavg', '?')} at its end. {passed} passed, {totals['failures']} failed, "
            f"{totals['errors']} errors, {totals['skipped']} skipped.",
            table(
                ["", "time", "share of the target"],
                [
                    ["`make test`, whole target", minutes(whole), f"{whole / TARGET_SECONDS:.2f}"],
                    ["pytest within it (baseline)", minutes(pytest_seconds), f"{pytest_seconds / TARGET_SECONDS:.2f}"],
                ],
            ),
            f"Sum of every test's time over {workers} x pytest's wall-clock time: {busy:.2f} (1.00 = the workers "
            "never idle).",
            f"The {SLOWEST} slowest tests (setup, call and teardown, seconds; "
            f"{sum(s for s, _ in slowest) / max(sum(s for s, _ in timed), 1e-9):.0%} of all test time):",
            table(["s", "test"], rows),
            f"Target: `make test` <= {TARGET_SECONDS // 60} min on this machine, warm virtualenv. Measured "
            f"{minutes(whole)} -> " + ("**met**." if met else "**missed**."),
        ]
    )
    print(markdown)
    return {
        "title": "Test suite (last `make test`)",
        "markdown": markdown,
        "make_test_seconds": whole,
        "pytest_seconds": pytest_seconds,
        "slowest": [{"seconds": s, "test": n} for s, n in slowest],
        "target_met": met,
    }


if __name__ == "__main__":
    main()
