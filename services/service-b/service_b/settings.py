"""service-b's configuration, read once from environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from service_runtime import env_bool, env_str

SERVICE_NAME = "service-b"
DEFAULT_PORT = 8001


@dataclass(frozen=True)
class Settings:
    """Every knob of service-b; the defaults are what ECS runs unless the task definition overrides them."""

    version: str = "dev"
    """APP_VERSION: reported by /internal/status, so a deploy is visible."""
    docs_enabled: bool = False
    """DOCS_ENABLED: serve /docs, /redoc and /openapi.json."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        defaults = cls()
        return cls(
            version=env_str("APP_VERSION", defaults.version, environ=environ),
            docs_enabled=env_bool("DOCS_ENABLED", defaults.docs_enabled, environ=environ),
        )
