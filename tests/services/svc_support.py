"""Helpers for the service tests: free loopback ports, services run as in their containers, a stand-in B."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SERVICES = REPO / "services"
COMMON = SERVICES / "common"
"""Holds `service_runtime`, the runtime both services import (copied next to them into /app in each image)."""
LOOPBACK = "127.0.0.1"


def with_common_on_path(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` with services/common put first on PYTHONPATH, as the sandbox runs the services."""
    pythonpath = os.pathsep.join(filter(None, [str(COMMON), environ.get("PYTHONPATH", "")]))
    return {**environ, "PYTHONPATH": pythonpath}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def is_listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((LOOPBACK, port)) == 0


def http_get(port: int, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
    try:
        connection.request("GET", path, headers=dict(headers or {}))
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of `text` that is a JSON object (other output is skipped)."""
    lines = []
    for line in text.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            lines.append(parsed)
    return lines


@dataclass
class RunningService:
    """A service started with `python -m <package>`, exactly the command of its container."""

    process: subprocess.Popen[bytes]
    port: int
    output: Path

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def log_lines(self) -> list[dict[str, Any]]:
        return json_lines(self.output.read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_service(
    package: str, output: Path, env: Mapping[str, str] | None = None, timeout: float = 30.0
) -> RunningService:
    # 30 s: a service starts in about 1 s alone, but the seed-contract tests start four service-a side by side
    # while another pytest worker runs, on a shared 2-core machine (15 s ran out at a load average of 16).
    port = free_port()
    return launch(
        [sys.executable, "-m", package],
        cwd=SERVICES / package.replace("_", "-"),
        env=with_common_on_path(
            {**os.environ, "HOST": LOOPBACK, "PORT": str(port), "PYTHONUNBUFFERED": "1", **(env or {})}
        ),
        port=port,
        output=output,
        timeout=timeout,
    )


def launch(
    argv: list[str], *, cwd: Path, env: Mapping[str, str], port: int, output: Path, timeout: float = 15.0
) -> RunningService:
    """Start `argv` and wait until it answers GET /health on `port` (loopback)."""
    with output.open("wb") as sink:
        process = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdout=sink, stderr=subprocess.STDOUT)
    service = RunningService(process, port, output)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{argv} exited with {process.returncode}:\n{output.read_text()}")
        try:
            if http_get(port, "/health")[0] == 200:
                return service
        except OSError:
            time.sleep(0.05)
    service.stop()
    raise RuntimeError(f"{argv} did not answer /health within {timeout} s:\n{output.read_text()}")


@dataclass
class StandInServiceB:
    """A misbehaving service-b on loopback. Point SERVICE_B_URL at `url_for(behaviour)`.

    Behaviours: "ok" (a JSON object), "slow" (answers only after `release` or 5 s), "error" (HTTP 500 with a
    traceback-like body), "html" (200 that is not JSON), "list" (200 JSON that is not an object), "cut" (200
    whose body stops short of its Content-Length, then the connection closes), "drop" (the connection closes
    without any answer), "garbage" (bytes that are not HTTP), "deep" (a small JSON object nested 400 levels
    deep), "huge" (a 2 MB JSON object), "gzip" (a gzip-encoded answer that expands to 5 MB), "drip" (a small JSON
    object, one byte every 0.1 s).
    """

    server: ThreadingHTTPServer
    release: threading.Event = field(default_factory=threading.Event)
    seen: list[tuple[str, int, str | None]] = field(default_factory=list)
    """(path, client port, X-Request-ID) of every request received."""

    def url_for(self, behaviour: str) -> str:
        return f"http://{LOOPBACK}:{self.server.server_port}/{behaviour}"


def start_stand_in() -> StandInServiceB:
    stand_in: StandInServiceB

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse by the client is observable

        def do_GET(self) -> None:
            stand_in.seen.append((self.path, self.client_address[1], self.headers.get("X-Request-ID")))
            behaviour = self.path.strip("/").split("/")[0]
            if behaviour == "slow":
                stand_in.release.wait(timeout=5)
            if behaviour == "drip":
                body = b'{"service": "stand-in"}'
                self.wfile.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                )
                try:
                    for byte in body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.1)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True
                return
            if behaviour in {"cut", "drop", "garbage"}:
                self.close_connection = True
                if behaviour == "cut":
                    self.wfile.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
                    )
                elif behaviour == "garbage":
                    self.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
                self.wfile.flush()
                return
            status, content_type, body = {
                "ok": (200, "application/json", b'{"service": "stand-in"}'),
                "slow": (200, "application/json", b'{"service": "stand-in"}'),
                "error": (500, "text/plain", b"Traceback (most recent call last): KeyError: 'secret'"),
                "html": (200, "text/html", b"<html><body>maintenance</body></html>"),
                "list": (200, "application/json", b"[1, 2, 3]"),
                "deep": (200, "application/json", b'{"a":' * 400 + b"1" + b"}" * 400),
                "huge": (200, "application/json", b'{"a": "' + b"x" * 2_000_000 + b'"}'),
                "gzip": (200, "application/json", gzip.compress(b'{"a": "' + b"x" * 5_000_000 + b'"}')),
            }[behaviour]
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                if behaviour == "gzip":
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the caller gave up waiting, which is what the slow behaviour is for

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    server.daemon_threads = True
    stand_in = StandInServiceB(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return stand_in
