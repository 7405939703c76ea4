"""service-b's configuration, read once from environment variables (pydantic-settings)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from service_runtime import EnvSettings, Flag

SERVICE_NAME = "service-b"
DEFAULT_PORT = 8001


class Settings(EnvSettings):
    """Every knob of service-b; the defaults are what ECS runs unless the task definition overrides them."""

    version: Annotated[str, Field(validation_alias="APP_VERSION")] = "dev"
    """APP_VERSION: reported by /internal/status, so a deploy is visible."""
    docs_enabled: Annotated[Flag, Field(validation_alias="DOCS_ENABLED")] = False
    """DOCS_ENABLED: serve /docs, /redoc and /openapi.json."""
