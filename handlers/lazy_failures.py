"""Lazy work Lambda gave up on -> LazyFailureQueue (SQS) -> this function -> the person, through response_url
or, where the request has none, in the person's messages with the app.

Bolt runs a lazy listener (the work of a slash command or a click) in an asynchronous self-invocation of
SlackFunction. Lambda drops an invocation that waited longer than MaximumEventAgeInSeconds ("EventAgeExceeded":
it never ran) and does not retry one that failed or timed out ("RetriesExhausted": it ran, perhaps in part),
and sends the record of either to the function's on-failure destination, the queue this function reads. The
record's requestPayload is the original event: the API Gateway request Slack made, whose body is Slack's form
(a slash command: command, text, response_url; a click: payload=<JSON with response_url>; a form's submission
or a button in a form or the App Home: payload=<JSON with user.id and no response_url>).

The record is trusted no further than the apology. Only Lambda writes to the queue, but the body is parsed
defensively; the apology goes only to an https response_url on hooks.slack.com (or to the scheme, host and port
of SLACK_API_URL, the Slack stand-in of tests and the sandbox). A request without a usable response_url but with
a Slack user id (user.id: U... or W...) is told with chat.postMessage to that user id, with the bot token (read
from Secrets Manager as every function does, handlers.runtime.bot_token) at https://slack.com/api/ (or at
SLACK_API_URL). Of the request, only the command's name is repeated, and only when it looks like one; otherwise
"command", "click", "form", "button" or "choice". A record that leads nowhere is logged and dropped. A post Slack
could not take (connection error, 429, 5xx after the client's retries) is reported as a batch item failure, so
SQS delivers the record again; other refusals (an expired response_url: 404; a user the app cannot write to) are
logged and dropped.

Light to import: no Bolt, no configuration, no AWS client; slack_sdk's webhook or WebClient, and the bot token,
load with the first apology that needs them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "fargate-chatops"))

NEVER_RAN = "EventAgeExceeded"  # Lambda dropped the event before any attempt: the work did not start
SLACK_HOOKS = ("https", "hooks.slack.com", 443)  # where Slack's response_urls live
DEFAULT_PORTS = {"https": 443, "http": 80}
MAX_BODY_CHARS = 262_144  # SQS's message limit: a longer body is not a record Lambda sent
MAX_FORM_FIELDS = 100  # Slack's forms have about a dozen
URL_CHARACTERS = re.compile(r"[\x21-\x7e]{1,2048}")  # printable ASCII, no space or control character
COMMAND_NAME = re.compile(r"/[a-z0-9][a-z0-9_-]{0,31}")
USER_ID = re.compile(r"[UW][A-Z0-9]{2,31}")  # a Slack user id; chat.postMessage to it writes in their messages
DEFAULT_SLACK_API_URL = "https://slack.com/api/"  # as bot.config_source: Slack's Web API
POST_TIMEOUT_SECONDS = 5  # Slack answers a response_url post in well under a second
# A post with its two retries and their backoff (bot.slack) takes at most about this long; a record is not
# started with less time left (template.yaml gives the function 60 s).
SECONDS_PER_POST = 3 * POST_TIMEOUT_SECONDS + 5


class Unusable(ValueError):
    """The record does not lead to a person who can be told; it is logged and dropped."""


@dataclass(frozen=True, slots=True)
class Dropped:
    """A request whose lazy work Lambda gave up on."""

    response_url: str | None
    what: str  # "/deploy", "command", "click", "form", "button" or "choice"
    never_ran: bool
    user: str | None = None  # a Slack user id (USER_ID): told in their messages when there is no response_url

    @property
    def text(self) -> str:
        if self.never_ran:
            return f"Your {self.what} could not be processed in time; nothing changed — try again."
        return (
            f"Your {self.what} did not finish: it failed or ran out of time while it ran, so part of it may have "
            "happened. Check /status before you try again."
        )


class Outcome(Enum):
    TOLD = "told"
    RETRY = "retry"  # Slack could not take the post now; SQS delivers the record again
    DROPPED = "dropped"


# --- the record -----------------------------------------------------------------------------------


def _form(payload: Mapping[str, Any]) -> dict[str, str]:
    body = payload.get("body")
    if not isinstance(body, str):
        raise Unusable("the request has no form body")
    if payload.get("isBase64Encoded") is True:
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unusable("the request body is not base64 of UTF-8") from None
    try:
        pairs = urllib.parse.parse_qsl(body, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise Unusable("the request body is not a form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


def read_record(body: str) -> Dropped:
    """The dropped request in one SQS message body (Lambda's invocation record), or Unusable."""
    if len(body) > MAX_BODY_CHARS:
        raise Unusable(f"the record is longer than {MAX_BODY_CHARS} characters")
    try:
        record = json.loads(body)
    except ValueError:
        raise Unusable("the record is not JSON") from None
    if not isinstance(record, dict):
        raise Unusable("the record is not a JSON object")
    context = record.get("requestContext")
    condition = context.get("condition") if isinstance(context, dict) else None
    payload = record.get("requestPayload")
    if not isinstance(payload, dict):
        raise Unusable("the record has no requestPayload (Lambda leaves it out of records over 256 KB)")
    form = _form(payload)
    user: str | None = None
    if "payload" in form:  # a click (block_actions) or a form's submission (view_submission)
        try:
            interaction = json.loads(form["payload"])
        except ValueError:
            raise Unusable("the interaction payload is not JSON") from None
        if not isinstance(interaction, dict):
            raise Unusable("the interaction payload is not a JSON object")
        url, what, user = interaction.get("response_url"), _interaction_name(interaction), _user_id(interaction)
    elif "command" in form:  # a slash command
        command = form["command"]
        url, what = form.get("response_url"), command if COMMAND_NAME.fullmatch(command) else "command"
    else:
        raise Unusable("the request is neither a slash command nor an interaction")
    if not isinstance(url, str) or not url:
        url = None
        if user is None:
            raise Unusable("the request has no response_url and no user id")
    return Dropped(response_url=url, what=what, never_ran=condition == NEVER_RAN, user=user)


def _user_id(interaction: Mapping[str, Any]) -> str | None:
    user = interaction.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    return user_id if isinstance(user_id, str) and USER_ID.fullmatch(user_id) else None


def _interaction_name(interaction: Mapping[str, Any]) -> str:
    """What the person did, in words the bot chose: a click on a message, a form, a button or a choice."""
    if interaction.get("type") == "view_submission":
        return "form"
    if not isinstance(interaction.get("view"), dict):
        return "click"  # a button of a message
    actions = interaction.get("actions")
    first = actions[0] if isinstance(actions, list) and actions else None
    return "button" if isinstance(first, dict) and first.get("type") == "button" else "choice"


def allowed_origins(environ: Mapping[str, str]) -> set[tuple[str, str, int]]:
    """hooks.slack.com, and the configured Slack API's own origin (the stand-in locally)."""
    origins = {SLACK_HOOKS}
    api = urllib.parse.urlsplit(environ.get("SLACK_API_URL", ""))
    if api.scheme in DEFAULT_PORTS and api.hostname:
        with contextlib.suppress(ValueError):  # a port that is not a number: only hooks.slack.com then
            origins.add((api.scheme, api.hostname, api.port or DEFAULT_PORTS[api.scheme]))
    return origins


def response_url_problem(url: str, environ: Mapping[str, str]) -> str | None:
    """Why the apology must not go to this URL, or None."""
    if not URL_CHARACTERS.fullmatch(url):
        return "the response_url is not a plain URL"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return "the response_url is not a URL"
    if parts.username is not None or parts.password is not None:
        return "the response_url carries user information"
    origin = (parts.scheme, parts.hostname or "", port or DEFAULT_PORTS.get(parts.scheme, 0))
    if origin not in allowed_origins(environ):
        return f"the response_url's origin {parts.scheme}://{parts.netloc} is not Slack's"
    return None


def slack_api_url(environ: Mapping[str, str]) -> str:
    """Slack's Web API, or SLACK_API_URL (the stand-in) when it is a plain http(s) URL; ValueError otherwise."""
    url = environ.get("SLACK_API_URL") or DEFAULT_SLACK_API_URL
    if not URL_CHARACTERS.fullmatch(url):
        raise ValueError("SLACK_API_URL is not a plain URL")
    parts = urllib.parse.urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError("SLACK_API_URL's port is not a number") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        raise ValueError("SLACK_API_URL must be an http(s) URL with a host and no user information")
    return url if url.endswith("/") else f"{url}/"


# --- the apology ----------------------------------------------------------------------------------


def tell(dropped: Dropped) -> Outcome:
    """Post the apology to the request's response_url: ephemeral, leaving a clicked card as it was."""
    from slack_sdk.webhook import WebhookClient

    from bot.slack import retry_handlers

    assert dropped.response_url is not None
    webhook = WebhookClient(dropped.response_url, timeout=POST_TIMEOUT_SECONDS, retry_handlers=retry_handlers())
    message = {"text": dropped.text, "response_type": "ephemeral", "replace_original": False}
    try:
        response = webhook.send_dict(message)
    except Exception:
        logger.exception("Slack was not reachable for the apology; the record is delivered again")
        return Outcome.RETRY
    if response.status_code == 200:
        return Outcome.TOLD
    if response.status_code == 429 or response.status_code >= 500:
        logger.warning(
            "Slack could not take the apology; the record is delivered again", extra={"status": response.status_code}
        )
        return Outcome.RETRY
    # 404 expired_url / used_url, 400 invalid_payload: no later attempt does better.
    logger.error(
        "Slack refused the apology; dropped",
        extra={"status": response.status_code, "slack_body": str(response.body)[:100]},
    )
    return Outcome.DROPPED


def tell_user(dropped: Dropped, environ: Mapping[str, str]) -> Outcome:
    """Post the apology in the person's messages with the app (chat.postMessage to their user id)."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    from bot.slack import retry_handlers
    from handlers.runtime import bot_token

    assert dropped.user is not None
    # A missing secret or a bad SLACK_API_URL raises: not the record's fault, so the handler keeps it.
    client = WebClient(
        token=bot_token(environ),
        base_url=slack_api_url(environ),
        timeout=POST_TIMEOUT_SECONDS,
        retry_handlers=retry_handlers(),
    )
    try:
        client.chat_postMessage(channel=dropped.user, text=dropped.text)
    except SlackApiError as refused:
        status, error = refused.response.status_code, str(refused.response.get("error", ""))[:100]
        if status == 429 or status >= 500:
            logger.warning("Slack could not take the apology; the record is delivered again", extra={"status": status})
            return Outcome.RETRY
        # channel_not_found, cannot_dm_bot, user_disabled...: no later attempt does better.
        logger.error("Slack refused the apology; dropped", extra={"status": status, "slack_error": error})
        return Outcome.DROPPED
    except Exception:
        logger.exception("Slack was not reachable for the apology; the record is delivered again")
        return Outcome.RETRY
    return Outcome.TOLD


def handle_record(record: Mapping[str, Any], environ: Mapping[str, str]) -> Outcome:
    message_id = str(record.get("messageId", ""))
    body = record.get("body")
    try:
        dropped = read_record(body if isinstance(body, str) else "")
        problem = response_url_problem(dropped.response_url, environ) if dropped.response_url else None
        if dropped.response_url is None or problem:
            if dropped.user is None:
                raise Unusable(problem or "the request has no response_url and no user id")
            dropped = replace(dropped, response_url=None)  # told in the person's messages instead
    except Unusable as reason:
        logger.error(f"lazy-failure record {message_id} dropped: {reason}", extra={"message_id": message_id})
        return Outcome.DROPPED
    outcome = tell(dropped) if dropped.response_url else tell_user(dropped, environ)
    logger.info(
        f"lazy-failure record {message_id}: {outcome.value}",
        extra={
            "message_id": message_id,
            "what": dropped.what,
            "never_ran": dropped.never_ran,
            "to": "response_url" if dropped.response_url else "messages",
        },
    )
    return outcome


def _seconds_left(context: Any) -> Callable[[], float]:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return lambda: float("inf")
    return lambda: float(remaining()) / 1000


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    """SQS batch -> partial batch response: only the records Slack could not take now are delivered again."""
    seconds_left = _seconds_left(context)
    raw = event.get("Records") if isinstance(event, dict) else None
    failures: list[dict[str, str]] = []
    for record in raw if isinstance(raw, list) else []:
        if not isinstance(record, dict):
            logger.error("lazy-failure record dropped: not an SQS record")
            continue
        message_id = str(record.get("messageId", ""))
        if seconds_left() < SECONDS_PER_POST:
            failures.append({"itemIdentifier": message_id})  # left for the next delivery
            continue
        try:
            outcome = handle_record(record, os.environ)
        except Exception:  # a bug, not the record's fault: keep the record and let the age alarm say so
            logger.exception(f"lazy-failure record {message_id} could not be handled")
            outcome = Outcome.RETRY
        if outcome is Outcome.RETRY:
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}
