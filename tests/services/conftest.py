"""Both services are importable here (as `service_a` and `service_b`, with their shared `service_runtime`)
and shared servers are started once."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from svc_support import (
    COMMON,
    SERVICES,
    RunningService,
    StandInServiceB,
    json_lines,
    start_service,
    start_stand_in,
)

for service_dir in (COMMON, SERVICES / "service-a", SERVICES / "service-b"):
    sys.path.insert(0, str(service_dir))


@pytest.fixture(scope="session")
def service_b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """A real service-b, run by uvicorn in its own process as in its container."""
    output = tmp_path_factory.mktemp("service-b") / "stdout.log"
    service = start_service("service_b", output, env={"APP_VERSION": "b-test"})
    yield service
    service.stop()


@pytest.fixture(scope="session")
def stand_in() -> Iterator[StandInServiceB]:
    server = start_stand_in()
    yield server
    server.release.set()
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def json_log() -> Iterator[Callable[[str, logging.Formatter], Callable[[], list[dict[str, Any]]]]]:
    """json_log(logger, formatter) captures that logger's lines as `formatter` writes them, parsed."""
    attached: list[tuple[logging.Logger, logging.Handler, int]] = []

    def capture(logger_name: str, formatter: logging.Formatter) -> Callable[[], list[dict[str, Any]]]:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        logger = logging.getLogger(logger_name)
        attached.append((logger, handler, logger.level))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        return lambda: json_lines(stream.getvalue())

    yield capture
    for logger, handler, level in attached:
        logger.removeHandler(handler)
        logger.setLevel(level)
