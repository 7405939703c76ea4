"""What the sandbox runs, and the entry point that runs it."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from sandbox.supervisor import Child, Supervisor

SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"
HOST = "127.0.0.1"


class UsageError(Exception):
    pass


def port_from_env(variable: str, default: int, environ: Mapping[str, str]) -> int:
    raw = environ.get(variable, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise UsageError(f"{variable} must be a port number from 1 to 65535, got {raw!r}")
    return int(raw)


def platform_services(environ: Mapping[str, str] = os.environ) -> list[Child]:
    """service-b, then service-a pointed at it; each run as its container runs it (`python -m <package>`)."""
    port_b = port_from_env("SERVICE_B_PORT", 8001, environ)
    port_a = port_from_env("SERVICE_A_PORT", 8000, environ)
    common = {
        "HOST": HOST,
        "PYTHONUNBUFFERED": "1",
        # The API docs are off in the images; locally they are the quickest way to try an endpoint.
        "DOCS_ENABLED": environ.get("DOCS_ENABLED", "true"),
    }
    service_b = Child(
        name="service-b",
        argv=[sys.executable, "-m", "service_b"],
        cwd=SERVICES_DIR / "service-b",
        env={**common, "PORT": str(port_b)},
        port=port_b,
        port_variable="SERVICE_B_PORT",
        host=HOST,
    )
    service_a = Child(
        name="service-a",
        argv=[sys.executable, "-m", "service_a"],
        cwd=SERVICES_DIR / "service-a",
        env={**common, "PORT": str(port_a), "SERVICE_B_URL": service_b.url},
        port=port_a,
        port_variable="SERVICE_A_PORT",
        host=HOST,
    )
    return [service_b, service_a]


def main() -> int:
    try:
        children = platform_services()
    except UsageError as error:
        print(f"sandbox: error: {error}", file=sys.stderr)
        return 2
    entry = children[-1].url
    docs = f" (API docs at {entry}/docs)" if children[-1].env["DOCS_ENABLED"] == "true" else ""
    ready = f"ready: try {entry}/api/backend{docs}; Ctrl-C stops everything"
    return Supervisor(children).run(on_ready=ready)
