"""Calls from service-a to service-b, and what each way of failing means for service-a's caller."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
from service_runtime import REQUEST_ID_HEADER

from service_a.settings import Settings
from service_a.transport import PooledTransport

log = logging.getLogger("service_a.backend")

# What service-a passes on of service-b's answer: a bigger one would sit whole in a 512 MB task's memory (and
# be copied into service-a's own answer), a deeper one fails FastAPI's serialisation (a 500, not JSON).
MAX_ANSWER_BYTES = 1_000_000
MAX_ANSWER_DEPTH = 64


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
    # service-b closes idle keep-alive connections after service_runtime.KEEP_ALIVE_SECONDS; giving them up far
    # sooner here avoids sending a request down a connection that service-b is closing at that very moment.
    # Keep every pooled connection alive: with fewer keep-alive slots than concurrent requests, each burst opens
    # and closes TCP connections to service-b, which costs more than the call itself.
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=4.0)
    return httpx.AsyncClient(
        base_url=settings.service_b_url,
        # Answers as they are on the wire: a compressed one would be expanded whole before its size is known.
        headers={"Accept-Encoding": "identity"},
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
    def __init__(self, http: httpx.AsyncClient, read_timeout: float, deadline: float | None = None) -> None:
        """`deadline`: the whole exchange's, in seconds (the read timeout bounds each read only: an answer that
        drips in a byte at a time would otherwise hold the call, and a pooled connection, for minutes)."""
        self._http = http
        self._read_timeout = read_timeout
        self._deadline = deadline if deadline is not None else 2 * read_timeout
        # /process on the client's base URL, merged once as the client merges it: httpx parses a relative URL and
        # joins it to the base at every request otherwise, in pure Python (7% of service-a's CPU per call).
        self._process_url = http.build_request("GET", "/process").url

    async def process(self, request_id: str) -> dict[str, Any]:
        """service-b's /process answer; raises BackendError (502, 503 or 504) when there is none to give."""
        try:
            async with asyncio.timeout(self._deadline):
                response, body = await self._fetch(request_id)
        except TimeoutError:
            log.warning("service-b's answer took longer than the deadline", extra={"deadline_s": self._deadline})
            raise BackendError(
                504,
                "service_b_timeout",
                f"service-b did not answer within {self._read_timeout:g} s; try again shortly.",
            ) from None
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
            payload = json.loads(body)
        except (ValueError, RecursionError):
            payload = None
        if not isinstance(payload, dict):
            log.warning("service-b answered something other than a JSON object")
            raise BackendError(
                502, "service_b_bad_response", "service-b answered with something other than a JSON object."
            )
        if _deeper_than(payload, MAX_ANSWER_DEPTH):
            log.warning("service-b answered JSON nested too deep", extra={"max_depth": MAX_ANSWER_DEPTH})
            raise BackendError(
                502, "service_b_bad_response", f"service-b answered with JSON nested over {MAX_ANSWER_DEPTH} levels."
            )
        return payload

    async def _fetch(self, request_id: str) -> tuple[httpx.Response, bytes]:
        """The response and its body as sent, at most MAX_ANSWER_BYTES (an error status: no body read)."""
        request = self._http.stream("GET", self._process_url, headers={REQUEST_ID_HEADER: request_id})
        async with request as response:
            if not response.is_success:
                return response, b""
            if response.headers.get("content-encoding", "identity").lower() != "identity":
                log.warning("service-b answered encoded", extra={"encoding": response.headers["content-encoding"]})
                raise BackendError(
                    502, "service_b_bad_response", "service-b answered in an encoding service-a did not ask for."
                )
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    log.warning("service-b's answer is too big", extra={"max_bytes": MAX_ANSWER_BYTES})
                    raise BackendError(
                        502,
                        "service_b_bad_response",
                        f"service-b answered with more than {MAX_ANSWER_BYTES // 1_000_000} MB.",
                    )
            return response, bytes(body)

    @staticmethod
    def _failed(error: httpx.HTTPError, status_code: int, code: str, message: str) -> BackendError:
        # The exception's text stays in the log (with the request id), never in the response.
        details = {"error": repr(error), "error_type": type(error).__name__}
        log.warning("call to service-b failed", extra=details)
        return BackendError(status_code, code, message)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether JSON `value` nests objects or arrays more than `limit` levels (walked without recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return False
