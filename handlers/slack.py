"""Slack -> API Gateway HTTP API (payload v2) -> this function -> the Bolt app (bot.app).

The first request of a container builds the app (secrets from env or Secrets Manager, no Slack call);
acks parse only. Lazy work runs in a second, asynchronous invocation of this same function, or in
threads of this process when OPSBOT_LAZY=thread (tests and the local sandbox).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from slack_bolt.adapter.aws_lambda import SlackRequestHandler

from handlers.runtime import Lazy, build_chatops, secret, share_logging

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "fargate-chatops"))
_chatops: Any = None


def build_handler(environ: Mapping[str, str] | None = None) -> SlackRequestHandler:
    from bot.app import LocalLazyRunner, build_app

    environ = os.environ if environ is None else environ
    chatops = build_chatops(environ)
    config, clients = chatops.config, chatops.clients
    signing_secret = secret("SLACK_SIGNING_SECRET", "SLACK_SIGNING_SECRET_NAME", environ)
    global _chatops
    _chatops = chatops
    app = build_app(chatops, signing_secret, chatops.slack_client.token)
    request_handler = SlackRequestHandler(app)
    runner = app.listener_runner
    if environ.get("OPSBOT_LAZY") == "thread":
        runner.lazy_listener_runner = LocalLazyRunner(app.logger)
    elif environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        # Bolt would create its Lambda client at the first lazy invoke, inside Slack's 3 seconds.
        lazy = runner.lazy_listener_runner
        lazy.lambda_client = clients.client("lambda", environ.get("AWS_REGION", config.environment().region))  # type: ignore[attr-defined]
    share_logging(logger, "slack_bolt")
    return request_handler


_built = Lazy(build_handler)
get_handler = _built.get
reset = _built.reset  # forget the built app (tests that change the environment)


MAX_BODY_CHARS = 1_000_000  # Slack's payloads are far smaller; refuse more before spending an HMAC on it


def refusal(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The answer to a request Bolt should not see: a huge body, or a timestamp that is not a number
    (Bolt's int() on it would fail the request with a 500 instead of refusing it)."""
    if len(event.get("body") or "") > MAX_BODY_CHARS:
        return {"statusCode": 413, "body": '{"error": "request body too large"}'}
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    timestamp = headers.get("x-slack-request-timestamp")
    if timestamp is not None and not str(timestamp).isdecimal():
        return {"statusCode": 401, "body": '{"error": "invalid request"}'}
    return None


LAZY_HEADER_PREFIX = "x-slack-bolt-lazy-"


def without_forged_lazy_headers(event: dict[str, Any]) -> dict[str, Any]:
    """Bolt marks its own asynchronous self-invocations with x-slack-bolt-lazy-* headers and a top-level
    "method": "NONE". A request from the internet carrying those headers would skip the ack and run one
    listener directly, so they are dropped from anything API Gateway delivers."""
    if event.get("method") == "NONE":
        return event
    headers = event.get("headers") or {}
    if not any(str(name).lower().startswith(LAZY_HEADER_PREFIX) for name in headers):
        return event
    kept = {k: v for k, v in headers.items() if not str(k).lower().startswith(LAZY_HEADER_PREFIX)}
    return {**event, "headers": kept}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    refused = refusal(event)
    if refused is not None:
        logger.warning("request refused before verification", extra={"status": refused["statusCode"]})
        return refused
    event = without_forged_lazy_headers(event)
    request_handler = get_handler()
    headers = event.get("headers") or {}
    if headers.get("x-slack-bolt-lazy-only") or os.environ.get("OPSBOT_LAZY") == "thread":
        # The work runs in this invocation: let idempotency records expire if it times out.
        _chatops.once.register_lambda_context(context)
    response: dict[str, Any] = request_handler.handle(event, context)  # type: ignore[no-untyped-call]
    return response
