"""From a parsed command or a pressed button to the component that answers it, and every outcome to the
person as a message: a BotError as its own words, anything else as "something went wrong" (the details
go to the logs, never a traceback to Slack).

    /ops help                      render.help_message
    /deploy, /rollback, /scale     bot.operations: authorise -> plan card -> confirm -> run once -> audit
    everything else                bot.reads: role check, then a read (or /ops lock)
    Confirm, Cancel                bot.operations
    Roll back (on a deploy card)   bot.operations, as /rollback
    alarm_* (on an alarm card)     bot.alarms.actions
    Export (on a timeline)         bot.reads -> bot.timeline: the postmortem draft shared in the channel
    Run (Did you mean, on errors)  the corrected command: parsed again, then `run` as if typed
    a form's pick (bot.modals)     `choices`: bot.pickers reads what the form offers next
    a form submitted               `run`, as the command it stands for typed in the command's channel

The components come from providers (the composition root, handlers/runtime.py, builds each on first use),
so a module a request does not need is never imported for it: the ack path builds none.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import commands as c
from bot import render
from bot.clock import Clock
from bot.command_names import DEFAULT_NAMES, CommandNames
from bot.errors import BotError, UsageError
from bot.metrics import DISCARD, LAZY_WORK_DURATION, Metrics
from bot.slack import Respond
from bot.timeline import EXPORT_ACTION

if TYPE_CHECKING:
    from bot.alarms.actions import AlarmActions
    from bot.config import Config  # an annotation only: the ack path imports this module without pydantic
    from bot.modals import Choices
    from bot.operations import Operations
    from bot.pickers import Pickers
    from bot.plans import Requester
    from bot.reads import ReadCommands

log = logging.getLogger(__name__)
ALARM_ACTION_PREFIX = "alarm_"  # every button of an alarm card (bot.alarms.cards)
BUTTON_ACTIONS = (
    render.CONFIRM_ACTION,
    render.CANCEL_ACTION,
    render.ROLLBACK_ACTION,
    EXPORT_ACTION,
    render.SUGGESTION_ACTION,
)


@dataclass(frozen=True, slots=True)
class Dispatcher:
    config: Config
    reads: Callable[[], ReadCommands]
    operations: Callable[[], Operations]
    alarm_buttons: Callable[[], AlarmActions]
    metrics: Metrics = DISCARD  # LAZY_WORK_DURATION of each command and button, by its name
    monotonic: Clock = time.monotonic
    pickers: Callable[[], Pickers] | None = None  # the forms' dependent choices (bot.modals, bot.pickers)

    @property
    def names(self) -> CommandNames:
        """The slash commands' names in the workspace (`slack.commands`)."""
        return self.config.command_names

    def run(self, command: c.Command, who: Requester, text: str, respond: Respond) -> None:
        """Run a parsed command for a person; every outcome reaches them as a message."""
        with (
            self._timed(type(command).__name__.lower()),
            _answering(respond, f"command failed: {text}", "nothing was changed by this command", self.names),
        ):
            if isinstance(command, c.Help):
                respond(render.help_message(command.topic, self.names))
            elif isinstance(command, c.MUTATING):
                self.operations().request(command, who, text, respond)
            else:
                self.reads().reply(command, who, text, respond)  # a lock's hooks after the answer

    def typed(self, value: str, who: Requester, respond: Respond) -> None:
        """A command as Slack sends a typed one ("/deploy service-a v1.3.0", text escaped): the value of a
        Did-you-mean button. Never trusted: parsed from scratch, then run as if its presser had typed it in
        that channel (`run`: the same roles, plan card, four-eyes, locks, exactly-once and audit)."""
        command, _, text = value.partition(" ")
        parsed: c.Command | None = None
        with _answering(respond, f"button {render.SUGGESTION_ACTION} failed", "nothing was changed", self.names):
            if command not in self.names.registered:
                shown = render.escape(command[:40]).replace("`", "'")
                raise UsageError(f"`{shown}` is not a command of the bot.", "Type the command instead.")
            parsed = c.Parser(self.config).parse(command, text)
        if parsed is not None:
            self.run(parsed, who, f"{command} {c.normalize(text)} (suggested)", respond)

    def choices(self, kind: str, env: str, service: str, user: str, channel: str) -> Choices:
        """A form's choices for `service` in `env` (the kind of form: deploy, scale, rollback), as `user` may read
        them from `channel` (the form's), with the typed /status's role and channel checks; a refusal or a failure
        is shown in the form, never raised: the person picks again or types the command."""
        from bot.pickers import unexpected

        with self._timed(f"form_{kind}" if kind in ("deploy", "scale", "rollback") else "form"):
            try:
                if self.pickers is None:
                    raise RuntimeError("the dispatcher was built without the forms' pickers")
                return self.pickers().choices(kind, env, service, user, channel)
            except Exception:
                log.exception("could not load the choices of a %s form (%s, %s)", kind, env, service)
                return unexpected(kind, env, service)

    def click(self, action_id: str, value: str, who: Requester, respond: Respond) -> None:
        if action_id == render.SUGGESTION_ACTION:
            self.typed(value, who, respond)  # timed as the command it runs
            return
        with self._timed(_button_name(action_id)), _answering(respond, f"button {action_id} failed", names=self.names):
            if action_id == render.CONFIRM_ACTION:
                self.operations().confirm(value, who, respond)
            elif action_id == render.CANCEL_ACTION:
                self.operations().cancel(value, who, respond)
            elif action_id == render.ROLLBACK_ACTION:
                self._deploy_card_rollback(value, who, respond)
            elif action_id == EXPORT_ACTION:
                self.reads().export_timeline(value, who, respond)
            elif action_id.startswith(ALARM_ACTION_PREFIX):
                self.alarm_buttons().click(action_id, value, who, respond)
            else:
                raise BotError("This button is not known to the bot.", "Use the slash commands instead.")

    def _deploy_card_rollback(self, value: str, who: Requester, respond: Respond) -> None:
        """A failed deploy's card offers Roll back: the same request as /rollback <service> <env>."""
        from bot.history import RolledBackBy

        env, _, service = value.partition(":")
        if service not in self.config.service_names or env not in self.config.environment_names:
            raise BotError("This button no longer matches a configured service.", "Use /rollback.")
        text = f"/rollback {service} {env} (button)"
        self.operations().request(c.Rollback(service, None, env), who, text, respond, via=RolledBackBy.DEPLOY_CARD)

    @contextmanager
    def _timed(self, command: str) -> Iterator[None]:
        """The work's duration, whatever its outcome; `command` is from a closed set (a type, an action id)."""
        started = self.monotonic()
        try:
            yield
        finally:
            self.metrics.milliseconds(LAZY_WORK_DURATION, (self.monotonic() - started) * 1000, command=command)


def _button_name(action_id: str) -> str:
    """The button's action id when the bot made it, else "other_button": a metric dimension is a closed set."""
    if action_id in BUTTON_ACTIONS:
        return action_id
    if action_id.startswith(ALARM_ACTION_PREFIX):
        from bot.alarms import cards

        if action_id in {cards.ROLLBACK, cards.SCALE_UP, cards.LOGS, cards.ACK, cards.MUTE}:
            return action_id
    return "other_button"


@contextmanager
def _answering(respond: Respond, what: str, unchanged: str = "", names: CommandNames = DEFAULT_NAMES) -> Iterator[None]:
    try:
        yield
    except BotError as error:
        if not isinstance(error, UsageError):  # the parser's show the workspace's names already
            # The bot's own words name commands as by default (`/deploy <service> <tag>`): as the workspace has them.
            error.message, error.hint = names.shown(error.message), error.hint and names.shown(error.hint)
        respond(render.error(error))
    except Exception:
        log.exception(what)
        words = (
            f"Something went wrong on the bot's side; {unchanged}."
            if unchanged
            else "Something went wrong on the bot's side."
        )
        hint = (
            "The details are in the bot's logs. Try again, or ask an admin."
            if unchanged
            else "The details are in the bot's logs."
        )
        respond(render.error(BotError(words, hint)))
