"""service-a's configuration, read once from environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from service_runtime import ConfigError, env_bool, env_float, env_str

SERVICE_NAME = "service-a"
DESCRIPTION = "API Gateway Service"
DEFAULT_PORT = 8000


@dataclass(frozen=True)
class Settings:
    """Every knob of service-a; the defaults are what ECS runs unless the task definition overrides them."""

    version: str = "dev"
    """APP_VERSION: reported by /api/info, so a deploy is visible from outside."""
    service_b_url: str = "http://service-b.local:8001"
    """SERVICE_B_URL: base URL of service-b (Cloud Map name on ECS)."""
    service_b_connect_timeout: float = 2.0
    """SERVICE_B_CONNECT_TIMEOUT: seconds to open a connection to service-b before answering 503."""
    service_b_read_timeout: float = 5.0
    """SERVICE_B_READ_TIMEOUT: seconds to wait for service-b's answer before answering 504."""
    docs_enabled: bool = False
    """DOCS_ENABLED: serve /docs, /redoc and /openapi.json."""

    def __post_init__(self) -> None:
        value = self.service_b_url
        url = urlsplit(value)
        if url.scheme not in {"http", "https"} or not url.hostname:
            example = "http://service-b.local:8001"
            raise ConfigError(f"SERVICE_B_URL must be an http(s) URL like {example}, got {value!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        defaults = cls()
        return cls(
            version=env_str("APP_VERSION", defaults.version, environ=environ),
            service_b_url=env_str("SERVICE_B_URL", defaults.service_b_url, environ=environ),
            service_b_connect_timeout=env_float(
                "SERVICE_B_CONNECT_TIMEOUT", defaults.service_b_connect_timeout, environ=environ
            ),
            service_b_read_timeout=env_float(
                "SERVICE_B_READ_TIMEOUT", defaults.service_b_read_timeout, environ=environ
            ),
            docs_enabled=env_bool("DOCS_ENABLED", defaults.docs_enabled, environ=environ),
        )
