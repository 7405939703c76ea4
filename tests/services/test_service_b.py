"""service-b's endpoints, in process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from service_b.app import create_app
from service_b.settings import Settings
from service_b.work import DEFAULT_ROUNDS, MAX_ROUNDS


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings.from_env({"APP_VERSION": "2.5.0"}))) as client:
        yield client


def assert_utc_iso(timestamp: str) -> None:
    parsed = datetime.fromisoformat(timestamp)
    assert parsed.utcoffset() == timedelta(0), timestamp


def test_health_says_healthy(client: TestClient) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "service": "service-b"}


def test_process_reports_the_work_it_did_and_its_measured_duration(client: TestClient) -> None:
    response = client.get("/process")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "service",
        "status",
        "processing_time",
        "duration_ms",
        "work",
        "digest",
        "data",
        "request_id",
        "timestamp",
    }
    assert body["service"] == "service-b"
    assert body["status"] == "processed"
    assert body["work"] == DEFAULT_ROUNDS
    assert re.fullmatch(r"[0-9a-f]{64}", body["digest"])
    assert body["data"] == {"result": body["digest"], "items_processed": DEFAULT_ROUNDS}
    assert body["duration_ms"] > 0
    assert re.fullmatch(r"\d+\.\d{3}s", body["processing_time"])
    assert float(body["processing_time"][:-1]) == pytest.approx(body["duration_ms"] / 1000, abs=0.001)
    assert_utc_iso(body["timestamp"])


def test_process_duration_grows_with_the_work_asked_for(client: TestClient) -> None:
    light = client.get("/process", params={"work": 1}).json()
    heavy = client.get("/process", params={"work": MAX_ROUNDS}).json()

    assert (light["work"], heavy["work"]) == (1, MAX_ROUNDS)
    assert (light["data"]["items_processed"], heavy["data"]["items_processed"]) == (1, MAX_ROUNDS)
    assert heavy["duration_ms"] > 20 * light["duration_ms"]


def test_process_digest_is_a_deterministic_function_of_request_and_work(client: TestClient) -> None:
    def digest(request_id: str, work: int) -> str:
        response = client.get("/process", params={"work": work}, headers={"X-Request-ID": request_id})
        result: str = response.json()["digest"]
        return result

    assert digest("req-1", 1000) == digest("req-1", 1000)
    assert digest("req-1", 1000) != digest("req-2", 1000)
    assert digest("req-1", 1000) != digest("req-1", 1001)


@pytest.mark.parametrize("work", ["0", "-5", str(MAX_ROUNDS + 1), "lots"])
def test_process_refuses_work_outside_its_bounds(client: TestClient, work: str) -> None:
    response = client.get("/process", params={"work": work})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "work"]


def test_internal_status_reports_the_deployed_version(client: TestClient) -> None:
    response = client.get("/internal/status")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"service", "version", "status", "uptime", "uptime_seconds", "timestamp"}
    assert body["service"] == "service-b"
    assert body["version"] == "2.5.0"
    assert body["status"] == "running"
    assert body["uptime"] == "healthy"  # the seed's value; the duration is uptime_seconds
    assert body["uptime_seconds"] >= 0
    assert_utc_iso(body["timestamp"])


def test_version_defaults_to_dev_without_app_version() -> None:
    with TestClient(create_app(Settings.from_env({}))) as client:
        assert client.get("/internal/status").json()["version"] == "dev"
