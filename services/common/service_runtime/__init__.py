"""Process plumbing shared by both services: settings from the environment, JSON logs, request ids, serving.

The one copy, imported by service_a and service_b as `service_runtime`. Both images are built with
services/ as the context and copy this package next to their own (see services/service-a/Dockerfile);
locally, services/common is put on PYTHONPATH (sandbox/main.py, tests/services) and on mypy's path.
Nothing here may name a service or import something a service does not install: its requirements come
from every service's requirements.txt (uvicorn, and starlette through fastapi).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"

# Incoming ids end up in log lines and response headers, so anything beyond a plain token is replaced.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})

Environ = Mapping[str, str]

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot run with."""


# --- settings from the environment ----------------------------------------------------------------


def env_str(name: str, default: str, environ: Environ = os.environ) -> str:
    value = environ.get(name, "").strip()
    return value or default


def env_bool(name: str, default: bool, environ: Environ = os.environ) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def env_float(name: str, default: float, environ: Environ = os.environ) -> float:
    """A positive number of seconds (or similar), `default` when the variable is unset or empty."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number greater than 0, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name} must be a number greater than 0, got {raw!r}")
    return value


def env_int(name: str, default: int, *, minimum: int, maximum: int, environ: Environ = os.environ) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number from {minimum} to {maximum}, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name} must be a whole number from {minimum} to {maximum}, got {raw!r}")
    return value


# --- time and request ids -------------------------------------------------------------------------


def utc_now_iso() -> str:
    """The current time as timezone-aware ISO-8601 in UTC, e.g. 2024-01-01T00:00:00.123456+00:00."""
    return datetime.now(UTC).isoformat()


def accept_request_id(candidate: str | None) -> str:
    """The caller's request id when it is a plain token, otherwise a fresh one."""
    if candidate is not None and _VALID_REQUEST_ID.fullmatch(candidate):
        return candidate
    return uuid.uuid4().hex


# --- JSON logs ------------------------------------------------------------------------------------

# Attributes every LogRecord has; whatever else a record carries came from `extra=` and goes into the line.
# uvicorn's `color_message` repeats `message` with terminal colour codes.
_NOT_EXTRA = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the service name, the current request id and any `extra` fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            line["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _NOT_EXTRA and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log record of the process, uvicorn's included, to stdout as JSON lines."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every outgoing request at INFO, which only repeats the access line of the request.
    logging.getLogger("httpx").setLevel(logging.WARNING)


class RequestContextMiddleware:
    """Accepts or creates the request id, echoes it in the response and logs one line per request.

    A plain ASGI middleware (not BaseHTTPMiddleware) so the id set in the context variable is visible to
    the endpoint, to outgoing calls and to every log line written while the request is served.
    """

    def __init__(self, app: ASGIApp, access_logger: str) -> None:
        self.app = app
        self.log = logging.getLogger(access_logger)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER)
        request_id = accept_request_id(incoming)
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        status = 500  # what the client gets if the app raises before answering
        started = time.perf_counter()

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            self.log.log(
                logging.ERROR if status >= 500 else logging.INFO,
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)


# --- the process: serving and the container health check ------------------------------------------


def serve(app_factory: str, *, service: str, default_port: int) -> None:
    """Run the app as the container does: PORT and HOST from the environment, graceful on SIGTERM."""
    configure_logging(service)
    try:
        port = env_int("PORT", default_port, minimum=1, maximum=65535)
        grace = env_int("GRACEFUL_SHUTDOWN_SECONDS", 10, minimum=0, maximum=600)
    except ConfigError as error:
        logging.getLogger(service).error("%s", error)
        raise SystemExit(2) from None
    uvicorn.run(
        app_factory,
        factory=True,
        # A container must listen on all of its interfaces; the sandbox sets HOST=127.0.0.1.
        host=env_str("HOST", "0.0.0.0"),  # noqa: S104
        port=port,
        log_config=None,  # keep the JSON handler configured above
        access_log=False,  # RequestContextMiddleware writes the access line, with the request id
        server_header=False,
        timeout_graceful_shutdown=grace,
    )


def probe_health(default_port: int) -> int:
    """Exit status for a container health check: 0 when GET /health on this container answers 200."""
    try:
        port = env_int("PORT", default_port, minimum=1, maximum=65535)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
    try:
        connection.request("GET", "/health")
        healthy = connection.getresponse().status == 200
    except OSError as error:
        print(f"GET /health on port {port} failed: {error}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    return 0 if healthy else 1
