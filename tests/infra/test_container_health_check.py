"""The ECS container health check runs with what python:3.11-slim has (no curl) and tells healthy from not."""

from __future__ import annotations

import http.server
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from .tfchecks import INFRA


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def health_command() -> list[str]:
    text = (INFRA / "modules" / "ecs" / "main.tf").read_text()
    block = text[text.index("healthCheck = {") :]
    block = block[: block.index("]") + 1]
    return json.loads("[" + block[block.index("[") + 1 : block.rindex("]")].strip().rstrip(",") + "]")


def run(command: list[str], port: int, path: str) -> int:
    assert command[:3] == ["CMD", "python", "-c"]
    code = command[3].replace("${each.value.port}", str(port)).replace("${each.value.health_path}", path)
    assert not re.search(r"\$\{", code), code
    return subprocess.run([sys.executable, "-I", "-c", code], timeout=10, check=False).returncode


def test_health_check_uses_python_not_curl() -> None:
    command = health_command()
    assert "curl" not in " ".join(command)
    assert command[1] == "python"


def test_health_check_passes_on_200_and_fails_otherwise(port: int) -> None:
    command = health_command()
    assert run(command, port, "/health") == 0
    assert run(command, port, "/broken") != 0
