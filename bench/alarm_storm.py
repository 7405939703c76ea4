"""Alarm storm: 1,000 CloudWatch alarm notifications over 50 alarms through handlers.alarms.handler.

Some alarms flap (ALARM/OK every few seconds), the others move between ALARM, OK and INSUFFICIENT_DATA
with repeats; 5% of the notifications are delivered twice (SNS and SQS deliver at least once) and
arrival jitter reorders some. An emulated SQS event source feeds the real Lambda handler: batches of
up to 20 after a 5 s batching window, failed records visible again after the 720 s visibility timeout,
moved to a DLQ after 5 receives (template.yaml's settings). AWS is moto in-process; Slack is the
sandbox stand-in refusing more than 1 write (chat.postMessage or chat.update) per channel per second
with 429 and Retry-After.

Time: one clock for the relay, its pacer and the stand-in, which is the wall clock plus skipped waits.
Waiting (the pacer's 1 s spacing, the batching window, quiet gaps between notifications) is simulated,
not slept; everything else (parsing, DynamoDB, HTTP to the stand-in) is real elapsed time. The figures
say which is which.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.support import AWS_TEST_ENVIRONMENT, environment, machine, percentile

ALARMS = 50
NOTIFICATIONS = 1000
FLAPPING = 15
DUPLICATES = 0.05
SPAN_SECONDS = 600.0
BATCH_SIZE = 20
BATCH_WINDOW = 5.0
VISIBILITY_TIMEOUT = 720.0
MAX_RECEIVES = 5
CHANNEL = "C0ALARMS"
PREFIX = "ecs-microservices-production-"
ACCOUNT = "123456789012"
STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
TITLE = "Alarm storm (bench/alarm_storm.py)"


class SimulatedClock:
    """Wall time plus the waits that were skipped instead of slept."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def now(self) -> float:
        return time.time() + self.skipped

    def sleep(self, seconds: float) -> None:
        self.skipped += max(0.0, seconds)

    def until(self, moment: float) -> None:
        self.sleep(moment - self.now())


@dataclass
class Note:
    """One notification as SNS delivers it to the queue."""

    alarm: str
    state: str
    changed_at: float
    arrives_at: float
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    receives: int = 0
    visible_at: float = 0.0
    shown_at: float | None = None


def _stamp(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _body(note: Note, service: str) -> str:
    message = {
        "AlarmName": note.alarm,
        "AlarmDescription": f"{service}: benchmark alarm",
        "AWSAccountId": ACCOUNT,
        "NewStateValue": note.state,
        "NewStateReason": f"benchmark: {note.state}",
        "StateChangeTime": _stamp(note.changed_at),
        "Region": "US East (N. Virginia)",
        "AlarmArn": f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{note.alarm}",
        "OldStateValue": "OK",
        "Trigger": {
            "MetricName": "CPUUtilization",
            "Namespace": "AWS/ECS",
            "StatisticType": "Statistic",
            "Statistic": "AVERAGE",
            "Unit": None,
            "Dimensions": [{"value": f"{PREFIX}{service}", "name": "ServiceName"}],
            "Period": 60,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 80.0,
            "TreatMissingData": "",
            "EvaluateLowSampleCountPercentile": "",
        },
    }
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": note.message_id,
            "TopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:{PREFIX}alarms",
            "Subject": f"{note.state}: {note.alarm}"[:100],
            "Message": json.dumps(message),
            "Timestamp": _stamp(note.arrives_at).replace("+0000", "Z"),
        }
    )


def workload(start: float, seed: int = 7) -> tuple[list[Note], dict[str, str]]:
    """NOTIFICATIONS notifications over ALARMS alarms; returns them (by arrival) and each alarm's service."""
    rng = random.Random(seed)
    services = {f"{PREFIX}service-{'ab'[i % 2]}-bench-{i:02d}": f"service-{'ab'[i % 2]}" for i in range(ALARMS)}
    per_alarm = NOTIFICATIONS // ALARMS
    unique = per_alarm - round(per_alarm * DUPLICATES)
    notes: list[Note] = []
    for index, name in enumerate(services):
        at = start + rng.uniform(0, SPAN_SECONDS / 2)
        state = "ALARM"
        for step in range(unique):
            if step:
                if index < FLAPPING:
                    state = "OK" if state == "ALARM" else "ALARM"
                    at += rng.uniform(3, 20)
                else:
                    if rng.random() < 0.5:
                        state = rng.choice([s for s in STATES if s != state])
                    at += rng.uniform(5, 40)
            notes.append(Note(name, state, at, at + rng.uniform(0.05, 2.0)))
    for note in rng.sample(notes, NOTIFICATIONS - len(notes)):  # at-least-once delivery: the same message again
        notes.append(
            Note(note.alarm, note.state, note.changed_at, note.arrives_at + rng.uniform(1, 60), note.message_id)
        )
    notes.sort(key=lambda n: n.arrives_at)
    return notes, services


def _config(tmp: Path) -> Path:
    import yaml

    config = {
        "project": "ecs-microservices",
        "default_environment": "production",
        "environments": [
            {"name": "production", "region": "us-east-1", "account_id": "123456789012", "roles": {"viewer": ["*"]}}
        ],
        "services": [{"name": "service-a"}, {"name": "service-b"}],
        "alarms": {"channel": CHANNEL},
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _shown_states(slack: Any, state: Any, keys: dict[str, str]) -> dict[str, str]:
    """What Slack shows for each alarm: its card's header, its line on a digest, or OK when it has no card."""
    messages = {m.ts: m for m in slack.channel(CHANNEL) if m.thread_ts is None}
    shown = {}
    for name, key in keys.items():
        card = state.alarm_record(key).card
        if card is None or not card.ts:
            shown[name] = "OK"
            continue
        message = messages[card.ts]
        if card.in_digest:
            text = "\n".join(str(b.get("text", {}).get("text", "")) for b in message.blocks if b["type"] == "section")
            line = next(line for line in text.splitlines() if f"`{name}`" in line)
            label = line.split(" · ")[2].split(" since ")[0]
        else:
            label = str(message.blocks[0]["text"]["text"]).split(" ", 1)[1].split(": ", 1)[0]
        shown[name] = {"alarm": "ALARM", "resolved": "OK", "insufficient data": "INSUFFICIENT_DATA"}.get(
            label.lower(), label
        )
    return shown


def main() -> dict[str, Any]:
    from harness import BOT_TOKEN
    from moto import mock_aws

    import handlers.alarms
    from bot.aws import ClientFactory
    from bot.config import load_config
    from bot.state import StateStore
    from sandbox.seed import seed
    from sandbox.slack_api import RateLimit, SlackStandIn

    clock = SimulatedClock()
    limit = RateLimit(burst=1, per_second=1.0, methods=frozenset({"chat.postMessage", "chat.update"}))
    slack = SlackStandIn(rate_limit=limit, clock=clock.now).start()
    started_wall = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        values = {
            **AWS_TEST_ENVIRONMENT,
            "OPSBOT_STRICT_ACTIONS": "1",
            "OPSBOT_CONFIG_FILE": str(_config(Path(tmp))),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": slack.api_url,
        }
        saved = (handlers.alarms.clock, handlers.alarms.pacer_clock, handlers.alarms.sleep)
        try:
            with environment(values), mock_aws():
                config = load_config()
                seed(config)
                handlers.alarms.clock, handlers.alarms.pacer_clock, handlers.alarms.sleep = (
                    clock.now,
                    clock.now,
                    clock.sleep,
                )
                handlers.alarms.reset()
                notes, services = workload(clock.now() + 1)
                figures = _run(clock, notes, services, handlers.alarms)
                state = StateStore(ClientFactory(), config.state_table, "us-east-1")
                keys = {name: f"{ACCOUNT}#us-east-1#{name}" for name in services}
                shown = _shown_states(slack, state, keys)
        finally:
            handlers.alarms.clock, handlers.alarms.pacer_clock, handlers.alarms.sleep = saved
            handlers.alarms.reset()
            slack.stop()
    final = {}
    for note in sorted(notes, key=lambda n: n.changed_at):
        final[note.alarm] = note.state
    wrong = sorted(name for name in services if shown[name] != final[name])
    writes = [c for c in slack.calls() if c.method in limit.methods]
    accepted = sorted(c.at for c in writes if c.status == 200)
    busiest = max((sum(1 for t in accepted[i:] if t < start + 1.0) for i, start in enumerate(accepted)), default=0)
    result = {
        **figures,
        "notifications": len(notes),
        "alarms": len(services),
        "slack_writes": len(accepted),
        "slack_429s": sum(1 for c in writes if c.status == 429),
        "max_writes_in_any_1s_window_per_channel": busiest,
        "wrong_final_states": len(wrong),
        "wrong_alarms": wrong,
        "cards": len([m for m in slack.channel(CHANNEL) if m.thread_ts is None]),
        "thread_replies": len([m for m in slack.channel(CHANNEL) if m.thread_ts is not None]),
        "wall_seconds": time.perf_counter() - started_wall,
        "simulated_wait_seconds": clock.skipped,
    }
    _print(result)
    return {"title": TITLE, "markdown": markdown(result), **result}


def _run(clock: SimulatedClock, notes: list[Note], services: dict[str, str], module: Any) -> dict[str, Any]:
    """The SQS event source: batching window, batch size, visibility timeout, DLQ after MAX_RECEIVES."""
    from harness import lambda_context

    pending = list(notes)
    dead: list[Note] = []
    handler_wall: list[float] = []
    batches = 0
    while pending:
        now = clock.now()
        ready = [n for n in pending if max(n.arrives_at, n.visible_at) <= now]
        if not ready:
            clock.until(min(max(n.arrives_at, n.visible_at) for n in pending))
            continue
        # The event source waits up to the batching window for a full batch.
        window_end = min(max(n.arrives_at, n.visible_at) for n in ready) + BATCH_WINDOW
        if len(ready) < BATCH_SIZE and now < window_end:
            upcoming = sorted(max(n.arrives_at, n.visible_at) for n in pending)
            full_at = upcoming[BATCH_SIZE - 1] if len(upcoming) >= BATCH_SIZE else window_end
            clock.until(min(window_end, full_at))
            continue
        batch = sorted(ready, key=lambda n: max(n.arrives_at, n.visible_at))[:BATCH_SIZE]
        event = {
            "Records": [
                {
                    "messageId": f"{n.message_id}/{n.receives}/{id(n)}",
                    "body": _body(n, services[n.alarm]),
                    "attributes": {"ApproximateReceiveCount": str(n.receives + 1)},
                    "eventSource": "aws:sqs",
                }
                for n in batch
            ]
        }
        by_id = {r["messageId"]: n for r, n in zip(event["Records"], batch, strict=True)}
        started = time.perf_counter()
        response = module.handler(event, lambda_context("AlarmsFunction"))
        handler_wall.append(time.perf_counter() - started)
        batches += 1
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        shown_at = module.last_result.shown_at
        for record_id, note in by_id.items():
            note.receives += 1
            if record_id in failed:
                note.visible_at = clock.now() + VISIBILITY_TIMEOUT
                if note.receives >= MAX_RECEIVES:
                    pending.remove(note)
                    dead.append(note)
                continue
            note.shown_at = shown_at.get(record_id, clock.now())
            pending.remove(note)
    latencies = [n.shown_at - n.arrives_at for n in notes if n.shown_at is not None]
    return {
        "batches": batches,
        "dead_lettered": len(dead),
        "time_to_card_p50_s": percentile(latencies, 50),
        "time_to_card_p99_s": percentile(latencies, 99),
        "handler_wall_p50_s": percentile(handler_wall, 50),
        "handler_wall_p99_s": percentile(handler_wall, 99),
    }


def _print(result: dict[str, Any]) -> None:
    print(
        f"alarm storm: {result['notifications']} notifications, {result['alarms']} alarms, {result['batches']} batches"
    )
    print(f"  Slack writes made:                          {result['slack_writes']} ({result['slack_429s']} got 429)")
    print(f"  most writes in any 1 s window (per channel): {result['max_writes_in_any_1s_window_per_channel']}")
    print(f"  alarms whose final card state is wrong:     {result['wrong_final_states']}")
    print(f"  dead-lettered notifications:                {result['dead_lettered']}")
    print(f"  cards: {result['cards']} top-level messages, {result['thread_replies']} thread replies")
    print(
        f"  time from notification to card: p50 {result['time_to_card_p50_s']:.1f} s, "
        f"p99 {result['time_to_card_p99_s']:.1f} s (simulated clock: real processing + simulated waits)"
    )
    print(
        f"  handler wall time per batch: p50 {result['handler_wall_p50_s'] * 1000:.0f} ms, "
        f"p99 {result['handler_wall_p99_s'] * 1000:.0f} ms (real)"
    )
    print(
        f"  run: {result['wall_seconds']:.1f} s of wall time; {result['simulated_wait_seconds']:.0f} s of waiting "
        "simulated (pacer, batching window, gaps between notifications)"
    )


def markdown(result: dict[str, Any]) -> str:
    """The section of docs/BENCHMARKS.md."""
    about = machine()
    rows = [
        ("Notifications / alarms / batches", f"{result['notifications']} / {result['alarms']} / {result['batches']}"),
        ("Slack writes made (429s)", f"{result['slack_writes']} ({result['slack_429s']})"),
        ("Most writes in any 1 s window per channel", result["max_writes_in_any_1s_window_per_channel"]),
        ("Alarms whose final card state differs from their final alarm state", result["wrong_final_states"]),
        ("Dead-lettered notifications", result["dead_lettered"]),
        ("Cards (top-level messages) / thread replies", f"{result['cards']} / {result['thread_replies']}"),
        (
            "Time from notification to card, p50 / p99 (simulated clock)",
            f"{result['time_to_card_p50_s']:.1f} s / {result['time_to_card_p99_s']:.1f} s",
        ),
        (
            "Handler wall time per batch, p50 / p99 (real)",
            f"{result['handler_wall_p50_s'] * 1000:.0f} ms / {result['handler_wall_p99_s'] * 1000:.0f} ms",
        ),
        (
            "Run wall time / simulated waiting",
            f"{result['wall_seconds']:.1f} s / {result['simulated_wait_seconds']:.0f} s",
        ),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return (
        f"{NOTIFICATIONS} notifications over {ALARMS} alarms ({FLAPPING} flapping, {DUPLICATES:.0%} delivered twice) "
        "through `handlers.alarms.handler`, fed by an emulated SQS event source (batches of "
        f"{BATCH_SIZE}, {BATCH_WINDOW:.0f} s window, {VISIBILITY_TIMEOUT:.0f} s visibility, DLQ after {MAX_RECEIVES} "
        "receives), against the Slack stand-in refusing more than 1 write per channel per second with 429.\n\n"
        "Time to card is measured on one clock shared by the relay, its pacer and the stand-in: real elapsed "
        "time plus simulated waiting (the pacer's spacing, the batching window and quiet gaps are skipped, "
        "not slept), so the run takes seconds while the figures describe minutes of Slack pacing.\n\n"
        "| Figure | Value |\n|---|---|\n" + table + "\n\n"
        f"Machine: {about['cpus']} CPUs, {about['implementation']} {about['python']}.\n"
    )


if __name__ == "__main__":
    main()
