"""`make run`: ready (the page answers) within 20 seconds, and Ctrl-C leaves no process and no listening port."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import time

import httpx
import pytest
from harness import process_exists
from sandbox_support import PORT_VARIABLES, REPO, Sandbox, free_port, listening_ports

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


# What a page that goes away leaves behind: the request sent, then the connection reset (RST), as a
# reloaded tab, a closed laptop lid or a page giving up on an ack does.
DROPPED = {
    "SANDBOX_PAGE_PORT": ["/", "/static/slack_text.js", "/page/users", "/page/alarms", "/page/state?user=U0DEPLOYER"],
    "SANDBOX_BOT_PORT": ["/health"],
}


def drop_after_sending(port: int, path: str) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close() resets
    return client


def test_the_terminal_shows_no_warning_and_no_traceback_when_pages_come_and_go(sandbox: Sandbox) -> None:
    sandbox.wait_page()
    while "sandbox: ready" not in sandbox.text():
        time.sleep(0.05)
    version = httpx.get(f"{sandbox.page_url}/page/state?user=U0DEPLOYER&since=-1", timeout=5).json()["version"]
    waiting = drop_after_sending(sandbox.ports["SANDBOX_PAGE_PORT"], f"/page/state?user=U0DEPLOYER&since={version}")
    for variable, paths in DROPPED.items():
        for path in paths:
            drop_after_sending(sandbox.ports[variable], path).close()
    time.sleep(0.2)  # the long poll is waiting for a change ...
    waiting.close()
    typed = httpx.post(f"{sandbox.page_url}/page/command", json={"user": "U0DEPLOYER", "text": "hi"}, timeout=5)
    assert typed.json()["ok"]  # ... and now answers a page that is gone
    time.sleep(1)

    assert sandbox.stop() == 0
    shown = sandbox.text()
    assert "Traceback" not in shown, shown[-4000:]
    assert "Exception occurred during processing" not in shown, shown[-4000:]
    # Bolt's two start-up warnings about a token it would ignore: the bot gives it none to ignore.
    assert "`token`" not in shown, shown
