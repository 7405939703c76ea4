"""Calls from service-a to service-b, and what each way of failing means for service-a's caller."""

from __future__ import annotations

import logging
from typing import Any

import httpx
from service_runtime import REQUEST_ID_HEADER

from service_a.settings import Settings
from service_a.transport import PooledTransport

log = logging.getLogger("service_a.backend")


class BackendError(Exception):
    """service-b could not give a usable answer; `status_code`, `code` and `message` go to the caller."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message


def open_http_client(settings: Settings) -> httpx.AsyncClient:
    """The one pooled client of the process; the app's lifespan opens and closes it.

    httpx's API over aiohttp's pool (service_a.transport): the timeouts below still apply per request.
    """
    # uvicorn closes idle keep-alive connections after 5 s; giving them up sooner here avoids sending a
    # request down a connection that service-b is closing at that very moment. Keep every pooled connection
    # alive: with fewer keep-alive slots than concurrent requests, each burst opens and closes TCP
    # connections to service-b, which costs more than the call itself.
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=4.0)
    return httpx.AsyncClient(
        base_url=settings.service_b_url,
        timeout=httpx.Timeout(
            connect=settings.service_b_connect_timeout,
            read=settings.service_b_read_timeout,
            write=settings.service_b_read_timeout,
            pool=settings.service_b_connect_timeout,
        ),
        limits=limits,
        transport=PooledTransport(limits=limits, trust_env=False),
        # Service-to-service traffic never goes through a proxy that happens to be set in the environment.
        trust_env=False,
    )


class ServiceB:
    def __init__(self, http: httpx.AsyncClient, read_timeout: float) -> None:
        self._http = http
        self._read_timeout = read_timeout
        # /process on the client's base URL, merged once as the client merges it: httpx parses a relative URL and
        # joins it to the base at every request otherwise, in pure Python (7% of service-a's CPU per call).
        self._process_url = http.build_request("GET", "/process").url

    async def process(self, request_id: str) -> dict[str, Any]:
        """service-b's /process answer; raises BackendError (502, 503 or 504) when there is none to give."""
        try:
            response = await self._http.get(self._process_url, headers={REQUEST_ID_HEADER: request_id})
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise self._failed(
                error,
                503,
                "service_b_unavailable",
                "service-b cannot be reached right now; try again shortly.",
            ) from None
        except httpx.TimeoutException as error:
            raise self._failed(
                error,
                504,
                "service_b_timeout",
                f"service-b did not answer within {self._read_timeout:g} s; try again shortly.",
            ) from None
        except httpx.HTTPError as error:
            raise self._failed(
                error, 502, "service_b_bad_response", "service-b broke off its answer; try again shortly."
            ) from None

        if not response.is_success:
            log.warning("service-b answered an error", extra={"upstream_status": response.status_code})
            raise BackendError(
                502,
                "service_b_error",
                f"service-b answered with HTTP {response.status_code} instead of a result.",
            )
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            log.warning("service-b answered something other than a JSON object")
            raise BackendError(
                502, "service_b_bad_response", "service-b answered with something other than a JSON object."
            )
        return payload

    @staticmethod
    def _failed(error: httpx.HTTPError, status_code: int, code: str, message: str) -> BackendError:
        # The exception's text stays in the log (with the request id), never in the response.
        details = {"error": repr(error), "error_type": type(error).__name__}
        log.warning("call to service-b failed", extra=details)
        return BackendError(status_code, code, message)
