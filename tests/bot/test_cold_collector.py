"""A cold container's start-up (in Lambda from the import of the bot's own modules, elsewhere its first request)
runs without Python's cyclic garbage collector, and what it built is then frozen out of later collections
(handlers.slack.collector_paused_while_starting): the collector is on again for every later request, and one
that someone else turned off stays off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

from harness import AWS_TEST_ENVIRONMENT, BOT_TOKEN, SIGNING_SECRET, api_gateway_event, signed_headers

ROOT = Path(__file__).resolve().parents[2]

# Two /status answered by the handler in a fresh process (lazy work dropped); the build notes whether the
# collector was on while it made the replay record's client.
CHILD = """
import gc, json, sys
from types import SimpleNamespace
import handlers.slack, bot.replay
seen = {}
class DropLazy:
    def start(self, function, request):
        pass
build, warm = handlers.slack._built._build, bot.replay.ReplayGuard.warm
def building(runtime):
    request_handler = build(runtime)
    request_handler.app.listener_runner.lazy_listener_runner = DropLazy()
    return request_handler
def noting_warm(self):
    seen["collector on while building"] = gc.isenabled()
    warm(self)
handlers.slack._built._build, bot.replay.ReplayGuard.warm = building, noting_warm
context = SimpleNamespace(function_name="SlackFunction", function_version="$LATEST", memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:SlackFunction",
    aws_request_id="cold", log_group_name="/aws/lambda/SlackFunction", log_stream_name="cold")
seen["collector on after import"] = gc.isenabled()
if sys.argv[1] == "off":
    gc.disable()
seen["frozen before"] = gc.get_freeze_count()
statuses = []
for number, event in enumerate(json.load(sys.stdin)):
    statuses.append(handlers.slack.handler(event, context)["statusCode"])
    seen[f"collector on after request {number + 1}"] = gc.isenabled()
seen["frozen objects"] = gc.get_freeze_count() - seen["frozen before"]
seen["statuses"] = statuses
print("SEEN " + json.dumps(seen))
"""


def signed_status(trigger: str) -> dict[str, object]:
    body = urllib.parse.urlencode(
        {"command": "/status", "text": "", "user_id": "U0ADMIN", "channel_id": "C0OPS", "team_id": "T0TEST"}
        | {"trigger_id": trigger, "response_url": "http://127.0.0.1:9/respond/cold"}
    )
    return api_gateway_event(body, signed_headers(body))


def first_requests(collector: str, lambda_runtime: bool = False) -> dict[str, object]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OPSBOT_", "SLACK_", "AWS_", "POWERTOOLS_"))}
    environ |= AWS_TEST_ENVIRONMENT | {
        "OPSBOT_CONFIG_FILE": str(ROOT / "config" / "example.yaml"),
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # the replay record fails at once and is let through
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    if lambda_runtime:
        environ["AWS_EXECUTION_ENV"] = "AWS_Lambda_python3.12"
    result = subprocess.run(
        [sys.executable, "-c", CHILD, collector],
        input=json.dumps([signed_status("first"), signed_status("second")]),
        env=environ,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    seen: dict[str, object] = json.loads(result.stdout.rsplit("SEEN ", 1)[1])
    return seen


def test_the_first_request_builds_without_the_collector_and_freezes_what_it_built() -> None:
    seen = first_requests("on")
    assert seen["statuses"] == [200, 200]
    assert seen["collector on after import"] is True  # outside Lambda (tests): only the first request
    assert seen["collector on while building"] is False
    assert seen["collector on after request 1"] is True
    assert seen["collector on after request 2"] is True
    assert isinstance(seen["frozen objects"], int)
    assert seen["frozen objects"] > 10_000


def test_in_lambda_the_pause_begins_at_the_import_of_the_bots_modules() -> None:
    seen = first_requests("on", lambda_runtime=True)
    assert seen["statuses"] == [200, 200]
    assert seen["collector on after import"] is False
    assert seen["collector on after request 1"] is True
    assert isinstance(seen["frozen objects"], int)
    assert seen["frozen objects"] > 10_000


def test_a_collector_someone_turned_off_stays_off() -> None:
    seen = first_requests("off")
    assert seen["statuses"] == [200, 200]
    assert seen["collector on after request 1"] is False
    assert seen["frozen objects"] == 0
