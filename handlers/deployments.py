"""ECS "Deployment State Change" events (EventBridge) -> the deploy cards in Slack (bot.deployments)."""

from __future__ import annotations

import os
import threading
from typing import Any

from aws_lambda_powertools import Logger

from bot.deployments import DeploymentEvent, DeploymentTracker

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "fargate-chatops"))
_lock = threading.Lock()
_tracker: DeploymentTracker | None = None


def build_tracker() -> DeploymentTracker:
    from bot.app import slack_client
    from bot.aws import ClientFactory
    from bot.config import load_config
    from bot.operations import SlackOut
    from bot.state import StateStore
    from handlers.slack import secret

    config = load_config()
    clients = ClientFactory(endpoint_url=config.aws_endpoint_url)
    state = StateStore(clients, config.state_table, config.environment().region)
    token = secret("SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN_SECRET_NAME", os.environ)
    return DeploymentTracker(state, SlackOut(slack_client(config.slack.api_url, token)))


def get_tracker() -> DeploymentTracker:
    global _tracker
    with _lock:
        if _tracker is None:
            _tracker = build_tracker()
        return _tracker


def reset() -> None:
    global _tracker
    with _lock:
        _tracker = None


@logger.inject_lambda_context(correlation_id_path="id")
def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    parsed = DeploymentEvent.parse(event)
    if parsed is None:
        logger.warning("not an ECS deployment state change; ignored", extra={"detail_type": event.get("detail-type")})
        return {"result": "ignored"}
    result = get_tracker().on_event(parsed)
    logger.info("deployment event handled", extra={"result": result, "service": parsed.service_arn})
    return {"result": result}
