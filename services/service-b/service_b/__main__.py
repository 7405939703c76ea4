"""`python -m service_b`: the container's command (PORT, HOST and GRACEFUL_SHUTDOWN_SECONDS from the env)."""

from service_runtime import serve

from service_b.settings import DEFAULT_PORT, SERVICE_NAME

serve("service_b.app:create_app", service=SERVICE_NAME, default_port=DEFAULT_PORT)
