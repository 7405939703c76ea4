"""The supervisor restarts a child with more environment while everything runs (what a sandbox rollout does),
without taking the restart for a crash that stops everything."""

from __future__ import annotations

import io
import sys
import threading
import time

import httpx
from sandbox_support import free_port

from sandbox.supervisor import Child, Supervisor

# A service in a few lines: /health, and / answering the APP_VERSION it was started with.
SERVICE = """
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ.get("APP_VERSION", "dev").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def test_a_restarted_child_answers_on_its_port_with_the_new_environment() -> None:
    port = free_port()
    environment = {"PORT": str(port), "APP_VERSION": "v1"}
    child = Child("svc", [sys.executable, "-c", SERVICE], port, "SVC_PORT", env=environment, health_path="/")
    out = io.StringIO()
    supervisor = Supervisor([child], out=out)
    seen: list[str] = []

    def operate() -> None:
        try:
            deadline = time.monotonic() + 20
            while "ready" not in out.getvalue() and time.monotonic() < deadline:
                time.sleep(0.05)
            seen.append(httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text)
            supervisor.restart("svc", {"APP_VERSION": "v2"}, "a rollout")
            time.sleep(0.5)  # long enough for the supervisor's watch to see a dead child, were it looking
            seen.append(httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text)
        finally:
            supervisor.stop()

    threading.Thread(target=operate, daemon=True).start()
    assert supervisor.run(on_ready="up") == 0, out.getvalue()  # 0: stopped as asked, not "exited unexpectedly"

    assert seen == ["v1", "v2"]
    assert "svc        restarting with APP_VERSION=v2: a rollout" in out.getvalue()
    assert "unexpectedly" not in out.getvalue()
