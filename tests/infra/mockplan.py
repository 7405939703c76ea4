"""`terraform test` of infra/tests/*.tftest.hcl against a mocked AWS provider, offline, run once per process.

The real Terraform CLI plans (and, for single modules, applies) infra/ with `mock_provider "aws"`: nothing
reaches AWS, yet every expression, validation, lifecycle rule and provider-side argument check is the real
one. `-json -verbose` gives each run's outcome and its full plan, so a test can assert on the planned
resources of the whole root module (tags, names, force flags), which the HCL assertions of a root-module
run cannot reach inside child modules.

Needs the terraform binary and the hashicorp/aws provider in a local filesystem mirror (tests/infra/tfreal.py
finds them and writes the project's CLI config): where they are missing the tests skip with the reason,
except in CI, where they fail.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from .tfchecks import SUMMARY_LINES
from .tfreal import INFRA, Terraform, copy_infra, locked, shared_directory, terraform


@dataclass
class Run:
    name: str
    status: str = "unknown"  # pass, fail, error, skip
    plan: dict[str, Any] | None = None
    diagnostics: list[str] = field(default_factory=list)

    def resources(self, prefix: str = "") -> dict[str, dict[str, Any]]:
        """Planned values ("after") by resource address, for addresses starting with prefix."""
        changes = (self.plan or {}).get("resource_changes", [])
        return {r["address"]: r["change"]["after"] for r in changes if r["address"].startswith(prefix)}

    def unknown(self, address: str) -> dict[str, Any]:
        """Which attributes of a planned resource are known only after apply."""
        for change in (self.plan or {}).get("resource_changes", []):
            if change["address"] == address:
                return dict(change["change"]["after_unknown"])
        raise KeyError(address)


@dataclass
class Results:
    runs: dict[str, dict[str, Run]]  # test file name -> run name -> run
    seconds: float
    output: str

    def run(self, file: str, name: str) -> Run:
        found = self.runs.get(file, {}).get(name)
        if found is None:
            raise AssertionError(f"terraform test did not report run {name!r} of {file}:\n{self.output[-3000:]}")
        return found


def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    """Every infra/tests/*.tftest.hcl, in one `terraform test` (the provider schema is loaded once) per pytest
    run: the first pytest-xdist worker to ask runs it under a file lock and records the outcome in the run's
    shared temporary directory; the others read the record."""
    return _results(shared_directory(tmp_path_factory))


@cache
def _results(shared: Path) -> Results:
    record = shared / "terraform-test-mocked.json"
    with locked(shared / "terraform-test-mocked.lock"):
        if record.exists():
            data = json.loads(record.read_text())
            mine = False
        else:
            data = _run(terraform(), shared)
            record.write_text(json.dumps(data))
            mine = True
    found = Results(
        runs={
            file: {name: Run(name, run["status"], run["plan"], run["diagnostics"]) for name, run in runs.items()}
            for file, runs in data["runs"].items()
        },
        seconds=data["seconds"],
        output=data["output"],
    )
    count = sum(len(runs) for runs in found.runs.values())
    who = "" if mine else ", run by another worker"
    SUMMARY_LINES.append(f"terraform test (mocked AWS provider): {count} runs in {found.seconds:.1f} s{who}")
    return found


def _plan(line: str) -> dict[str, Any]:
    """A run's plan without its provider schemas (megabytes no test reads, and most of the parsing time):
    they are the plan's last member, so the line is cut before them when it has the expected shape."""
    cut = line.find(',"provider_format_version"')
    if cut > 0:
        with contextlib.suppress(ValueError):
            plan: dict[str, Any] = json.loads(line[:cut] + "}}")["test_plan"]
            return plan
    plan = json.loads(line)["test_plan"]
    plan.pop("provider_schemas", None)
    return plan


def _run(cli: Terraform, shared: Path) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="tftest-", dir=shared))
    try:
        copy = copy_infra(INFRA, work / "infra")
        started = time.monotonic()
        cli.check(copy, "init", "-backend=false", "-input=false", "-no-color")
        test = cli.run(copy, "test", "-json", "-verbose", "-no-color", timeout=600)
        seconds = time.monotonic() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    runs: dict[str, dict[str, dict[str, Any]]] = {}
    lines: list[str] = []
    for line in test.stdout.splitlines():
        if line.endswith('"type":"test_plan"}'):
            head = json.loads(line[: line.index(',"test_plan"')] + "}")  # @testfile, @testrun come first
            run = runs.setdefault(head["@testfile"].rpartition("/")[2], {}).setdefault(head["@testrun"], _new_run())
            run["plan"] = {"resource_changes": _plan(line).get("resource_changes", [])}
            continue
        message = json.loads(line) if line.startswith("{") else {"@message": line}
        lines.append(str(message.get("@message", "")))
        file, name = message.get("@testfile"), message.get("@testrun")
        if not (file and name):
            continue
        run = runs.setdefault(file.rpartition("/")[2], {}).setdefault(name, _new_run())
        if message.get("type") == "test_run" and message["test_run"].get("progress") == "complete":
            run["status"] = message["test_run"]["status"]
        elif message.get("type") == "diagnostic":
            detail = " ".join(str(message.get("diagnostic", {}).get("detail", "")).split())
            run["diagnostics"].append(f"{message['@message']}: {detail}" if detail else message["@message"])
    return {"runs": runs, "seconds": seconds, "output": "\n".join(lines) + test.stderr}


def _new_run() -> dict[str, Any]:
    return {"status": "unknown", "plan": None, "diagnostics": []}
