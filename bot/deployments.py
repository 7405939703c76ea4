"""Live deploy cards: ECS "Deployment State Change" events move the card the bot posted for a deploy.

IN_PROGRESS -> COMPLETED or FAILED. The terminal event is handled exactly once (the card's record is
taken with a conditional delete), releases the deploy lock, records the revision as one that ran (for
/rollback), and replies in the card's thread with the duration. The card's copies in the routed channels
(bot.routing) are updated and replied to the same way. Events for deployments the bot did
not start are ignored and logged.

Whose event it is goes by the AWS account and region it comes from (the event's `account` and `region`,
which EventBridge keeps when another account's rule forwards it, and the service ARN's): an event from an
account and region no environment names is dropped with a log line, and a card is moved only by an event
from its own environment's account and region, never by a service name alone.

    card#<service arn>   deploy   the open card of the service's deployment (DeployCards), until it ends
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot import render
from bot.clock import Clock, system_clock
from bot.config import EnvironmentConfig
from bot.errors import BotError
from bot.history import RevisionHistory, RolledBackBy
from bot.model import ServiceState, family_of, revision_of
from bot.slack import SlackPort
from bot.slack_text import escape
from bot.stores import AuditLog, LockStore, PlanStore
from bot.table import EXISTING_KEY, Codec, Table

log = logging.getLogger(__name__)
EVENT_STATES = {
    "SERVICE_DEPLOYMENT_IN_PROGRESS": "IN_PROGRESS",
    "SERVICE_DEPLOYMENT_COMPLETED": "COMPLETED",
    "SERVICE_DEPLOYMENT_FAILED": "FAILED",
}
CARD_TTL_SECONDS = 7 * 86400


@dataclass(frozen=True, slots=True)
class DeployCard:
    """Where a deployment is shown in Slack, and what it is."""

    channel: str
    ts: str
    plan_id: str
    env: str
    service: str
    actor: str
    summary: str
    started_at: float
    task_definition: str
    from_task_definition: str
    deployment_id: str | None = None
    release_lock: bool = True
    requested_by: str = ""
    copies: tuple[tuple[str, str], ...] = ()  # (channel, ts) of the card's copies in the routed channels


class RollingOutError(BotError):
    """A deploy or rollback of the service is still rolling out: one at a time, so every card ends."""

    def __init__(self, card: DeployCard) -> None:
        revision = card.task_definition.rpartition(":")[2]
        since = datetime.fromtimestamp(card.started_at, UTC).strftime("%H:%M")
        super().__init__(
            f"{card.service} ({card.env}) is rolling out revision {revision} since {since} UTC "
            f"({escape(card.summary)}, by <@{card.actor}>).",
            "Wait until its card says completed or failed, then try again.",
        )
        self.card = card


_CARD = Codec(DeployCard)


class DeployCards:
    """The open deploy card of each service (`card#<service arn>` / `deploy`), until its deployment ends."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def save(self, service_arn: str, card: DeployCard, ttl_seconds: int = CARD_TTL_SECONDS) -> None:
        self.table.put(_pk(service_arn), "deploy", _CARD.dump(card), self.table.clock() + ttl_seconds)

    def get(self, service_arn: str) -> DeployCard | None:
        data = self.table.get(_pk(service_arn), "deploy")
        return _CARD.load(data) if data else None

    def many(self, service_arns: list[str]) -> dict[str, DeployCard]:
        """The open deploy cards of these services, in one BatchGetItem (per 100), by service ARN."""
        found = self.table.get_many([(_pk(arn), "deploy") for arn in service_arns])
        return {pk.removeprefix("card#"): _CARD.load(data) for (pk, _), data in found.items()}

    def take(self, service_arn: str) -> DeployCard | None:
        """Remove the card and return it, to exactly one caller: the one that ends the deployment."""
        taken = self.table.delete_item(_pk(service_arn), "deploy", EXISTING_KEY, return_old=True)
        data = self.table.data(taken.old) if taken.ok else None
        return _CARD.load(data) if data else None


def _pk(service_arn: str) -> str:
    return f"card#{service_arn}"


@dataclass(frozen=True, slots=True)
class DeploymentEvent:
    service_arn: str
    state: str  # IN_PROGRESS, COMPLETED, FAILED
    deployment_id: str | None
    reason: str
    at: float
    settled_by_sweep: bool = False  # no event arrived: the one-minute sweep asked ECS (DeploymentTracker.sweep)
    account: str = ""  # the event's `account`; empty: the service ARN's (see `accounts`)
    region: str = ""  # the event's `region`; empty: the service ARN's

    @property
    def accounts(self) -> set[tuple[str, str]]:
        """Every (account, region) the event names: its own, and its service ARN's (one, when they agree)."""
        parts = self.service_arn.split(":")
        from_arn = (parts[4], parts[3]) if len(parts) > 5 else ("", "")
        named = {(self.account or from_arn[0], self.region or from_arn[1])}
        return named | ({from_arn} if all(from_arn) else set())

    @classmethod
    def parse(cls, event: dict[str, Any], clock: Clock = system_clock) -> DeploymentEvent | None:
        """The EventBridge event, or None when it is not an ECS deployment state change. `clock` dates an
        event that carries no time of its own."""
        if event.get("source") != "aws.ecs" or event.get("detail-type") != "ECS Deployment State Change":
            return None
        detail = event.get("detail") or {}
        state = EVENT_STATES.get(str(detail.get("eventName", "")))
        resources = event.get("resources") or []
        if state is None or not resources:
            return None
        at = clock()
        if stamp := detail.get("updatedAt") or event.get("time"):
            with contextlib.suppress(ValueError):
                at = datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
        return cls(
            str(resources[0]),
            state,
            detail.get("deploymentId"),
            str(detail.get("reason", "")),
            at,
            account=str(event.get("account") or ""),
            region=str(event.get("region") or ""),
        )


def _settled(card: DeployCard, state: ServiceState, now: float) -> DeploymentEvent | None:
    """The end of `card`'s deployment as ECS reports it now; None while ECS says it is still rolling out."""
    arn = state.arn
    if state.deployment_id == card.deployment_id or not card.deployment_id:
        if state.rollout_state == "COMPLETED":
            return DeploymentEvent(arn, "COMPLETED", card.deployment_id, "", now, settled_by_sweep=True)
        if state.rollout_state == "FAILED":
            reason = state.rollout_reason or "ECS reports the deployment failed"
            return DeploymentEvent(arn, "FAILED", card.deployment_id, reason, now, settled_by_sweep=True)
        return None
    same = (family_of(state.task_definition), revision_of(state.task_definition)) == (
        family_of(card.task_definition),
        revision_of(card.task_definition),
    )
    if same and state.rollout_state == "COMPLETED":
        return DeploymentEvent(arn, "COMPLETED", card.deployment_id, "", now, settled_by_sweep=True)
    reason = f"ECS no longer runs this deployment; the service runs revision {state.revision}"
    return DeploymentEvent(arn, "FAILED", card.deployment_id, reason, now, settled_by_sweep=True)


@dataclass(eq=False)
class DeploymentTracker:
    """`running`: the task definition the card's service runs now (ECS), None when unknown."""

    cards: DeployCards
    locks: LockStore
    audit: AuditLog
    plans: PlanStore
    history: RevisionHistory
    slack: SlackPort
    clock: Clock = system_clock
    running: Callable[[DeployCard], str | None] = lambda card: None
    # The environments whose account and region an event must come from; empty: not checked.
    environments: Sequence[EnvironmentConfig] = ()
    # Told of each deployment that ended (completed or failed), once: the App Home's refresh (bot.home).
    on_ended: list[Callable[[DeployCard], None]] = field(default_factory=list)

    def on_event(self, event: DeploymentEvent) -> str:
        """Apply one event; returns what was done (for logs and tests): "foreign" when it comes from an
        account and region no environment names, or from another than its card's environment's."""
        owners = self._owners(event)
        if owners is not None and not owners:
            named = ", ".join(f"account {a or '?'} in {r or '?'}" for a, r in sorted(event.accounts))
            known = ", ".join(f"{e.name}: {e.account_id} in {e.region}" for e in self.environments)
            log.warning(
                "deployment event for %s is from %s, which no environment names (%s): dropped",
                event.service_arn,
                named,
                known,
            )
            return "foreign"
        card = self.cards.get(event.service_arn)
        if card is None:
            log.info("deployment event for %s: not started by the bot, ignored", event.service_arn)
            return "ignored"
        if owners is not None and card.env not in owners:
            log.warning(
                "deployment event for %s is from %s's account and region, not its card's environment %s: ignored",
                event.service_arn,
                " / ".join(sorted(owners)),
                card.env,
            )
            return "foreign"
        if card.deployment_id and event.deployment_id and card.deployment_id != event.deployment_id:
            log.info("deployment %s is not the bot's (%s), ignored", event.deployment_id, card.deployment_id)
            return "ignored"
        if event.state == "IN_PROGRESS":
            self._show(card, "IN_PROGRESS", "")
            return "in_progress"
        taken = self.cards.take(event.service_arn)
        if taken is None:
            return "duplicate"
        took = render.span(event.at - taken.started_at, compact=True)
        asked = " (no event arrived: settled by asking ECS)" if event.settled_by_sweep else ""
        # From here the card is taken: every step is best-effort, so that one failing write never leaves the card
        # "in progress" for good (no retry of this event finds the card again).
        if taken.release_lock:  # only the hold this deploy took: a lock someone took meanwhile stays
            holder = taken.requested_by or None
            self._note(
                "release of the deploy's lock",
                lambda: self.locks.release(taken.env, taken.service, holder, taken.plan_id),
            )
        restored = False
        if event.state == "COMPLETED":
            self._note(
                "steady state in the revision history",
                lambda: self.history.ran(taken.env, taken.service, taken.task_definition, event.at),
            )
            detail = f"Completed in {took}{asked}."
        else:
            restored = self._failed(taken, event)
            reason = render.escape(event.reason.strip().rstrip(".")) or "no reason given"
            detail = f"Failed after {took}{asked}: {reason}."
            if restored:
                detail += (
                    f" The circuit breaker put revision {revision_of(taken.from_task_definition)} back;"
                    " nothing to roll back."
                )
            else:
                detail += " The circuit breaker may still be rolling back; check /status before rolling back."
        self.audit.record_safe(
            taken.env, taken.service, taken.actor, taken.summary, event.state.lower(), detail, taken.plan_id
        )
        self._show(taken, event.state, detail, offer_rollback=event.state == "FAILED" and not restored)
        self._reply(taken, render.info(f"{taken.summary}: {detail}"))
        for hook in self.on_ended:
            try:
                hook(taken)
            except Exception:  # the deployment's end is recorded and shown: a hook never undoes that
                log.exception("after the end of %s's deployment, a hook failed", taken.service)
        return event.state.lower()

    def _owners(self, event: DeploymentEvent) -> set[str] | None:
        """The environments in the one account and region the event comes from; None when not checked."""
        if not self.environments:
            return None
        if len(event.accounts) != 1:
            return set()
        [(account, region)] = event.accounts
        return {e.name for e in self.environments if (e.account_id, e.region) == (account, region)}

    def _reply(self, card: DeployCard, reply: render.Message) -> None:
        for channel, ts in ((card.channel, card.ts), *card.copies):
            try:
                self.slack.post(channel, reply, thread_ts=ts)
            except Exception:
                log.exception("could not reply in the deploy card's thread in %s", channel)

    def superseded(self, card: DeployCard, detail: str) -> None:
        """End a card whose rollout another one (a rollback) replaced: card, copies, thread and audit say so."""
        self.audit.record_safe(card.env, card.service, card.actor, card.summary, "superseded", detail, card.plan_id)
        self._show(card, "SUPERSEDED", detail)
        self._reply(card, render.info(f"{card.summary}: {detail}"))

    def sweep(self, states: Sequence[ServiceState], timeout_seconds: Callable[[ServiceState], float]) -> list[str]:
        """Settle every deploy card that heard no event for longer than its service's deployment timeout,
        from what ECS says now (the services' states, one DescribeServices per ten services): a card
        never stays "in progress" because an event was lost. Returns what was done, per card settled."""
        described = [s for s in states if s.exists and s.arn]
        cards = self.cards.many([s.arn for s in described])
        now = self.clock()
        done = []
        for state in described:
            card = cards.get(state.arn)
            if card is None or now - card.started_at < timeout_seconds(state):
                continue
            event = _settled(card, state, now)
            if event is not None:
                done.append(self.on_event(event))
        return done

    def _failed(self, card: DeployCard, event: DeploymentEvent) -> bool:
        """Record the failure; True if ECS already runs the revision from before (the circuit breaker's
        rollback), which is then recorded as rolled back from by it."""
        history = self.history
        self._note(
            "failure in the revision history",
            lambda: history.failed(card.env, card.service, card.task_definition, event.reason),
        )
        try:
            running = self.running(card)
        except Exception:
            log.warning("could not read which revision %s runs now", card.service, exc_info=True)
            running = None
        before = card.from_task_definition
        if running is None or (family_of(running), revision_of(running)) != (family_of(before), revision_of(before)):
            return False
        how = RolledBackBy.CIRCUIT_BREAKER
        self._note(
            "circuit breaker rollback in the revision history",
            lambda: history.rolled_back_from(card.env, card.service, card.task_definition, how, at=event.at),
        )
        return True

    @staticmethod
    def _note(what: str, write: Callable[[], object]) -> None:
        try:
            write()
        except Exception:
            log.warning("could not record the %s", what, exc_info=True)

    def _show(self, card: DeployCard, rollout: str, detail: str, offer_rollback: bool = False) -> None:
        try:
            plan = self.plans.load(card.plan_id)
        except Exception:  # the card is still shown, from what the deploy card holds
            log.warning("could not read the plan of %s's deploy card", card.service, exc_info=True)
            plan = None
        if plan is not None:
            message = render.result_card(plan, card.actor, card.started_at, "Confirmed", detail, rollout)
        else:
            message = render.info(f"{card.summary}: rollout {rollout.lower()}. {detail}")
        if offer_rollback:
            message["blocks"].append(render.rollback_button(card.service, card.env).to_dict())
        try:
            self.slack.update(card.channel, card.ts, message)
        except Exception:
            log.exception("could not update the deploy card")
        for channel, ts in card.copies:  # its copies in the routed channels (bot.routing)
            try:
                self.slack.update(channel, ts, render.copy_of(message, card.channel))
            except Exception:
                log.exception("could not update the deploy card's copy in %s", channel)
