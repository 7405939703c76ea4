"""The bot's port to Slack: the Web API client it builds, how its HTTP calls are retried, and the two
writes the rest of the bot makes (post, update), behind a Protocol that callers type against.

Light on purpose: slack_sdk only, never slack_bolt. Only the Slack function loads Bolt (bot.app); the
alarm, cost, escalation and deployment functions, and the lazy-failure apologies, reach Slack from here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from slack_sdk import WebClient
from slack_sdk.http_retry import HttpRequest, HttpResponse, RetryHandler, RetryState
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

if TYPE_CHECKING:
    from bot.metrics import Metrics

Message = dict[str, Any]  # a message as chat.postMessage takes it (bot.render builds them)
Respond = Callable[[Message], None]  # an ephemeral answer to the person who asked (response_url)


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


class Counted(RetryHandler):
    """A retry handler whose retries are counted (bot.metrics SLACK_RETRIES, dimension reason); the one for
    rate limits also counts every 429 Slack answers, retried or not (SLACK_RATE_LIMITED): slack_sdk asks it
    about each 429, since the connection-error handler before it never retries a response."""

    def __init__(self, inner: RetryHandler, reason: str, metrics: Metrics) -> None:
        super().__init__(max_retry_count=inner.max_retry_count, interval_calculator=inner.interval_calculator)
        self.inner, self.reason, self.metrics = inner, reason, metrics

    def can_retry(self, **attempt: Any) -> bool:  # state, request, response, error: as slack_sdk passes them
        response = attempt.get("response")
        if self.reason == "rate_limited" and response is not None and response.status_code == 429:
            from bot.metrics import SLACK_RATE_LIMITED

            self.metrics.count(SLACK_RATE_LIMITED)
        return self.inner.can_retry(**attempt)

    def prepare_for_next_attempt(self, **attempt: Any) -> None:
        from bot.metrics import SLACK_RETRIES

        self.metrics.count(SLACK_RETRIES, reason=self.reason)
        self.inner.prepare_for_next_attempt(**attempt)


def retry_handlers(metrics: Metrics | None = None) -> list[RetryHandler]:
    """Two retries: Retry-After honoured on 429, a short backoff on 5xx and on connection errors; with
    `metrics`, the 429s and the retries are counted."""
    handlers: list[tuple[str, RetryHandler]] = [
        ("connection_error", ConnectionErrorRetryHandler(max_retry_count=2)),
        ("rate_limited", RateLimitErrorRetryHandler(max_retry_count=2)),
        ("server_error", AnyServerErrorRetryHandler(max_retry_count=2)),
    ]
    if metrics is None:
        return [handler for _, handler in handlers]
    return [Counted(handler, reason, metrics) for reason, handler in handlers]


def slack_client(api_url: str, token: str | None, metrics: Metrics | None = None) -> WebClient:
    """The bot's Web API client, retrying as retry_handlers() says (no token: a template for Bolt's)."""
    return WebClient(token=token, base_url=api_url, timeout=10, retry_handlers=retry_handlers(metrics))


class SlackPort(Protocol):
    """What the bot writes to Slack with its own token. SlackOut is the real one; alarms.pacing's
    PacedSlack is one that paces the writes per channel."""

    def post(self, channel: str, msg: Message, thread_ts: str | None = None, broadcast: bool = False) -> str: ...

    def update(self, channel: str, ts: str, msg: Message) -> None: ...


class FilePort(Protocol):
    """What the bot asks of Slack's files API (the alarm graphs, the timeline's draft); SlackOut is the real one."""

    def upload(
        self,
        content: bytes | str,
        filename: str,
        title: str,
        *,
        channel: str | None = None,
        thread_ts: str | None = None,
        snippet_type: str | None = None,
        alt_text: str | None = None,
        initial_comment: str | None = None,
    ) -> str: ...

    def file_ready(self, file_id: str) -> bool: ...


class SlackOut:
    """SlackPort over the Web API client; a call Slack refuses raises slack_sdk's SlackApiError."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def post(self, channel: str, msg: Message, thread_ts: str | None = None, broadcast: bool = False) -> str:
        """Post `msg`; in the thread of `thread_ts` when given, and then also to the channel with `broadcast`."""
        kwargs: dict[str, Any] = {"channel": channel, **msg}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
            if broadcast:
                kwargs["reply_broadcast"] = True
        response = self.client.chat_postMessage(**kwargs)
        return str(response["ts"])

    def update(self, channel: str, ts: str, msg: Message) -> None:
        self.client.chat_update(channel=channel, ts=ts, **msg)

    def ephemeral(self, channel: str, user: str, msg: Message) -> None:
        """`msg` shown to `user` only, in `channel` (chat.postEphemeral): an answer with no response_url (a form's)."""
        self.client.chat_postEphemeral(channel=channel, user=user, **msg)

    def upload(
        self,
        content: bytes | str,
        filename: str,
        title: str,
        *,
        channel: str | None = None,
        thread_ts: str | None = None,
        snippet_type: str | None = None,
        alt_text: str | None = None,
        initial_comment: str | None = None,
    ) -> str:
        """Upload a file with Slack's external upload flow (slack_sdk's files_upload_v2: files.getUploadURLExternal,
        the upload, files.completeUploadExternal; scope files:write) and return its id. Without `channel`
        the file stays private to the app, to be shown in an image block (`slack_file: {"id": ...}`)
        once file_ready says Slack has processed it; with `channel` (and `thread_ts`) it is shared there."""
        kwargs: dict[str, Any] = {"content": content, "filename": filename, "title": title}
        if channel:
            kwargs["channel"] = channel
            if thread_ts:
                kwargs["thread_ts"] = thread_ts
        if snippet_type:
            kwargs["snippet_type"] = snippet_type
        if alt_text:
            kwargs["alt_txt"] = alt_text  # slack_sdk's (and Slack's) spelling
        if initial_comment and channel:
            kwargs["initial_comment"] = initial_comment  # the message the shared file comes with
        response = self.client.files_upload_v2(**kwargs)
        files = response.get("files") or [response.get("file") or {}]
        return str(files[0]["id"])

    def file_ready(self, file_id: str) -> bool:
        """Whether Slack has processed an uploaded file (files.info; scope files:read): its `mimetype` is
        empty until then, and an image block referencing it is refused (invalid_blocks) until then."""
        response = self.client.files_info(file=file_id)
        file = response.get("file") or {}
        return bool(file.get("mimetype"))

    def group_members(self, group: str) -> list[str]:
        """The members of a user group (usergroups.users.list); raises as the client does."""
        response = self.client.usergroups_users_list(usergroup=group)
        return list(response.get("users") or [])
