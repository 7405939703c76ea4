"""`make run` (python -m sandbox): both services come up, answer, and go away together, leaving nothing."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import process_exists
from svc_support import LOOPBACK, REPO, free_port, http_get, is_listening

pytestmark = pytest.mark.slow

BANNER = re.compile(r"^sandbox: (service-[ab]) +http://127\.0\.0\.1:(\d+) +\(pid (\d+)\)$", re.MULTILINE)


@dataclass
class Sandbox:
    process: subprocess.Popen[bytes]
    output: Path
    port_a: int
    port_b: int

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def child_pids(self) -> dict[str, int]:
        return {name: int(pid) for name, _, pid in BANNER.findall(self.text())}

    def wait_ready(self, timeout: float = 60) -> None:
        # 60 s: seeding moto alone took 17 to 25 s on the shared 2-core machine at a load average of 16.
        deadline = time.monotonic() + timeout
        while "sandbox: ready" not in self.text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"sandbox did not get ready (exit {self.process.poll()}):\n{self.text()}")
            time.sleep(0.05)


def start_sandbox(tmp_path: Path, port_a: int, port_b: int) -> Sandbox:
    output = tmp_path / "sandbox.log"
    # The rest of the sandbox (page, bot, moto) on free ports too, so a `make run` left open does not matter.
    others = {name: str(free_port()) for name in ("SANDBOX_PAGE_PORT", "SANDBOX_BOT_PORT", "SANDBOX_AWS_PORT")}
    env = {**os.environ, **others, "SERVICE_A_PORT": str(port_a), "SERVICE_B_PORT": str(port_b)}
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "sandbox"], cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    return Sandbox(process, output, port_a, port_b)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    running = start_sandbox(tmp_path, free_port(), free_port())
    yield running
    # Only if a test failed half-way: never leave the sandbox or its services behind.
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()
    for pid in running.child_pids().values():
        if process_exists(pid):
            os.kill(pid, signal.SIGKILL)


def wait_exit(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"sandbox still running {timeout} s later")


def wait_gone(pid: int, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while process_exists(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_ctrl_c_stops_both_services_and_leaves_no_process(sandbox: Sandbox) -> None:
    sandbox.wait_ready()
    pids = sandbox.child_pids()
    assert set(pids) == {"service-a", "service-b"}

    status, body = http_get(sandbox.port_a, "/api/backend")
    assert status == 200
    assert body["service_a"] == "success"
    assert body["service_b_response"]["service"] == "service-b"

    sandbox.process.send_signal(signal.SIGINT)

    assert wait_exit(sandbox.process) == 0
    assert not is_listening(sandbox.port_a)
    assert not is_listening(sandbox.port_b)
    assert all(wait_gone(pid) for pid in pids.values()), pids


def test_sigterm_stops_everything_too(sandbox: Sandbox) -> None:
    sandbox.wait_ready()
    pids = sandbox.child_pids()

    sandbox.process.terminate()

    assert wait_exit(sandbox.process) == 0
    assert all(wait_gone(pid) for pid in pids.values()), pids


def test_when_one_service_dies_the_other_is_stopped_and_the_exit_is_nonzero(sandbox: Sandbox) -> None:
    sandbox.wait_ready()
    pids = sandbox.child_pids()

    os.kill(pids["service-b"], signal.SIGKILL)

    assert wait_exit(sandbox.process) != 0
    assert wait_gone(pids["service-a"])
    assert not is_listening(sandbox.port_a)
    assert "service-b exited unexpectedly" in sandbox.text()


def test_a_taken_port_is_reported_by_its_variable_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind((LOOPBACK, 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        sandbox = start_sandbox(tmp_path, port_a=taken, port_b=free_port())

        assert wait_exit(sandbox.process) != 0

    assert f"port {taken} for service-a is already in use" in sandbox.text()
    assert "SERVICE_A_PORT" in sandbox.text()
    assert sandbox.child_pids() == {}
