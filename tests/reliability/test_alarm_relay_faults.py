"""The alarm relay under Slack faults loses nothing: what cannot be written is failed back to SQS, and the
redelivery (as SQS would make it) brings every alarm to exactly one card."""

from __future__ import annotations

from typing import Any

import pytest
from alarms.support import ALARM_CHANNEL, PREFIX, AlarmsLambda, alarm_config, body, metric_alarm, sqs_record
from fixtures_bot import RetryWaits

from .conftest import FaultySlack
from .counts import count

ALARMS = [f"{PREFIX}{service}-{kind}" for service in ("service-a", "service-b") for kind in ("cpu-high", "memory-high")]
ALARMS += [f"{PREFIX}service-a-unhealthy-hosts", f"{PREFIX}service-b-running-tasks-low"]
ATTEMPTS_PER_WRITE = 3  # the bot's Slack client: the first attempt and two retries


def waits(status: int, retry_after: int | None, faults: int) -> list[float]:
    """What slack_sdk waits when `faults` consecutive attempts fail, write after write: before each retry,
    Retry-After on a 429, else its backoff (0.5 s, 1 s); none after a write's last attempt."""
    floors: list[float] = []
    while faults > 0:
        failed, faults = min(faults, ATTEMPTS_PER_WRITE), faults - ATTEMPTS_PER_WRITE
        retried = min(failed, ATTEMPTS_PER_WRITE - 1)
        floors += [float(retry_after)] * retried if retry_after is not None else [0.5 * 2**i for i in range(retried)]
    return floors


@pytest.fixture
def config_dict() -> dict[str, Any]:
    return alarm_config()


@pytest.fixture
def relay(alarms: AlarmsLambda) -> AlarmsLambda:
    """handlers.alarms.handler on the bot's environment; its pacing runs on fake time (no real waiting)."""
    return alarms


def deliver_until_done(relay: AlarmsLambda, records: list[dict[str, Any]], rounds: int = 6) -> int:
    """Deliver a batch, then redeliver only the failed records, as SQS does; returns the rounds taken."""
    pending = records
    for round_ in range(1, rounds + 1):
        response = relay.invoke({"Records": pending})
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        pending = [r for r in pending if r["messageId"] in failed]
        if not pending:
            return round_
    raise AssertionError(f"{len(pending)} records still failing after {rounds} deliveries")


@pytest.mark.parametrize(
    ("status", "retry_after", "times"),
    [
        (500, None, 2 * ATTEMPTS_PER_WRITE),  # two card posts fail past the retries
        (503, None, ATTEMPTS_PER_WRITE + 1),
        (429, 1, 2),  # absorbed by the retries (Retry-After honoured)
    ],
)
def test_every_alarm_gets_exactly_one_card_through_slack_faults(
    relay: AlarmsLambda, slack: FaultySlack, retry_waits: RetryWaits, status: int, retry_after: int | None, times: int
) -> None:
    slack.inject("chat.postMessage", status, retry_after=retry_after, times=times)
    records = [sqs_record(body(metric_alarm(name=name))) for name in ALARMS]
    rounds = deliver_until_done(relay, records)
    faults = sum(1 for call in slack.calls("chat.postMessage") if call.status != 200)
    count("slack faults", faults)
    assert faults == times
    retry_waits.assert_slack(waits(status, retry_after, times))
    cards = relay.cards()
    names = sorted(name for name in ALARMS for card in cards if f"ALARM: {name}" in relay.text(card))
    assert names == sorted(ALARMS)  # every alarm has a card ...
    assert len(cards) == len(ALARMS)  # ... and only one
    if times >= ATTEMPTS_PER_WRITE:
        assert rounds > 1  # something was failed back to SQS, and its redelivery succeeded


def test_a_card_update_that_fails_is_redelivered_and_the_card_ends_in_the_right_state(
    relay: AlarmsLambda, slack: FaultySlack, retry_waits: RetryWaits
) -> None:
    name = ALARMS[0]
    deliver_until_done(relay, [sqs_record(body(metric_alarm(name=name)))])
    slack.inject("chat.update", 500, times=ATTEMPTS_PER_WRITE)
    count("slack faults", ATTEMPTS_PER_WRITE)
    from datetime import timedelta

    from alarms.support import T0

    resolved = metric_alarm(name=name, state="OK", old="ALARM", at=T0 + timedelta(minutes=5))
    rounds = deliver_until_done(relay, [sqs_record(body(resolved))])
    assert rounds == 2
    retry_waits.assert_slack(waits(500, None, ATTEMPTS_PER_WRITE))
    card = relay.card()
    assert f"OK: {name}" in relay.text(card) or "resolved" in relay.text(card).lower()
    assert len(relay.cards()) == 1
    assert slack.channel(ALARM_CHANNEL)
