"""Drive the bot the way Slack and AWS do: signed API Gateway v2 events into the real Lambda handlers,
moto for AWS (in-process), and the Slack stand-in (sandbox.slack_api) on a loopback port.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from slack_sdk.signature import SignatureVerifier

from sandbox.lambda_events import api_gateway_event, lambda_context
from sandbox.slack_api import SlackStandIn
from sandbox.slack_views import dispatches_action

if TYPE_CHECKING:
    from bot.table import Table
    from handlers.runtime import Stores

ROOT = Path(__file__).resolve().parents[1]
SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
CHANNEL = "C0OPS"
ACCOUNT = "123456789012"  # moto's account: every environment of the tests' config is in it
ADMIN, DEPLOYER, DEPLOYER2, OPERATOR, VIEWER = "U0ADMIN", "U0DEPLOYER", "U0DEPLOYER2", "U0OPERATOR", "U0VIEWER"
# What the in-process tests and the benchmarks run with: fake credentials, one region, moto's ECS reporting
# running tasks, every AWS call one bot/permissions.py grants (OPSBOT_STRICT_ACTIONS); and what they unset.
AWS_TEST_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "OPSBOT_STRICT_ACTIONS": "1",
    "MOTO_ECS_SERVICE_RUNNING": "2",
}
AWS_UNSET = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_LAMBDA_FUNCTION_NAME")
STATE_TABLE = "fargate-chatops-state"  # the bot's table in the tests' config (config.state_table)


def state_table(name: str = STATE_TABLE, region: str = "us-east-1") -> Table:
    """The bot's DynamoDB table (in moto), opened as the deployed functions open it."""
    from bot.aws import ClientFactory
    from bot.table import Table

    return Table(ClientFactory(), name, region)


def stores(name: str = STATE_TABLE, region: str = "us-east-1") -> Stores:
    """The bot's stores (plans, locks, audit, status, deploy cards, alarms, history) over that table, wired as
    handlers.runtime wires them: what a test reads back or plants."""
    from handlers.runtime import Stores

    return Stores.over(state_table(name, region))


def config_data(services: list[str] | None = None, **environment: Any) -> dict[str, Any]:
    env: dict[str, Any] = {
        "name": "production",
        "region": "us-east-1",
        "account_id": ACCOUNT,
        "protected": True,
        "roles": {
            "admin": [ADMIN],
            "deployer": [DEPLOYER, DEPLOYER2],
            "operator": [OPERATOR],
            "viewer": ["*"],
        },
    }
    env.update(environment)
    return {
        "project": "ecs-microservices",
        "default_environment": "production",
        "environments": [
            env,
            {"name": "staging", "region": "us-east-1", "account_id": ACCOUNT, "roles": {"deployer": ["*"]}},
        ],
        "services": [{"name": s, "min_tasks": 1, "max_tasks": 10} for s in (services or ["service-a", "service-b"])],
    }


# A Slack function's first request in a fresh process, configured as template.yaml configures it: the lazy work
# dropped (AWS at a closed port in cold_ack: the replay record fails at once and is let through). bench.cold_start
# times the same child.
COLD_CHILD = """
import json, sys
from types import SimpleNamespace
import handlers.slack
class DropLazy:
    def start(self, function, request):
        pass
handlers.slack.get_handler().app.listener_runner.lazy_listener_runner = DropLazy()
context = SimpleNamespace(function_name="SlackFunction", function_version="$LATEST", memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:SlackFunction",
    aws_request_id="cold", log_group_name="/aws/lambda/SlackFunction", log_stream_name="cold")
response = handlers.slack.handler(json.load(sys.stdin), context)
if response["statusCode"] != 200:
    sys.exit(f"not acked: {response}")
"""
# cold_ack's: it then prints which of the modules named in argv[1] (JSON) the ack loaded, and where
# handlers.slack was imported from.
COLD_ACK = (
    COLD_CHILD
    + """print("LOADED " + json.dumps(sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)))
print("FROM " + handlers.slack.__file__)
"""
)


@dataclass(frozen=True)
class ColdAck:
    loaded: list[str]  # the watched modules the ack loaded
    handler_file: str  # where handlers.slack came from


def cold_ack(
    body: str,
    watch: Sequence[str],
    *,
    config_file: str = str(ROOT / "config" / "example.yaml"),
    code: Path = ROOT,
    slack_api_url: str = "http://127.0.0.1:9/api/",
    **variables: str,
) -> ColdAck:
    """`body` (a slash command's form, signed here) acked by handlers.slack in a fresh Python process that runs
    the code in `code` (the repository, or a built bundle) from that directory, with OPSBOT_CONFIG_FILE
    `config_file`; `variables` are added to the environment."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OPSBOT_", "SLACK_", "AWS_", "POWERTOOLS_"))}
    environ |= AWS_TEST_ENVIRONMENT | {
        "OPSBOT_CONFIG_FILE": config_file,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": slack_api_url,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_LAMBDA_FUNCTION_NAME": "SlackFunction",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "PYTHONPATH": str(code),
    }
    environ |= variables
    result = subprocess.run(
        [sys.executable, "-c", COLD_ACK, json.dumps(list(watch))],
        input=json.dumps(api_gateway_event(body, signed_headers(body))),
        env=environ,
        cwd=code,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.split("LOADED ", 1)[1].splitlines()[0])
    return ColdAck(loaded, result.stdout.rsplit("FROM ", 1)[1].strip())


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def signed_headers(body: str, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body),
    }


def signed_json_headers(body: str, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """The headers of an Events API delivery: a JSON body, signed as a form body is."""
    return {**signed_headers(body, secret), "content-type": "application/json"}


@dataclass
class Reply:
    """What the person saw: the ack's HTTP answer and what arrived through response_url."""

    status: int
    ack: dict[str, Any]
    elapsed: float
    responses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        out = [str(self.ack.get("text", ""))] if self.ack.get("text") else []
        return out + [str(r.get("text", "")) for r in self.responses]

    @property
    def text(self) -> str:
        return "\n".join(self.texts)


class Bot:
    """The deployed Slack function, in-process, with lazy listeners in threads."""

    def __init__(self, slack: SlackStandIn) -> None:
        self.slack = slack
        self._responses_seen = 0

    @property
    def handler(self) -> Any:
        import handlers.slack

        return handlers.slack

    def drain(self) -> None:
        runner = self.handler.get_handler().app.listener_runner.lazy_listener_runner
        runner.drain()

    def send(
        self, body: str, headers: dict[str, str] | None = None, method: str = "POST"
    ) -> tuple[int, dict[str, Any]]:
        event = api_gateway_event(body, headers if headers is not None else signed_headers(body), method)
        response = self.handler.handler(event, lambda_context())
        raw = response.get("body") or ""
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {"raw": raw}
        return int(response["statusCode"]), parsed if isinstance(parsed, dict) else {"raw": raw}

    def send_at_once(self, bodies: list[str]) -> list[int]:
        """Post every body from a thread of its own, all released at the same moment (a double click, a
        retried delivery), then wait for the lazy work; returns the HTTP statuses (in no particular order)."""
        barrier = threading.Barrier(len(bodies))
        statuses: list[int] = []

        def post(body: str) -> None:
            barrier.wait()
            statuses.append(self.send(body)[0])

        threads = [threading.Thread(target=post, args=(body,)) for body in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.drain()
        return statuses

    def _new_responses(self) -> list[dict[str, Any]]:
        responses = self.slack.responses()
        new, self._responses_seen = responses[self._responses_seen :], len(responses)
        return new

    def command_body(
        self,
        text: str,
        user: str = DEPLOYER,
        command: str | None = None,
        channel: str = CHANNEL,
        trigger: str | None = None,
    ) -> str:
        """The form body Slack posts for a slash command: `/deploy service-a v1` or, with command=, only the
        text; its response_url is the stand-in's for `trigger` (a new one by default) and its trigger_id one
        the stand-in issued now (views.open takes it once, within 3 seconds)."""
        if command is None:
            command, _, text = text.partition(" ")
        trigger = trigger or uuid.uuid4().hex
        return urllib.parse.urlencode(
            {
                "token": "legacy",
                "team_id": "T0TEST",
                "channel_id": channel,
                "user_id": user,
                "command": command,
                "text": text,
                "response_url": self.slack.response_url(trigger),
                "trigger_id": self.slack.trigger(user),
                "api_app_id": "A0TEST",
            }
        )

    def command(self, text: str, user: str = DEPLOYER, command: str | None = None, channel: str = CHANNEL) -> Reply:
        """Type a slash command: `/deploy service-a v1` or, with command=, only the text."""
        return self._post(self.command_body(text, user, command, channel))

    def click(self, action_id: str, value: str, message_ts: str, user: str = DEPLOYER, channel: str = CHANNEL) -> Reply:
        return self._post(self.click_body(action_id, value, message_ts, user, channel))

    def _post(self, body: str) -> Reply:
        """Post as Slack does, wait for the lazy work, and gather what the person saw."""
        self._new_responses()
        started = time.perf_counter()
        status, ack = self.send(body)
        elapsed = time.perf_counter() - started
        self.drain()
        return Reply(status, ack, elapsed, self._new_responses())

    def click_body(self, action_id: str, value: str, message_ts: str, user: str, channel: str = CHANNEL) -> str:
        payload = {
            "type": "block_actions",
            "team": {"id": "T0TEST"},
            "user": {"id": user},
            "api_app_id": "A0TEST",
            "token": "legacy",
            "trigger_id": self.slack.trigger(user),
            "channel": {"id": channel},
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
            "message": {"ts": message_ts, "type": "message"},
            "response_url": self.slack.response_url(f"click-{uuid.uuid4().hex}"),
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "b",
                    "value": value,
                    "action_ts": str(time.time()),
                }
            ],
        }
        return urllib.parse.urlencode({"payload": json.dumps(payload)})

    # --- views: modals and the App Home tab ----------------------------------------------------------

    def submit_view(self, user: str, view: str | dict[str, Any], values: dict[str, Any] | None = None) -> Reply:
        """`user` fills in `values` ({block_id: value}: a select's option value, a text, a list for a multi
        select) and presses the modal's submit button: a signed view_submission as Slack sends it, its
        view.state.values holding every input per block_id and action_id. What the app acks is applied as
        Slack applies it (an empty ack closes the view; response_action clear, update, push, errors; see
        `self.slack.modal(user)` and `self.slack.modal_errors(user)`); the Reply's `ack` is that body.
        `view` is a view id or a view object with its "id" (the stand-in's current view is sent).
        Fails the test when Slack's client would not send it (a required input left empty) or when the app
        answers with a response_action Slack refuses."""
        view_id = view if isinstance(view, str) else str(view["id"])
        missing = self.slack.fill(user, view_id, values or {})
        assert not missing, f"Slack would not submit the view: {missing}"
        shown = self.slack.view(view_id)
        assert shown is not None
        payload = {
            "type": "view_submission",
            "team": {"id": "T0TEST", "domain": "test"},
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0TEST"},
            "api_app_id": "A0TEST",
            "token": "legacy",
            "trigger_id": self.slack.trigger(user),
            "view": shown,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        self._new_responses()
        started = time.perf_counter()
        status, ack = self.send(urllib.parse.urlencode({"payload": json.dumps(payload)}))
        elapsed = time.perf_counter() - started
        problem = self.slack.answered(user, view_id, status, ack)
        assert status != 200 or problem is None, f"Slack refuses the app's answer to the submission: {problem}"
        self.drain()
        return Reply(status, ack, elapsed, self._new_responses())

    def view_action(
        self, user: str, view: str | dict[str, Any], block_id: str, action_id: str, selected_value: Any = None
    ) -> Reply:
        """`user` uses an element of a modal or of their App Home: picks `selected_value` in a select (its
        option's value), types it in a dispatch_action input, or presses a button (its own value when
        `selected_value` is None): a signed block_actions with container type "view", the view with its
        state, and a fresh trigger_id (for views.open or views.push). Slack sends nothing for an element of
        an input block without dispatch_action: that fails the test."""
        view_id = view if isinstance(view, str) else str(view["id"])
        current = self.slack.view(view_id)
        assert current is not None, f"no view {view_id}"
        assert dispatches_action(current, block_id), f"Slack sends no block_actions for {block_id}: no dispatch_action"
        action = self.slack.select(user, view_id, block_id, action_id, selected_value)
        shown = self.slack.view(view_id)
        payload = {
            "type": "block_actions",
            "team": {"id": "T0TEST", "domain": "test"},
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0TEST"},
            "api_app_id": "A0TEST",
            "token": "legacy",
            "container": {"type": "view", "view_id": view_id},
            "trigger_id": self.slack.trigger(user),
            "view": shown,
            "actions": [action],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self._post(urllib.parse.urlencode({"payload": json.dumps(payload)}))

    def open_home(self, user: str) -> Reply:
        """`user` opens the app's Home tab: a signed app_home_opened event (with the view published for them
        so far, as Slack sends it); see `self.slack.home(user)` for what is published."""
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user,
            "channel": f"D{user[1:]}",
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        }
        home = self.slack.home(user)
        if home is not None:
            event["view"] = home
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": "T0TEST",
                "api_app_id": "A0TEST",
                "event": event,
                "type": "event_callback",
                "event_id": f"Ev{uuid.uuid4().hex[:12].upper()}",
                "event_time": int(time.time()),
                "authorizations": [
                    {"team_id": "T0TEST", "user_id": "UBOT", "is_bot": True, "is_enterprise_install": False}
                ],
            }
        )
        self._new_responses()
        started = time.perf_counter()
        status, ack = self.send(body, signed_json_headers(body))
        elapsed = time.perf_counter() - started
        self.drain()
        return Reply(status, ack, elapsed, self._new_responses())

    # --- reading the channel -------------------------------------------------------------------------

    def last_card(self, channel: str = CHANNEL) -> Any:
        messages = [m for m in self.slack.channel(channel) if m.thread_ts is None]
        assert messages, "no message in the channel"
        return messages[-1]

    @staticmethod
    def button(card: Any, action_id: str) -> dict[str, Any]:
        for block in card.blocks:
            for element in block.get("elements", []):
                if element.get("action_id") == action_id:
                    return dict(element)
        raise AssertionError(f"no {action_id} button on the card: {card.text}")

    @staticmethod
    def card_text(card: Any) -> str:
        parts = [card.text]
        for block in card.blocks:
            text = block.get("text")
            if isinstance(text, dict):
                parts.append(str(text.get("text", "")))
            elif isinstance(text, str):
                parts.append(text)
            for element in block.get("elements", []):
                if isinstance(element, dict) and "text" in element:
                    inner = element["text"]
                    parts.append(str(inner.get("text", "") if isinstance(inner, dict) else inner))
        return "\n".join(parts)


def ecs_service(name: str, region: str = "us-east-1") -> dict[str, Any]:
    ecs = boto3.client("ecs", region_name=region)
    found: dict[str, Any] = ecs.describe_services(
        cluster="ecs-microservices-production-cluster", services=[f"ecs-microservices-production-{name}"]
    )["services"][0]
    return found


def container_image(task_definition: str, region: str = "us-east-1") -> str:
    ecs = boto3.client("ecs", region_name=region)
    definition = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    return str(definition["containerDefinitions"][0]["image"])


def deployment_event(
    service_arn: str, name: str, deployment_id: str, reason: str = "", minutes: float = 0
) -> dict[str, Any]:
    """ECS "Deployment State Change" as EventBridge delivers it (moto never sends these)."""
    at = (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    detail = {
        "eventType": "ERROR" if name.endswith("FAILED") else "INFO",
        "eventName": name,
        "deploymentId": deployment_id,
        "updatedAt": at,
        "reason": reason,
    }
    return eventbridge_event("ECS Deployment State Change", "aws.ecs", at, [service_arn], detail)


def eventbridge_event(
    detail_type: str, source: str, at: str, resources: list[str], detail: dict[str, Any]
) -> dict[str, Any]:
    """An event as EventBridge delivers it to a Lambda function (moto's account and region)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": at,
        "region": "us-east-1",
        "resources": resources,
        "detail": detail,
    }
