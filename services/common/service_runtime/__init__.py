"""Process plumbing shared by both services: settings from the environment (pydantic-settings), JSON logs,
request ids, serving.

The one copy, imported by service_a and service_b as `service_runtime`. Both images are built with
services/ as the context and copy this package next to their own (see services/service-a/Dockerfile);
locally, services/common is put on PYTHONPATH (sandbox/main.py, tests/services) and on mypy's path.
Nothing here may name a service or import something a service does not install: its requirements come
from every service's requirements.txt (uvicorn with uvloop and httptools, pydantic-settings, and starlette
and pydantic through fastapi).
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
from typing import Annotated, Any, Self

import uvicorn
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"

# Incoming ids end up in log lines and response headers, so anything beyond a plain token is replaced.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

Environ = Mapping[str, str]

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot run with."""


# --- settings from the environment ----------------------------------------------------------------


class _Variables(EnvSettingsSource):
    """The environment variables of `environ`, stripped; an empty one is unset (its field keeps the default)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Environ) -> None:
        self.environ = environ
        super().__init__(settings_cls, case_sensitive=True)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name: value.strip() for name, value in self.environ.items() if value.strip()}


class EnvSettings(BaseSettings):
    """Settings read from environment variables by pydantic-settings: each field reads the variable its
    `validation_alias` names, and its type's description says what the variable must hold (Flag, Seconds,
    whole), so that a bad value raises ConfigError naming the variable: "PORT must be a whole number from
    1 to 65535, got 'x'". Built from the process's environment, or any mapping (from_env)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", validate_by_name=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _Variables(settings_cls, os.environ)

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> Self:
        """The settings from `environ` (the process's environment by default)."""
        try:
            return cls.model_validate(_Variables(cls, os.environ if environ is None else environ)())
        except ValidationError as error:
            raise ConfigError("; ".join(cls._problem(p) for p in error.errors())) from None

    @classmethod
    def _problem(cls, error: Any) -> str:
        variable = str(error["loc"][0]) if error["loc"] else ""
        field = next((f for f in cls.model_fields.values() if f.validation_alias == variable), None)
        if field is None or not field.description:
            return f"{variable}: {error['msg']}".strip(": ")
        return f"{variable} must be {field.description}, got {error['input']!r}"


# What a variable must hold, said in the error that names it.
Flag = Annotated[bool, Field(description="true or false")]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False, description="a number greater than 0")]


def whole(minimum: int, maximum: int) -> Any:
    """A whole number from `minimum` to `maximum`: `Annotated[int, whole(1, 65535)]`."""
    return Field(ge=minimum, le=maximum, description=f"a whole number from {minimum} to {maximum}")


class ProcessSettings(EnvSettings):
    """How the process serves (serve, probe_health): the same in every service but the default port."""

    port: Annotated[int | None, whole(1, 65535), Field(validation_alias="PORT")] = None
    """PORT: the port to listen on; the service's own by default."""
    host: Annotated[str, Field(validation_alias="HOST")] = "0.0.0.0"  # noqa: S104
    """HOST: the address to listen on; a container must listen on all of its interfaces (the sandbox sets 127.0.0.1)."""
    graceful_shutdown_seconds: Annotated[int, whole(0, 600), Field(validation_alias="GRACEFUL_SHUTDOWN_SECONDS")] = 10
    """GRACEFUL_SHUTDOWN_SECONDS: how long open requests may finish after SIGTERM."""


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


# How long an idle keep-alive connection stays open: longer than the load balancer's idle timeout
# (infra/modules/alb idle_timeout, 60 s), as AWS asks of an ALB's targets, so that the ALB never sends a request
# down a connection the service is closing at that moment (the client would get the ALB's 502). uvicorn's
# default is 5 s.
KEEP_ALIVE_SECONDS = 75


def serve(app_factory: str, *, service: str, default_port: int) -> None:
    """Run the app as the container does: PORT and HOST from the environment, graceful on SIGTERM."""
    configure_logging(service)
    try:
        process = ProcessSettings.from_env()
    except ConfigError as error:
        logging.getLogger(service).error("%s", error)
        raise SystemExit(2) from None
    uvicorn.run(
        app_factory,
        factory=True,
        host=process.host,
        port=process.port or default_port,
        # uvicorn's fast event loop and HTTP parser (its "standard" extras, pinned in each requirements.txt):
        # named, not left to "auto", so an image without them fails at start instead of serving slowly.
        loop="uvloop",
        http="httptools",
        log_config=None,  # keep the JSON handler configured above
        access_log=False,  # RequestContextMiddleware writes the access line, with the request id
        server_header=False,
        timeout_graceful_shutdown=process.graceful_shutdown_seconds,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


def probe_health(default_port: int) -> int:
    """Exit status for a container health check: 0 when GET /health on this container answers 200."""
    try:
        port = ProcessSettings.from_env().port or default_port
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
