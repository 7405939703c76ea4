"""The commands that change nothing on AWS: /status, /alarms, /logs, /ops audit, /ops routes, /ops timeline
(and its Export button), /cost, and /ops lock and unlock (which change only the bot's own state). One table
from command type to its handler and the role it needs; the role is checked (and a refusal audited) before
any handler runs.

Changes (/deploy, /rollback, /scale) take the other path, bot.operations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot import commands as c
from bot import render
from bot.config import Config, Role
from bot.errors import BotError, NotAllowedError
from bot.model import LOG_LINES
from bot.slack_text import log_group_console_url

if TYPE_CHECKING:
    from bot.access import AccessPolicy
    from bot.clock import Clock
    from bot.cost import CostReporter
    from bot.plans import Requester
    from bot.platform import Platform
    from bot.slack import Respond
    from bot.stores import AuditLog, LockStore, StatusCache
    from bot.timeline import Timelines

log = logging.getLogger(__name__)
Handler = Callable[[Any, "Requester", str], render.Message]

# The role each command needs; anything not named here needs only to see the environment.
NEEDED_ROLE: dict[type[c.Command], Role] = {c.Lock: Role.OPERATOR, c.Unlock: Role.OPERATOR}

# The locks taken or released while `ReadCommands.reply` answers: their hooks run after the person is told.
_lock_changes: ContextVar[list[tuple[str, str]] | None] = ContextVar("lock_changes", default=None)


@dataclass
class ReadCommands:
    config: Config
    platform: Platform
    access: AccessPolicy
    locks: LockStore
    audit_log: AuditLog
    status_cache: StatusCache
    clock: Clock
    cost_reporter: Callable[[], CostReporter]
    timelines: Callable[[], Timelines] | None = None
    handlers: dict[type[c.Command], Handler] = field(init=False)
    # Told (env, service) after a lock is taken or released (the App Home's refresh, bot.home), after the
    # person's answer when `reply` runs the command; a hook that fails is logged, never the person's answer.
    on_lock_change: list[Callable[[str, str], None]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.handlers = {
            c.Status: self.status,
            c.Alarms: self.alarms,
            c.Logs: self.logs,
            c.Audit: self.audit,
            c.Lock: self.lock,
            c.Unlock: self.unlock,
            c.Routes: self.routes,
            c.Cost: self.cost,
            c.Timeline: self.timeline,
        }

    def answer(self, command: c.Command, who: Requester, text: str) -> render.Message:
        """The answer for `who`, or a NotAllowedError (audited) when their role does not reach the command's."""
        handler = self.handlers.get(type(command))
        if handler is None:
            raise BotError(f"`{render.escape(text)}` is not something the bot can run.", "Try `/ops help`.")
        env_name = getattr(command, "env", None)
        decision = self.access.check(who.user, who.channel, env_name, NEEDED_ROLE.get(type(command), Role.VIEWER))
        if not decision.allowed:
            env = self.config.environment(env_name).name
            service = getattr(command, "service", None) or ""
            self.audit_log.record_safe(env, service, who.user, text, "denied", decision.reason)
            raise NotAllowedError(decision.reason)
        return handler(command, who, text)

    def reply(self, command: c.Command, who: Requester, text: str, respond: Respond) -> None:
        """`answer`, told to the person with `respond`; only then the on_lock_change hooks of a lock it took or
        released (refreshing the App Homes waits for each person's publish slot: never before the answer)."""
        changed: list[tuple[str, str]] = []
        token = _lock_changes.set(changed)
        try:
            message = self.answer(command, who, text)
        finally:
            _lock_changes.reset(token)
        try:
            respond(message)
        finally:
            for env, service in changed:
                self._run_lock_hooks(env, service)

    # --- the platform -------------------------------------------------------------------------------

    def status(self, command: c.Status, who: Requester, text: str) -> render.Message:
        if command.every:
            return self._every_status(command, who)
        env = self.config.environment(command.env)
        targets = [self.config.target(command.service, env.name)] if command.service else self.config.targets(env.name)
        states = self.platform.describe(targets)
        running = [s.task_definition for s in states if s.exists]
        last, images = self.status_cache.read(env.name, [t.name for t in targets], running)
        tags: dict[str, str] = {}
        for target, state in zip(targets, states, strict=True):
            if not state.exists:
                continue
            image = images.get(state.task_definition)
            if image is None:  # first sight of this revision; revisions never change, so cache it
                try:
                    image = self.platform.container_image(
                        target, self.platform.task_definition(target, state.task_definition)
                    )
                    self.status_cache.cache_image(state.task_definition, image)
                except BotError:
                    continue
            tags[target.name] = render.image_label(image)
        changes = {
            name: f"{render.escape(change.summary)} by <@{change.actor}> at {render.when(change.at)}"
            for name, change in last.items()
        }
        return render.status(env.name, states, tags, self.platform.alarms(env), changes)

    def _every_status(self, command: c.Status, who: Requester) -> render.Message:
        """/status all: each environment the person may see, in turn. One that cannot be read (its role
        cannot be assumed, AWS refuses) shows its error line; the others still show their services."""
        parts = []
        for env in self.config.environments:
            if not self.access.check(who.user, who.channel, env.name, Role.VIEWER).allowed:
                continue
            try:
                parts.append(self.status(c.Status(command.service, env.name), who, ""))
            except BotError as error:
                log.warning("/status all: %s could not be read: %s", env.name, error)
                parts.append(render.status_error(env.name, error))
        return render.statuses(parts)

    def alarms(self, command: c.Alarms, who: Requester, text: str) -> render.Message:
        env = self.config.environment(command.env)
        return render.alarms_message(env.name, self.platform.alarms(env))

    def logs(self, command: c.Logs, who: Requester, text: str) -> render.Message:
        target = self.config.target(command.service, command.env)
        read = self.platform.read_logs(target, command.since, command.pattern, LOG_LINES)
        return render.logs_message(
            target.name,
            target.env,
            read.lines,
            c.window_text(command.since),
            command.pattern,
            log_group_console_url(target.log_group, target.region),
            LOG_LINES,
            searched_from=read.searched_from,
        )

    def cost(self, command: c.Cost, who: Requester, text: str) -> render.Message:
        return self.cost_reporter().summary(command.days, command.label, command.env)

    def timeline(self, command: c.Timeline, who: Requester, text: str) -> render.Message:
        return self._timelines().show(command, who)

    def export_timeline(self, value: str, who: Requester, respond: Respond) -> None:
        """The Export button of a timeline: its postmortem draft shared in the channel."""
        self._timelines().export(value, who, respond)

    def _timelines(self) -> Timelines:
        if self.timelines is None:
            raise BotError("The timeline is not available in this function.", "Use `/ops audit`.")
        return self.timelines()

    # --- the bot's own records --------------------------------------------------------------------------

    def audit(self, command: c.Audit, who: Requester, text: str) -> render.Message:
        env = self.config.environment(command.env)
        return render.audit_message(env.name, command.service, self.audit_log.trail(env.name, command.service))

    def routes(self, command: c.Routes, who: Requester, text: str) -> render.Message:
        if command.test_target is None:
            return render.routes_message(self.config)
        if command.test_target in self.config.service_names:
            from bot.routing import explain_service

            return render.route_test_message(explain_service(self.config, command.test_target, command.env))
        from bot.alarms.routes import explain_alarm  # anything else is taken for an alarm's name

        return render.route_test_message(explain_alarm(self.config, command.test_target, command.env))

    def lock(self, command: c.Lock, who: Requester, text: str) -> render.Message:
        target = self.config.target(command.service, command.env)
        lock = self.locks.acquire(
            target.env, target.name, who.user, command.reason, 60 * target.environment.lock_ttl_minutes
        )
        until = render.short_time(lock.expires_at)
        # The reason is in the request, as typed; the outcome is the bot's own words.
        self.audit_log.record_safe(target.env, target.name, who.user, text, "locked", f"until {until} UTC")
        self._lock_changed(target.env, target.name)
        return render.info(f":lock: {target.name} ({target.env}) is locked by <@{who.user}> until {until} UTC.")

    def unlock(self, command: c.Unlock, who: Requester, text: str) -> render.Message:
        target = self.config.target(command.service, command.env)
        held = self.locks.get(target.env, target.name)
        if held is None:
            return render.info(f"{target.name} ({target.env}) is not locked.")
        is_admin = (self.access.role_of(who.user, target.env) or Role.VIEWER) >= Role.ADMIN
        if held.holder != who.user and not is_admin:
            reason = f"{target.name} ({target.env}) is locked by <@{held.holder}>; only they or an admin can unlock it."
            self.audit_log.record_safe(target.env, target.name, who.user, text, "denied", reason)
            raise NotAllowedError(reason)
        if not self.locks.release(target.env, target.name, held.holder):  # not a lock taken since it was read
            return render.info(
                f"{target.name} ({target.env}) was not locked by <@{held.holder}> any more; see /status."
            )
        self.audit_log.record_safe(target.env, target.name, who.user, text, "unlocked", f"lock of <@{held.holder}>")
        self._lock_changed(target.env, target.name)
        return render.info(f":unlock: {target.name} ({target.env}) is unlocked.")

    def _lock_changed(self, env: str, service: str) -> None:
        pending = _lock_changes.get()
        if pending is not None:  # `reply`: after the person's answer
            pending.append((env, service))
        else:
            self._run_lock_hooks(env, service)

    def _run_lock_hooks(self, env: str, service: str) -> None:
        for hook in self.on_lock_change:
            try:
                hook(env, service)
            except Exception:
                log.exception("after a lock change of %s (%s), a hook failed", service, env)
