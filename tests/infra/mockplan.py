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

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .tfchecks import SUMMARY_LINES
from .tfreal import INFRA, Terraform, copy_infra, terraform


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


@cache
def results() -> Results:
    """Every infra/tests/*.tftest.hcl, in one `terraform test` (the provider schema is loaded once)."""
    cli = terraform()
    work = Path(tempfile.mkdtemp(prefix="tftest-"))
    try:
        found = _run(cli, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    count = sum(len(runs) for runs in found.runs.values())
    SUMMARY_LINES.append(f"terraform test (mocked AWS provider): {count} runs in {found.seconds:.1f} s")
    return found


def _run(cli: Terraform, work: Path) -> Results:
    copy = copy_infra(INFRA, work / "infra")
    started = time.monotonic()
    cli.check(copy, "init", "-backend=false", "-input=false", "-no-color")
    test = cli.run(copy, "test", "-json", "-verbose", "-no-color", timeout=600)
    seconds = time.monotonic() - started
    runs: dict[str, dict[str, Run]] = {}
    lines: list[str] = []
    for line in test.stdout.splitlines():
        message = json.loads(line) if line.startswith("{") else {"@message": line}
        file, name = message.get("@testfile"), message.get("@testrun")
        if file and name:
            run = runs.setdefault(file.rpartition("/")[2], {}).setdefault(name, Run(name))
            if message.get("type") == "test_run" and message["test_run"].get("progress") == "complete":
                run.status = message["test_run"]["status"]
            elif message.get("type") == "test_plan":
                plan = message["test_plan"]
                plan.pop("provider_schemas", None)  # megabytes no test reads
                run.plan = plan
            elif message.get("type") == "diagnostic":
                diagnostic = message.get("diagnostic", {})
                detail = " ".join(str(diagnostic.get("detail", "")).split())
                run.diagnostics.append(f"{message['@message']}: {detail}" if detail else message["@message"])
        if message.get("type") != "test_plan":
            lines.append(str(message.get("@message", "")))
    return Results(runs, seconds, "\n".join(lines) + test.stderr)
