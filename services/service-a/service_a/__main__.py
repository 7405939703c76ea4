"""`python -m service_a`: the container's command (PORT, HOST and GRACEFUL_SHUTDOWN_SECONDS from the env)."""

from service_runtime import serve

from service_a.settings import DEFAULT_PORT, SERVICE_NAME

serve("service_a.app:create_app", service=SERVICE_NAME, default_port=DEFAULT_PORT)
