"""EventBridge schedule (rate(1 minute)) -> the escalation levels of unacknowledged ALARM cards that are due.

bot.alarms.escalation does the work: one Query per environment finds the due levels, a conditional write
claims each level (exactly once, however often the schedule or Lambda's retries run it), and the mention
is posted in the card's thread. A level whose post failed is left for the next minute, and the run fails
(EscalationFunctionErrorsAlarm) once every other due level was handled.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from bot.alarms.escalation import Escalations
from bot.errors import BotError
from bot.metrics import Emf
from bot.permissions import Function
from handlers.runtime import PerContainer, Runtime, build_runtime

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "fargate-chatops"))
metrics = Emf("escalation")  # the Slack client's 429s and retries, written at the end of each invocation


class EscalationNotPosted(Exception):
    """A due level could not be posted; it stays due, and the errors alarm of the function fires."""


@dataclass(frozen=True)
class Scheduled:
    """What the one-minute schedule runs: escalations, and the sweep of deploy cards no event ended."""

    escalations: Escalations
    sweep: Callable[[], list[str]]


def build_scheduled(runtime: Runtime | None = None) -> Scheduled:
    from handlers.deployments import build_tracker

    runtime = runtime or build_runtime(clocks=_scheduled.clocks, function=Function.ESCALATION)
    tracker = build_tracker(runtime)
    by_env = {env.name: runtime.config.targets(env.name) for env in runtime.config.environments}
    timeouts = {(t.env, t.name): 60.0 * t.service.deploy_timeout_minutes for ts in by_env.values() for t in ts}

    def sweep() -> list[str]:
        done: list[str] = []
        for env, targets in by_env.items():
            try:
                states = runtime.platform.describe(targets)  # ceil(n/10) DescribeServices per cluster
            except BotError as error:  # one environment's cluster (or role) must not stop the others
                logger.warning("deploy-card sweep skipped %s: %s", env, error)
                continue
            done += tracker.sweep(states, lambda state: timeouts[(state.env, state.name)])
        return done

    return Scheduled(runtime.escalations, sweep)


_scheduled: PerContainer[Scheduled] = PerContainer(
    build_scheduled, logger, metrics=metrics, function=Function.ESCALATION
)
reset = _scheduled.reset  # forget what was built (tests that change the environment), or rebuild on other clocks


def get_escalations() -> Escalations:
    return _scheduled.get().escalations


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = get_escalations().run()
    try:
        settled = _scheduled.get().sweep()
    except Exception:  # the sweep runs again next minute; escalation must not wait for it
        logger.exception("the sweep of deploy cards failed")
        settled = ["error"]
    summary = {
        "posted": result.posted,
        "stopped": result.stopped,
        "duplicates": result.duplicates,
        "failed": result.failed,
        "deploy_cards_settled": settled,
    }
    logger.info("escalations handled", extra=summary)
    if result.failed:
        raise EscalationNotPosted(f"not posted (retried next minute): {', '.join(sorted(result.failed))}")
    return summary
