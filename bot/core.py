"""The bot's service layer: wires config, AWS, state and Slack together, and runs parsed commands.

Listeners (bot.app) and Lambda handlers (handlers/) stay thin and call into this.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from bot import commands as c
from bot import render
from bot.config import Config, Role
from bot.errors import BotError, NotAllowedError
from bot.slack_text import log_group_console_url

# The cold start builds ChatOps only to ack; the modules that do the work are imported on first use.
if TYPE_CHECKING:
    from bot.access import AccessPolicy
    from bot.aws import ClientFactory
    from bot.idempotency import Once
    from bot.model import Plan
    from bot.operations import Operations
    from bot.plans import Requester
    from bot.platform import Platform
    from bot.slack import Respond, SlackOut
    from bot.state import StateStore

log = logging.getLogger(__name__)
LOG_LINES = 50
ALARM_ACTION_PREFIX = "alarm_"  # buttons on alarm cards: bot.alarms.actions


class ChatOps:
    def __init__(
        self,
        config: Config,
        clients: ClientFactory,
        slack_client: Any,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.clients = clients
        self.slack_client = slack_client
        self.clock = clock
        self.parser = c.Parser(config)

    # Built on first use, so that nothing here costs anything on the ack path.

    @cached_property
    def home_region(self) -> str:
        return self.config.environment().region

    @cached_property
    def platform(self) -> Platform:
        from bot.platform import Platform

        return Platform(self.config, self.clients)

    @cached_property
    def state(self) -> StateStore:
        from bot.state import StateStore

        return StateStore(self.clients, self.config.state_table, self.home_region)

    @cached_property
    def access(self) -> AccessPolicy:
        from bot.access import AccessPolicy

        return AccessPolicy(self.config, self._group_members)

    @cached_property
    def slack(self) -> SlackOut:
        from bot.slack import SlackOut

        return SlackOut(self.slack_client)

    @cached_property
    def once(self) -> Once:
        from bot.idempotency import Once

        return Once(self.clients.client("dynamodb", self.home_region), self.config.state_table)

    @cached_property
    def operations(self) -> Operations:
        from bot.operations import Operations

        operations = Operations(self.config, self.platform, self.state, self.access, self.slack, self.clock)
        operations.on_executed.append(self._alarm_card_change_ran)
        return operations

    def _alarm_card_change_ran(self, plan: Plan) -> None:
        """A plan made from an alarm card's button ran: the card shows it in place of the button."""
        if plan.from_alarm:
            from bot.alarms.actions import AlarmActions  # only for such a plan

            AlarmActions(self).executed(plan)

    def _group_members(self, group: str) -> list[str]:
        try:
            response = self.slack_client.usergroups_users_list(usergroup=group)
        except Exception:
            log.warning("could not read members of user group %s", group, exc_info=True)
            return []
        return list(response.get("users") or [])

    # --- entry points -----------------------------------------------------------------------------

    def run(self, command: c.Command, who: Requester, text: str, respond: Respond) -> None:
        """Run a parsed command for a person; every outcome reaches them as a message."""
        try:
            self._run(command, who, text, respond)
        except BotError as error:
            respond(render.error(error))
        except Exception:
            log.exception("command failed: %s", text)
            respond(
                render.error(
                    BotError(
                        "Something went wrong on the bot's side; nothing was changed by this command.",
                        "The details are in the bot's logs. Try again, or ask an admin.",
                    )
                )
            )

    def _run(self, command: c.Command, who: Requester, text: str, respond: Respond) -> None:
        if isinstance(command, c.Help):
            respond(render.help_message(command.topic))
            return
        if isinstance(command, c.MUTATING):
            self.operations.request(command, who, text, respond)
            return
        env_name = getattr(command, "env", None)
        needed = Role.OPERATOR if isinstance(command, c.Lock | c.Unlock) else Role.VIEWER
        decision = self.access.check(who.user, who.channel, env_name, needed)
        if not decision.allowed:
            env = self.config.environment(env_name).name
            service = getattr(command, "service", None) or ""
            self.state.audit_safe(env, service, who.user, text, "denied", decision.reason)
            respond(render.error(NotAllowedError(decision.reason)))
            return
        respond(self._read(command, who, text))

    def _read(self, command: c.Command, who: Requester, text: str) -> render.Message:
        if isinstance(command, c.Status):
            return self.status(command)
        if isinstance(command, c.Alarms):
            env = self.config.environment(command.env)
            return render.alarms_message(env.name, self.platform.alarms(env))
        if isinstance(command, c.Logs):
            return self.logs(command)
        if isinstance(command, c.Audit):
            env = self.config.environment(command.env)
            return render.audit_message(env.name, command.service, self.state.audit_trail(env.name, command.service))
        if isinstance(command, c.Lock | c.Unlock):
            return self.lock(command, who, text)
        if isinstance(command, c.Routes):
            from bot import routing

            if command.test_target is None:
                return render.routes_message(self.config)
            return render.route_test_message(routing.explain(self.config, command.test_target, command.env))
        if isinstance(command, c.Cost):
            from bot.cost import CostReporter  # only when asked for

            return CostReporter(self.config, self.clients, self.state, self.clock).summary(
                command.days, command.label, command.env
            )
        raise BotError(f"`{render.escape(text)}` is not something the bot can run.", "Try `/ops help`.")

    # --- read commands ----------------------------------------------------------------------------

    def status(self, command: c.Status) -> render.Message:
        env = self.config.environment(command.env)
        targets = [self.config.target(command.service, env.name)] if command.service else self.config.targets(env.name)
        states = self.platform.describe(targets)
        keys = [self.state.change_key(env.name, t.name) for t in targets]
        keys += [self.state.image_key(s.task_definition) for s in states if s.exists]
        cached = self.state.get_many(keys)
        tags: dict[str, str] = {}
        for target, state in zip(targets, states, strict=True):
            if not state.exists:
                continue
            image = cached.get(self.state.image_key(state.task_definition), {}).get("image")
            if image is None:  # first sight of this revision; revisions never change, so cache it
                try:
                    image = self.platform.container_image(
                        target, self.platform.task_definition(target, state.task_definition)
                    )
                    self.state.cache_image(state.task_definition, image)
                except BotError:
                    continue
            tags[target.name] = render.image_label(str(image))
        changes = {}
        for target in targets:
            change = cached.get(self.state.change_key(env.name, target.name))
            if change:
                changes[target.name] = (
                    f"{render.escape(change['summary'])} by <@{change['actor']}> at {render.when(change['at'])}"
                )
        return render.status(env.name, states, tags, self.platform.alarms(env), changes)

    def logs(self, command: c.Logs) -> render.Message:
        target = self.config.target(command.service, command.env)
        read = self.platform.read_logs(target, command.since, command.pattern, LOG_LINES)
        console = log_group_console_url(target.log_group, target.region)
        window = _duration(command.since)
        return render.logs_message(
            target.name,
            target.env,
            read.lines,
            window,
            command.pattern,
            console,
            LOG_LINES,
            searched_from=read.searched_from,
        )

    def lock(self, command: c.Lock | c.Unlock, who: Requester, text: str) -> render.Message:
        target = self.config.target(command.service, command.env)
        if isinstance(command, c.Lock):
            lock = self.state.acquire_lock(
                target.env, target.name, who.user, command.reason, 60 * target.environment.lock_ttl_minutes
            )
            until = render.short_time(lock.expires_at)
            # The reason is in the request, as typed; the outcome is the bot's own words.
            self.state.audit_safe(target.env, target.name, who.user, text, "locked", f"until {until} UTC")
            return render.info(f":lock: {target.name} ({target.env}) is locked by <@{who.user}> until {until} UTC.")
        held = self.state.lock(target.env, target.name)
        if held is None:
            return render.info(f"{target.name} ({target.env}) is not locked.")
        is_admin = (self.access.role_of(who.user, target.env) or Role.VIEWER) >= Role.ADMIN
        if held.holder != who.user and not is_admin:
            reason = f"{target.name} ({target.env}) is locked by <@{held.holder}>; only they or an admin can unlock it."
            self.state.audit_safe(target.env, target.name, who.user, text, "denied", reason)
            raise NotAllowedError(reason)
        self.state.release_lock(target.env, target.name)
        self.state.audit_safe(target.env, target.name, who.user, text, "unlocked", f"lock of <@{held.holder}>")
        return render.info(f":unlock: {target.name} ({target.env}) is unlocked.")

    # --- buttons ----------------------------------------------------------------------------------

    def click(self, action_id: str, value: str, who: Requester, respond: Respond) -> None:
        try:
            if action_id == render.CONFIRM_ACTION:
                self.operations.confirm(value, who, respond)
            elif action_id == render.CANCEL_ACTION:
                self.operations.cancel(value, who, respond)
            elif action_id == render.ROLLBACK_ACTION:
                env, _, service = value.partition(":")
                if service not in self.config.service_names or env not in self.config.environment_names:
                    raise BotError("This button no longer matches a configured service.", "Use /rollback.")
                from bot.history import RolledBackBy

                self.operations.request(
                    c.Rollback(service, None, env),
                    who,
                    f"/rollback {service} {env} (button)",
                    respond,
                    via=RolledBackBy.DEPLOY_CARD,
                )
            elif action_id.startswith(ALARM_ACTION_PREFIX):
                from bot.alarms.actions import AlarmActions  # only when an alarm card's button is pressed

                AlarmActions(self).click(action_id, value, who, respond)
            else:
                raise BotError("This button is not known to the bot.", "Use the slash commands instead.")
        except BotError as error:
            respond(render.error(error))
        except Exception:
            log.exception("button %s failed", action_id)
            respond(
                render.error(BotError("Something went wrong on the bot's side.", "The details are in the bot's logs."))
            )


def _duration(delta: Any) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
