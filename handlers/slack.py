"""Slack -> API Gateway HTTP API (payload v2) -> this function -> the Bolt app (bot.app).

The first request of a container builds the app (secrets from env or Secrets Manager, no Slack call);
acks parse only. Lazy work runs in a second, asynchronous invocation of this same function, or in
threads of this process when OPSBOT_LAZY=thread (tests and the local sandbox).

Before Bolt sees a request, handler() checks it: size and method, Slack's signature over the bytes as
sent, whether Bolt can handle the body (handlers.slack_requests), and whether the signature was seen
before (bot.replay). Bolt would parse the body before its own signature check, and a body that does not
parse raised out of the handler: a Lambda error, the errors alarm, a page, for anyone who can POST.
Every refusal is an answer with a 4xx, never an exception.
"""

from __future__ import annotations

import gc
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from slack_bolt import BoltRequest
from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_bolt.lazy_listener import LazyListenerRunner

# In Lambda (AWS_EXECUTION_ENV), the cyclic garbage collector is paused from here, the bot's own modules, to
# the end of the first request (collector_paused_while_starting). Not in tests, which may import this module
# and never call the handler.
_paused_by_start_up = bool(os.environ.get("AWS_EXECUTION_ENV")) and gc.isenabled()
if _paused_by_start_up:
    gc.disable()

from bot.metrics import ACK_LATENCY, Emf  # noqa: E402 - after the pause
from bot.permissions import Function  # noqa: E402
from handlers.runtime import PerContainer, Runtime, secret  # noqa: E402
from handlers.slack_requests import Delivered, answer, delivered, readable_by_bolt  # noqa: E402

if TYPE_CHECKING:
    from slack_sdk.signature import SignatureVerifier

    from bot.replay import ReplayGuard

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "fargate-chatops"))
metrics = Emf("slack")  # written at the end of each invocation (log_metrics); Powertools loads at the first metric
_runtime: Runtime | None = None


@dataclass(frozen=True, slots=True)
class Gate:
    """What a request passes before Bolt sees it: the signing secret's verifier and the replay record."""

    verifier: SignatureVerifier
    replays: ReplayGuard


_gate: Gate | None = None


def build_handler(runtime: Runtime) -> SlackRequestHandler:
    from slack_sdk.signature import SignatureVerifier

    from bot.app import LocalLazyRunner, build_app
    from bot.replay import ReplayGuard

    environ = os.environ
    settings, clients = runtime.configuration.ack, runtime.clients  # not runtime.config: no pydantic on the ack path
    signing_secret = secret("SLACK_SIGNING_SECRET", "SLACK_SIGNING_SECRET_NAME", environ)
    replays = ReplayGuard(clients, settings.state_table, runtime.home_region, runtime.clock)
    replays.warm()
    global _runtime, _gate
    _runtime = runtime
    _gate = Gate(SignatureVerifier(signing_secret), replays)
    app = build_app(
        runtime.parser,
        lambda: runtime.dispatcher,
        signing_secret,
        runtime.slack_client,
        home=lambda: runtime.home,
        ack_time_left=ack_time_left,
    )
    request_handler = SlackRequestHandler(app)
    runner = app.listener_runner
    if environ.get("OPSBOT_LAZY") == "thread":
        runner.lazy_listener_runner = LocalLazyRunner(app.logger)
    elif environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        # Bolt would create its Lambda client at the first lazy invoke, inside Slack's 3 seconds.
        lazy = runner.lazy_listener_runner
        lazy.lambda_client = clients.client("lambda", environ.get("AWS_REGION", runtime.home_region))  # type: ignore[attr-defined]
    return request_handler


_built = PerContainer(build_handler, logger, "slack_bolt", metrics=metrics, function=Function.SLACK)
get_handler = _built.get
reset = _built.reset  # forget the built app (tests that change the environment)


def current_gate() -> Gate:
    """The gate of the built handler (building it if need be)."""
    get_handler()
    if _gate is None:
        raise RuntimeError("the Slack handler was built without its gate")
    return _gate


class _NoLazyWork(LazyListenerRunner):
    """Stands in for Bolt's lazy runner while priming: the warm-up requests start no work."""

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        pass


def _warm_up_event(runtime: Runtime, gate: Gate, command: str, text: str) -> dict[str, Any]:
    """A slash command as API Gateway delivers it, signed with the function's own secret."""
    from urllib.parse import urlencode

    body = urlencode(
        {"command": command, "text": text, "user_id": "UPRIME", "channel_id": "CPRIME", "team_id": "TPRIME"}
        | {"trigger_id": "prime", "response_url": ""}
    )
    timestamp = str(int(runtime.clock()))
    signature = gate.verifier.generate_signature(timestamp=timestamp, body=body)
    headers = {"content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": timestamp}
    headers["x-slack-signature"] = signature or ""
    context = {"http": {"method": "POST", "path": "/slack/events"}, "requestId": "prime"}
    return {"version": "2.0", "headers": headers, "body": body, "isBase64Encoded": False, "requestContext": context}


def prime() -> None:
    """The init phase's work, which SnapStart's snapshot keeps: build all that an ack uses (its settings, the
    DynamoDB client of the replay record, the Lambda client of lazy invocations, the Bolt app) and the
    validated config, dispatcher and button listeners (an invalid config fails the init), and run
    each piece once without the network: the gate's checks, one replay record and one lazy invocation
    answered by botocore stand-ins (handlers.runtime.answered_here), and through Bolt a /status ack (a parse)
    and a wrong /scale (its usage line: a render). The first request then builds nothing."""
    import encodings.idna  # noqa: F401 - the first connection encodes its host name with it: 7 ms at the first ack

    from aws_lambda_powertools.utilities.jmespath_utils import query

    from bot.app import register_buttons
    from handlers.runtime import answered_here

    request_handler = get_handler()
    gate = current_gate()
    assert _runtime is not None  # built with the gate
    runtime = _runtime
    _ = runtime.dispatcher  # builds the validated config (bot.config) too
    register_buttons(request_handler.app)  # a cold command's ack does without them (bot.app)
    with answered_here(gate.replays.ddb):
        gate.replays.first_sight("v0=" + "0" * 64, int(runtime.clock()))
    runner = request_handler.app.listener_runner
    lazy = runner.lazy_listener_runner
    lambda_client = getattr(lazy, "lambda_client", None)
    if lambda_client is not None:
        with answered_here(lambda_client, 202, b""):
            lambda_client.invoke(
                FunctionName=os.environ["AWS_LAMBDA_FUNCTION_NAME"], InvocationType="Event", Payload="{}"
            )
    context = SimpleNamespace(function_name="prime", invoked_function_arn="prime")
    runner.lazy_listener_runner = _NoLazyWork()
    try:
        # As the workspace names them (slack.commands): /status or /ops status. The /scale lacks its count (a usage
        # line: a render): /scale alone would open its form (bot.modals), a call to Slack.
        for name, words in (("status", ""), ("scale", "x")):
            command, _, text = f"{runtime.parser.names.slash(name)} {words}".strip().partition(" ")
            event = _warm_up_event(runtime, gate, command, text)
            query(event, correlation_paths.API_GATEWAY_HTTP)  # the logger's correlation id: a JMESPath compiled once
            request = delivered(without_forged_lazy_headers(event))
            if refusal(event) or request is None or not request.signed_with(gate.verifier):
                raise RuntimeError("priming: the warm-up request was refused")
            if not readable_by_bolt(request.event(event)):
                raise RuntimeError("priming: Bolt cannot read the warm-up request")
            response = request_handler.handle(request.event(event), context)  # type: ignore[no-untyped-call]
            if response["statusCode"] != 200:
                raise RuntimeError(f"priming: the warm-up {command} was answered {response['statusCode']}")
    finally:
        runner.lazy_listener_runner = lazy
        end_start_up_pause()  # what init built is frozen in the snapshot; the collector runs again


def after_restore() -> None:
    """After SnapStart restores the snapshot, in every copy: what init made unique or time-bound is
    shared by all copies and may be days old. Randomness is re-seeded (botocore's retry jitter, uuids
    of the random module); the AWS clients are made afresh (their connection pools and the credentials they
    resolved belong to the snapshot) and warmed again; the Lambda client of lazy invocations too."""
    random.seed()
    if _runtime is None or _gate is None:
        return  # nothing was built before the snapshot
    _runtime.clients.forget()
    _gate.replays.warm()
    lazy = get_handler().app.listener_runner.lazy_listener_runner
    if getattr(lazy, "lambda_client", None) is not None:
        region = os.environ.get("AWS_REGION", _runtime.home_region)
        lazy.lambda_client = _runtime.clients.client("lambda", region)  # type: ignore[attr-defined]


MAX_BODY_CHARS = 1_000_000  # Slack's payloads are far smaller; refuse more before spending an HMAC on it


def http_method(event: Mapping[str, Any]) -> Any:
    """The HTTP method, as Bolt's adapter reads it (payload v2, then v1)."""
    context = event.get("requestContext")
    if not isinstance(context, Mapping):
        return None
    http = context.get("http")
    return http.get("method") if isinstance(http, Mapping) else context.get("httpMethod")


def refusal(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The answer to a request Bolt should not see: a huge body, a timestamp that is not a number
    (Bolt's int() on it would fail the request with a 500 instead of refusing it), or anything but a POST
    (the only method Slack uses; Bolt would answer others with a 404, but only after a signature check and
    a replay record)."""
    if len(event.get("body") or "") > MAX_BODY_CHARS:
        return answer(413, "request body too large")
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    timestamp = headers.get("x-slack-request-timestamp")
    if timestamp is not None and not str(timestamp).isdecimal():
        return answer(401, "invalid request")
    if http_method(event) != "POST":
        return answer(405, "method not allowed")
    return None


def replay_answer(event: Mapping[str, Any], request: Delivered, replays: ReplayGuard) -> dict[str, Any] | None:
    """The answer to a copy of a request already seen (bot.replay), or None to let the request through.
    Bolt's own self-invocation (top-level "method": "NONE", which API Gateway never sends) carries the
    signed request it came from, so it is not a copy."""
    from bot.replay import Sighting

    if event.get("method") == "NONE":
        return None
    sighting = replays.sight(request.signature, int(request.timestamp), request.header("x-slack-retry-num"))
    if sighting is Sighting.REPLAY:
        return answer(401, "replayed request")
    if sighting is Sighting.RETRY:
        return {"statusCode": 200, "headers": {}, "body": ""}
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


_started_up = False


def end_start_up_pause() -> None:
    """Freeze what start-up built and turn the collector on again, if start-up paused it."""
    global _paused_by_start_up
    if _paused_by_start_up:
        _paused_by_start_up = False
        gc.freeze()
        gc.enable()


@contextmanager
def collector_paused_while_starting() -> Iterator[None]:
    """The container's first request runs without Python's cyclic garbage collector, then freezes what it built.

    A cold container builds at its first request (the AWS clients' service models, the Bolt app, the parser's
    types): ~90,000 long-lived objects, over which the collector would run its passes again and again while
    they are made (20-45 ms of CPU on a cold ack, bench.cold_start). gc.freeze() then moves all of them to
    the permanent generation, so that later collections (the collector is on again afterwards) do not walk
    them either: the pattern Python's documentation gives for gc.freeze. The cost: reference cycles that
    became garbage during start-up stay in memory for the container's life (the peak RSS of a cold ack was
    the same, 58.6 MB, either way). In Lambda the pause begins
    at this module's import, after the third-party packages (whose import is the floor the cold start is
    measured against). Once per process; a collector someone else turned off is left off."""
    global _started_up, _paused_by_start_up
    if _started_up:
        yield
        return
    _started_up = True
    if gc.isenabled():
        gc.disable()
        _paused_by_start_up = True
    try:
        yield
    finally:
        end_start_up_pause()


ACK_SECONDS = 2.4  # of Slack's 3 s, what an ack may spend before its answer must be on its way back
MIN_OPEN_SECONDS = 0.3  # a views.open is given at least this long, even late (Slack may still be quick)
_arrived: ContextVar[float | None] = ContextVar("arrived", default=None)
_first_request = True


def arrival(started: float) -> float:
    """When Slack's request reached the function (time.perf_counter): the handler's entry (`started`), but in
    Lambda the first request of an on-demand cold start came before the function's code began loading (the
    init that SnapStart or provisioned concurrency run ahead of time is on no request's path)."""
    global _first_request
    first, _first_request = _first_request, False
    cold = os.environ.get("AWS_EXECUTION_ENV") and os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "on-demand"
    if first and cold:
        from handlers import LOADING_STARTED

        return LOADING_STARTED
    return started


def ack_time_left() -> float:
    """The seconds the ack of the request being answered may still wait for Slack (bot.app's views.open)."""
    arrived = _arrived.get()
    spent = 0.0 if arrived is None else time.perf_counter() - arrived
    return max(MIN_OPEN_SECONDS, ACK_SECONDS - spent)


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    _arrived.set(arrival(started))
    with collector_paused_while_starting():
        response = answer_request(event, context)
    if event.get("method") != "NONE":  # what Slack waited for; not Bolt's lazy self-invocation
        metrics.milliseconds(ACK_LATENCY, (time.perf_counter() - started) * 1000)
    return response


def answer_request(event: dict[str, Any], context: Any) -> dict[str, Any]:
    refused = refusal(event)
    if refused is not None:
        logger.warning("request refused before verification", extra={"status": refused["statusCode"]})
        return refused
    event = without_forged_lazy_headers(event)
    request_handler = get_handler()
    gate = current_gate()
    request = delivered(event)
    if request is None or not request.signed_with(gate.verifier):
        logger.info("request refused: not signed by Slack")
        return answer(401, "invalid request")
    event = request.event(event)
    if not readable_by_bolt(event):
        logger.warning("signed request refused: Bolt cannot read its body")
        return answer(400, "unparseable request")
    replayed = replay_answer(event, request, gate.replays)
    if replayed is not None:
        return replayed
    headers = event["headers"]
    if headers.get("x-slack-bolt-lazy-only") or os.environ.get("OPSBOT_LAZY") == "thread":
        # The work runs in this invocation: let idempotency records expire if it times out.
        assert _runtime is not None  # built with the gate
        _runtime.once.register_lambda_context(context)
    response: dict[str, Any] = request_handler.handle(event, context)  # type: ignore[no-untyped-call]
    return response


# SnapStart (template.yaml): prime before the snapshot, refresh after each restore. Anywhere else (an
# on-demand container, tests, the sandbox) the first request builds what it uses.
if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
    from handlers.runtime import snapstart_hooks

    if not snapstart_hooks(before_snapshot=prime, after_restore=after_restore):
        prime()
