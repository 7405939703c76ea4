"""Garbage at the Slack function's URL is refused with a 4xx, never an exception (issue 14, finding 4).

The exploit: Bolt parses the body before it checks the signature, so an unsigned POST whose body does not
parse (`content-type: application/json` with `x=1`, `{not json`, `payload=%7Bbad`, `payload=[1]`) raised
out of the handler. A raised exception is a Lambda error, the bot's own errors alarm fires, and an alarm
card lands in the ops channel: anyone on the internet could page the team. The signature is now checked
before anything parses the body (401), and a signed body that still does not parse is a 400.
"""

from __future__ import annotations

import base64
import json
import string
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import yaml
from harness import (
    AWS_TEST_ENVIRONMENT,
    AWS_UNSET,
    BOT_TOKEN,
    SIGNING_SECRET,
    Bot,
    api_gateway_event,
    config_data,
    lambda_context,
    signed_headers,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from bot.aws import is_platform_mutation, recorded_calls
from bot.commands import SLASH_COMMANDS
from bot.config import parse_config
from sandbox.seed import seed

from .conftest import FaultySlack
from .counts import count

UNSIGNED_EXAMPLES = 1200
SIGNED_EXAMPLES = 1000
FUZZ = settings(
    deadline=None,
    derandomize=True,  # the same examples every run, and no example database written
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)

# The four bodies of the report, each with the content type it came with.
REPORTED = {
    "json content type, form body": ("x=1", "application/json"),
    "json content type, broken json": ("{not json", "application/json"),
    "payload, broken json": ("payload=%7Bbad", "application/x-www-form-urlencoded"),
    "payload, a json list": ("payload=[1]", "application/x-www-form-urlencoded"),
}


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    """One bot for the whole module (overrides tests/fixtures_bot.py's, which builds one per test): the
    requests here must change nothing, and seeding moto and building the app for each test would be most of
    the module's time. Each test checks what changed while it ran (untouched())."""
    import handlers.slack

    config = config_data()
    path = tmp_path_factory.mktemp("garbage") / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    slack = FaultySlack().start()
    environment = {
        **AWS_TEST_ENVIRONMENT,
        "OPSBOT_CONFIG_FILE": str(path),
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": slack.api_url,
        "OPSBOT_LAZY": "thread",
    }
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        for name, value in environment.items():
            patch.setenv(name, value)
        for name in AWS_UNSET:
            patch.delenv(name, raising=False)
        seed(parse_config(config))
        handlers.slack.reset()
        harness = Bot(slack)
        handlers.slack.get_handler()
        try:
            yield harness
        finally:
            harness.drain()
            handlers.slack.reset()
            slack.stop()


def event(
    body: str,
    headers: dict[str, str],
    *,
    base64_encoded: bool = False,
    method: str = "POST",
) -> dict[str, Any]:
    """An API Gateway (payload v2) event as tests/harness.py builds it, with the base64 flag set."""
    built = api_gateway_event(body, headers, method)
    built["isBase64Encoded"] = base64_encoded
    return built


def call(bot: Bot, built: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = bot.handler.handler(built, lambda_context())
    return response


def signed(body: str, content_type: str = "application/x-www-form-urlencoded", **kwargs: Any) -> dict[str, str]:
    return {**signed_headers(body, **kwargs), "content-type": content_type}


@contextmanager
def untouched(bot: Bot, allowed: frozenset[str] = frozenset()) -> Iterator[list[str]]:
    """The block makes no AWS call but those `allowed`, no Slack call and no response_url post (lazy
    listeners included: they are drained before the check)."""
    slack_calls, responses = len(bot.slack.calls()), len(bot.slack.responses())
    with recorded_calls() as calls:
        yield calls
        bot.drain()
    assert [c for c in calls if is_platform_mutation(c)] == [], calls
    assert set(calls) <= allowed, calls
    assert bot.slack.calls()[slack_calls:] == []
    assert bot.slack.responses()[responses:] == []


REPLAY_RECORD = frozenset({"dynamodb:PutItem"})  # a signed request's first sight is recorded (finding 8)


# --- the four reported bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "content_type"), REPORTED.values(), ids=REPORTED.keys())
def test_finding_4_unsigned_garbage_is_refused_not_raised(bot: Bot, body: str, content_type: str) -> None:
    """Unsigned and unparseable: a 401 before anything parses it (was: JSONDecodeError / AttributeError
    out of the handler, a Lambda error, an alarm card in #ops)."""
    headers = {"content-type": content_type}
    with untouched(bot):
        response = call(bot, event(body, headers))
    assert response["statusCode"] == 401
    assert json.loads(response["body"]) == {"error": "invalid request"}


@pytest.mark.parametrize(("body", "content_type"), REPORTED.values(), ids=REPORTED.keys())
def test_finding_4_forged_signature_on_garbage_is_refused(bot: Bot, body: str, content_type: str) -> None:
    """The same bodies with a signature made with another secret: 401, no parse."""
    with untouched(bot):
        response = call(bot, event(body, signed(body, content_type, secret="not-the-secret")))
    assert response["statusCode"] == 401


@pytest.mark.parametrize(("body", "content_type"), REPORTED.values(), ids=REPORTED.keys())
def test_finding_4_signed_garbage_is_a_400_not_an_exception(bot: Bot, body: str, content_type: str) -> None:
    """Signed with the right secret but not a Slack payload: verified, does not parse, 400."""
    with untouched(bot):
        response = call(bot, event(body, signed(body, content_type)))
    assert response["statusCode"] == 400
    assert json.loads(response["body"]) == {"error": "unparseable request"}


# --- what else is refused before parsing ------------------------------------------------------------------


def status_body(trigger: str, response_url: str = "http://127.0.0.1:9/respond/garbage") -> str:
    return urllib.parse.urlencode(
        {
            "command": "/status",
            "text": "",
            "user_id": "U0ADMIN",
            "channel_id": "C0OPS",
            "team_id": "T0TEST",
            "trigger_id": trigger,
            "response_url": response_url,
        }
    )


STATUS_BODY = status_body("t-garbage")  # only ever refused here: its response_url goes nowhere

LAZY_HEADERS = {"x-slack-bolt-lazy-only": "1", "x-slack-bolt-lazy-function-name": "run_command"}


def self_invocation(built: dict[str, Any]) -> dict[str, Any]:
    """Marked the way Bolt marks its asynchronous self-invocation (which API Gateway cannot produce)."""
    return {**built, "method": "NONE"}


ODD_EVENTS: dict[str, Any] = {
    "base64 flag on a body that is not base64": lambda: event(
        "%%%not base64", signed("%%%not base64"), base64_encoded=True
    ),
    "base64 of bytes that are not UTF-8": lambda: event(
        base64.b64encode(b"\xff\xfe payload").decode(), signed("x"), base64_encoded=True
    ),
    "a lone surrogate in the body": lambda: event("payload=\ud800", {"content-type": "application/json"}),
    "timestamp with 5,000 digits": lambda: event(
        STATUS_BODY, {**signed(STATUS_BODY), "x-slack-request-timestamp": "9" * 5000}
    ),
    "timestamp in other digits": lambda: event(
        STATUS_BODY, {**signed(STATUS_BODY), "x-slack-request-timestamp": "١٧٠٠٠٠٠٠٠٠"}
    ),
    "no headers at all": lambda: {**event(STATUS_BODY, {}), "headers": None},
    "no isBase64Encoded key": lambda: {k: v for k, v in event("x=1", {}).items() if k != "isBase64Encoded"},
    "no requestContext": lambda: {k: v for k, v in event("x=1", signed("x=1")).items() if k != "requestContext"},
    "Bolt's method NONE, unsigned": lambda: self_invocation(event("payload=[1]", LAZY_HEADERS)),
    "Bolt's method NONE, forged signature": lambda: self_invocation(
        event(STATUS_BODY, {**signed(STATUS_BODY, secret="x"), **LAZY_HEADERS})
    ),
}


def test_finding_4_odd_events_get_a_4xx_and_nothing_raises(bot: Bot) -> None:
    """Events API Gateway could deliver (or a forged self-invocation): each gets a 4xx, none raises."""
    outcomes = {}
    with untouched(bot):
        for name, make in ODD_EVENTS.items():
            outcomes[name] = call(bot, make())["statusCode"]
    assert {name: status for name, status in outcomes.items() if not 400 <= status < 500} == {}


def test_a_signed_base64_body_is_verified_on_its_decoded_bytes(bot: Bot) -> None:
    """The control for isBase64Encoded: Slack signs the bytes, API Gateway may hand them over in base64."""
    body = status_body("t-base64", bot.slack.response_url("t-base64"))
    encoded = base64.b64encode(body.encode()).decode()
    response = call(bot, event(encoded, signed(body), base64_encoded=True))
    bot.drain()
    assert response["statusCode"] == 200


def test_signature_headers_are_read_whatever_their_case(bot: Bot) -> None:
    """API Gateway's payload v2 lower-cases header names; payload v1 and proxies may not."""
    body = status_body("t-header-case", bot.slack.response_url("t-header-case"))
    headers = {name.title(): value for name, value in signed(body).items()}
    assert "X-Slack-Signature" in headers
    response = call(bot, event(body, headers))
    bot.drain()
    assert response["statusCode"] == 200


# --- fuzz: unsigned events ---------------------------------------------------------------------------------

HEADER_NAMES = [
    "content-type", "Content-Type", "x-slack-signature", "X-Slack-Signature", "x-slack-request-timestamp",
    "X-Slack-Request-Timestamp", "x-slack-retry-num", "x-slack-bolt-lazy-only", "x-slack-bolt-lazy-function-name",
    "cookie", "content-length",
]  # fmt: skip
CONTENT_TYPES = [
    "application/json", "application/x-www-form-urlencoded", "text/plain", "multipart/form-data",
    "application/json; charset=utf-8", "",
]  # fmt: skip
NASTY_BODIES = [
    "x=1", "{not json", "payload=%7Bbad", "payload=[1]", "payload=null", "payload=1", 'payload="x"', "payload=",
    "[1]", "null", "{}", '{"enterprise": 1}', '{"authorizations": 5}', '{"team": []}', "payload",
    "command=/deploy&text=service-a+v1", "ssl_check=1", '{"type": "url_verification"}', "\x00", "%", "&&&==",
]  # fmt: skip
NOW = int(time.time())
timestamps = st.one_of(
    st.integers(NOW - 10**10, NOW + 10**10).map(str),
    st.sampled_from(["", "0", "-1", "1e9", " 1", "٣", "9" * 5000, str(NOW), str(NOW - 301), "soon"]),
    st.text(max_size=12),
)
signatures = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).map(lambda h: f"v0={h}"),
)
header_values = st.one_of(st.sampled_from(CONTENT_TYPES), st.text(max_size=40))
bodies = st.one_of(
    st.sampled_from(NASTY_BODIES),
    st.text(max_size=120),
    st.binary(max_size=80).map(lambda raw: raw.decode("latin-1")),
    st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5).map(urllib.parse.urlencode),
)


@st.composite
def unsigned_events(draw: st.DrawFn) -> dict[str, Any]:
    headers: dict[str, str] = draw(st.dictionaries(st.sampled_from(HEADER_NAMES), header_values, max_size=4))
    if draw(st.booleans()):
        headers["x-slack-request-timestamp"] = draw(timestamps)
    if draw(st.booleans()):
        headers["x-slack-signature"] = draw(signatures)
    body = draw(bodies)
    encoded = draw(st.booleans())
    if encoded and draw(st.booleans()):
        body = base64.b64encode(body.encode("utf-8", "surrogatepass")).decode()
    built = event(body, headers, base64_encoded=encoded, method=draw(st.sampled_from(["POST", "POST", "GET", "PUT"])))
    if draw(st.integers(0, 9)) == 0:
        return self_invocation(built)  # claims to be Bolt's own self-invocation
    return built


@settings(FUZZ, max_examples=UNSIGNED_EXAMPLES)
@given(built=unsigned_events())
def test_finding_4_fuzzed_unsigned_events_always_get_a_4xx(bot: Bot, built: dict[str, Any]) -> None:
    count("unsigned fuzz examples")
    with untouched(bot):
        response = call(bot, built)
    assert isinstance(response, dict)
    assert 400 <= response["statusCode"] < 500, response


# --- fuzz: signed with the right secret, but garbage ---------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=6,
)
# Keys Bolt reads while it builds a request's context and matches listeners, with values of any type.
SLACK_KEYS = [
    "type", "enterprise", "enterprise_id", "authorizations", "team", "team_id", "user", "user_id", "channel",
    "channel_id", "event", "actions", "view", "container", "message", "is_enterprise_install", "function_data",
    "bot_access_token", "callback_id", "trigger_id", "token", "api_app_id", "response_urls", "command", "text",
    "is_ext_shared_channel", "event_context", "thread_ts", "state", "ssl_check", "challenge",
]  # fmt: skip
SLACK_COMMAND_NAMES = tuple(SLASH_COMMANDS)  # a real command would run (and answer): not garbage
not_a_command = json_values.filter(lambda value: value not in SLACK_COMMAND_NAMES)
slackish = st.dictionaries(st.sampled_from(SLACK_KEYS), not_a_command, max_size=4)


def form(fields: dict[str, Any]) -> str:
    return urllib.parse.urlencode({k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()})


signed_bodies = st.one_of(
    st.sampled_from(NASTY_BODIES),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=80),
    json_values.map(json.dumps),
    slackish.map(json.dumps),
    slackish.map(form),
    json_values.map(lambda value: "payload=" + urllib.parse.quote(json.dumps(value))),
    slackish.map(lambda fields: "payload=" + urllib.parse.quote(json.dumps(fields))),
    st.text(alphabet=string.printable, max_size=40).map(lambda text: "payload=" + text),
)


@st.composite
def signed_garbage_events(draw: st.DrawFn) -> dict[str, Any]:
    body = draw(signed_bodies)
    headers = signed(body, draw(st.sampled_from(CONTENT_TYPES)))
    if draw(st.booleans()):
        return event(base64.b64encode(body.encode()).decode(), headers, base64_encoded=True)
    return event(body, headers)


@settings(FUZZ, max_examples=SIGNED_EXAMPLES)
@given(built=signed_garbage_events())
def test_finding_4_fuzzed_signed_garbage_gets_a_4xx_or_200(bot: Bot, built: dict[str, Any]) -> None:
    count("signed garbage fuzz examples")
    with untouched(bot, REPLAY_RECORD):
        response = call(bot, built)
    assert isinstance(response, dict)
    assert response["statusCode"] == 200 or 400 <= response["statusCode"] < 500, response


def test_the_fuzz_signs_with_the_bots_secret() -> None:
    """Guards the signed fuzz against testing nothing: its events carry the secret the bot verifies with."""
    from slack_sdk.signature import SignatureVerifier

    headers = signed("x=1")
    assert SignatureVerifier(SIGNING_SECRET).is_valid(
        "x=1", headers["x-slack-request-timestamp"], headers["x-slack-signature"]
    )
