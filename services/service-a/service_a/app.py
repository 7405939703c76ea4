"""service-a's HTTP API. `create_app` is the factory uvicorn runs (see service_a/__main__.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from service_runtime import RequestContextMiddleware, utc_now_iso

from service_a.backend import BackendError, ServiceB, open_http_client
from service_a.settings import DESCRIPTION, SERVICE_NAME, Settings


class Health(BaseModel):
    status: str
    service: str


class Hello(BaseModel):
    message: str
    timestamp: str
    service: str


API_PREFIX = "/api/"
"""The public API's paths start with this; /health is the load balancer's."""


class Info(BaseModel):
    service: str
    version: str
    description: str
    endpoints: list[str]
    """Every path of the public API, as the seed listed them."""


class BackendResult(BaseModel):
    service_a: str
    service_b_response: dict[str, Any]
    timestamp: str


class ErrorDetail(BaseModel):
    code: str
    message: str


class BackendFailure(BaseModel):
    service_a: str
    error: ErrorDetail
    detail: str
    """`error.message` again, under the key of FastAPI's error reply, which the seed's clients read."""
    request_id: str
    timestamp: str


def api_endpoints(app: FastAPI) -> list[str]:
    """The public API's paths, read off the routes: a new endpoint is listed without another edit."""
    return [route.path for route in app.routes if isinstance(route, APIRoute) and route.path.startswith(API_PREFIX)]


async def get_service_b(request: Request) -> ServiceB:
    # async: FastAPI runs a plain `def` dependency in its thread pool, which costs more than the whole call.
    service_b: ServiceB = request.state.service_b
    return service_b


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with open_http_client(settings) as http:
            yield {
                "service_b": ServiceB(
                    http,
                    settings.service_b_read_timeout,
                    deadline=settings.service_b_connect_timeout + settings.service_b_read_timeout,
                )
            }

    docs = settings.docs_enabled
    app = FastAPI(
        # /health/ is not /health: a 404, as for any other path, not a redirect built from the Host header
        redirect_slashes=False,
        title=SERVICE_NAME,
        description=DESCRIPTION,
        version=settings.version,
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.add_middleware(RequestContextMiddleware, access_logger="service_a.access")

    @app.get("/health")
    async def health() -> Health:
        """Liveness for the load balancer; deliberately independent of service-b."""
        return Health(status="healthy", service=SERVICE_NAME)

    @app.get("/api/hello")
    async def hello() -> Hello:
        return Hello(message="Hello from Service A", timestamp=utc_now_iso(), service=SERVICE_NAME)

    @app.get("/api/info")
    async def info() -> Info:
        return Info(
            service=SERVICE_NAME, version=settings.version, description=DESCRIPTION, endpoints=api_endpoints(app)
        )

    @app.get(
        "/api/backend",
        response_model=BackendResult,
        responses={
            502: {"model": BackendFailure, "description": "service-b answered with an error or not JSON"},
            503: {"model": BackendFailure, "description": "service-b cannot be reached"},
            504: {"model": BackendFailure, "description": "service-b did not answer in time"},
        },
    )
    async def backend(
        request: Request, service_b: Annotated[ServiceB, Depends(get_service_b)]
    ) -> BackendResult | JSONResponse:
        """Asks service-b to process, and returns its answer inside service-a's."""
        request_id: str = request.state.request_id
        try:
            answer = await service_b.process(request_id)
        except BackendError as error:
            failure = BackendFailure(
                service_a="error",
                error=ErrorDetail(code=error.code, message=error.message),
                detail=error.message,
                request_id=request_id,
                timestamp=utc_now_iso(),
            )
            return JSONResponse(failure.model_dump(), status_code=error.status_code)
        return BackendResult(service_a="success", service_b_response=answer, timestamp=utc_now_iso())

    return app
