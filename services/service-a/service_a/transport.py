"""httpx's API on aiohttp's connection pool: the transport under service-a's client to service-b.

httpx's own pool (httpcore) costs several times the CPU of aiohttp's per request when many requests
share it concurrently (encode/httpx#3215): under `wrk -c50` it, not service-b's work, set the rate of
/api/backend (docs/BENCHMARKS.md, "Services under load"). httpx-aiohttp's AiohttpTransport sends
httpx's requests through aiohttp and hands back httpx responses, so the code keeps httpx's API, its
timeouts and its exceptions.

Only the exceptions need care: httpx-aiohttp maps every aiohttp connection error, a refused connection
and a dropped one alike, to httpx.ConnectTimeout, and lets other aiohttp errors through unmapped. Here
each failure becomes the httpx exception httpx's own transport raises for it, so service-a still answers
503 for "cannot connect", 504 for "no answer in time" and 502 for "broke off its answer".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport


def as_httpx_error(error: Exception) -> Exception:
    """The httpx exception for an aiohttp failure (raised as is, or wrapped by httpx-aiohttp)."""
    cause = error.__cause__ if isinstance(error, httpx.HTTPError) and error.__cause__ is not None else error
    message = str(error) or type(cause).__name__
    kind: type[httpx.TransportError]
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout  # connecting, or waiting for a free connection in the pool
    elif isinstance(cause, aiohttp.SocketTimeoutError):
        kind = httpx.ReadTimeout
    elif isinstance(cause, aiohttp.ServerTimeoutError | TimeoutError):
        kind = httpx.TimeoutException
    elif isinstance(cause, aiohttp.ClientConnectorError):
        kind = httpx.ConnectError  # refused, unresolvable, unreachable
    elif isinstance(cause, aiohttp.ClientPayloadError | aiohttp.ClientOSError):
        kind = httpx.ReadError  # the answer was cut off, or the connection reset under it
    elif isinstance(cause, aiohttp.ClientError):
        kind = httpx.RemoteProtocolError  # disconnected without an answer, or not valid HTTP
    else:
        return error  # already httpx's own, or not a failure of the call (a bug, left to surface as one)
    return kind(message)


@contextmanager
def httpx_errors() -> Iterator[None]:
    try:
        yield
    except (httpx.TransportError, aiohttp.ClientError, TimeoutError) as error:
        mapped = as_httpx_error(error)
        if mapped is error:
            raise
        raise mapped from error.__cause__ or error


class _Body(httpx.AsyncByteStream):
    """The response body, read from aiohttp with the same error mapping as the request."""

    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with httpx_errors():
            async for chunk in self._inner:
                yield chunk

    async def aclose(self) -> None:
        with httpx_errors():
            await self._inner.aclose()


class PooledTransport(AiohttpTransport):
    """AiohttpTransport whose failures are the httpx exceptions httpx's own transport raises."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        with httpx_errors():
            response = await super().handle_async_request(request)
        if isinstance(response.stream, httpx.AsyncByteStream):  # always: AiohttpTransport streams the body
            response.stream = _Body(response.stream)
        return response
