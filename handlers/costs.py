"""EventBridge schedule (cost.weekly_schedule, Monday 09:00 UTC by default) -> the week's cost in Slack.

Posts the /cost week summary of the default environment to the channels routing chooses for kind `cost`
(bot.routing: a rule, else cost.weekly_channel / OPSBOT_COST_CHANNEL, else routing.default_channel),
once per scheduled event: the run is keyed on the event's id, so a retried delivery of the same event
finds the first run's record and posts nothing. A report that cannot be made (Cost Explorer not enabled,
access denied) is posted as that explanation, so the channel learns why there is no summary.
"""

from __future__ import annotations

import os
import time
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from bot.metrics import Emf
from bot.permissions import Function
from handlers.runtime import PerContainer, Runtime

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "fargate-chatops"))
metrics = Emf("costs")  # the Slack client's 429s and retries, written at the end of each invocation
WEEK_DAYS = 7

_runtime = PerContainer(lambda runtime: runtime, logger, metrics=metrics, function=Function.COSTS)
reset = _runtime.reset  # forget what was built (tests that change the environment), or rebuild on other clocks


def post_weekly(runtime: Runtime, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Make the week's report and post it once for this event; returns what happened, for the logs."""
    from bot import render
    from bot.errors import BotError
    from bot.idempotency import Once
    from bot.routing import Kind, Router

    config = runtime.config
    env = config.environment()
    channels = Router(config).route(Kind.COST, env.name)
    if not channels:
        logger.error(
            "no weekly cost post: add a routing rule for kind cost (routing.rules), set cost.weekly_channel "
            "in the config or OPSBOT_COST_CHANNEL, or routing.default_channel"
        )
        return {"posted": False, "reason": "no channel configured"}
    channel = channels[0]
    once = Once(runtime.clients.client("dynamodb", env.region), config.state_table, scope="weekly-cost")
    once.register_lambda_context(context)
    # A retried delivery repeats the event id; an event without one (a manual test) is keyed on its week.
    key = str(event.get("id") or f"{env.name}:{time.strftime('%G-W%V', time.gmtime(runtime.clock()))}")

    def report_and_post() -> dict[str, Any]:
        try:
            message = runtime.cost_reporter().summary(WEEK_DAYS, "week", env.name)
        except BotError as error:
            logger.warning("weekly cost report not made: %s", error)
            message = render.error(error)
        ts = runtime.slack.post(channel, message)
        # The first channel's post is the one retried; a copy Slack refuses is logged, not posted twice.
        copies = {}
        for copy in channels[1:]:
            try:
                copies[copy] = runtime.slack.post(copy, message)
            except Exception:
                logger.exception("weekly cost post not copied to %s", copy)
        return {"channel": channel, "ts": ts, "copies": copies}

    result = once.run(key, report_and_post)
    if not result.ran_here:
        logger.info("weekly cost post already made for this event", extra={"event_id": key})
        first = {k: v for k, v in result.result.items() if k in {"channel", "ts"}}
        return {"posted": False, "reason": "already posted for this event", **first}
    logger.info("weekly cost posted", extra={"channel": channel, "ts": result.result.get("ts")})
    return {"posted": True, "channel": channel, "ts": result.result.get("ts")}


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return post_weekly(_runtime.get(), event, context)
