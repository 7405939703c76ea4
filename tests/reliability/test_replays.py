"""A signed request replayed verbatim is refused (issue 14, finding 8).

The exploit: Slack's signature covers the timestamp and the body, and Bolt accepts a timestamp up to five
minutes old, so whoever saw one signed request (a proxy log, a captured HAR file) could send it again,
unchanged, as often as they liked within those five minutes: `/ops lock service-a` replayed three times was
answered 200 three times, and each copy ran. Each signature is now recorded with a conditional put in the
state table the first time it is seen, and a copy is refused with a 401. Not refused: a Slack retry
(X-Slack-Retry-Num, a fast 200 that does nothing new) and Bolt's own asynchronous self-invocation, which
carries the very same signed body.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from harness import ADMIN, CHANNEL, DEPLOYER, OPERATOR, Bot, lambda_context, signed_headers
from slack_bolt.adapter.aws_lambda.lazy_listener_runner import LambdaLazyListenerRunner

from bot.aws import recorded_calls
from bot.config import Config

from .aws_faults import AwsFaults
from .counts import count


def command_body(bot: Bot, command: str, text: str, user: str = OPERATOR, trigger: str = "t-replay") -> str:
    return bot.command_body(text, user, command, trigger=trigger)


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """bot.replay's log lines: the handler gives the "bot" loggers Powertools' handler, and they stop
    propagating to the root logger, where caplog listens."""
    logger = logging.getLogger("bot.replay")
    logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)


def messages(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    # Each record once: when the "bot" logger stops propagating before the test's call (the `bot` fixture builds
    # the function), pytest attaches caplog's handler to it as well, and a record meets the handler twice.
    records = {id(r): r for r in caplog.records}.values()
    return [r.getMessage() for r in records if r.levelno >= level and r.name == "bot.replay"]


def test_finding_8_replayed_request_is_refused(bot: Bot, logged: pytest.LogCaptureFixture) -> None:
    """`/ops lock service-a` sent three times, byte for byte with the same headers: the first runs, the
    two copies get a 401 naming the replay, and only one answer reaches response_url."""
    body = command_body(bot, "/ops", "lock service-a", trigger="t-lock-replay")
    headers = signed_headers(body)
    statuses, answers = [], []
    for _ in range(3):
        status, answer = bot.send(body, dict(headers))
        statuses.append(status)
        answers.append(answer)
        bot.drain()
    count("replays", 2)
    assert statuses == [200, 401, 401]
    assert answers[1] == answers[2] == {"error": "replayed request"}
    assert len(bot.slack.responses()) == 1
    assert sum("replayed request refused" in m for m in messages(logged, logging.WARNING)) == 2


def test_a_replayed_button_click_is_refused(bot: Bot) -> None:
    bot.command("/scale service-b 4", user=OPERATOR)
    card = bot.last_card()
    body = bot.click_body("plan_confirm", bot.button(card, "plan_confirm")["value"], card.ts, OPERATOR)
    headers = signed_headers(body)
    first = bot.send(body, dict(headers))
    bot.drain()
    with recorded_calls() as calls:
        second = bot.send(body, dict(headers))
        bot.drain()
    count("replays")
    assert (first[0], second[0]) == (200, 401)
    assert calls == ["dynamodb:PutItem"]  # the refused put of the replay record, and nothing else


def test_concurrent_verbatim_copies_are_accepted_once(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    """The conditional put decides, not a read followed by a write: of 10 copies at once, one goes through.

    DynamoDB applies each request atomically; moto does not (two threads can both pass the condition of a
    put), so its answers are serialised here: a read-then-write in the guard would still let two through."""
    from moto.core.botocore_stubber import BotocoreStubber

    answer_from_moto, one_at_a_time = BotocoreStubber.__call__, threading.Lock()

    def atomic(self: BotocoreStubber, *args: Any, **kwargs: Any) -> Any:
        with one_at_a_time:
            return answer_from_moto(self, *args, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", atomic)
    body = command_body(bot, "/deploy", "service-a v1.3.0", user=DEPLOYER, trigger="t-concurrent-replay")
    headers = signed_headers(body)
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def send() -> None:
        barrier.wait()
        statuses.append(bot.send(body, dict(headers))[0])

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bot.drain()
    count("replays", 9)
    assert sorted(statuses) == [200] + [401] * 9
    assert len([m for m in bot.slack.channel(CHANNEL) if m.thread_ts is None]) == 1


def test_a_slack_retry_of_a_seen_request_gets_a_fast_200_and_does_nothing(
    bot: Bot, logged: pytest.LogCaptureFixture
) -> None:
    """Slack retries what it got no 2xx for in 3 s (X-Slack-Retry-Num); a 401 there counts as a failure
    and can get the app's subscriptions disabled. A retry of a request already seen: 200, no work."""
    body = command_body(bot, "/ops", "lock service-a", trigger="t-lock-retry")
    headers = signed_headers(body)
    assert bot.send(body, dict(headers))[0] == 200
    bot.drain()
    retry = {**headers, "x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}
    with recorded_calls() as calls:
        status, answer = bot.send(body, retry)
        bot.drain()
    assert status == 200
    assert answer == {}
    assert calls == ["dynamodb:PutItem"]
    assert len(bot.slack.responses()) == 1
    assert any("retry of a request already seen" in m for m in messages(logged))
    assert not any("replayed request refused" in m for m in messages(logged))


def test_the_same_body_signed_again_is_not_a_replay(bot: Bot) -> None:
    """The guard is on the signature: the same body signed at another second is a new delivery (the
    plan's idempotency on the trigger id keeps it to one card)."""
    body = command_body(bot, "/deploy", "service-a v1.3.0", user=DEPLOYER, trigger="t-resigned")
    now = int(time.time())
    first = bot.send(body, signed_headers(body, timestamp=now - 1))
    second = bot.send(body, signed_headers(body, timestamp=now))
    bot.drain()
    assert (first[0], second[0]) == (200, 200)
    assert len([m for m in bot.slack.channel(CHANNEL) if m.thread_ts is None]) == 1


@pytest.mark.parametrize("ahead", [0, 240], ids=["timestamp now", "timestamp 4 minutes ahead"])
def test_the_replay_record_outlives_the_signatures_window(bot: Bot, config: Config, ahead: int) -> None:
    """Kept with a TTL a minute past the last moment the signature can verify (its timestamp + 5 minutes,
    and a timestamp may be up to 5 minutes ahead), so DynamoDB's TTL cannot forget it too early."""
    body = command_body(bot, "/status", "", trigger=f"t-record-{ahead}")
    stamp = int(time.time()) + ahead
    headers = signed_headers(body, timestamp=stamp)
    assert bot.send(body, dict(headers))[0] == 200
    bot.drain()
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=config.state_table, Key={"pk": {"S": f"replay#{headers['x-slack-signature']}"}, "sk": {"S": "seen"}}
    )["Item"]
    expires_at = int(item["expires_at"]["N"])
    assert stamp + 300 < expires_at <= stamp + 420


class CapturingLambda:
    """Stands in for boto3's Lambda client: keeps the asynchronous self-invocations Bolt makes."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, FunctionName: str, InvocationType: str, Payload: str) -> dict[str, Any]:
        assert InvocationType == "Event"
        self.events.append(json.loads(Payload))
        return {"StatusCode": 202}


def test_bolts_lazy_self_invocation_runs_and_is_not_a_replay(bot: Bot) -> None:
    """In Lambda the ack's work runs in a second invocation that carries the same signed body: it must run
    (it is where the plan card is posted), not be refused as a copy of the request it came from."""
    import handlers.slack

    runner = handlers.slack.get_handler().app.listener_runner
    threaded, capturing = runner.lazy_listener_runner, CapturingLambda()
    runner.lazy_listener_runner = LambdaLazyListenerRunner(logging.getLogger("test"), lambda_client=capturing)
    try:
        body = command_body(bot, "/deploy", "service-a v1.3.0", user=ADMIN, trigger="t-self-invocation")
        status, _ = bot.send(body)
        assert status == 200
        assert [e["method"] for e in capturing.events] == ["NONE"]
        assert bot.slack.channel(CHANNEL) == []  # the ack posts nothing: the work is in the invocation
        response = handlers.slack.handler(capturing.events[0], lambda_context())
    finally:
        runner.lazy_listener_runner = threaded
    assert response["statusCode"] == 200
    assert len([m for m in bot.slack.channel(CHANNEL) if m.thread_ts is None]) == 1


def test_a_state_table_that_fails_lets_signed_requests_through_with_a_warning(
    bot: Bot, aws_faults: AwsFaults, logged: pytest.LogCaptureFixture
) -> None:
    """Fail open: with DynamoDB failing, the signature and its 5-minute window still hold, and refusing
    every command would take the bot down with the table. The ack stays well inside Slack's 3 seconds."""
    fault = aws_faults.add("PutItem", "ServiceUnavailable", status=503, matching=b"replay#")
    body = command_body(bot, "/status", "", trigger="t-table-down")
    status, _ = bot.send(body)
    bot.drain()
    assert status == 200
    # One attempt and no backoff (the quick client), so the ack cannot drift towards Slack's 3 seconds. How
    # long the ack takes is bench/ack_latency.py's to measure, not a wall-clock bound on a shared machine.
    assert fault.sent == 1
    assert any("replay check unavailable" in m for m in messages(logged, logging.WARNING))
