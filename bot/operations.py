"""The one path every mutation takes: who -> plan -> confirm -> run once -> audit.

    request()  a command (or a button that asks for a change) is authorised, planned and shown as a
               plan card with Confirm / Cancel; where the environment needs no confirmation it runs at once.
    confirm()  the Confirm click: checked again for expiry, role (user groups read afresh) and four-eyes;
               a refusal is told to that person only and leaves the plan pending. Then a compare-and-set
               of the plan's status (pending -> executing) lets exactly one click run it, whatever the
               number of clicks, people or deliveries; supersession and lock are checked, the change is
               made and audited. Bookkeeping after the change never turns it into a failure.
    cancel()   the Cancel click.

No other module calls the platform's mutating methods. What others must learn of a change that ran (an
alarm card showing what was done from its button) they learn from the `on_executed` hooks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot import render
from bot.access import AccessPolicy
from bot.commands import Deploy, Rollback, Scale
from bot.config import Config, Role, Target
from bot.errors import BotError, NotAllowedError
from bot.history import RolledBackBy
from bot.model import Action, Change, Plan, PlanStatus, ServiceState, family_of
from bot.plans import Planner, Requester
from bot.platform import Platform
from bot.slack import Respond, SlackPort
from bot.state import DeployCard, LastChange, LockedError, StateStore

log = logging.getLogger(__name__)
Executed = Callable[[Plan], None]  # told of each plan that ran (status done), after its card shows it

NEEDED_ROLE = {Action.DEPLOY: Role.DEPLOYER, Action.ROLLBACK: Role.DEPLOYER, Action.SCALE: Role.OPERATOR}
ACTION_OF = {Deploy: Action.DEPLOY, Rollback: Action.ROLLBACK, Scale: Action.SCALE}
BOOKKEEPING_ATTEMPTS = 3  # each already retried by botocore's adaptive mode
BOOKKEEPING_BACKOFF_SECONDS = 0.2


class Superseded(BotError):
    pass


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    text: str
    rollout: str | None = None


class Operations:
    def __init__(
        self,
        config: Config,
        platform: Platform,
        state: StateStore,
        access: AccessPolicy,
        slack: SlackPort,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.platform = platform
        self.state = state
        self.access = access
        self.slack = slack
        self.clock = clock
        self.sleep = sleep
        self.planner = Planner(config, platform, state)
        self.history = self.planner.history
        self.on_executed: list[Executed] = []

    # --- audit ------------------------------------------------------------------------------------

    def _audit(
        self,
        env: str,
        service: str,
        who: str,
        request: str,
        decision: str,
        outcome: str = "",
        plan_id: str = "",
    ) -> None:
        self.state.audit_safe(env, service, who, request, decision, outcome, plan_id)

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
        decision = self.access.check(who.user, who.channel, env.name, NEEDED_ROLE[action])
        if not decision.allowed:
            self._audit(env.name, command.service, who.user, text, "denied", decision.reason)
            respond(render.error(NotAllowedError(decision.reason)))
            return
        try:
            plan = self.planner.plan(command, who)
            plan.via = via.value if action is Action.ROLLBACK else None
            plan.from_alarm = from_alarm
            if action is not Action.SCALE:
                lock = self.state.lock(env.name, command.service)
                if lock is not None and lock.holder != who.user:
                    raise LockedError(lock)
        except BotError as error:
            self._audit(env.name, command.service, who.user, text, "rejected", str(error))
            respond(render.error(error))
            return
        if not self.state.create_plan(plan):
            return  # the same Slack request, delivered again: the first delivery answers it
        self._audit(env.name, command.service, who.user, text, "planned", plan.summary, plan.id)
        if not env.confirmation_required:
            self._confirm_plan(plan, who, respond, post_to=who.channel)
            return
        plan.message_ts = self.slack.post(who.channel, render.plan_card(plan, True, env.four_eyes))
        if not self.state.move_plan(plan, PlanStatus.PENDING):
            # Confirmed or cancelled from the card before its ts was stored here: that outcome stands.
            log.info("plan %s was settled before its card was saved", plan.id)

    # --- confirm / cancel ---------------------------------------------------------------------------

    def confirm(self, plan_id: str, who: Requester, respond: Respond) -> None:
        plan = self.state.load_plan(plan_id)
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
        refusal = self._refusal(plan, who)
        if refusal is not None:
            respond(render.info(refusal))
            return
        plan.status, plan.confirmed_by = PlanStatus.EXECUTING, who.user
        if not self.state.move_plan(plan, PlanStatus.PENDING):
            current = self.state.load_plan(plan.id)
            if current is not None:
                self._answer_settled(current, who, respond)
            return
        reply = self._execute_confirmed(plan, who, post_to)
        if reply:
            respond(render.info(reply))

    def _refusal(self, plan: Plan, who: Requester) -> str | None:
        """Why `who` may not confirm `plan` now (audited), or None."""
        request = f"/{plan.action.value} confirm {plan.summary}"
        now = self.clock()
        if plan.expired(now):
            self._audit(plan.env, plan.service, who.user, request, "expired", "", plan.id)
            self._close_card(plan, "Expired; plan again", who.user, now)
            return f"This plan expired at {render.short_time(plan.expires_at)} UTC. Plan again."
        env = self.config.environment(plan.env)
        needed = NEEDED_ROLE[plan.action]
        # Membership of user groups is read again here: a change to production waits for no cache.
        decision = self.access.check(who.user, who.channel or plan.channel, env.name, needed, fresh=True)
        if not decision.allowed:
            self._audit(plan.env, plan.service, who.user, request, "denied", decision.reason, plan.id)
            return decision.reason
        if env.four_eyes and who.user == plan.requested_by:
            reason = (
                f"Four-eyes: someone else with the {needed.label} role must confirm a plan you made. "
                "The Confirm button stays on the card for them."
            )
            self._audit(plan.env, plan.service, who.user, request, "denied", reason, plan.id)
            return reason
        return None

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

    def _execute_confirmed(self, plan: Plan, who: Requester, post_to: str | None) -> str | None:
        """Make the change of a plan this click moved to executing; returns what the person must still be
        told (None when the card says it all). Once AWS has made the change, the outcome is "executed"
        whatever happens to the bookkeeping after it."""
        request = f"/{plan.action.value} confirm {plan.summary}"
        self._audit(plan.env, plan.service, who.user, request, "confirmed", "", plan.id)
        target = self.config.target(plan.service, plan.env)
        try:
            outcome, updated, took_lock = self._execute(plan, target)
        except Exception as unexpected:
            error = unexpected if isinstance(unexpected, BotError) else self._unexpected(unexpected)
            plan.status = PlanStatus.FAILED
            self._keep("mark the plan failed", lambda: self.state.move_plan(plan, PlanStatus.EXECUTING))
            decision_text = "superseded" if isinstance(error, Superseded) else "failed"
            self._audit(plan.env, plan.service, who.user, request, decision_text, str(error), plan.id)
            self._show_result(plan, who.user, Outcome(False, f":x: {error}"), post_to)
            return str(error)
        self._record_done(plan, who, request, outcome, updated)
        ts = self._show_result(plan, who.user, outcome, post_to)
        if outcome.rollout is not None and updated is not None:
            self._track_rollout(plan, who, outcome, updated, ts, took_lock, post_to)
        if plan.action is Action.SCALE and ts is not None:
            self._tell_lock_holder(plan, who, ts, post_to or plan.channel)
        for hook in self.on_executed:
            try:
                hook(plan)
            except Exception:  # like the bookkeeping: it never turns a change that happened into a failure
                log.exception("after the change, a hook failed for plan %s", plan.id)
        if ts is None and (post_to is not None or plan.message_ts):
            # Slack refused the card even after retries: the person learns the outcome here instead.
            return f"{plan.summary}: {outcome.text} (The card could not be updated in Slack.)"
        return None

    def _record_done(
        self, plan: Plan, who: Requester, request: str, outcome: Outcome, updated: ServiceState | None
    ) -> None:
        plan.status = PlanStatus.DONE
        self._keep("mark the plan done", lambda: self.state.move_plan(plan, PlanStatus.EXECUTING))
        if updated is not None and plan.image is not None:
            image = plan.image
            self._keep("cache the new revision's image", lambda: self.state.cache_image(updated.task_definition, image))
            self._record_revisions(plan, who, updated.task_definition, image)
        change = LastChange(plan.requested_by, plan.summary, self.clock())
        self._keep("record the last change", lambda: self.state.set_last_change(plan.env, plan.service, change))
        self._audit(plan.env, plan.service, who.user, request, "executed", outcome.text, plan.id)

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

    def _track_rollout(
        self,
        plan: Plan,
        who: Requester,
        outcome: Outcome,
        updated: ServiceState,
        ts: str | None,
        took_lock: bool,
        post_to: str | None,
    ) -> None:
        """Save the deploy card for the deployment tracker, which moves it on and releases the lock. If it
        cannot be saved, nothing would ever release the lock this deploy took: release it now."""
        home = post_to or plan.channel
        copies = self._post_copies(plan, home, who.user, outcome, post_to) if ts is not None else ()
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
            release_lock=took_lock,
            requested_by=plan.requested_by,
            copies=copies,
        )
        if ts is not None and self._keep(
            "save the deploy card", lambda: self.state.save_deploy_card(updated.arn, card)
        ):
            return
        if took_lock:
            self._keep(
                "release the deploy lock",
                lambda: self.state.release_lock(plan.env, plan.service, plan.requested_by),
            )

    def _tell_lock_holder(self, plan: Plan, who: Requester, ts: str, channel: str) -> None:
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

    @staticmethod
    def _unexpected(error: Exception) -> BotError:
        log.error("unexpected failure while executing a plan", exc_info=error)
        return BotError(
            "The change failed on the bot's side.",
            "Check /status to see where the service is; the details are in the bot's logs.",
        )

    def _show_result(self, plan: Plan, by: str, outcome: Outcome, post_to: str | None) -> str | None:
        message = render.result_card(
            plan, by, self.clock(), "Confirmed" if post_to is None else "Run", outcome.text, outcome.rollout
        )
        try:
            if post_to is not None:
                return self.slack.post(post_to, message)
            if plan.message_ts:
                self.slack.update(plan.channel, plan.message_ts, message)
                return plan.message_ts
        except Exception:  # Slack being down must not undo or hide a change that happened
            log.exception("could not show the result in Slack")
        return None

    def _post_copies(
        self, plan: Plan, home: str, by: str, outcome: Outcome, post_to: str | None
    ) -> tuple[tuple[str, str], ...]:
        """A copy of the deploy card in each routed channel other than the one it was asked in (bot.routing);
        the deployment tracker updates every copy with the card. A copy Slack refuses is logged and left out."""
        from bot.routing import Kind, Router

        channels = [c for c in Router(self.config).route(Kind.DEPLOY, plan.env, plan.service) if c != home]
        if not channels:
            return ()
        message = render.copy_of(
            render.result_card(
                plan, by, self.clock(), "Confirmed" if post_to is None else "Run", outcome.text, outcome.rollout
            ),
            home,
        )
        copies = []
        for channel in channels:
            try:
                copies.append((channel, self.slack.post(channel, message)))
            except Exception:
                log.exception("could not post the copy of the deploy card in %s", channel)
        return tuple(copies)

    def _close_card(self, plan: Plan, outcome: str, by: str, at: float) -> None:
        if plan.message_ts:
            try:
                self.slack.update(plan.channel, plan.message_ts, render.plan_closed(plan, outcome, by, at))
            except Exception:
                log.exception("could not update the plan card")

    def cancel(self, plan_id: str, who: Requester, respond: Respond) -> None:
        plan = self.state.load_plan(plan_id)
        if plan is None:
            respond(render.error(BotError("This plan is unknown or too old.", "Nothing to cancel.")))
            return
        decision = self.access.check(who.user, who.channel or plan.channel, plan.env, NEEDED_ROLE[plan.action])
        if not decision.allowed and who.user != plan.requested_by:
            request = f"/{plan.action.value} cancel {plan.summary}"
            self._audit(plan.env, plan.service, who.user, request, "denied", decision.reason, plan.id)
            respond(render.error(NotAllowedError(decision.reason)))
            return
        if plan.status is not PlanStatus.PENDING:
            respond(render.info(f"This plan is already {plan.status.value}."))
            return
        plan.status, plan.confirmed_by = PlanStatus.CANCELLED, who.user
        if not self.state.move_plan(plan, PlanStatus.PENDING):
            respond(render.info("This plan was confirmed or cancelled meanwhile."))
            return
        self._audit(
            plan.env,
            plan.service,
            who.user,
            f"/{plan.action.value} cancel {plan.summary}",
            "cancelled",
            "",
            plan.id,
        )
        self._close_card(plan, "Cancelled", who.user, self.clock())

    # --- execution ----------------------------------------------------------------------------------

    def _execute(self, plan: Plan, target: Target) -> tuple[Outcome, ServiceState | None, bool]:
        """Make the change. Raises BotError with nothing left half-done."""
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
            return self._scale(plan, target), None, False
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
                updated = self.platform.update_service(target, task_definition=plan.to_task_definition)
        except Exception:
            if took_lock:
                self.state.release_lock(target.env, target.name, plan.requested_by)
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
        return Outcome(True, text, rollout="IN_PROGRESS"), updated, took_lock

    def _supersede_rollout(self, plan: Plan, service_arn: str, revision: int) -> bool:
        """A rollback during a rollout (an alarm right after a deploy) ends that rollout's card as superseded,
        so no card stays "in progress"; returns whether that rollout held the lock this rollback now does."""
        from bot.deployments import DeploymentTracker  # bot.deployments imports this module

        by = plan.confirmed_by or plan.requested_by
        try:
            card = self.state.take_deploy_card(service_arn)
            if card is None:
                return False
            tracker = DeploymentTracker(self.state, self.slack, self.clock)
            tracker.superseded(card, f"Superseded by a rollback to revision {revision} by <@{by}>.")
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
        existing = self.state.lock(target.env, target.name)
        self.state.acquire_lock(
            target.env,
            target.name,
            plan.requested_by,
            existing.reason if existing else f"{plan.action.value} in progress",
            60 * target.environment.lock_ttl_minutes,
        )
        return existing is None

    def _deploy(self, plan: Plan, target: Target, current: ServiceState) -> ServiceState:
        assert plan.image is not None
        definition = self.platform.task_definition(target, current.task_definition)
        new_arn = self.platform.register_revision(target, definition, plan.image)
        try:
            return self.platform.update_service(target, task_definition=new_arn)
        except BotError as error:
            try:
                self.platform.deregister_revision(target, new_arn)
                cleanup = f"The new revision {new_arn.rpartition('/')[2]} was deregistered again."
            except BotError:
                cleanup = f"The new revision {new_arn.rpartition('/')[2]} could not be deregistered; it is unused."
            raise BotError(str(error), cleanup) from error

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
