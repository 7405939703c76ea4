"""service-b's HTTP API. `create_app` is the factory uvicorn runs (see service_b/__main__.py)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from service_runtime import RequestContextMiddleware, utc_now_iso

from service_b.settings import SERVICE_NAME, Settings
from service_b.work import DEFAULT_ROUNDS, MAX_ROUNDS, hash_rounds

HEALTHY = "healthy"
INLINE_ROUNDS = 10 * DEFAULT_ROUNDS
"""Work up to this many rounds (a few ms of CPU at most) is done on the event loop: handing it to the thread
pool would cost more than the hashing itself (the default /process, DEFAULT_ROUNDS, is about 0.2 ms). Heavier
work goes to the thread pool, so it never holds up /health or other requests."""


class Health(BaseModel):
    status: str
    service: str


class ProcessData(BaseModel):
    """The seed's summary of the work, filled from the work really done."""

    result: str
    """The digest computed (the same as `digest`)."""
    items_processed: int
    """The rounds of hashing done (the same as `work`)."""


class ProcessResult(BaseModel):
    service: str
    status: str
    processing_time: str
    """The measured duration as the seed's clients read it, e.g. "0.018s"; duration_ms is the number."""
    duration_ms: float
    work: int
    digest: str
    data: ProcessData
    request_id: str
    timestamp: str


class InternalStatus(BaseModel):
    service: str
    version: str
    status: str
    uptime: str
    """The seed's word for being up: "healthy" whenever the service answers. The duration is uptime_seconds."""
    uptime_seconds: float
    timestamp: str


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    started = time.monotonic()

    docs = settings.docs_enabled
    app = FastAPI(
        # /health/ is not /health: a 404, as for any other path, not a redirect built from the Host header
        redirect_slashes=False,
        title=SERVICE_NAME,
        description="Backend Service",
        version=settings.version,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.add_middleware(RequestContextMiddleware, access_logger="service_b.access")

    @app.get("/health")
    async def health() -> Health:
        return Health(status=HEALTHY, service=SERVICE_NAME)

    @app.get("/process")
    async def process(
        request: Request,
        work: Annotated[
            int, Query(ge=1, le=MAX_ROUNDS, description="Rounds of PBKDF2-HMAC-SHA256 to compute.")
        ] = DEFAULT_ROUNDS,
    ) -> ProcessResult:
        """Does `work` rounds of hashing and reports how long they took."""
        request_id: str = request.state.request_id
        if work <= INLINE_ROUNDS:
            done = hash_rounds(work, request_id)
        else:
            done = await run_in_threadpool(hash_rounds, work, request_id)
        return ProcessResult(
            service=SERVICE_NAME,
            status="processed",
            processing_time=f"{done.seconds:.3f}s",
            duration_ms=round(done.seconds * 1000, 3),
            work=done.rounds,
            digest=done.digest,
            data=ProcessData(result=done.digest, items_processed=done.rounds),
            request_id=request_id,
            timestamp=utc_now_iso(),
        )

    @app.get("/internal/status")
    async def internal_status() -> InternalStatus:
        """For operators inside the VPC; the load balancer must not route /internal/* (infra's job)."""
        return InternalStatus(
            service=SERVICE_NAME,
            version=settings.version,
            status="running",
            uptime=HEALTHY,
            uptime_seconds=round(time.monotonic() - started, 3),
            timestamp=utc_now_iso(),
        )

    return app
