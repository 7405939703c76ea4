"""The buttons of an alarm card, each through the same safety path as the slash commands.

Roll back   -> Operations.request(Rollback to the revision that ran before the deploy): role, plan card,
               Confirm, exactly once, audit
Scale up    -> Operations.request(Scale to desired + the service's scale_step, at most max_tasks): the same
Show logs   -> viewer; the service's log lines around the alarm's time, in the card's thread (once per click)
Acknowledge -> operator; records who (once per click, audited) and shows it on the card
Mute        -> operator; the relay stops notifying for alarms.mute_minutes (stored with that expiry), audited
Acknowledge and Mute also stop the card's escalation (bot.alarms.escalation); both redraw the card's copies too.

A plan made from Roll back or Scale up names the incident it came from (Plan.from_alarm). When it has run,
Operations' on_executed hook calls `executed`: the change is recorded for the incident (AlarmDone) and the
card shows it in place of the button ("Rolled back to revision 3 by @x at 10:42 UTC"). A plan that was
only made, cancelled, refused or failed never gets there, so the button stays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot import render
from bot.alarms import cards
from bot.alarms.escalation import Escalations, Stop
from bot.alarms.store import AlarmAck, AlarmCard, AlarmDone, AlarmMute, AlarmRecord, AlarmStore
from bot.commands import Rollback, Scale
from bot.config import Config, Role
from bot.errors import BotError, NotAllowedError
from bot.history import RolledBackBy
from bot.model import LOG_LINES, Action, Plan, revision_of
from bot.plans import Requester
from bot.slack import Respond

if TYPE_CHECKING:
    from bot.access import AccessPolicy
    from bot.clock import Clock
    from bot.idempotency import Once
    from bot.operations import Operations
    from bot.platform import Platform
    from bot.slack import SlackPort
    from bot.stores import AuditLog

log = logging.getLogger(__name__)


def _no_card() -> BotError:
    return BotError("The bot has no record of this alarm's card any more.", "Use `/alarms` to see alarms now.")


def alarm_name(alarm_key: str) -> str:
    """`<account>#<region>#<name>` -> name (names may hold '#')."""
    parts = alarm_key.split("#", 2)
    return parts[2] if len(parts) == 3 else alarm_key


@dataclass
class AlarmActions:
    config: Config
    access: AccessPolicy
    platform: Platform
    operations: Operations
    alarms: AlarmStore
    audit: AuditLog
    slack: SlackPort
    once: Once
    escalations: Escalations
    clock: Clock

    def click(self, action_id: str, value: str, who: Requester, respond: Respond) -> None:
        try:
            button = cards.ButtonValue.decode(value)
        except ValueError:
            raise BotError("This alarm button's value is not one the bot made.", "Use the slash commands.") from None
        if button.env not in self.config.environment_names or (
            button.service is not None and button.service not in self.config.service_names
        ):
            raise BotError("This button no longer matches a configured service.", "Use the slash commands.")
        card = self._check_against_card(button)
        handlers: dict[str, Callable[[cards.ButtonValue, AlarmCard | None, Requester, Respond], None]] = {
            cards.ROLLBACK: self.rollback,
            cards.SCALE_UP: self.scale_up,
            cards.LOGS: self.logs,
            cards.ACK: self.acknowledge,
            cards.MUTE: self.mute,
        }
        handler = handlers.get(action_id)
        if handler is None:
            raise BotError("This alarm button is not known to the bot.", "Use the slash commands.")
        handler(button, card, who, respond)

    # --- changes: the operations path -------------------------------------------------------------------

    def rollback(self, button: cards.ButtonValue, card: AlarmCard | None, who: Requester, respond: Respond) -> None:
        if button.service is None or button.revision is None:
            raise BotError("This alarm has no deploy to roll back.", "Use `/rollback <service> <revision>`.")
        text = f"/rollback {button.service} {button.revision} {button.env} (alarm {alarm_name(button.alarm)})"
        command = Rollback(button.service, button.revision, button.env)
        incident = card.incident if card is not None else None
        self.operations.request(command, who, text, respond, via=RolledBackBy.ALARM, from_alarm=incident)

    def scale_up(self, button: cards.ButtonValue, card: AlarmCard | None, who: Requester, respond: Respond) -> None:
        if button.service is None:
            raise BotError("This alarm belongs to no known service.", "Use `/scale <service> <count>`.")
        target = self.config.target(button.service, button.env)
        request = f"scale up {button.service} {button.env} (alarm {alarm_name(button.alarm)})"
        if not self._allowed(who, button, Role.OPERATOR, request, respond):
            return
        current = self.platform.service(target)
        ceiling = target.service.max_tasks
        if current.desired >= ceiling:
            raise BotError(
                f"{target.name} ({target.env}) already wants {current.desired} tasks, its configured maximum.",
                "Raise max_tasks in the bot's config, or use `/scale` with another count.",
            )
        count = min(current.desired + target.service.scale_step, ceiling)
        text = (
            f"/scale {target.name} {count} {target.env} (alarm {alarm_name(button.alarm)}: +{count - current.desired})"
        )
        command = Scale(target.name, count, target.env)
        incident = card.incident if card is not None else None
        self.operations.request(command, who, text, respond, from_alarm=incident)

    # --- a change from the card ran -----------------------------------------------------------------------

    def executed(self, plan: Plan) -> None:
        """Operations' on_executed hook: a plan made from this alarm's card ran. Record it for the incident, and
        show it on the card (and its copies) in place of the button; a card that moved on to another incident
        since is left as it is."""
        if not plan.from_alarm or plan.action not in (Action.ROLLBACK, Action.SCALE):
            return
        key = plan.from_alarm.rpartition("@")[0]  # the incident: `<alarm key>@<opened at>`
        to = revision_of(plan.to_task_definition or "") if plan.action is Action.ROLLBACK else plan.desired_count
        if to is None:  # a scale that only hands back to autoscaling: not a card's Scale up
            return
        by = plan.confirmed_by or plan.requested_by
        done = AlarmDone(plan.action.value, to, by, plan.requested_by, self.clock(), plan.from_alarm, plan.id)
        self.alarms.done(key, done)
        record = self.alarms.record(key, now=self.clock())
        if record.card is not None and record.card.incident == plan.from_alarm:
            self._draw(record)

    def _check_against_card(self, button: cards.ButtonValue) -> AlarmCard | None:
        """The value's environment and service are the ones of the card stored for its alarm: a value rewritten
        on its way (anyone in the workspace can send one) could otherwise have the role checked for another
        environment than the card's, or a change made to another service shown on this card. Without a stored
        card there is nothing to show a change on, and what the value asks for is checked as the typed command.
        Returns the card: None when none is stored or the store cannot be read (Roll back and Scale up still
        plan, their plan not shown on a card; the other buttons need the card)."""
        try:
            card = self.alarms.record(button.alarm, now=self.clock()).card
        except BotError:
            log.warning("could not read the card of %s; a plan from it is not shown on it", button.alarm, exc_info=True)
            return None
        if card is not None and (card.env, card.service) != (button.env, button.service):
            log.warning(
                "alarm button value does not match its card",
                extra={"alarm": button.alarm, "value_env": button.env, "value_service": button.service},
            )
            raise BotError(
                "This button does not match its alarm's card.",
                "Use the buttons of the card as the bot last drew it, or the slash commands.",
            )
        return card

    # --- logs, acknowledge, mute ------------------------------------------------------------------------------

    def logs(self, button: cards.ButtonValue, card: AlarmCard | None, who: Requester, respond: Respond) -> None:
        if button.service is None:
            raise BotError("This alarm belongs to no known service, so there are no logs to show.", "Use `/logs`.")
        request = f"show logs of {button.service} (alarm {alarm_name(button.alarm)})"
        if not self._allowed(who, button, Role.VIEWER, request, respond):
            return
        if card is None:
            raise _no_card()
        target = self.config.target(button.service, button.env)
        window = self.config.alarms.log_window_minutes
        at = card.changed_at if card.state != "OK" else card.opened_at
        until = datetime.fromtimestamp(at, UTC) + timedelta(minutes=window)
        read = self.platform.read_logs(target, timedelta(minutes=2 * window), None, LOG_LINES, until=until)
        message = cards.logs_reply(target, read, at, window, LOG_LINES)

        def post() -> dict[str, Any]:
            if card.ts and not card.in_digest:
                return {"ts": self.slack.post(card.channel, message, thread_ts=card.ts)}
            respond(message)
            return {}

        if not self.once.run(f"click:{who.key}", post).ran_here:
            respond(render.info("These logs were posted already for this click."))

    def acknowledge(self, button: cards.ButtonValue, _: AlarmCard | None, who: Requester, respond: Respond) -> None:
        """The card is read again inside the once-only work: the state that work acts on."""
        request = f"acknowledge alarm {alarm_name(button.alarm)}"
        if not self._allowed(who, button, Role.OPERATOR, request, respond):
            return

        def work() -> dict[str, Any]:
            record = self._card(button)
            assert record.card is not None
            if record.current_ack is not None:
                by = record.current_ack.by
                return {"reply": f"Already acknowledged by <@{by}> at {render.short_time(record.current_ack.at)} UTC."}
            ack = AlarmAck(who.user, self.clock(), record.card.incident)
            self.alarms.acknowledge(button.alarm, ack)
            self._stop_escalation(record.card, Stop(who.user, ack.at, "acknowledged"))
            opened = f"incident opened {render.when(record.card.opened_at)}"  # the request names the alarm
            self._audit(button, record.card, who, request, "acknowledged", opened)
            self._redraw(replace(record, ack=ack), respond, "Acknowledged.")
            return {}

        self._once(who, work, respond)

    def mute(self, button: cards.ButtonValue, _: AlarmCard | None, who: Requester, respond: Respond) -> None:
        """The card is read again inside the once-only work: the state that work acts on."""
        request = f"mute alarm {alarm_name(button.alarm)}"
        if not self._allowed(who, button, Role.OPERATOR, request, respond):
            return

        def work() -> dict[str, Any]:
            record = self._card(button)
            assert record.card is not None
            now = self.clock()
            if record.mute is not None and record.mute.until > now:
                by, until = record.mute.by, render.short_time(record.mute.until)
                return {"reply": f"Already muted by <@{by}> until {until} UTC."}
            mute = AlarmMute(who.user, now, now + 60 * self.config.alarms.mute_minutes)
            self.alarms.mute(button.alarm, mute)
            self._stop_escalation(record.card, Stop(who.user, now, "muted"))
            until = f"until {render.short_time(mute.until)} UTC"
            self._audit(button, record.card, who, request, "muted", until)
            self._redraw(replace(record, mute=mute), respond, f"Muted {until}.")
            return {}

        # A press, not the card's button: a Slack retry of this press runs nothing, but the same button pressed
        # again once the mute ran out (the card shows it again, with the same value) mutes again.
        self._once(who, work, respond, press=True)

    # --- helpers ----------------------------------------------------------------------------------------------

    def _allowed(self, who: Requester, button: cards.ButtonValue, role: Role, request: str, respond: Respond) -> bool:
        decision = self.access.check(who.user, who.channel, button.env, role)
        if not decision.allowed:
            self.audit.record_safe(button.env, button.service or "", who.user, request, "denied", decision.reason)
            respond(render.error(NotAllowedError(decision.reason)))
        return decision.allowed

    def _card(self, button: cards.ButtonValue) -> AlarmRecord:
        record = self.alarms.record(button.alarm, now=self.clock())
        if record.card is None:
            raise _no_card()
        return record

    def _audit(
        self, button: cards.ButtonValue, card: AlarmCard, who: Requester, request: str, decision: str, outcome: str
    ) -> None:
        self.audit.record_safe(card.env or button.env, card.service or "", who.user, request, decision, outcome)

    def _once(
        self, who: Requester, work: Callable[[], dict[str, Any]], respond: Respond, *, press: bool = False
    ) -> None:
        key = f"click:{who.key}#{who.attempt}" if press else f"click:{who.key}"
        result = self.once.run(key, work)
        if result.ran_here:
            if result.result.get("reply"):
                respond(render.info(str(result.result["reply"])))
        elif result.in_progress:
            respond(render.info("Already being done for this click."))
        else:
            respond(render.info("Already done for this click."))

    def _stop_escalation(self, card: AlarmCard, stop: Stop) -> None:
        """Pending levels are dropped when they come due (the ack and the mute are checked then too; the stop
        also outlasts a mute that expires)."""
        try:
            self.escalations.stop(card.incident, stop)
        except BotError:
            log.exception("could not record that escalation stopped for %s", card.name)

    def _redraw(self, record: AlarmRecord, respond: Respond, note: str) -> None:
        """Show the new ack or mute on the card; from a digest (no card of its own), tell the person instead."""
        card = record.card
        assert card is not None
        if not card.ts or card.in_digest:
            respond(render.info(note))
            return
        if not self._draw(record):
            respond(render.info(f"{note} (The card could not be updated; it shows this at its next change.)"))

    def _draw(self, record: AlarmRecord) -> bool:
        """Draw the card (and its copies) from `record`; False when Slack refused (logged). A card in a digest,
        or never shown (muted), has nothing to draw."""
        card = record.card
        assert card is not None
        if not card.ts or card.in_digest:
            return True
        message = cards.alarm_card(card, record, self.config.alarms, self.clock())
        try:
            self.slack.update(card.channel, card.ts, message)
            for channel, ts in card.copies:
                if ts:
                    self.slack.update(channel, ts, message)
        except Exception:
            log.exception("could not redraw the alarm card")
            return False
        return True
