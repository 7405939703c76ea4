"""`python -m service_a.healthcheck`: exits 0 when this container's /health answers (no curl in the image)."""

from service_runtime import probe_health

from service_a.settings import DEFAULT_PORT

raise SystemExit(probe_health(DEFAULT_PORT))
