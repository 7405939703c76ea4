"""What both services do the same way: request ids, JSON logs, API docs, health check, shared runtime."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import service_a.app
import service_a.settings
import service_b.app
import service_b.settings
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_b.work import MAX_ROUNDS
from svc_support import SERVICES, RunningService, free_port, http_get, start_service

AppFactory = Callable[[dict[str, str]], FastAPI]
ClientFor = Callable[[AppFactory, dict[str, str]], TestClient]


def make_service_a(environ: dict[str, str]) -> FastAPI:
    return service_a.app.create_app(service_a.settings.Settings.from_env(environ))


def make_service_b(environ: dict[str, str]) -> FastAPI:
    return service_b.app.create_app(service_b.settings.Settings.from_env(environ))


SERVICES_UNDER_TEST = pytest.mark.parametrize(
    "make_app", [make_service_a, make_service_b], ids=["service-a", "service-b"]
)


@pytest.fixture
def client_for() -> Iterator[ClientFor]:
    clients: list[TestClient] = []

    def open_client(make_app: AppFactory, environ: dict[str, str]) -> TestClient:
        client = TestClient(make_app(environ))
        clients.append(client)
        return client.__enter__()

    yield open_client
    for client in clients:
        client.__exit__(None, None, None)


# --- request ids ----------------------------------------------------------------------------------


@SERVICES_UNDER_TEST
def test_a_valid_request_id_is_echoed(make_app: AppFactory, client_for: ClientFor) -> None:
    client = client_for(make_app, {})

    response = client.get("/health", headers={"X-Request-ID": "abc-123.DEF:9_x"})

    assert response.headers["X-Request-ID"] == "abc-123.DEF:9_x"


@SERVICES_UNDER_TEST
def test_a_missing_request_id_is_generated_afresh(make_app: AppFactory, client_for: ClientFor) -> None:
    client = client_for(make_app, {})

    first = client.get("/health").headers["X-Request-ID"]
    second = client.get("/health").headers["X-Request-ID"]

    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


@SERVICES_UNDER_TEST
@pytest.mark.parametrize("unsafe", ["has spaces", "x" * 129, '{"level": "forged"}'])
def test_an_unsafe_request_id_is_replaced(make_app: AppFactory, client_for: ClientFor, unsafe: str) -> None:
    client = client_for(make_app, {})

    echoed = client.get("/health", headers={"X-Request-ID": unsafe}).headers["X-Request-ID"]

    assert re.fullmatch(r"[0-9a-f]{32}", echoed)


@SERVICES_UNDER_TEST
def test_errors_carry_the_request_id_too(make_app: AppFactory, client_for: ClientFor) -> None:
    client = client_for(make_app, {})

    response = client.get("/no/such/page", headers={"X-Request-ID": "lost-1"})

    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "lost-1"


# --- API docs -------------------------------------------------------------------------------------


@SERVICES_UNDER_TEST
@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_api_docs_are_off_by_default(make_app: AppFactory, client_for: ClientFor, path: str) -> None:
    assert client_for(make_app, {}).get(path).status_code == 404


@SERVICES_UNDER_TEST
def test_api_docs_are_served_with_docs_enabled(make_app: AppFactory, client_for: ClientFor) -> None:
    client = client_for(make_app, {"DOCS_ENABLED": "true"})

    assert client.get("/docs").status_code == 200
    assert client.get("/redoc").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/health" in schema["paths"]


# --- JSON logs, read from a real service process's stdout -----------------------------------------


def test_each_request_writes_one_json_log_line(service_b: RunningService) -> None:
    request_id = f"log-shape-{time.time_ns()}"

    status, _ = http_get(service_b.port, "/process?work=10", {"X-Request-ID": request_id})

    assert status == 200
    deadline = time.monotonic() + 3
    lines: list[dict[str, object]] = []
    while not lines and time.monotonic() < deadline:
        lines = [line for line in service_b.log_lines() if line.get("request_id") == request_id]
        time.sleep(0.05)
    assert len(lines) == 1
    line = lines[0]
    assert line["service"] == "service-b"
    assert line["level"] == "INFO"
    assert line["method"] == "GET"
    assert line["path"] == "/process"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] >= 0
    assert isinstance(line["timestamp"], str)
    assert datetime.fromisoformat(line["timestamp"]).utcoffset() == timedelta(0)


def test_everything_the_service_prints_is_json(service_b: RunningService) -> None:
    output = service_b.output.read_text().splitlines()

    assert output, "service-b printed nothing"
    assert len(service_b.log_lines()) == len(output)
    assert any(line.get("logger", "").startswith("uvicorn") for line in service_b.log_lines())


# --- graceful shutdown ----------------------------------------------------------------------------


def test_sigterm_lets_a_request_in_flight_finish(tmp_path: Path) -> None:
    service = start_service("service_b", tmp_path / "stdout.log")
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            in_flight = pool.submit(http_get, service.port, f"/process?work={MAX_ROUNDS}")
            time.sleep(0.05)  # the request is being served
            service.process.send_signal(signal.SIGTERM)
            status, body = in_flight.result(timeout=15)
        service.process.wait(timeout=15)
    finally:
        service.stop()

    assert (status, body["work"]) == (200, MAX_ROUNDS)
    messages = [line["message"] for line in service.log_lines()]
    assert any(message.startswith("Finished server process") for message in messages)


# --- container health check -----------------------------------------------------------------------


def run_healthcheck(port: int) -> int:
    return subprocess.run(
        [sys.executable, "-m", "service_b.healthcheck"],
        cwd=SERVICES / "service-b",
        env={"PORT": str(port)},
        capture_output=True,
        timeout=15,
        check=False,
    ).returncode


def test_container_healthcheck_passes_while_the_service_answers(service_b: RunningService) -> None:
    assert run_healthcheck(service_b.port) == 0


def test_container_healthcheck_fails_when_nothing_answers() -> None:
    assert run_healthcheck(free_port()) == 1


# --- the shared runtime ---------------------------------------------------------------------------


def test_both_services_ship_the_same_runtime_module() -> None:
    copy_a = (SERVICES / "service-a" / "service_a" / "runtime.py").read_text()
    copy_b = (SERVICES / "service-b" / "service_b" / "runtime.py").read_text()

    assert copy_a == copy_b, "service_a/runtime.py and service_b/runtime.py differ; edit one, copy it over"
