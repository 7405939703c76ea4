"""The seed's clients keep working: both services, run by uvicorn as in their containers, answer every
endpoint of the seed in the seed's shape (tests/services/seed_contract.py), failures included.

Our services add keys to the seed's answers; these tests fail when one of the seed's keys goes missing or
changes type, which would break an existing client without a sound.
"""

from __future__ import annotations

import copy
import http.client
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from seed_contract import ERROR, SEED_ANSWERS, Schema, required_paths
from svc_support import LOOPBACK, RunningService, StandInServiceB, free_port, start_service

pytestmark = pytest.mark.slow

READ_TIMEOUT = "0.3"


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: Any


def get(service: RunningService, path: str) -> Answer:
    connection = http.client.HTTPConnection(LOOPBACK, service.port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return Answer(response.status, response.getheader("Content-Type", ""), json.loads(response.read()))
    finally:
        connection.close()


def violations(schema: Schema, body: Any) -> list[str]:
    """Where `body` breaks `schema`, one line each ("data/items_processed: 'x' is not of type 'integer'")."""
    Draft202012Validator.check_schema(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in Draft202012Validator(schema).iter_errors(body)
    ]


# --- the services under test ----------------------------------------------------------------------

BACKENDS = ("real", "unreachable", "slow", "error")


@pytest.fixture(scope="module")
def service_a(
    tmp_path_factory: pytest.TempPathFactory, service_b: RunningService, stand_in: StandInServiceB
) -> Iterator[dict[str, RunningService]]:
    """A real service-a per backend (its service-b): "real" (the real service-b), "unreachable" (nothing
    listens), "slow" (answers after service-a's read timeout), "error" (HTTP 500). Started side by side."""
    urls = {
        "real": service_b.url,
        "unreachable": f"http://{LOOPBACK}:{free_port()}",
        "slow": stand_in.url_for("slow"),
        "error": stand_in.url_for("error"),
    }

    def start(backend: str) -> RunningService:
        output = tmp_path_factory.mktemp(f"service-a-{backend}") / "stdout.log"
        env = {"SERVICE_B_URL": urls[backend], "SERVICE_B_READ_TIMEOUT": READ_TIMEOUT}
        return start_service("service_a", output, env=env)

    with ThreadPoolExecutor(len(BACKENDS)) as pool:
        futures = {backend: pool.submit(start, backend) for backend in BACKENDS}
    started = {backend: future.result() for backend, future in futures.items() if future.exception() is None}
    try:
        for future in futures.values():
            future.result()  # raises the first failure to start, after the others were collected
        yield started
    finally:
        for service in started.values():
            service.stop()


@pytest.fixture
def running(service_a: dict[str, RunningService], service_b: RunningService) -> Callable[[str], RunningService]:
    """running(name): the real service of that name (service-a in front of the real service-b)."""
    return lambda name: service_a["real"] if name == "service-a" else service_b


SEED_ENDPOINTS = pytest.mark.parametrize(
    ("service", "path"), list(SEED_ANSWERS), ids=[f"{service} {path}" for service, path in SEED_ANSWERS]
)


# --- the seed's endpoints -------------------------------------------------------------------------


@SEED_ENDPOINTS
def test_every_seed_endpoint_answers_json_in_the_seed_shape(
    running: Callable[[str], RunningService], service: str, path: str
) -> None:
    answer = get(running(service), path)

    assert answer.status == 200
    assert answer.content_type == "application/json"
    assert violations(SEED_ANSWERS[service, path], answer.body) == []


@SEED_ENDPOINTS
def test_the_contract_fails_when_any_seed_key_is_missing_or_retyped(
    running: Callable[[str], RunningService], service: str, path: str
) -> None:
    """The schemas are not vacuous: today's answer without any one seed key, or with it null, is refused."""
    schema = SEED_ANSWERS[service, path]
    answer = get(running(service), path)
    assert violations(schema, answer.body) == []

    for key_path in required_paths(schema):
        *parents, key = key_path
        for damage in ("remove", "null"):
            body = copy.deepcopy(answer.body)
            holder = body
            for parent in parents:
                holder = holder[parent]
            if damage == "remove":
                del holder[key]
            else:
                holder[key] = None
            assert violations(schema, body), f"{service} {path} without a valid {'.'.join(key_path)} passed"


def test_info_lists_every_api_endpoint_of_service_a(running: Callable[[str], RunningService]) -> None:
    endpoints = get(running("service-a"), "/api/info").body["endpoints"]

    assert endpoints == ["/api/hello", "/api/info", "/api/backend"]


# --- error replies --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "status", "code"),
    [
        ("unreachable", 503, "service_b_unavailable"),
        # The seed answered 503 here too; a timeout is 504 on purpose (docs/services.md, "Differences").
        ("slow", 504, "service_b_timeout"),
        ("error", 502, "service_b_error"),
    ],
)
def test_backend_failures_carry_the_seed_detail_and_our_error(
    service_a: dict[str, RunningService], backend: str, status: int, code: str
) -> None:
    answer = get(service_a[backend], "/api/backend")

    assert answer.status == status
    assert answer.content_type == "application/json"
    assert violations(ERROR, answer.body) == []
    assert answer.body["error"]["code"] == code
    assert answer.body["detail"] == answer.body["error"]["message"]


@pytest.mark.parametrize("service", ["service-a", "service-b"])
def test_an_unknown_path_is_the_seed_404(running: Callable[[str], RunningService], service: str) -> None:
    answer = get(running(service), "/no/such/path")

    assert answer.status == 404
    assert answer.content_type == "application/json"
    assert answer.body == {"detail": "Not Found"}
