"""Forged and malformed requests are refused before any work: no AWS call, no Slack call, no lazy listener."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable

from harness import ADMIN, CHANNEL, Bot, signed_headers

from bot.aws import recorded_calls

from .counts import count


def deploy_body(text: str = "service-a v1.3.0", trigger: str = "t-forged") -> str:
    return urllib.parse.urlencode(
        {
            "command": "/deploy",
            "text": text,
            "user_id": ADMIN,
            "channel_id": CHANNEL,
            "team_id": "T0TEST",
            "trigger_id": trigger,
            "response_url": "http://127.0.0.1:9/respond/forged",
        }
    )


BODY = deploy_body()
NOW = int(time.time())


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != name}


def _duplicated(headers: dict[str, str], name: str, other: str) -> dict[str, str]:
    # API Gateway (payload v2) joins repeated headers with commas.
    return {**headers, name: f"{headers[name]},{other}"}


# name -> (body, headers, method); every one must be refused.
Forgery = Callable[[], tuple[str, dict[str, str], str]]
FORGERIES: dict[str, Forgery] = {
    "wrong signing secret": lambda: (BODY, signed_headers(BODY, secret="not-the-secret"), "POST"),
    "timestamp 6 minutes old": lambda: (BODY, signed_headers(BODY, timestamp=int(time.time()) - 360), "POST"),
    "timestamp 6 minutes ahead": lambda: (BODY, signed_headers(BODY, timestamp=int(time.time()) + 360), "POST"),
    "replayed signature, text altered": lambda: (
        deploy_body("service-b v1.3.0"),
        signed_headers(BODY),
        "POST",
    ),
    "replayed signature, user altered": lambda: (BODY.replace(ADMIN, "U0OTHER"), signed_headers(BODY), "POST"),
    "signature header missing": lambda: (BODY, _without(signed_headers(BODY), "x-slack-signature"), "POST"),
    "timestamp header missing": lambda: (BODY, _without(signed_headers(BODY), "x-slack-request-timestamp"), "POST"),
    "both headers missing": lambda: (BODY, {"content-type": "application/x-www-form-urlencoded"}, "POST"),
    "signature header duplicated": lambda: (
        BODY,
        _duplicated(signed_headers(BODY), "x-slack-signature", signed_headers(BODY, secret="x")["x-slack-signature"]),
        "POST",
    ),
    "timestamp header duplicated": lambda: (
        BODY,
        _duplicated(signed_headers(BODY), "x-slack-request-timestamp", str(int(time.time()) - 1)),
        "POST",
    ),
    "signature of another scheme": lambda: (
        BODY,
        {**signed_headers(BODY), "x-slack-signature": "v1=" + signed_headers(BODY)["x-slack-signature"][3:]},
        "POST",
    ),
    "timestamp not a number": lambda: (BODY, {**signed_headers(BODY), "x-slack-request-timestamp": "soon"}, "POST"),
    "empty signature": lambda: (BODY, {**signed_headers(BODY), "x-slack-signature": ""}, "POST"),
    "GET with a valid signature": lambda: (BODY, signed_headers(BODY), "GET"),
    "PUT with a valid signature": lambda: (BODY, signed_headers(BODY), "PUT"),
    "oversized body, forged signature": lambda: (
        deploy_body("x" * 2_000_000),
        signed_headers(BODY),
        "POST",
    ),
    "oversized body, valid signature": lambda: (
        (big := deploy_body("service-a v1.3.0 " + "x" * 2_000_000)),
        signed_headers(big),
        "POST",
    ),
    "lazy-only header from outside, forged signature": lambda: (
        BODY,
        {
            **signed_headers(BODY, secret="not-the-secret"),
            "x-slack-bolt-lazy-only": "1",
            "x-slack-bolt-lazy-function-name": "run_command",
        },
        "POST",
    ),
}


def test_every_forged_request_is_refused_with_no_side_effect(bot: Bot) -> None:
    """One bot for all of them (building one per forgery would take most of the suite's time)."""
    outcomes = {}
    with recorded_calls() as calls:
        for name, forge in FORGERIES.items():
            body, headers, method = forge()
            status, _ = bot.send(body, headers, method)
            outcomes[name] = status
            count("forged requests")
        bot.drain()
    accepted = {name: status for name, status in outcomes.items() if not 400 <= status < 500}
    assert accepted == {}, f"not refused with a 4xx: {accepted}"
    assert outcomes["wrong signing secret"] == 401
    assert outcomes["oversized body, valid signature"] == 413
    assert calls == [], calls
    assert bot.slack.calls() == []
    assert bot.slack.responses() == []


def test_the_same_request_signed_properly_is_accepted(bot: Bot) -> None:
    """The control: what the forgeries alter is all that stands between them and a plan card."""
    body = deploy_body(trigger="t-genuine")
    status, _ = bot.send(body, signed_headers(body))
    bot.drain()
    assert status == 200
    assert len(bot.slack.channel(CHANNEL)) == 1


def test_lazy_headers_from_outside_cannot_skip_the_ack(bot: Bot) -> None:
    """Bolt's self-invocation headers, sent over HTTP with a valid signature, are dropped: the request
    goes through the ack like any other (here the ack answers the wrong call with its usage line)."""
    body = deploy_body("service-a latest", trigger="t-lazy")
    headers = {**signed_headers(body), "x-slack-bolt-lazy-only": "1", "x-slack-bolt-lazy-function-name": "run_command"}
    status, ack = bot.send(body, headers)
    bot.drain()
    assert status == 200
    assert "`latest` cannot be deployed" in str(ack.get("text", ""))
