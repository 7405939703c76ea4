"""The one path every mutation takes: who -> plan -> confirm -> run once -> audit.

    request()  a command (or a button that asks for a change) is authorised, planned and shown as a
               plan card with Confirm / Cancel; where the environment needs no confirmation it runs at once.
    confirm()  the Confirm click: exactly once per click (Powertools Idempotency keyed on the message ts,
               action and value, plus a compare-and-set on the plan's status), checked again for role,
               four-eyes, expiry, supersession and lock, then executed and audited.
    cancel()   the Cancel click.

No other module calls the platform's mutating methods.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot import render
from bot.access import AccessPolicy
from bot.commands import Deploy, Rollback, Scale
from bot.config import Config, Role, Target
from bot.errors import BotError, NotAllowedError
from bot.idempotency import Once
from bot.model import Action, Change, Plan, PlanStatus, ServiceState, family_of
from bot.plans import Planner, Requester
from bot.platform import Platform
from bot.state import DeployCard, LastChange, LockedError, StateStore

log = logging.getLogger(__name__)
Respond = Callable[[render.Message], None]

NEEDED_ROLE = {Action.DEPLOY: Role.DEPLOYER, Action.ROLLBACK: Role.DEPLOYER, Action.SCALE: Role.OPERATOR}
ACTION_OF = {Deploy: Action.DEPLOY, Rollback: Action.ROLLBACK, Scale: Action.SCALE}


class Superseded(BotError):
    pass


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    text: str
    rollout: str | None = None


class SlackOut:
    """The few Web API calls the bot makes with its own token."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def post(self, channel: str, msg: render.Message, thread_ts: str | None = None) -> str:
        kwargs: dict[str, Any] = {"channel": channel, **msg}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        response = self.client.chat_postMessage(**kwargs)
        return str(response["ts"])

    def update(self, channel: str, ts: str, msg: render.Message) -> None:
        self.client.chat_update(channel=channel, ts=ts, **msg)


class Operations:
    def __init__(
        self,
        config: Config,
        platform: Platform,
        state: StateStore,
        access: AccessPolicy,
        slack: SlackOut,
        once: Once,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.platform = platform
        self.state = state
        self.access = access
        self.slack = slack
        self.once = once
        self.clock = clock
        self.planner = Planner(config, platform, state)

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

    def request(self, command: Deploy | Rollback | Scale, who: Requester, text: str, respond: Respond) -> None:
        action = ACTION_OF[type(command)]
        env = self.config.environment(command.env)
        decision = self.access.check(who.user, who.channel, env.name, NEEDED_ROLE[action])
        if not decision.allowed:
            self._audit(env.name, command.service, who.user, text, "denied", decision.reason)
            respond(render.error(NotAllowedError(decision.reason)))
            return
        try:
            plan = self.planner.plan(command, who)
            if action is not Action.SCALE:
                lock = self.state.lock(env.name, command.service)
                if lock is not None and lock.holder != who.user:
                    raise LockedError(lock)
        except BotError as error:
            self._audit(env.name, command.service, who.user, text, "rejected", str(error))
            respond(render.error(error))
            return
        self._audit(env.name, command.service, who.user, text, "planned", plan.summary, plan.id)
        if env.confirmation_required:
            if not self.state.create_plan(plan):
                return  # the same Slack request was planned already (a retry): one card is enough
            ts = self.slack.post(who.channel, render.plan_card(plan, True, env.four_eyes))
            plan.message_ts = ts
            self.state.save_plan(plan)
            return
        # No confirmation in this environment: run now, once per Slack request.
        self.state.save_plan(plan)
        self._run_once(plan, who, f"cmd:{who.key}", respond, post_to=who.channel)

    # --- confirm / cancel ---------------------------------------------------------------------------

    def confirm(self, plan_id: str, who: Requester, respond: Respond) -> None:
        self._run_once_by_id(plan_id, who, respond)

    def _run_once_by_id(self, plan_id: str, who: Requester, respond: Respond) -> None:
        plan = self.state.load_plan(plan_id)
        if plan is None:
            respond(render.error(BotError("This plan is unknown or too old.", "Make a new one with the command.")))
            return
        self._run_once(plan, who, f"click:{who.key}", respond)

    def _run_once(self, plan: Plan, who: Requester, key: str, respond: Respond, post_to: str | None = None) -> None:
        result = self.once.run(key, lambda: self._execute_checked(plan.id, who, post_to))
        if result.ran_here:
            if result.result.get("reply"):
                respond(render.info(str(result.result["reply"])))
            return
        if result.in_progress:
            respond(render.info(f"Already being done: {plan.summary}."))
        else:
            by = result.result.get("by") or plan.confirmed_by or plan.requested_by
            respond(render.info(f"Already done by <@{by}>: {plan.summary}."))

    def _execute_checked(self, plan_id: str, who: Requester, post_to: str | None) -> dict[str, Any]:
        """Everything a Confirm does, inside the idempotency guard; returns what a duplicate is told."""
        plan = self.state.load_plan(plan_id)
        if plan is None:
            return {
                "by": who.user,
                "reply": "This plan is unknown or too old. Make a new one with the command.",
            }
        env = self.config.environment(plan.env)
        request = f"/{plan.action.value} confirm {plan.summary}"
        if plan.status is not PlanStatus.PENDING:
            by = plan.confirmed_by or plan.requested_by
            verb = "cancelled" if plan.status is PlanStatus.CANCELLED else "already done"
            return {"by": by, "reply": f"This plan was {verb} by <@{by}>."}
        now = self.clock()
        if plan.expired(now):
            self._audit(plan.env, plan.service, who.user, request, "expired", "", plan.id)
            self._close_card(plan, "Expired; plan again", who.user, now)
            return {
                "by": who.user,
                "reply": f"This plan expired at {render.short_time(plan.expires_at)} UTC. Plan again.",
            }
        decision = self.access.check(who.user, who.channel or plan.channel, env.name, NEEDED_ROLE[plan.action])
        if not decision.allowed:
            self._audit(plan.env, plan.service, who.user, request, "denied", decision.reason, plan.id)
            return {"by": who.user, "reply": decision.reason}
        if env.four_eyes and who.user == plan.requested_by:
            reason = "Four-eyes: someone else with the role must confirm a plan you made."
            self._audit(plan.env, plan.service, who.user, request, "denied", reason, plan.id)
            return {"by": who.user, "reply": reason}
        plan.status, plan.confirmed_by = PlanStatus.EXECUTING, who.user
        if not self.state.move_plan(plan, PlanStatus.PENDING):
            current = self.state.load_plan(plan.id)
            by = (current.confirmed_by if current else None) or plan.requested_by
            return {"by": by, "reply": f"Already done by <@{by}>."}
        self._audit(plan.env, plan.service, who.user, request, "confirmed", "", plan.id)
        target = self.config.target(plan.service, plan.env)
        try:
            outcome, updated, took_lock = self._execute(plan, target)
        except Exception as unexpected:
            error = unexpected if isinstance(unexpected, BotError) else self._unexpected(unexpected)
            plan.status = PlanStatus.FAILED
            self.state.move_plan(plan, PlanStatus.EXECUTING)
            decision_text = "superseded" if isinstance(error, Superseded) else "failed"
            self._audit(plan.env, plan.service, who.user, request, decision_text, str(error), plan.id)
            self._show_result(plan, who.user, Outcome(False, f":x: {error}"), post_to)
            return {"by": who.user, "reply": str(error)}
        plan.status = PlanStatus.DONE
        self.state.move_plan(plan, PlanStatus.EXECUTING)
        self.state.set_last_change(plan.env, plan.service, LastChange(plan.requested_by, plan.summary, self.clock()))
        self._audit(plan.env, plan.service, who.user, request, "executed", outcome.text, plan.id)
        ts = self._show_result(plan, who.user, outcome, post_to)
        if outcome.rollout is not None and updated is not None and ts is not None:
            copies = self._post_copies(plan, post_to or plan.channel, who.user, outcome, post_to)
            self.state.save_deploy_card(
                updated.arn,
                DeployCard(
                    channel=post_to or plan.channel,
                    ts=ts,
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
                ),
            )
        if ts is None and (post_to is not None or plan.message_ts):
            # Slack refused the card even after retries: the person learns the outcome here instead.
            reply = f"{plan.summary}: {outcome.text} (The card could not be updated in Slack.)"
            return {"by": who.user, "reply": reply}
        return {"by": who.user}

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
        assert plan.image is not None
        self.state.cache_image(updated.task_definition, plan.image)
        plan.changes = [
            Change(c.label, c.old, f"{family_of(updated.task_definition)}:{updated.revision}")
            if c.label == "task definition"
            else c
            for c in plan.changes
        ]
        text = f"Rolling out revision {updated.revision}."
        return Outcome(True, text, rollout="IN_PROGRESS"), updated, took_lock

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
