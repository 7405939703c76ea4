"""ECS "Deployment State Change" events (EventBridge) -> the deploy cards in Slack (bot.deployments)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger

from bot.deployments import DeploymentEvent, DeploymentTracker
from bot.metrics import Emf
from bot.permissions import Function
from handlers.runtime import PerContainer, Runtime

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "fargate-chatops"))
metrics = Emf("deployments")  # the Slack client's 429s and retries, written at the end of each invocation


def build_tracker(runtime: Runtime) -> DeploymentTracker:
    """The tracker, asking ECS which revision a service runs when its deployment FAILED."""
    return runtime.deployment_tracker()


_tracker = PerContainer(build_tracker, logger, metrics=metrics, function=Function.DEPLOYMENTS)
get_tracker = _tracker.get
reset = _tracker.reset


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path="id")
def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    tracker = get_tracker()
    parsed = DeploymentEvent.parse(event, tracker.clock)
    if parsed is None:
        logger.warning("not an ECS deployment state change; ignored", extra={"detail_type": event.get("detail-type")})
        return {"result": "ignored"}
    result = tracker.on_event(parsed)
    logger.info("deployment event handled", extra={"result": result, "service": parsed.service_arn})
    return {"result": result}
