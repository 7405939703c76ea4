"""service-a's configuration, read once from environment variables (pydantic-settings)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from service_runtime import EnvSettings, Flag, Seconds

SERVICE_NAME = "service-a"
DESCRIPTION = "API Gateway Service"
DEFAULT_PORT = 8000
SERVICE_B_URL_EXAMPLE = "http://service-b.local:8001"


class Settings(EnvSettings):
    """Every knob of service-a; the defaults are what ECS runs unless the task definition overrides them."""

    version: Annotated[str, Field(validation_alias="APP_VERSION")] = "dev"
    """APP_VERSION: reported by /api/info, so a deploy is visible from outside."""
    service_b_url: Annotated[
        str, Field(validation_alias="SERVICE_B_URL", description=f"an http(s) URL like {SERVICE_B_URL_EXAMPLE}")
    ] = SERVICE_B_URL_EXAMPLE
    """SERVICE_B_URL: base URL of service-b (Cloud Map name on ECS)."""
    service_b_connect_timeout: Annotated[Seconds, Field(validation_alias="SERVICE_B_CONNECT_TIMEOUT")] = 2.0
    """SERVICE_B_CONNECT_TIMEOUT: seconds to open a connection to service-b before answering 503."""
    service_b_read_timeout: Annotated[Seconds, Field(validation_alias="SERVICE_B_READ_TIMEOUT")] = 5.0
    """SERVICE_B_READ_TIMEOUT: seconds to wait for service-b's answer before answering 504."""
    docs_enabled: Annotated[Flag, Field(validation_alias="DOCS_ENABLED")] = False
    """DOCS_ENABLED: serve /docs, /redoc and /openapi.json."""

    @field_validator("service_b_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        url = urlsplit(value)
        if url.scheme not in {"http", "https"} or not url.hostname:
            raise ValueError("not an http(s) URL")
        return value
