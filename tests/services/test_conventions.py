"""What both services do the same way: request ids, JSON logs, API docs, health check, shared runtime."""

from __future__ import annotations

import ast
import http.client
import re
import shutil
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
import service_a.backend
import service_a.settings
import service_b.app
import service_b.settings
import service_runtime
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_b.work import MAX_ROUNDS
from service_runtime import KEEP_ALIVE_SECONDS
from svc_support import (
    COMMON,
    LOOPBACK,
    SERVICES,
    RunningService,
    free_port,
    http_get,
    start_service,
    with_common_on_path,
)

ALB_VARIABLES = SERVICES.parent / "infra" / "modules" / "alb" / "variables.tf"
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
def test_a_trailing_slash_is_not_found_not_redirected(make_app: AppFactory, client_for: ClientFor) -> None:
    """A redirect would be built from the client's Host header, on http: behind the HTTPS load balancer, a link
    down to http on a host of the client's choosing. The docs promise 404 for what is not an endpoint."""
    client = client_for(make_app, {})
    response = client.get("/health/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.headers["content-type"] == "application/json"


def test_an_idle_connection_outlives_the_load_balancer_s_idle_timeout(service_b: RunningService) -> None:
    """The target's keep-alive must be longer than the ALB's idle timeout (infra/modules/alb): else the ALB sends
    a request down a connection the service is closing, and the client gets the ALB's 502. Measured as a
    client sees it: a connection kept past uvicorn's default 5 s still serves a request."""
    idle_timeout = int(re.search(r'variable "idle_timeout".*?default\s*=\s*(\d+)', ALB_VARIABLES.read_text(), re.S)[1])
    assert idle_timeout < KEEP_ALIVE_SECONDS
    connection = http.client.HTTPConnection(LOOPBACK, service_b.port, timeout=5)
    try:
        connection.request("GET", "/health")
        assert connection.getresponse().read()
        time.sleep(6)
        connection.request("GET", "/health")
        assert connection.getresponse().status == 200
    finally:
        connection.close()


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
        env=with_common_on_path({"PORT": str(port)}),
        capture_output=True,
        timeout=15,
        check=False,
    ).returncode


def test_container_healthcheck_passes_while_the_service_answers(service_b: RunningService) -> None:
    assert run_healthcheck(service_b.port) == 0


def test_container_healthcheck_fails_when_nothing_answers() -> None:
    assert run_healthcheck(free_port()) == 1


# --- the shared runtime ---------------------------------------------------------------------------


PACKAGES = {"service-a": "service_a", "service-b": "service_b"}


def top_level_names(path: Path) -> set[str]:
    """The functions, classes and constants a module defines at its top level."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(target.id for target in targets if isinstance(target, ast.Name))
    return names


def test_both_services_use_the_one_shared_runtime() -> None:
    """The plumbing the services share is the `service_runtime` package, the very same objects in both."""
    assert Path(service_runtime.__file__).resolve() == (COMMON / "service_runtime" / "__init__.py").resolve()
    shared = [
        (service_a.app.RequestContextMiddleware, service_b.app.RequestContextMiddleware),
        (service_a.app.utc_now_iso, service_b.app.utc_now_iso),
        (service_a.settings.EnvSettings, service_b.settings.EnvSettings),
    ]
    for in_a, in_b in shared:
        assert in_a is in_b
        assert in_a.__module__ == "service_runtime"
    assert service_a.backend.REQUEST_ID_HEADER is service_runtime.REQUEST_ID_HEADER


@pytest.mark.parametrize(("service_dir", "package"), PACKAGES.items())
def test_no_service_keeps_a_copy_of_the_runtime(service_dir: str, package: str) -> None:
    runtime = top_level_names(COMMON / "service_runtime" / "__init__.py")
    for module in sorted((SERVICES / service_dir / package).rglob("*.py")):
        copied = top_level_names(module) & runtime
        assert not copied, f"{module.relative_to(SERVICES)} defines {sorted(copied)} again; import them instead"
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.endswith(".runtime"):
                pytest.fail(f"{module.relative_to(SERVICES)} imports {node.module}, not service_runtime")


@pytest.mark.parametrize("service_dir", PACKAGES)
def test_each_service_installs_what_the_shared_runtime_imports(service_dir: str) -> None:
    imported: set[str] = set()
    for node in ast.walk(ast.parse((COMMON / "service_runtime" / "__init__.py").read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"__future__"}
    lines = (SERVICES / service_dir / "requirements.txt").read_text().splitlines()
    pinned = {
        line.split("==")[0].strip().lower().replace("-", "_")
        for line in lines
        if "==" in line and not line.startswith("#")
    }

    assert third_party == {"uvicorn", "starlette", "pydantic", "pydantic_settings"}
    assert third_party <= pinned, f"{service_dir}/requirements.txt does not install {sorted(third_party - pinned)}"
    # serve() names uvicorn's event loop and HTTP parser (issue 18): every image installs them.
    assert {"uvloop", "httptools"} <= pinned


def pinned_in(service_dir: str) -> dict[str, str]:
    """Package name (normalised) -> exact version, from the service's requirements.txt."""
    lines = (SERVICES / service_dir / "requirements.txt").read_text().splitlines()
    return {
        name.strip().lower().replace("-", "_"): version.strip()
        for name, _, version in (line.partition("==") for line in lines if "==" in line and not line.startswith("#"))
    }


@pytest.mark.parametrize(("service_dir", "package"), PACKAGES.items())
def test_each_image_pins_every_package_its_service_imports(service_dir: str, package: str) -> None:
    imported: set[str] = set()
    for module in (SERVICES / service_dir / package).rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"__future__", package, "service_runtime"}
    pinned = pinned_in(service_dir)

    assert third_party <= set(pinned), (
        f"{service_dir}/requirements.txt does not pin {sorted(third_party - set(pinned))}"
    )


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({"PORT": "http"}, "PORT must be a whole number from 1 to 65535, got 'http'"),
        ({"PORT": "0"}, "PORT must be a whole number from 1 to 65535, got '0'"),
        ({"GRACEFUL_SHUTDOWN_SECONDS": "601"}, "GRACEFUL_SHUTDOWN_SECONDS must be a whole number from 0 to 600"),
        ({"DOCS_ENABLED": "maybe"}, "DOCS_ENABLED must be true or false, got 'maybe'"),
    ],
)
def test_settings_from_the_environment_name_a_bad_variable(environ: dict[str, str], problem: str) -> None:
    """Issue 17.6: the services' settings are pydantic-settings models; an error still names the variable."""
    settings = service_b.settings.Settings if "DOCS_ENABLED" in environ else service_runtime.ProcessSettings
    with pytest.raises(service_runtime.ConfigError, match=re.escape(problem)):
        settings.from_env(environ)


def test_settings_from_the_environment_strip_and_skip_empty_values() -> None:
    process = service_runtime.ProcessSettings.from_env({"PORT": " 8080 ", "HOST": "", "GRACEFUL_SHUTDOWN_SECONDS": ""})
    assert (process.port, process.host, process.graceful_shutdown_seconds) == (8080, "0.0.0.0", 10)
    assert service_b.settings.Settings.from_env({"DOCS_ENABLED": " TRUE "}).docs_enabled is True


# --- the images: built with services/ as the context, each with the shared runtime next to its package ---


def dockerfile(service_dir: str) -> str:
    return (SERVICES / service_dir / "Dockerfile").read_text()


def copies(service_dir: str) -> list[tuple[str, str]]:
    """(source in the context services/, destination) of every COPY in the service's Dockerfile."""
    found = re.findall(r"^COPY\s+(\S+)\s+(\S+)\s*$", dockerfile(service_dir), re.MULTILINE)
    return [(source, destination) for source, destination in found]


@pytest.mark.parametrize(("service_dir", "package"), PACKAGES.items())
def test_each_image_copies_its_package_and_the_shared_runtime_from_the_services_context(
    service_dir: str, package: str
) -> None:
    assert copies(service_dir) == [
        (f"{service_dir}/requirements.txt", "."),
        ("common/service_runtime", "./service_runtime"),
        (f"{service_dir}/{package}", f"./{package}"),
    ]
    allowed = {
        line[1:].strip() for line in (SERVICES / ".dockerignore").read_text().splitlines() if line.startswith("!")
    }
    for source, _ in copies(service_dir):
        assert (SERVICES / source).exists(), source
        assert source in allowed, f"services/.dockerignore keeps {source} out of the build context"
    assert not (SERVICES / service_dir / ".dockerignore").exists(), "the context is services/: one .dockerignore"


@pytest.mark.parametrize(("service_dir", "package"), PACKAGES.items())
def test_each_image_stays_slim_non_root_health_checked_with_python_and_exec_form(
    service_dir: str, package: str
) -> None:
    text = dockerfile(service_dir)

    assert re.search(r"^FROM python:3\.11-slim$", text, re.MULTILINE)
    assert re.search(r"^WORKDIR /app$", text, re.MULTILINE)
    assert "PYTHONPATH=/app" in text
    assert re.search(r"^USER 10001$", text, re.MULTILINE)
    assert f'CMD ["python", "-m", "{package}.healthcheck"]' in text
    assert re.search(rf'^CMD \["python", "-m", "{package}"\]$', text, re.MULTILINE)


@pytest.mark.parametrize(("service_dir", "package"), PACKAGES.items())
def test_the_image_layout_imports_and_builds_the_app(service_dir: str, package: str, tmp_path: Path) -> None:
    """/app as the Dockerfile assembles it from services/: the service starts with nothing else on its path."""
    app = tmp_path / "app"
    app.mkdir()
    for source, destination in copies(service_dir):
        target = (app / destination).resolve()
        if (SERVICES / source).is_dir():
            shutil.copytree(SERVICES / source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(SERVICES / source, target)
    code = f"import {package}.app; {package}.app.create_app(); import {package}.healthcheck"

    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=app,
        env={"PYTHONPATH": str(app), "PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    # The health check finds nothing listening and exits 1: everything it needed was importable.
    assert result.returncode == 1, result.stderr
    assert "ModuleNotFoundError" not in result.stderr
    assert "GET /health on port" in result.stderr
