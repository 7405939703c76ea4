"""Ack latency: signed API Gateway v2 events into handlers.slack.handler, in-process, warm.

Only the ack path is timed: the lazy listeners (the work) are recorded and dropped by a lazy runner
that does nothing, so no AWS call or response_url post falls inside the timing. Each slash command and
button gets REQUESTS timed requests after WARMUP untimed ones, each with its own trigger_id and a fresh
signature. Baseline, measured in the same run: a minimal Bolt app on the same adapter (signature
check, one slash command whose listener only acks, a no-op lazy listener).
"""

from __future__ import annotations

import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.support import ms, percentile, running_bot, table

REQUESTS = 1000
WARMUP = 50
TARGET_P99 = 0.015

COMMANDS = [
    ("/status", ""),
    ("/deploy", "service-a v1.3.0"),
    ("/scale", "service-b 3"),
    ("/rollback", "service-a"),
    ("/logs", "service-a 30m error"),
    ("/alarms", ""),
    ("/cost", "week"),
    ("/ops", "help"),
]
# (action_id, value): every button the app routes, with a value shaped as the cards set it.
BUTTONS = [
    ("plan_confirm", "0123456789abcdef"),
    ("plan_cancel", "0123456789abcdef"),
    ("rollback_request", "production:service-a"),
    ("alarm_ack", "ecs-microservices-production-service-a-cpu-high"),
]


class DroppingLazyRunner:
    """A lazy listener runner that only counts: the work never starts, so only the ack is timed."""

    def __init__(self) -> None:
        self.started = 0

    def start(self, function: Callable[..., None], request: Any) -> None:
        self.started += 1


def command_body(command: str, text: str, user: str = "U0ADMIN") -> str:
    trigger = uuid.uuid4().hex
    return urllib.parse.urlencode(
        {
            "token": "legacy",
            "team_id": "T0TEST",
            "channel_id": "C0OPS",
            "user_id": user,
            "command": command,
            "text": text,
            "response_url": f"http://127.0.0.1:9/respond/{trigger}",
            "trigger_id": trigger,
            "api_app_id": "A0TEST",
        }
    )


def time_requests(send: Callable[[dict[str, Any]], int], make_body: Callable[[], str], count: int) -> list[float]:
    from harness import api_gateway_event, signed_headers

    for _ in range(WARMUP):
        body = make_body()
        if send(api_gateway_event(body, signed_headers(body))) != 200:
            raise RuntimeError("a warm-up request was not acked")
    timings = []
    for _ in range(count):
        body = make_body()
        event = api_gateway_event(body, signed_headers(body))
        started = time.perf_counter()
        status = send(event)
        timings.append(time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"the ack answered {status}")
    return timings


def baseline(count: int) -> list[float]:
    """A minimal Bolt app for Lambda: the floor any Bolt slash command on this adapter pays."""
    from harness import SIGNING_SECRET, lambda_context
    from slack_bolt import Ack, App
    from slack_bolt.adapter.aws_lambda import SlackRequestHandler
    from slack_bolt.authorization import AuthorizeResult

    app = App(
        signing_secret=SIGNING_SECRET,
        authorize=lambda enterprise_id, team_id: AuthorizeResult(
            enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-baseline"
        ),
        process_before_response=True,
        token_verification_enabled=False,
        name="baseline",
    )

    def ack_only(ack: Ack) -> None:
        ack()

    def nothing() -> None:
        pass

    app.command("/status")(ack=ack_only, lazy=[nothing])
    handler = SlackRequestHandler(app)
    app.listener_runner.lazy_listener_runner = DroppingLazyRunner()
    context = lambda_context()
    return time_requests(
        lambda event: int(handler.handle(event, context)["statusCode"]),
        lambda: command_body("/status", ""),
        count,
    )


def click_body(action_id: str, value: str) -> str:
    import json

    payload = {
        "type": "block_actions",
        "team": {"id": "T0TEST"},
        "user": {"id": "U0ADMIN"},
        "api_app_id": "A0TEST",
        "token": "legacy",
        "trigger_id": uuid.uuid4().hex,
        "channel": {"id": "C0OPS"},
        "container": {"type": "message", "message_ts": f"{time.time():.6f}", "channel_id": "C0OPS"},
        "message": {"ts": "1700000000.000100", "type": "message"},
        "response_url": "http://127.0.0.1:9/respond/click",
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value, "action_ts": "1"}],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def main(requests: int = REQUESTS) -> dict[str, Any]:
    from harness import config_data, lambda_context

    import handlers.slack

    base = baseline(requests)
    base_p50, base_p99 = percentile(base, 50), percentile(base, 99)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, running_bot(config_data(), Path(tmp), lazy="none"):
        request_handler = handlers.slack.get_handler()
        runner = DroppingLazyRunner()
        request_handler.app.listener_runner.lazy_listener_runner = runner
        context = lambda_context()

        def send(event: dict[str, Any]) -> int:
            return int(handlers.slack.handler(event, context)["statusCode"])

        cases: list[tuple[str, Callable[[], str]]] = [
            (f"{command} {text}".strip(), lambda c=command, t=text: command_body(c, t)) for command, text in COMMANDS
        ]
        cases += [(f"button {a}", lambda a=a, v=v: click_body(a, v)) for a, v in BUTTONS]
        for name, make_body in cases:
            started = runner.started
            timings = time_requests(send, make_body, requests)
            if runner.started - started != requests + WARMUP:
                raise RuntimeError(f"{name}: the ack did not hand work to a lazy listener on every request")
            rows.append({"request": name, "p50": percentile(timings, 50), "p99": percentile(timings, 99)})

    worst = max(row["p99"] for row in rows)
    header = ["request", "p50 ms", "p99 ms", "p50 / baseline", "p99 / baseline"]
    lines = [
        [
            r["request"],
            ms(r["p50"]),
            ms(r["p99"]),
            f"{r['p50'] / base_p50:.1f}x",
            f"{r['p99'] / base_p99:.1f}x",
        ]
        for r in rows
    ]
    lines.append(["baseline: minimal Bolt app, ack only", ms(base_p50), ms(base_p99), "1.0x", "1.0x"])
    met = worst <= TARGET_P99
    markdown = "\n\n".join(
        [
            f"{requests} warm requests per row (after {WARMUP} untimed), in-process through "
            "`handlers.slack.handler` (Powertools decorator, Bolt adapter, signature check, parser); "
            "lazy work recorded and dropped, so only the ack is timed. Baseline: a minimal Bolt app on the "
            "same adapter whose only listener acks.",
            table(header, lines),
            f"Target: warm p99 <= {TARGET_P99 * 1000:.0f} ms. Worst p99: {ms(worst)} ms -> "
            + ("**met**." if met else "**missed**."),
        ]
    )
    print(markdown)
    return {
        "title": "Ack latency (warm, in-process)",
        "markdown": markdown,
        "baseline_p50_ms": base_p50 * 1000,
        "baseline_p99_ms": base_p99 * 1000,
        "worst_p99_ms": worst * 1000,
        "target_met": met,
        "rows": [{**r, "p50": r["p50"] * 1000, "p99": r["p99"] * 1000} for r in rows],
    }


if __name__ == "__main__":
    main()
