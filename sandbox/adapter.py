"""The bot's real Lambda handlers behind a small local stand-in for API Gateway, EventBridge and SQS.

    POST /slack/events   a Slack request (form body, Slack's signature headers) -> an API Gateway HTTP API
                         (payload v2) event -> handlers.slack.handler; answers with the function's response.
    POST /events         an EventBridge event (JSON) -> handlers.deployments (ECS deployment state changes)
                         or handlers.costs (the weekly schedule), as the rules in template.yaml route them.
    GET  /health         200 once the Slack app is built.

The alarm relay's queue is polled like Lambda's SQS event source mapping does: batches of up to 10
into handlers.alarms.handler, deleting only the records it did not report in batchItemFailures.
Lazy listeners run in threads of this process (OPSBOT_LAZY=thread), not through lambda.invoke.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from sandbox.http_server import LoopbackHTTPServer
from sandbox.lambda_events import api_gateway_event, lambda_context, sqs_event

ALARM_HANDLER = "handlers.alarms"


def route_event(event: dict[str, Any]) -> tuple[str, str] | None:
    """(handler module, function name) that the EventBridge rules in template.yaml send this event to."""
    if event.get("source") == "aws.ecs" and event.get("detail-type") == "ECS Deployment State Change":
        return "handlers.deployments", "DeploymentsFunction"
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        return "handlers.costs", "CostReportFunction"
    return None


def relay_available() -> bool:
    return importlib.util.find_spec(ALARM_HANDLER) is not None


class BotAdapter:
    """The bot's handlers on 127.0.0.1:`port`, plus the alarm queue poller."""

    name = "bot"
    port_variable = "SANDBOX_BOT_PORT"

    def __init__(self, port: int, queue_url: Callable[[], str], sqs: Callable[[], Any], region: str) -> None:
        self.port = port
        self._queue_url = queue_url
        self._sqs_factory = sqs
        self.region = region
        self._server: LoopbackHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.relayed = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- the three entry points ---------------------------------------------------------------------

    def slack(self, body: str, headers: dict[str, str]) -> dict[str, Any]:
        import handlers.slack

        event = api_gateway_event(body, {name.lower(): value for name, value in headers.items()})
        response: dict[str, Any] = handlers.slack.handler(event, lambda_context("SlackFunction", log_stream="sandbox"))
        return response

    def eventbridge(self, event: dict[str, Any]) -> dict[str, Any]:
        route = route_event(event)
        if route is None:
            return {"result": "no rule matches this event"}
        module = importlib.import_module(route[0])
        result: dict[str, Any] = module.handler(event, lambda_context(route[1], log_stream="sandbox"))
        return result

    def sqs_batch(self, event: dict[str, Any]) -> dict[str, Any]:
        # INTEGRATION POINT (alarm relay): handlers.alarms.handler takes the SQS batch and returns
        # {"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]} (Powertools BatchProcessor).
        module = importlib.import_module(ALARM_HANDLER)
        result: dict[str, Any] = module.handler(event, lambda_context("AlarmsFunction", log_stream="sandbox")) or {}
        return result

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> str:
        started = time.monotonic()
        import handlers.slack

        handlers.slack.get_handler()  # build the app now, not inside the first command's 3 seconds
        adapter = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._json(200 if self.path == "/health" else 404, {"ok": self.path == "/health"})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if self.path == "/slack/events":
                    response = adapter.slack(raw, dict(self.headers.items()))
                    body = str(response.get("body") or "").encode()
                    self.send_response(int(response.get("statusCode", 200)))
                    for name, value in (response.get("headers") or {}).items():
                        if name.lower() != "content-length":
                            self.send_header(name, str(value))
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif self.path == "/events":
                    try:
                        event = json.loads(raw)
                    except ValueError:
                        self._json(400, {"error": "the body must be an EventBridge event in JSON"})
                        return
                    self._json(200, adapter.eventbridge(event))
                else:
                    self._json(404, {"error": f"no route for {self.path}"})

            def _json(self, status: int, body: Any) -> None:
                payload = json.dumps(body, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = LoopbackHTTPServer(("127.0.0.1", self.port), Handler)
        self._threads = [
            threading.Thread(target=self._server.serve_forever, name="bot-adapter", daemon=True),
            threading.Thread(target=self._poll_alarms, name="alarm-queue", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        relay = "alarm relay on" if relay_available() else "alarm relay NOT BUILT YET: alarms wait in the queue"
        return f"{self.url}  (Slack app built in {time.monotonic() - started:.1f} s; {relay})"

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

    # --- the alarm queue -----------------------------------------------------------------------------

    def _poll_alarms(self) -> None:
        if not relay_available():
            return  # nothing would consume them; they stay in the queue for when the relay exists
        sqs = self._sqs_factory()
        queue_url = self._queue_url()
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        while not self._stop.is_set():
            try:
                self.poll_once(sqs, queue_url, queue_arn)
            except Exception as error:
                if self._stop.is_set():
                    return
                print(f"sandbox: alarm queue: {error}", flush=True)
                self._stop.wait(1)

    def poll_once(self, sqs: Any, queue_url: str, queue_arn: str) -> int:
        """One receive (long poll of 1 s) and one batch into the relay; returns how many were relayed."""
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return 0
        result = self.sqs_batch(sqs_event(messages, queue_arn, self.region))
        failed = {f.get("itemIdentifier") for f in result.get("batchItemFailures") or []}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        self.relayed += len(done)
        return len(done)
