"""Run `python -m sandbox` (what `make run` runs) as a subprocess on free loopback ports, and look at it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
PORT_VARIABLES = ("SANDBOX_PAGE_PORT", "SANDBOX_BOT_PORT", "SANDBOX_AWS_PORT", "SERVICE_A_PORT", "SERVICE_B_PORT")
CHILD = re.compile(r"^sandbox: (service-[ab]) +http://127\.0\.0\.1:\d+ +\(pid (\d+)\)$", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def listening_ports() -> set[int]:
    """Ports in LISTEN state on this machine (IPv4 and IPv6), from /proc/net."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A":  # TCP_LISTEN
                ports.add(int(fields[1].rpartition(":")[2], 16))
    return ports


@dataclass
class Sandbox:
    process: subprocess.Popen[bytes]
    output: Path
    ports: dict[str, int]
    started: float

    @property
    def page_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports['SANDBOX_PAGE_PORT']}"

    @property
    def aws_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports['SANDBOX_AWS_PORT']}"

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def child_pids(self) -> dict[str, int]:
        return {name: int(pid) for name, pid in CHILD.findall(self.text())}

    def wait_page(self, timeout: float = 60) -> float:
        """Seconds from the start until the page answers (what a person opening it waits)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"the sandbox exited with {self.process.returncode}:\n{self.text()[-4000:]}")
            try:
                with urllib.request.urlopen(self.page_url + "/", timeout=1) as response:
                    if response.status == 200:
                        return time.monotonic() - self.started
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the page did not answer within {timeout} s:\n{self.text()[-4000:]}")
            time.sleep(0.05)

    def stop(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the sandbox was still running {timeout} s after Ctrl-C:\n{self.text()[-4000:]}")

    def kill_leftovers(self) -> None:
        """After a failed test only: the sandbox and any process it started (found by its ports)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        marker = f"SANDBOX_PAGE_PORT={self.ports['SANDBOX_PAGE_PORT']}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                started_by_us = marker in (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if started_by_us and int(entry.name) != os.getpid():
                os.kill(int(entry.name), signal.SIGKILL)


def start_sandbox(tmp_path: Path, **extra_env: str) -> Sandbox:
    ports = {variable: free_port() for variable in PORT_VARIABLES}
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "PYTHONUNBUFFERED": "1", **extra_env}
    for variable in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "OPSBOT_CONFIG_FILE", "OPSBOT_STRICT_ACTIONS"):
        env.pop(variable, None)
    output = tmp_path / "sandbox.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "sandbox"], cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    return Sandbox(process, output, ports, time.monotonic())
