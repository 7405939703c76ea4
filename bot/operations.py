"""The one path every mutation takes: who -> plan -> confirm -> run once -> audit.

    request()  a command (or a button that asks for a change) is authorised, planned and shown as a
               plan card with Confirm / Cancel; where the environment needs no confirmation it runs at once.
    confirm()  the Confirm click: checked again for expiry, role (user groups read afresh) and four-eyes;
               a refusal is told to that person only and leaves the plan pending. Then a compare-and-set
               of the plan's status (pending -> executing) lets exactly one click run it, whatever the
               number of clicks, people or deliveries; supersession and lock are checked, the change is
               made and audited. Bookkeeping after the change never turns it into a failure.
    cancel()   the Cancel click.

The parts, each with only what it uses: `Refusals` (may this person confirm this plan now?), `Changes` (make
the change, nothing left half-done: a typed `Made`), `Publisher` (the plan and result cards in Slack), and
Operations, which runs them in order, audits each step through the request's bound `Audit`, and keeps the
books (plan status, last change, image cache, revision history, deploy card) after a change.

No other module calls the platform's mutating methods. What others must learn of a change that ran (an
alarm card showing what was done from its button) they learn from the `on_executed` hooks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, InitVar, dataclass, field

from bot import render
from bot.access import AccessPolicy
from bot.clock import Clock, system_clock
from bot.commands import Deploy, Rollback, Scale
from bot.config import Config, Role, Target
from bot.deployments import DeployCard, DeployCards
from bot.errors import BotError, NotAllowedError
from bot.history import RevisionHistory, RolledBackBy
from bot.metrics import DISCARD, EXECUTIONS, PLANS, REFUSALS, Metrics
from bot.model import Action, Change, Plan, PlanStatus, ServiceState, family_of
from bot.plans import Planner, Requester
from bot.platform import Platform
from bot.slack import Respond, SlackPort
from bot.stores import Audit, AuditLog, LastChange, LockedError, LockStore, PlanStore, StatusCache

log = logging.getLogger(__name__)
Executed = Callable[[Plan], None]  # told of each plan that ran (status done), after its card shows it
Supersede = Callable[[DeployCard, str], None]  # ends a rollout's card as superseded (DeploymentTracker.superseded)

NEEDED_ROLE = {Action.DEPLOY: Role.DEPLOYER, Action.ROLLBACK: Role.DEPLOYER, Action.SCALE: Role.OPERATOR}
ACTION_OF = {Deploy: Action.DEPLOY, Rollback: Action.ROLLBACK, Scale: Action.SCALE}
BOOKKEEPING_ATTEMPTS = 3  # each already retried by botocore's adaptive mode
BOOKKEEPING_BACKOFF_SECONDS = 0.2


class _UpdateUnknown(BotError):
    """UpdateService failed, and the service could not be read to tell whether ECS applied it anyway."""

    def __init__(self, target: Target, error: BotError) -> None:
        super().__init__(
            f"{error.message} Whether {target.name} ({target.env}) now uses the new task definition is not known.",
            f"Check with `/status {target.name} {target.env}` before trying again.",
        )


class Superseded(BotError):
    pass


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    text: str
    rollout: str | None = None


@dataclass(frozen=True, slots=True)
class Made:
    """A change AWS has made: what to show, the service as it is now (None for a scale, which starts no
    rollout) and whether this change took the service's lock (then its rollout's end releases it)."""

    outcome: Outcome
    updated: ServiceState | None = None
    took_lock: bool = False


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a person may not confirm a plan now; `expired` when no one may any more."""

    reason: str
    expired: bool = False
    kind: str = "denied"  # expired, denied, four_eyes: the REFUSALS metric's reason


def confirm_request(plan: Plan) -> str:
    return f"/{plan.action.value} confirm {plan.summary}"


def cancel_request(plan: Plan) -> str:
    return f"/{plan.action.value} cancel {plan.summary}"


# --- refusal checks --------------------------------------------------------------------------------------


@dataclass(eq=False)
class Refusals:
    """Whether a person may confirm a plan now: expiry, role (user groups read afresh), four-eyes."""

    config: Config
    access: AccessPolicy
    clock: Clock

    def of(self, plan: Plan, who: Requester, audit: Audit) -> Refusal | None:
        """Why `who` may not confirm `plan` now (audited), or None."""
        if plan.expired(self.clock()):
            audit("expired")
            return Refusal(
                f"This plan expired at {render.short_time(plan.expires_at)} UTC. Plan again.",
                expired=True,
                kind="expired",
            )
        env = self.config.environment(plan.env)
        needed = NEEDED_ROLE[plan.action]
        # Membership of user groups is read again here: a change to production waits for no cache.
        decision = self.access.check(who.user, who.channel or plan.channel, env.name, needed, fresh=True)
        if not decision.allowed:
            audit("denied", decision.reason)
            return Refusal(decision.reason)
        if env.four_eyes and who.user == plan.requested_by:
            reason = (
                f"Four-eyes: someone else with the {needed.label} role must confirm a plan you made. "
                "The Confirm button stays on the card for them."
            )
            audit("denied", reason)
            return Refusal(reason, kind="four_eyes")
        return None


# --- the change ------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Changes:
    """Makes a plan's change on the platform, refusing one the service moved away from since it was planned.
    Raises BotError with nothing left half-done."""

    platform: Platform
    planner: Planner
    locks: LockStore
    cards: DeployCards
    supersede: Supersede

    def make(self, plan: Plan, target: Target) -> Made:
        current = self.platform.service(target)
        if current.task_definition != plan.from_task_definition or (
            plan.action is Action.SCALE and current.desired != plan.from_desired
        ):
            raise Superseded(
                f"{target.name} changed since this plan was made (now revision {current.revision}, "
                f"{current.desired} desired).",
                "Plan again to see what would change now.",
            )
        if plan.action is Action.SCALE:
            return Made(self._scale(plan, target))
        if plan.action is Action.DEPLOY:
            self.planner.check_not_rolling_out(current)  # another deploy may have started since this plan
        if plan.action is Action.ROLLBACK:
            self._check_still_active(plan, target)
        took_lock = self._take_lock(plan, target)
        try:
            if plan.action is Action.DEPLOY:
                updated = self._deploy(plan, target, current)
            else:
                assert plan.to_task_definition is not None
                try:
                    updated = self._update_to(target, plan.to_task_definition)
                except _UpdateUnknown as unknown:
                    raise BotError(unknown.message, unknown.hint) from unknown
        except Exception:
            if took_lock:
                self.locks.release(target.env, target.name, plan.requested_by, plan.id)
            raise
        plan.changes = [
            Change(c.label, c.old, f"{family_of(updated.task_definition)}:{updated.revision}")
            if c.label == "task definition"
            else c
            for c in plan.changes
        ]
        text = f"Rolling out revision {updated.revision}."
        if plan.action is Action.ROLLBACK and current.arn:
            took_lock = self._supersede_rollout(plan, current.arn, updated.revision) or took_lock
        return Made(Outcome(True, text, rollout="IN_PROGRESS"), updated, took_lock)

    def _supersede_rollout(self, plan: Plan, service_arn: str, revision: int) -> bool:
        """A rollback during a rollout (an alarm right after a deploy) ends that rollout's card as superseded,
        so no card stays "in progress"; returns whether that rollout held the lock this rollback now does."""
        by = plan.confirmed_by or plan.requested_by
        try:
            card = self.cards.take(service_arn)
            if card is None:
                return False
            self.supersede(card, f"Superseded by a rollback to revision {revision} by <@{by}>.")
        except Exception:
            log.warning("could not close the card of the rollout this rollback interrupted", exc_info=True)
            return False
        return card.release_lock

    def _check_still_active(self, plan: Plan, target: Target) -> None:
        """The revision a rollback goes back to may have been deregistered since the plan was made."""
        assert plan.to_task_definition is not None
        definition = self.platform.task_definition(target, plan.to_task_definition)
        if definition.get("status") != "ACTIVE":
            revision = f"{family_of(plan.to_task_definition)}:{definition.get('revision', '?')}"
            raise Superseded(
                f"{revision} was deregistered since this plan was made, so it cannot be rolled back to.",
                "Plan again: `/rollback <service> [revision]` offers only ACTIVE revisions.",
            )

    def _take_lock(self, plan: Plan, target: Target) -> bool:
        """The deploy holds the service's lock until it completes; True if this deploy took it."""
        existing = self.locks.get(target.env, target.name)
        self.locks.acquire(
            target.env,
            target.name,
            plan.requested_by,
            existing.reason if existing else f"{plan.action.value} in progress",
            60 * target.environment.lock_ttl_minutes,
            plan=plan.id,
        )
        return existing is None

    def _deploy(self, plan: Plan, target: Target, current: ServiceState) -> ServiceState:
        assert plan.image is not None
        definition = self.platform.task_definition(target, current.task_definition)
        new_arn = self.platform.register_revision(target, definition, plan.image)
        try:
            return self._update_to(target, new_arn)
        except _UpdateUnknown as unknown:
            kept = f"The new revision {new_arn.rpartition('/')[2]} is kept: the service may be using it."
            raise BotError(unknown.message, f"{unknown.hint} {kept}") from unknown
        except BotError as error:
            try:
                self.platform.deregister_revision(target, new_arn)
                cleanup = f"The new revision {new_arn.rpartition('/')[2]} was deregistered again."
            except BotError:
                cleanup = f"The new revision {new_arn.rpartition('/')[2]} could not be deregistered; it is unused."
            raise BotError(str(error), cleanup) from error

    def _update_to(self, target: Target, task_definition: str) -> ServiceState:
        """UpdateService to `task_definition`. Its error may come after ECS applied it (the answer lost on the
        way back, the retries refused): the service is read again, and the update counts as made when the
        service now uses that revision. Raises _UpdateUnknown when the service cannot be read either."""
        try:
            return self.platform.update_service(target, task_definition=task_definition)
        except BotError as error:
            try:
                after = self.platform.service(target)
            except BotError:
                raise _UpdateUnknown(target, error) from error
            if after.task_definition.rpartition("/")[2] != task_definition.rpartition("/")[2]:
                raise
            log.warning(
                "UpdateService answered an error, yet the service uses the revision asked for: taken as made",
                extra={"service": target.name, "env": target.env, "error": str(error)},
            )
            return after

    def _scale(self, plan: Plan, target: Target) -> Outcome:
        done = []
        if plan.scaling is not None:
            self.platform.set_scaling_bounds(target, plan.scaling)
            done.append(f"autoscaling {plan.scaling.min_capacity}..{plan.scaling.max_capacity}")
        if plan.desired_count is not None:
            try:
                self.platform.update_service(target, desired_count=plan.desired_count)
            except BotError as error:
                hint = error.hint
                if plan.scaling is not None and plan.from_scaling is not None:
                    try:
                        self.platform.set_scaling_bounds(target, plan.from_scaling)
                        hint = "Autoscaling was put back as it was."
                    except BotError:
                        hint = (
                            f"Autoscaling is now {plan.scaling.min_capacity}..{plan.scaling.max_capacity} "
                            "and could not be put back; check it with /status."
                        )
                raise BotError(error.message, hint) from error
            done.insert(0, f"desired {plan.desired_count}")
        return Outcome(True, "Done: " + ", ".join(done) + ".")


# --- publishing ------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Publisher:
    """The plan's cards in Slack. Slack being down never undoes or hides a change: failures are logged."""

    config: Config
    slack: SlackPort
    clock: Clock

    def plan_card(self, plan: Plan, channel: str, four_eyes: bool) -> str:
        return self.slack.post(channel, render.plan_card(plan, True, four_eyes))

    def result(self, plan: Plan, by: str, outcome: Outcome, post_to: str | None) -> str | None:
        """Show the outcome on the plan's card (or a new card in `post_to`); its ts, None if Slack refused."""
        message = self._result_card(plan, by, outcome, post_to)
        try:
            if post_to is not None:
                return self.slack.post(post_to, message)
            if plan.message_ts:
                self.slack.update(plan.channel, plan.message_ts, message)
                return plan.message_ts
        except Exception:  # Slack being down must not undo or hide a change that happened
            log.exception("could not show the result in Slack")
        return None

    def copies(
        self, plan: Plan, home: str, by: str, outcome: Outcome, post_to: str | None
    ) -> tuple[tuple[str, str], ...]:
        """A copy of the deploy card in each routed channel other than the one it was asked in (bot.routing);
        the deployment tracker updates every copy with the card. A copy Slack refuses is logged and left out."""
        from bot.routing import Kind, Router

        channels = [c for c in Router(self.config).route(Kind.DEPLOY, plan.env, plan.service) if c != home]
        if not channels:
            return ()
        message = render.copy_of(self._result_card(plan, by, outcome, post_to), home)
        copies = []
        for channel in channels:
            try:
                copies.append((channel, self.slack.post(channel, message)))
            except Exception:
                log.exception("could not post the copy of the deploy card in %s", channel)
        return tuple(copies)

    def close(self, plan: Plan, outcome: str, by: str) -> None:
        if plan.message_ts:
            try:
                self.slack.update(plan.channel, plan.message_ts, render.plan_closed(plan, outcome, by, self.clock()))
            except Exception:
                log.exception("could not update the plan card")

    def tell_lock_holder(self, plan: Plan, who: Requester, ts: str, channel: str) -> None:
        """Scaling is allowed under someone else's lock (docs/security.md); the holder hears of it."""
        if plan.lock_holder is None or plan.lock_holder == who.user:
            return
        reason = f" ({render.escape(plan.lock_reason)})" if plan.lock_reason else ""
        note = (
            f":lock: <@{plan.lock_holder}>: <@{who.user}> scaled {plan.service} ({plan.env}) while you hold "
            f"its lock{reason}: {render.escape(plan.summary)}."
        )
        try:
            self.slack.post(channel, render.info(note), thread_ts=ts)
        except Exception:
            log.exception("could not tell the lock holder of %s about the scale", plan.service)

    def _result_card(self, plan: Plan, by: str, outcome: Outcome, post_to: str | None) -> render.Message:
        how = "Confirmed" if post_to is None else "Run"
        return render.result_card(plan, by, self.clock(), how, outcome.text, outcome.rollout)


# --- the path of a change --------------------------------------------------------------------------------


@dataclass(eq=False)
class Operations:
    """`supersede` ends a rollout's card that a rollback interrupts (DeploymentTracker.superseded)."""

    config: Config
    platform: InitVar[Platform]
    access: AccessPolicy
    slack: InitVar[SlackPort]
    _: KW_ONLY
    plans: PlanStore
    locks: LockStore
    audit: AuditLog
    status: StatusCache
    cards: DeployCards
    history: RevisionHistory
    supersede: InitVar[Supersede]
    clock: Clock = system_clock
    sleep: Callable[[float], None] = time.sleep
    metrics: Metrics = DISCARD  # PLANS, EXECUTIONS, REFUSALS by action (and outcome, reason)
    on_executed: list[Executed] = field(default_factory=list, init=False)

    def __post_init__(self, platform: Platform, slack: SlackPort, supersede: Supersede) -> None:
        self.planner = Planner(self.config, platform, self.locks, self.cards, self.history, self.clock)
        self.refusals = Refusals(self.config, self.access, self.clock)
        self.changes = Changes(platform, self.planner, self.locks, self.cards, supersede)
        self.publish = Publisher(self.config, slack, self.clock)

    # --- request ----------------------------------------------------------------------------------

    def request(
        self,
        command: Deploy | Rollback | Scale,
        who: Requester,
        text: str,
        respond: Respond,
        via: RolledBackBy = RolledBackBy.COMMAND,
        from_alarm: str | None = None,
    ) -> None:
        action = ACTION_OF[type(command)]
        env = self.config.environment(command.env)
        audit = self.audit.bound(env.name, command.service, who.user, text)
        decision = self.access.check(who.user, who.channel, env.name, NEEDED_ROLE[action])
        if not decision.allowed:
            audit("denied", decision.reason)
            self.metrics.count(REFUSALS, action=action.value, reason="denied")
            respond(render.error(NotAllowedError(decision.reason)))
            return
        try:
            plan = self.planner.plan(command, who)
            plan.via = via.value if action is Action.ROLLBACK else None
            plan.from_alarm = from_alarm
            if action is not Action.SCALE:
                lock = self.locks.get(env.name, command.service)
                if lock is not None and lock.holder != who.user:
                    raise LockedError(lock)
        except BotError as error:
            audit("rejected", str(error))
            self.metrics.count(REFUSALS, action=action.value, reason="rejected")
            respond(render.error(error))
            return
        if not self.plans.create(plan):
            return  # the same Slack request, delivered again: the first delivery answers it
        self.metrics.count(PLANS, action=action.value)
        audit.of_plan(plan.id)("planned", plan.summary)
        if not env.confirmation_required:
            self._confirm_plan(plan, who, respond, post_to=who.channel)
            return
        plan.message_ts = self.publish.plan_card(plan, who.channel, env.four_eyes)
        if not self.plans.move(plan, PlanStatus.PENDING):
            # Confirmed or cancelled from the card before its ts was stored here: that outcome stands.
            log.info("plan %s was settled before its card was saved", plan.id)

    # --- confirm / cancel ---------------------------------------------------------------------------

    def confirm(self, plan_id: str, who: Requester, respond: Respond) -> None:
        plan = self.plans.load(plan_id)
        if plan is None:
            respond(render.error(BotError("This plan is unknown or too old.", "Make a new one with the command.")))
            return
        if plan.message_ts is None and who.message_ts:
            plan.message_ts = who.message_ts  # clicked before the request stored the card's ts
        self._confirm_plan(plan, who, respond)

    def _confirm_plan(self, plan: Plan, who: Requester, respond: Respond, post_to: str | None = None) -> None:
        """Run a plan for `who` exactly once. A refusal is told to that person and stores nothing but its
        audit line, so the card's button stays usable for someone who may confirm; the compare-and-set of
        the plan's status from pending to executing is what lets one click, and only one, run it."""
        if plan.status is not PlanStatus.PENDING:
            self._answer_settled(plan, who, respond)
            return
        audit = self.audit.bound(plan.env, plan.service, who.user, confirm_request(plan), plan.id)
        refusal = self.refusals.of(plan, who, audit)
        if refusal is not None:
            self.metrics.count(REFUSALS, action=plan.action.value, reason=refusal.kind)
            if refusal.expired:
                self.publish.close(plan, "Expired; plan again", who.user)
            respond(render.info(refusal.reason))
            return
        plan.status, plan.confirmed_by = PlanStatus.EXECUTING, who.user
        if not self.plans.move(plan, PlanStatus.PENDING):
            current = self.plans.load(plan.id)
            if current is not None:
                self._answer_settled(current, who, respond)
            return
        reply = self._execute_confirmed(plan, who, audit, post_to)
        if reply:
            respond(render.info(reply))

    def _answer_settled(self, plan: Plan, who: Requester, respond: Respond) -> None:
        """A click on a plan that is no longer pending is told what happened to it, from the stored status.
        The person whose own click runs it hears nothing more: their card already says it (and a
        response_url is good for five answers only)."""
        by = plan.confirmed_by or plan.requested_by
        if by == who.user and plan.status in (PlanStatus.EXECUTING, PlanStatus.DONE, PlanStatus.FAILED):
            return
        text = {
            PlanStatus.EXECUTING: f"Already being done by <@{by}>: {plan.summary}.",
            PlanStatus.DONE: f"Already done by <@{by}>: {plan.summary}.",
            PlanStatus.FAILED: f"Already tried by <@{by}> and it failed; see the card. Plan again to retry.",
            PlanStatus.CANCELLED: f"This plan was cancelled by <@{by}>.",
        }.get(plan.status, f"This plan is {plan.status.value}.")
        respond(render.info(text))

    def cancel(self, plan_id: str, who: Requester, respond: Respond) -> None:
        plan = self.plans.load(plan_id)
        if plan is None:
            respond(render.error(BotError("This plan is unknown or too old.", "Nothing to cancel.")))
            return
        audit = self.audit.bound(plan.env, plan.service, who.user, cancel_request(plan), plan.id)
        decision = self.access.check(who.user, who.channel or plan.channel, plan.env, NEEDED_ROLE[plan.action])
        if not decision.allowed and who.user != plan.requested_by:
            audit("denied", decision.reason)
            respond(render.error(NotAllowedError(decision.reason)))
            return
        if plan.status is not PlanStatus.PENDING:
            respond(render.info(f"This plan is already {plan.status.value}."))
            return
        plan.status, plan.confirmed_by = PlanStatus.CANCELLED, who.user
        if not self.plans.move(plan, PlanStatus.PENDING):
            respond(render.info("This plan was confirmed or cancelled meanwhile."))
            return
        audit("cancelled")
        self.publish.close(plan, "Cancelled", who.user)

    # --- execution ----------------------------------------------------------------------------------

    def _execute_confirmed(self, plan: Plan, who: Requester, audit: Audit, post_to: str | None) -> str | None:
        """Make the change of a plan this click moved to executing; returns what the person must still be
        told (None when the card says it all). Once AWS has made the change, the outcome is "executed"
        whatever happens to the bookkeeping after it."""
        audit("confirmed")
        target = self.config.target(plan.service, plan.env)
        try:
            made = self.changes.make(plan, target)
        except Exception as unexpected:
            error = unexpected if isinstance(unexpected, BotError) else self._unexpected(unexpected)
            plan.status = PlanStatus.FAILED
            self._keep("mark the plan failed", lambda: self.plans.move(plan, PlanStatus.EXECUTING))
            outcome = "superseded" if isinstance(error, Superseded) else "failed"
            audit(outcome, str(error))
            self.metrics.count(EXECUTIONS, action=plan.action.value, outcome=outcome)
            self.publish.result(plan, who.user, Outcome(False, f":x: {error}"), post_to)
            return str(error)
        self._record_done(plan, who, audit, made)
        self.metrics.count(EXECUTIONS, action=plan.action.value, outcome="executed")
        ts = self.publish.result(plan, who.user, made.outcome, post_to)
        if made.outcome.rollout is not None and made.updated is not None:
            self._track_rollout(plan, who, made, ts, post_to)
        if plan.action is Action.SCALE and ts is not None:
            self.publish.tell_lock_holder(plan, who, ts, post_to or plan.channel)
        for hook in self.on_executed:
            try:
                hook(plan)
            except Exception:  # like the bookkeeping: it never turns a change that happened into a failure
                log.exception("after the change, a hook failed for plan %s", plan.id)
        if ts is None and (post_to is not None or plan.message_ts):
            # Slack refused the card even after retries: the person learns the outcome here instead.
            return f"{plan.summary}: {made.outcome.text} (The card could not be updated in Slack.)"
        return None

    @staticmethod
    def _unexpected(error: Exception) -> BotError:
        log.error("unexpected failure while executing a plan", exc_info=error)
        return BotError(
            "The change failed on the bot's side.",
            "Check /status to see where the service is; the details are in the bot's logs.",
        )

    # --- bookkeeping after a change -------------------------------------------------------------------

    def _record_done(self, plan: Plan, who: Requester, audit: Audit, made: Made) -> None:
        plan.status = PlanStatus.DONE
        self._keep("mark the plan done", lambda: self.plans.move(plan, PlanStatus.EXECUTING))
        updated = made.updated
        if updated is not None and plan.image is not None:
            image = plan.image
            self._keep(
                "cache the new revision's image", lambda: self.status.cache_image(updated.task_definition, image)
            )
            self._record_revisions(plan, who, updated.task_definition, image)
        change = LastChange(plan.requested_by, plan.summary, self.clock())
        self._keep("record the last change", lambda: self.status.set_last_change(plan.env, plan.service, change))
        audit("executed", made.outcome.text)

    def _record_revisions(self, plan: Plan, who: Requester, task_definition: str, image: str) -> None:
        """The revision history (bot.history) learns what this change did to both revisions."""
        history, env, service, before = self.history, plan.env, plan.service, plan.from_task_definition
        self._keep(
            "record the deployed revision",
            lambda: history.deployed(env, service, task_definition, image, plan.requested_by),
        )
        self._keep("record the replaced revision", lambda: history.replaced(env, service, before))
        if plan.action is Action.ROLLBACK:
            how = RolledBackBy(plan.via) if plan.via else RolledBackBy.COMMAND
            self._keep(
                "record the rollback",
                lambda: history.rolled_back_from(env, service, before, how, by=who.user),
            )

    def _track_rollout(self, plan: Plan, who: Requester, made: Made, ts: str | None, post_to: str | None) -> None:
        """Save the deploy card for the deployment tracker, which moves it on and releases the lock. If it
        cannot be saved, nothing would ever release the lock this deploy took: release it now."""
        assert made.updated is not None
        updated = made.updated
        home = post_to or plan.channel
        copies = self.publish.copies(plan, home, who.user, made.outcome, post_to) if ts is not None else ()
        card = DeployCard(
            channel=home,
            ts=ts or "",
            plan_id=plan.id,
            env=plan.env,
            service=plan.service,
            actor=who.user,
            summary=plan.summary,
            started_at=self.clock(),
            task_definition=updated.task_definition,
            from_task_definition=plan.from_task_definition,
            deployment_id=updated.deployment_id,
            release_lock=made.took_lock,
            requested_by=plan.requested_by,
            copies=copies,
        )
        if ts is not None and self._keep("save the deploy card", lambda: self.cards.save(updated.arn, card)):
            return
        if made.took_lock:
            self._keep(
                "release the deploy lock",
                lambda: self.locks.release(plan.env, plan.service, plan.requested_by, plan.id),
            )

    def _keep(self, what: str, write: Callable[[], object], attempts: int = BOOKKEEPING_ATTEMPTS) -> bool:
        """Bookkeeping after a change AWS has made: retried a few times, then logged as a warning. It never
        turns a change that happened into a failure; returns whether it was written."""
        for attempt in range(1, attempts + 1):
            try:
                write()
                return True
            except Exception:
                if attempt == attempts:
                    log.warning("after the change, could not %s (%d attempts)", what, attempts, exc_info=True)
                    return False
                self.sleep(BOOKKEEPING_BACKOFF_SECONDS * attempt)
        return False
