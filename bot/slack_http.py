"""How the bot retries its HTTP calls to Slack (Web API and response_url), without loading Bolt.

bot.app uses it for the Web API client and for replies through response_url; handlers.lazy_failures, which
must stay light and never imports slack_bolt, uses it for its apologies.
"""

from __future__ import annotations

from slack_sdk.http_retry import HttpRequest, HttpResponse, RetryHandler, RetryState
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)


class AnyServerErrorRetryHandler(ServerErrorRetryHandler):
    """Retries every 5xx: slack_sdk's own handler retries only 500 and 503, not a 502 or 504 on the way."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and 500 <= response.status_code < 600


def retry_handlers() -> list[RetryHandler]:
    """Two retries: Retry-After honoured on 429, a short backoff on 5xx and on connection errors."""
    return [
        ConnectionErrorRetryHandler(max_retry_count=2),
        RateLimitErrorRetryHandler(max_retry_count=2),
        AnyServerErrorRetryHandler(max_retry_count=2),
    ]
