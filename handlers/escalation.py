"""EventBridge schedule (rate(1 minute)) -> the escalation levels of unacknowledged ALARM cards that are due.

bot.alarms.escalation does the work: one Query per environment finds the due levels, a conditional write
claims each level (exactly once, however often the schedule or Lambda's retries run it), and the mention
is posted in the card's thread. A level whose post failed is left for the next minute, and the run fails
(EscalationFunctionErrorsAlarm) once every other due level was handled.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from bot.alarms.escalation import Escalations
from handlers.runtime import Lazy, build_chatops, share_logging

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "fargate-chatops"))
clock: Callable[[], float] = time.time  # what "now" is for due times (tests pin it)


class EscalationNotPosted(Exception):
    """A due level could not be posted; it stays due, and the errors alarm of the function fires."""


def build_escalations() -> Escalations:
    chatops = build_chatops()
    share_logging(logger)
    return Escalations(chatops.config, chatops.state, chatops.slack, lambda: clock())


_escalations = Lazy(build_escalations)
get_escalations = _escalations.get
reset = _escalations.reset  # forget the built escalations (tests that change the environment)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = get_escalations().run()
    summary = {
        "posted": result.posted,
        "stopped": result.stopped,
        "duplicates": result.duplicates,
        "failed": result.failed,
    }
    logger.info("escalations handled", extra=summary)
    if result.failed:
        raise EscalationNotPosted(f"not posted (retried next minute): {', '.join(sorted(result.failed))}")
    return summary
