"""Cost Explorer answers built from plain numbers, moto's result queue, and a Slack Web API stand-in."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

MOTO_CE_RESULTS = "http://motoapi.amazonaws.com/moto-api/static/ce/cost-and-usage-results"
TABLE = "opsbot-state"
CHANNEL = "C0COSTS"
# Monday 24 Nov 2025, 09:00 UTC: "week" is Mon 17 - Sun 23 Nov, the week before is 10 - 16 Nov.
NOW = datetime(2025, 11, 24, 9, 0, tzinfo=UTC).timestamp()
WEEK_START = date(2025, 11, 17)
PREVIOUS_START = date(2025, 11, 10)

ECS = "Amazon Elastic Container Service"
RDS = "Amazon Relational Database Service"
EC2_OTHER = "EC2 - Other"
CLOUDWATCH = "AmazonCloudWatch"
LAMBDA = "AWS Lambda"
SUPPORT = "AWS Support (Developer)"

Daily = Callable[[date], Mapping[str, float]]


def ce_answer(
    start: date,
    days: int,
    daily: Daily,
    *,
    unit: str = "USD",
    key: Callable[[str], str] | None = None,
    next_token: str | None = None,
    estimated_days: int = 0,
) -> dict[str, Any]:
    """A GetCostAndUsage response (DAILY, grouped) as Cost Explorer shapes it; days without costs have no groups."""
    results = []
    for i in range(days):
        day = start + timedelta(days=i)
        groups = [
            {
                "Keys": [key(name) if key else name],
                "Metrics": {"UnblendedCost": {"Amount": f"{amount:.10f}", "Unit": unit}},
            }
            for name, amount in daily(day).items()
        ]
        results.append(
            {
                "TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()},
                "Total": {},
                "Groups": groups,
                "Estimated": i >= days - estimated_days,
            }
        )
    answer: dict[str, Any] = {
        "GroupDefinitions": [{"Type": "TAG", "Key": "Service"} if key else {"Type": "DIMENSION", "Key": "SERVICE"}],
        "ResultsByTime": results,
        "DimensionValueAttributes": [],
    }
    if next_token:
        answer["NextPageToken"] = next_token
    return answer


def tag_key(name: str) -> str:
    return f"Service${'' if name == '(untagged)' else name}"


def queue_ce_answers(*answers: dict[str, Any]) -> None:
    """moto hands these out in order, one per new distinct request (the services query asks first)."""
    response = requests.post(MOTO_CE_RESULTS, json={"results": list(answers)}, timeout=5)
    assert response.status_code == 201


# --- the known week -----------------------------------------------------------------------------------
# The week before: ECS 10, RDS 20, EC2-Other 5, CloudWatch 1 a day (252 in all).
# This week: service-b scaled up on Tue 18 Nov, so ECS is 14 a day from Wed 19; RDS flat; EC2-Other 8;
# CloudWatch 0.5; Lambda is new at 2 a day; a 15.00 support refund on Thu 20 Nov.


def known_services(day: date) -> dict[str, float]:
    if day < WEEK_START:
        return {ECS: 10.0, RDS: 20.0, EC2_OTHER: 5.0, CLOUDWATCH: 1.0}
    costs = {ECS: 10.0 if day <= date(2025, 11, 18) else 14.0, RDS: 20.0, EC2_OTHER: 8.0, CLOUDWATCH: 0.5, LAMBDA: 2.0}
    if day == date(2025, 11, 20):
        costs[SUPPORT] = -15.0
    return costs


def known_tags(day: date) -> dict[str, float]:
    """The same costs by the Service tag: RDS is service-a's, ECS service-b's, the rest untagged."""
    services = known_services(day)
    untagged = sum(services.values()) - services[ECS] - services[RDS]
    return {"service-a": services[RDS], "service-b": services[ECS], "(untagged)": untagged}


def queue_known_week() -> None:
    queue_ce_answers(
        ce_answer(PREVIOUS_START, 14, known_services, estimated_days=1),
        ce_answer(PREVIOUS_START, 14, known_tags, key=tag_key, estimated_days=1),
    )


# --- reading a message --------------------------------------------------------------------------------


def message_text(message: Mapping[str, Any]) -> str:
    parts = [str(message.get("text", ""))]
    for block in message.get("blocks", []):
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(str(text.get("text", "")))
        for element in block.get("elements", []):
            if isinstance(element, dict) and "text" in element:
                parts.append(str(element["text"]))
    return "\n".join(parts)


def chart_rows(message: Mapping[str, Any]) -> list[str]:
    for block in message["blocks"]:
        text = (block.get("text") or {}).get("text", "")
        if "```" in text:
            return str(text.split("```")[1]).strip("\n").splitlines()
    raise AssertionError("no chart in the message")


def bar_eighths(row: str) -> int:
    eighths = " ▏▎▍▌▋▊▉█"
    return sum(eighths.index(ch) for ch in row if ch in eighths[1:])


# --- Slack Web API stand-in ------------------------------------------------------------------------------


@dataclass
class SlackCall:
    method: str
    params: dict[str, Any]


class SlackRecorder:
    """Answers chat.postMessage on 127.0.0.1 and remembers every call."""

    def __init__(self) -> None:
        self.calls: list[SlackCall] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    params = json.loads(raw or "{}")
                else:
                    params = dict(urllib.parse.parse_qsl(raw))
                method = self.path.rsplit("/", 1)[-1]
                with recorder._lock:
                    recorder.calls.append(SlackCall(method, params))
                    ts = f"1700000000.{len(recorder.calls):06d}"
                body = json.dumps({"ok": True, "channel": params.get("channel"), "ts": ts}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def api_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/api/"

    def posts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [c.params for c in self.calls if c.method == "chat.postMessage"]

    def __enter__(self) -> SlackRecorder:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
