"""ECS "Deployment State Change" events (EventBridge) -> the deploy cards in Slack (bot.deployments)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from bot.deployments import DeploymentEvent, DeploymentTracker
from bot.state import DeployCard

if TYPE_CHECKING:
    from bot.core import ChatOps
from handlers.runtime import Lazy, build_chatops, share_logging

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "fargate-chatops"))


def tracker_for(chatops: ChatOps) -> DeploymentTracker:
    """The tracker, asking ECS which revision a service runs when its deployment FAILED."""

    def running(card: DeployCard) -> str | None:
        return chatops.platform.service(chatops.config.target(card.service, card.env)).task_definition

    return chatops.state.deployment_tracker(chatops.slack, chatops.clock, running=running)


def build_tracker() -> DeploymentTracker:
    chatops = build_chatops()
    share_logging(logger)
    return tracker_for(chatops)


_tracker = Lazy(build_tracker)
get_tracker = _tracker.get
reset = _tracker.reset


@logger.inject_lambda_context(correlation_id_path="id")
def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    parsed = DeploymentEvent.parse(event)
    if parsed is None:
        logger.warning("not an ECS deployment state change; ignored", extra={"detail_type": event.get("detail-type")})
        return {"result": "ignored"}
    result = get_tracker().on_event(parsed)
    logger.info("deployment event handled", extra={"result": result, "service": parsed.service_arn})
    return {"result": result}
