"""service-a's endpoints, and what its callers get from /api/backend however service-b behaves.

service-a runs in process; service-b is either the real one, served by uvicorn in its own process, or a
stand-in HTTP server on loopback that misbehaves on purpose.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from fastapi.testclient import TestClient
from service_a.app import create_app
from service_a.backend import open_http_client
from service_a.settings import Settings
from service_a.transport import PooledTransport, as_httpx_error
from service_runtime import ConfigError, JsonFormatter
from svc_support import RunningService, StandInServiceB, free_port, start_service

JsonLog = Callable[[str, Any], Callable[[], list[dict[str, Any]]]]

CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 0.3


@contextmanager
def service_a(service_b_url: str, **overrides: Any) -> Iterator[TestClient]:
    settings = Settings(
        service_b_url=service_b_url,
        service_b_connect_timeout=CONNECT_TIMEOUT,
        service_b_read_timeout=READ_TIMEOUT,
        **overrides,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def assert_utc_iso(timestamp: str) -> None:
    assert datetime.fromisoformat(timestamp).utcoffset() == timedelta(0), timestamp


def assert_clean_failure(body: dict[str, Any], code: str, request_id: str) -> None:
    assert set(body) == {"service_a", "error", "detail", "request_id", "timestamp"}
    assert body["service_a"] == "error"
    assert body["error"]["code"] == code
    assert body["detail"] == body["error"]["message"]  # FastAPI's key, which the seed's clients read
    assert body["request_id"] == request_id
    assert_utc_iso(body["timestamp"])
    message = body["error"]["message"]
    assert message.startswith("service-b ")
    for leak in ("Traceback", "Error", "Errno", "httpx", "127.0.0.1", "secret"):
        assert leak not in message


# --- the simple endpoints -------------------------------------------------------------------------


def test_health_says_healthy_without_asking_service_b() -> None:
    with service_a(f"http://127.0.0.1:{free_port()}") as client:
        response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "service": "service-a"}


def test_hello_greets_with_a_utc_timestamp() -> None:
    with service_a(f"http://127.0.0.1:{free_port()}") as client:
        body = client.get("/api/hello").json()

    assert set(body) == {"message", "timestamp", "service"}
    assert body["message"] == "Hello from Service A"
    assert body["service"] == "service-a"
    assert_utc_iso(body["timestamp"])


def test_info_shows_the_version_from_app_version_and_the_api_endpoints() -> None:
    with TestClient(create_app(Settings.from_env({"APP_VERSION": "3.1.4-abc123"}))) as client:
        body = client.get("/api/info").json()

    assert body == {
        "service": "service-a",
        "version": "3.1.4-abc123",
        "description": "API Gateway Service",
        "endpoints": ["/api/hello", "/api/info", "/api/backend"],
    }


# --- settings -------------------------------------------------------------------------------------


def test_settings_defaults_point_at_service_b_on_cloud_map() -> None:
    settings = Settings.from_env({})

    assert settings.service_b_url == "http://service-b.local:8001"
    assert settings.version == "dev"
    assert settings.docs_enabled is False
    assert 0 < settings.service_b_connect_timeout <= settings.service_b_read_timeout <= 30


def test_settings_read_the_timeouts_from_the_environment() -> None:
    settings = Settings.from_env({"SERVICE_B_CONNECT_TIMEOUT": "0.5", "SERVICE_B_READ_TIMEOUT": "12"})

    assert (settings.service_b_connect_timeout, settings.service_b_read_timeout) == (0.5, 12.0)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SERVICE_B_READ_TIMEOUT", "soon"),
        ("SERVICE_B_READ_TIMEOUT", "0"),
        ("SERVICE_B_CONNECT_TIMEOUT", "-1"),
        ("SERVICE_B_URL", "service-b.local:8001"),
        ("DOCS_ENABLED", "maybe"),
    ],
)
def test_settings_refuse_a_bad_value_and_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value})


# --- /api/backend against a real service-b --------------------------------------------------------


def test_backend_returns_service_b_answer_inside_its_own(service_b: RunningService) -> None:
    with service_a(service_b.url) as client:
        response = client.get("/api/backend")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"service_a", "service_b_response", "timestamp"}
    assert body["service_a"] == "success"
    assert body["service_b_response"]["service"] == "service-b"
    assert body["service_b_response"]["status"] == "processed"
    assert body["service_b_response"]["duration_ms"] > 0
    assert_utc_iso(body["timestamp"])


def test_backend_forwards_the_request_id_to_service_b(service_b: RunningService) -> None:
    request_id = f"trace-{time.time_ns()}"

    with service_a(service_b.url) as client:
        response = client.get("/api/backend", headers={"X-Request-ID": request_id})

    assert response.headers["X-Request-ID"] == request_id
    assert response.json()["service_b_response"]["request_id"] == request_id
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        b_lines = [line for line in service_b.log_lines() if line.get("request_id") == request_id]
        if b_lines:
            break
        time.sleep(0.05)
    assert [(line["path"], line["status"]) for line in b_lines] == [("/process", 200)]


def test_backend_generates_one_request_id_and_uses_it_on_both_services(service_b: RunningService) -> None:
    with service_a(service_b.url) as client:
        response = client.get("/api/backend")

    generated = response.headers["X-Request-ID"]
    assert len(generated) >= 16
    assert response.json()["service_b_response"]["request_id"] == generated


def test_backend_answers_503_promptly_once_service_b_has_stopped(tmp_path: Path) -> None:
    own_b = start_service("service_b", tmp_path / "stdout.log")
    try:
        with service_a(own_b.url) as client:
            assert client.get("/api/backend").status_code == 200  # a pooled connection to B now exists
            own_b.stop()

            started = time.monotonic()
            response = client.get("/api/backend", headers={"X-Request-ID": "after-stop"})
            elapsed = time.monotonic() - started
    finally:
        own_b.stop()

    assert response.status_code == 503
    assert elapsed < CONNECT_TIMEOUT + 0.5
    assert_clean_failure(response.json(), "service_b_unavailable", "after-stop")


def test_backend_answers_503_when_nothing_listens_at_service_b_url() -> None:
    with service_a(f"http://127.0.0.1:{free_port()}") as client:
        response = client.get("/api/backend", headers={"X-Request-ID": "nobody-home"})

    assert response.status_code == 503
    assert_clean_failure(response.json(), "service_b_unavailable", "nobody-home")


# --- /api/backend against a misbehaving service-b -------------------------------------------------


def test_backend_answers_504_when_service_b_is_slower_than_the_timeout(stand_in: StandInServiceB) -> None:
    with service_a(stand_in.url_for("slow")) as client:
        started = time.monotonic()
        response = client.get("/api/backend", headers={"X-Request-ID": "too-slow"})
        elapsed = time.monotonic() - started

    assert response.status_code == 504
    assert READ_TIMEOUT <= elapsed < READ_TIMEOUT + 1.0
    assert_clean_failure(response.json(), "service_b_timeout", "too-slow")
    assert "0.3 s" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("behaviour", "code"),
    [
        ("error", "service_b_error"),
        ("html", "service_b_bad_response"),
        ("list", "service_b_bad_response"),
    ],
)
def test_backend_answers_502_when_service_b_gives_no_usable_answer(
    stand_in: StandInServiceB, behaviour: str, code: str
) -> None:
    with service_a(stand_in.url_for(behaviour)) as client:
        response = client.get("/api/backend", headers={"X-Request-ID": f"bad-{behaviour}"})

    assert response.status_code == 502
    assert_clean_failure(response.json(), code, f"bad-{behaviour}")


@pytest.mark.parametrize("behaviour", ["deep", "huge", "gzip"])
def test_backend_answers_502_for_an_answer_too_deep_or_too_big_to_pass_on(
    stand_in: StandInServiceB, behaviour: str
) -> None:
    """A JSON object nested past what service-a serialises, 2 MB of JSON, or a gzip answer that would expand to
    5 MB in service-a's memory: a clean 502 as JSON, never a 500, never the body passed on."""
    with service_a(stand_in.url_for(behaviour)) as client:
        response = client.get("/api/backend", headers={"X-Request-ID": f"big-{behaviour}"})

    assert response.status_code == 502
    assert response.headers["content-type"] == "application/json"
    assert len(response.content) < 1000
    assert_clean_failure(response.json(), "service_b_bad_response", f"big-{behaviour}")


def test_backend_answers_504_when_service_b_drips_its_answer_past_the_deadline(stand_in: StandInServiceB) -> None:
    """Each byte comes within the read timeout, the whole answer does not: the deadline is for the answer."""
    with service_a(stand_in.url_for("drip")) as client:
        started = time.monotonic()
        response = client.get("/api/backend", headers={"X-Request-ID": "dripping"})
        elapsed = time.monotonic() - started

    assert response.status_code == 504
    assert elapsed < CONNECT_TIMEOUT + READ_TIMEOUT + 1.0  # the drip alone takes 2.3 s
    assert_clean_failure(response.json(), "service_b_timeout", "dripping")


def test_backend_names_service_b_status_code_but_not_its_body(stand_in: StandInServiceB) -> None:
    with service_a(stand_in.url_for("error")) as client:
        response = client.get("/api/backend")

    assert "HTTP 500" in response.json()["error"]["message"]
    assert "KeyError" not in response.text


def test_backend_reuses_one_pooled_connection_to_service_b(stand_in: StandInServiceB) -> None:
    with service_a(stand_in.url_for("ok")) as client:
        for index in range(5):
            client.get("/api/backend", headers={"X-Request-ID": f"pooled-{index}"})

    calls = [(port, rid) for path, port, rid in stand_in.seen if rid and rid.startswith("pooled-")]
    assert [rid for _, rid in calls] == [f"pooled-{index}" for index in range(5)]
    assert len({port for port, _ in calls}) == 1


def test_backend_failure_is_logged_with_its_cause_and_the_request_id(json_log: JsonLog) -> None:
    read_log = json_log("service_a", JsonFormatter("service-a"))

    with service_a(f"http://127.0.0.1:{free_port()}") as client:
        client.get("/api/backend", headers={"X-Request-ID": "log-me"})

    lines = [line for line in read_log() if line.get("request_id") == "log-me"]
    failure = next(line for line in lines if line["logger"] == "service_a.backend")
    assert failure["error_type"] == "ConnectError"
    access = next(line for line in lines if line["logger"] == "service_a.access")
    assert (access["path"], access["status"], access["level"]) == ("/api/backend", 503, "ERROR")


# --- the client: httpx's API on aiohttp's pool (service_a.transport) --------------------------------


@pytest.mark.parametrize(
    ("behaviour", "error_type"),
    [("cut", "ReadError"), ("drop", "RemoteProtocolError"), ("garbage", "RemoteProtocolError")],
)
def test_backend_answers_502_when_service_b_breaks_off_its_answer(
    stand_in: StandInServiceB, json_log: JsonLog, behaviour: str, error_type: str
) -> None:
    read_log = json_log("service_a", JsonFormatter("service-a"))

    with service_a(stand_in.url_for(behaviour)) as client:
        response = client.get("/api/backend", headers={"X-Request-ID": f"broken-{behaviour}"})

    assert response.status_code == 502
    assert_clean_failure(response.json(), "service_b_bad_response", f"broken-{behaviour}")
    lines = [line for line in read_log() if line.get("request_id") == f"broken-{behaviour}"]
    assert next(line for line in lines if line["logger"] == "service_a.backend")["error_type"] == error_type


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (aiohttp.ConnectionTimeoutError("connect"), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout),
        (aiohttp.ServerTimeoutError("timeout"), httpx.TimeoutException),
        (aiohttp.ClientPayloadError("cut short"), httpx.ReadError),
        (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientError("not HTTP"), httpx.RemoteProtocolError),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else value.__name__,
)
def test_transport_failures_are_the_httpx_errors_httpx_raises_for_them(
    failure: Exception, expected: type[httpx.HTTPError]
) -> None:
    """Raised by aiohttp as is, or wrapped by httpx-aiohttp (which calls a dropped connection ConnectTimeout)."""
    wrapped = httpx.ConnectTimeout(str(failure))
    wrapped.__cause__ = failure

    assert type(as_httpx_error(failure)) is expected
    assert type(as_httpx_error(wrapped)) is expected
    assert as_httpx_error(ValueError("a bug")).__class__ is ValueError


def test_the_client_sends_through_aiohttp_with_the_configured_timeouts() -> None:
    client = open_http_client(Settings(service_b_connect_timeout=1.5, service_b_read_timeout=4.0))

    assert isinstance(client._transport, PooledTransport)
    assert (client.timeout.connect, client.timeout.read, client.timeout.pool) == (1.5, 4.0, 1.5)
    assert client._transport.limits.keepalive_expiry == 4.0
