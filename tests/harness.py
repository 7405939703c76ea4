"""Drive the bot the way Slack and AWS do: signed API Gateway v2 events into the real Lambda handlers,
moto for AWS (in-process), and the Slack stand-in (sandbox.slack_api) on a loopback port.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
from slack_sdk.signature import SignatureVerifier

from sandbox.slack_api import SlackStandIn

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
CHANNEL = "C0OPS"
ACCOUNT = "123456789012"  # moto's account: every environment of the tests' config is in it
ADMIN, DEPLOYER, DEPLOYER2, OPERATOR, VIEWER = "U0ADMIN", "U0DEPLOYER", "U0DEPLOYER2", "U0OPERATOR", "U0VIEWER"


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


def lambda_context(name: str = "SlackFunction") -> SimpleNamespace:
    return SimpleNamespace(
        function_name=name,
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        memory_limit_in_mb=512,
        aws_request_id=uuid.uuid4().hex,
        log_group_name=f"/aws/lambda/{name}",
        log_stream_name="local",
        get_remaining_time_in_millis=lambda: 30_000,
    )


def api_gateway_event(body: str, headers: dict[str, str], method: str = "POST") -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "POST /slack/events",
        "rawPath": "/slack/events",
        "rawQueryString": "",
        "headers": headers,
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {
            "http": {"method": method, "path": "/slack/events", "sourceIp": "127.0.0.1"},
            "requestId": uuid.uuid4().hex,
            "stage": "$default",
        },
    }


def signed_headers(body: str, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body),
    }


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

    def _new_responses(self) -> list[dict[str, Any]]:
        responses = self.slack.responses()
        new, self._responses_seen = responses[self._responses_seen :], len(responses)
        return new

    def command(self, text: str, user: str = DEPLOYER, command: str | None = None, channel: str = CHANNEL) -> Reply:
        """Type a slash command: `/deploy service-a v1` or, with command=, only the text."""
        if command is None:
            command, _, text = text.partition(" ")
        trigger = uuid.uuid4().hex
        body = urllib.parse.urlencode(
            {
                "token": "legacy",
                "team_id": "T0TEST",
                "channel_id": channel,
                "user_id": user,
                "command": command,
                "text": text,
                "response_url": self.slack.response_url(trigger),
                "trigger_id": trigger,
                "api_app_id": "A0TEST",
            }
        )
        self._new_responses()
        started = time.perf_counter()
        status, ack = self.send(body)
        elapsed = time.perf_counter() - started
        self.drain()
        return Reply(status, ack, elapsed, self._new_responses())

    def click(self, action_id: str, value: str, message_ts: str, user: str = DEPLOYER, channel: str = CHANNEL) -> Reply:
        body = self.click_body(action_id, value, message_ts, user, channel)
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
            "trigger_id": uuid.uuid4().hex,
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
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "ECS Deployment State Change",
        "source": "aws.ecs",
        "account": "123456789012",
        "time": at,
        "region": "us-east-1",
        "resources": [service_arn],
        "detail": {
            "eventType": "ERROR" if name.endswith("FAILED") else "INFO",
            "eventName": name,
            "deploymentId": deployment_id,
            "updatedAt": at,
            "reason": reason,
        },
    }
