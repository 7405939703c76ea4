"""`make run`: ready (the page answers) within 20 seconds, and Ctrl-C leaves no process and no listening port."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from sandbox_support import PORT_VARIABLES, REPO, Sandbox, free_port, listening_ports, process_exists

pytestmark = pytest.mark.slow

READY_BUDGET_SECONDS = 20


def test_ready_within_budget_and_ctrl_c_leaves_nothing_behind(sandbox: Sandbox) -> None:
    ready = sandbox.wait_page()
    print(f"\nmake run: the page answered {ready:.2f} s after start (budget {READY_BUDGET_SECONDS} s)")
    assert ready < READY_BUDGET_SECONDS
    while "sandbox: ready" not in sandbox.text():  # the page is the last part; the banner follows it
        assert time.monotonic() - sandbox.started < READY_BUDGET_SECONDS, sandbox.text()[-3000:]
        time.sleep(0.05)
    pids = sandbox.child_pids()
    assert set(pids) == {"service-a", "service-b"}
    assert set(sandbox.ports.values()) <= listening_ports()

    assert sandbox.stop() == 0

    assert not set(sandbox.ports.values()) & listening_ports(), sandbox.text()[-3000:]
    deadline = time.monotonic() + 5
    while any(process_exists(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [name for name, pid in pids.items() if process_exists(pid)]
    assert "Traceback" not in sandbox.text(), sandbox.text()[-4000:]


def test_a_taken_port_is_named_with_its_variable_and_nothing_starts(sandbox: Sandbox) -> None:
    # The fixture's sandbox holds its page port; a second one wanting it must refuse before starting anything.
    sandbox.wait_page()
    env_ports = {variable: str(free_port()) for variable in PORT_VARIABLES}
    env_ports["SANDBOX_PAGE_PORT"] = str(sandbox.ports["SANDBOX_PAGE_PORT"])
    second = subprocess.run(
        [sys.executable, "-m", "sandbox"],
        cwd=REPO,
        env={**os.environ, **env_ports},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert second.returncode != 0
    assert f"port {env_ports['SANDBOX_PAGE_PORT']} for slack is already in use" in second.stdout
    assert "SANDBOX_PAGE_PORT" in second.stdout
    assert "(pid" not in second.stdout
    assert not {int(p) for v, p in env_ports.items() if v != "SANDBOX_PAGE_PORT"} & listening_ports()
