"""The Bolt app, wired in one place: each slash command and button is an ack (fast, no AWS) plus a lazy
listener (the work). Parsing happens in the ack, so a wrong call gets its usage line at once and
never reaches AWS.

A slash command's ack loads the parser only: the buttons' listeners are registered at the first request
that is not a slash command (their action ids come from bot.dispatch, which loads the renderer and the
models: ~30 ms of a cold start), or by `register_buttons` (SnapStart's priming).

/deploy, /scale and /rollback typed alone open a form (bot.modals) in the ack itself: Slack takes the
trigger_id of views.open for 3 s only. Its picks load their choices in lazy work (block_actions); its
submission is checked in the ack as the command it stands for, then run as that command (Dispatcher.run).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from slack_bolt import Ack, App, BoltRequest, Respond
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.lazy_listener import LazyListenerRunner
from slack_bolt.lazy_listener.internals import build_runnable_function
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot.commands import Parser, normalize
from bot.errors import UsageError
from bot.slack import retry_handlers, slack_client

if TYPE_CHECKING:
    from bot import render
    from bot.dispatch import Dispatcher
    from bot.home import HomeTab
    from bot.modals import Modals

log = logging.getLogger(__name__)
_button_registrars: WeakKeyDictionary[App, Callable[[], None]] = WeakKeyDictionary()


def _ephemeral(respond: Respond) -> Callable[[render.Message], None]:
    """Replies through the request's response_url, retried like Web API calls (Bolt's respond() does not
    retry and does not fail on a 429 or 5xx, so a reply would vanish); one that cannot be delivered is logged."""
    url = respond.response_url
    webhook = WebhookClient(url, timeout=10, retry_handlers=retry_handlers()) if url else None

    def send(message: render.Message) -> None:
        if webhook is None:  # no response_url: Bolt's respond() says so
            respond(**message, response_type="ephemeral", replace_original=False)
            return
        text = str(message.get("text", ""))[:300]
        try:
            response = webhook.send_dict({**message, "response_type": "ephemeral", "replace_original": False})
        except Exception:
            log.exception("could not reply through response_url (not reachable): %s", text)
            return
        if response.status_code != 200:
            log.error(
                "could not reply through response_url (HTTP %s, %s): %s",
                response.status_code,
                response.body[:100],
                text,
            )

    return send


def build_app(
    parser: Parser,
    dispatcher: Callable[[], Dispatcher],
    signing_secret: str,
    client: WebClient,
    home: Callable[[], HomeTab] | None = None,  # the App Home tab (bot.home), asked for in lazy work only
    ack_time_left: Callable[[], float] | None = None,
) -> App:
    """A Bolt app for Lambda (process_before_response) that never calls Slack while it is built. The
    dispatcher is asked for in the lazy listeners only: it needs the validated config, which the ack does not.
    `ack_time_left`: the seconds an ack's views.open may wait for Slack, given what the request has spent of
    Slack's 3 s since it arrived (handlers.slack); without it, 2 s."""

    def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        # A single workspace: no auth.test round trip on the ack path.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=client.token)

    app = App(
        signing_secret=signing_secret,
        # Bolt makes each request's client from this one, with the token `authorize` returns; one with a
        # token of its own would only make Bolt warn, at every start, that it ignores it.
        client=slack_client(client.base_url, None),
        authorize=authorize,
        process_before_response=True,
        token_verification_enabled=False,
        raise_error_for_unhandled_request=False,
        # Named, or Bolt names the app by inspecting the call stack (reading source files): ~30 ms of cold start.
        # Not the Powertools logger's name ("fargate-chatops"): Bolt sets its app logger's level from the root
        # logger (WARNING in Lambda), which silenced the handler's INFO lines after the first request.
        name="slack_bolt.fargate-chatops",
    )

    forms: list[Modals] = []

    def modals() -> Modals:
        """The forms (bot.modals): opened in an ack, updated in the lazy work. Built at the first use."""
        if not forms:
            from bot.modals import Modals

            # views.open runs in the ack: one attempt, a timeout within what is left of the trigger's 3 s.
            opener = WebClient(token=client.token, base_url=client.base_url, timeout=2, retry_handlers=[])
            forms.append(Modals(parser.config, client, opener, ack_time_left))
        return forms[0]

    def ack_command(ack: Ack, command: dict[str, Any]) -> None:
        kind = _form_of(parser, command["command"], command.get("text", ""))
        if kind is not None:  # /deploy, /scale, /rollback alone: the form, opened now (the trigger_id lives 3 s)
            _open_form(ack, modals(), kind, command)
            return
        try:
            parser.parse(command["command"], command.get("text", ""))
        except UsageError as error:
            from bot import render

            ack(**render.error(error), response_type="ephemeral")
            return
        ack()

    def run_command(command: dict[str, Any], respond: Respond) -> None:
        try:
            parsed = parser.parse(command["command"], command.get("text", ""))
        except UsageError:
            return  # already answered by the ack
        # What the person typed, as plain text (Slack's entities decoded) for the audit trail, which escapes it.
        text = f"{command['command']} {normalize(command.get('text', ''))}".strip()
        from bot.plans import Requester  # the work's modules load in the lazy listener, not on the ack path

        who = Requester(command["user_id"], command["channel_id"], f"cmd:{command['trigger_id']}")
        dispatcher().run(parsed, who, text, _ephemeral(respond))

    for name in parser.names.registered:  # slack.commands: /deploy, ... or /ops-deploy, ... or only /ops
        app.command(name)(ack=ack_command, lazy=[run_command])

    def ack_button(ack: Ack) -> None:
        ack()

    def run_button(body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        container = body.get("container") or {}
        message_ts = container.get("message_ts") or (body.get("message") or {}).get("ts") or action.get("action_ts", "")
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id", "")
        key = f"{message_ts}:{action['action_id']}:{action.get('value', '')}"
        from bot.plans import Requester

        # A press is one attempt at its button (a refused one may be pressed again), but a Did-you-mean suggestion
        # stays on the screen after it ran: its presses are one request, so a second press plans nothing anew.
        from bot.render import SUGGESTION_ACTION

        attempt = "" if action["action_id"] == SUGGESTION_ACTION else str(action.get("action_ts", ""))
        who = Requester(body["user"]["id"], channel, key, message_ts=message_ts or None, attempt=attempt)
        dispatcher().click(action["action_id"], str(action.get("value", "")), who, _ephemeral(respond))

    def answered_in(channel: str, env: str, user: str) -> str:
        """Where a form's plan goes: the command's channel, or for a form opened from the App Home (whose channel
        is its person's own id) the channel the config gives the environment picked (bot.home_view.plan_channel),
        which may not be the one of the line it was opened from."""
        if channel != user:
            return channel
        from bot.home_view import plan_channel

        config = dispatcher().config
        return plan_channel(config, config.environment(env), user)

    def run_pick(body: dict[str, Any]) -> None:
        """Environment or service picked in a form: its dependent choices, read from AWS, shown."""
        from bot.modals import read_view

        picked = read_view(body.get("view") or {}, parser.config)
        if picked is None or picked.env is None or picked.service is None:
            return  # nothing to load until both are picked
        user = str((body.get("user") or {}).get("id", ""))
        channel = answered_in(picked.channel, picked.env, user)
        choices = dispatcher().choices(picked.kind, picked.env, picked.service, user, channel)
        try:
            if not modals().update(picked, choices):
                log.info("form %s changed meanwhile: its newer update stands", picked.view_id)
        except Exception:
            log.exception("could not show the choices of a %s form", picked.kind)

    def ack_submission(ack: Ack, view: dict[str, Any]) -> None:
        """A form submitted: checked as the command it stands for; errors go back into the form."""
        from bot.modals import ENV_BLOCK, check, read_view

        picked = read_view(view, parser.config)
        if picked is None:
            ack(response_action="errors", errors={ENV_BLOCK: "This form cannot be used any more: type the command."})
            return
        _, _, errors = check(picked, parser)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()

    def run_submission(body: dict[str, Any], view: dict[str, Any]) -> None:
        """The submitted form's command, run as if its submitter had typed it in the command's channel."""
        from bot.modals import check, read_view
        from bot.plans import Requester

        picked = read_view(view, parser.config)
        if picked is None:
            return
        command, typed, _ = check(picked, parser)
        if command is None or typed is None:
            return  # the ack showed the errors in the form
        user = body["user"]["id"]
        if picked.env is None:
            return  # the ack refused it: no environment picked
        channel = answered_in(picked.channel, picked.env, user)
        who = Requester(user, channel, typed.key)
        text = f"{typed.command} {normalize(typed.text)} (form)"
        dispatcher().run(command, who, text, _told_in(client, channel, user))

    lock, registered = threading.Lock(), list[bool]()

    def add_buttons() -> None:
        with lock:
            if registered:
                return
            from bot.dispatch import ALARM_ACTION_PREFIX, BUTTON_ACTIONS

            for action_id in BUTTON_ACTIONS:
                app.action(action_id)(ack=ack_button, lazy=[run_button])
            app.action(re.compile(f"^{ALARM_ACTION_PREFIX}[a-z_]+$"))(ack=ack_button, lazy=[run_button])
            from bot.modals import CALLBACK_PREFIX, KINDS, PICK_ACTIONS

            for action_id in PICK_ACTIONS:
                app.action(action_id)(ack=ack_button, lazy=[run_pick])
            forms_ids = re.compile(f"^{CALLBACK_PREFIX}({'|'.join(KINDS)})$")
            app.view(forms_ids)(ack=ack_submission, lazy=[run_submission])
            registered.append(True)

    def buttons_first(body: dict[str, Any], next: Callable[[], None]) -> None:  # Bolt passes by name
        if not registered and not body.get("command"):  # Bolt matches listeners after the middleware
            add_buttons()
        next()

    if home is not None:  # the App Home tab: its event and its buttons (bot.home)
        _home_listeners(app, home, modals, dispatcher)

    app.use(buttons_first)
    _button_registrars[app] = add_buttons
    return app


FORM_COMMANDS = ("deploy", "scale", "rollback")  # bot.modals.KINDS, without importing it for every command


def _form_of(parser: Parser, slash: str, text: str) -> str | None:
    """The form a command opens: /deploy, /scale or /rollback with no arguments (`/ops deploy` too)."""
    name = parser.names.command(slash)
    words = text.split()
    if name == "ops" and len(words) == 1:
        name, words = words[0].lower(), []
    return name if name in FORM_COMMANDS and not words else None


def _open_form(ack: Ack, modals: Modals, kind: str, command: dict[str, Any]) -> None:
    """Open the form in the ack; if Slack refuses (the trigger expired, Slack is slow), say to type the command."""
    try:
        modals.open(kind, command["trigger_id"], command["user_id"], command["channel_id"])
    except Exception:
        log.exception("could not open the %s form", kind)
        from bot import render
        from bot.commands import usage_of
        from bot.errors import BotError

        usage = modals.settings.command_names.shown(usage_of(kind))
        problem = BotError("Slack did not open the form in time.", f"Type the command instead. {usage}")
        ack(**render.error(problem), response_type="ephemeral")
        return
    ack()


def _told_in(client: WebClient, channel: str, user: str) -> Callable[[render.Message], None]:
    """Answers to a form's submitter (no response_url): ephemeral in the command's channel, else a direct message."""
    from bot.slack import SlackOut

    out = SlackOut(client)

    def send(message: render.Message) -> None:
        try:
            out.ephemeral(channel, user, message)
            return
        except Exception:
            log.warning("could not answer %s in %s; sending a direct message", user, channel, exc_info=True)
        try:
            out.post(user, message)
        except Exception:
            log.exception("could not answer %s: %s", user, str(message.get("text", ""))[:300])

    return send


def register_buttons(app: App) -> None:
    """Register the button listeners of an app build_app made now, not at its first button."""
    _button_registrars[app]()


HOME_OPENED = "app_home_opened"
EVENTS = (HOME_OPENED,)  # the Events API events the app handles: manifest.yaml subscribes to exactly these


def _home_listeners(
    app: App, home: Callable[[], HomeTab], modals: Callable[[], Modals], dispatcher: Callable[[], Dispatcher]
) -> None:
    """app_home_opened, acked at once and the home published in the lazy work (bot.home publishes a person's
    home at most once in its spacing, so Slack's retried delivery publishes nothing more). The home's buttons:
    Deploy / Scale / Roll back open their form in the ack (a trigger id lives 3 s) with the environment and
    service picked, their choices loaded in the lazy work; Lock / Unlock run in the lazy work (bot.home). Their
    modules load at the first home request, not on a slash command's ack path."""

    def ack_event(ack: Ack) -> None:
        ack()

    def publish(event: dict[str, Any]) -> None:
        user = event.get("user")
        if event.get("tab") == "home" and isinstance(user, str):
            home().opened(user)

    app.event(HOME_OPENED)(ack=ack_event, lazy=[publish])

    def ack_home_button(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        from bot.home_view import FORM_OF, parse_value

        kind = FORM_OF.get(action["action_id"])
        if kind is not None:
            env, service = parse_value(str(action.get("value", "")))
            user = body["user"]["id"]
            # Opened for the person's own messages with the app; the lazy work's load sets where its plan goes
            # from the config (bot.home_view.plan_channel), never from the request. The ack has no channels.
            try:
                modals().open(kind, str(body.get("trigger_id", "")), user, user, env, service)
            except Exception:
                log.exception("could not open the %s form from the home tab", kind)
        ack()

    def run_home_button(body: dict[str, Any], action: dict[str, Any]) -> None:
        from bot.home_view import FORM_OF, parse_value, plan_channel

        user, value = body["user"]["id"], str(action.get("value", ""))
        kind = FORM_OF.get(action["action_id"])
        if kind is None:
            home().click(action["action_id"], value, user, str(action.get("action_ts", "")))
            return
        env, service = parse_value(value)
        config = dispatcher().config
        if env not in config.environment_names or service not in config.service_names:
            return  # the form opened without them: the person picks
        channel = plan_channel(config, config.environment(env), user)  # where its plan goes, from the config
        try:
            choices = dispatcher().choices(kind, env, service, user, channel)
            # The form keeps its person's id as its channel: its plan goes where the environment finally
            # picked in it says (answered_in), not necessarily this line's.
            modals().load(kind, str(body.get("trigger_id", "")), user, choices)
        except Exception:  # views.open failed in the ack (no view of that external id), or this update did
            log.exception("could not show the choices of a %s form opened from the home tab", kind)
            home().form_failed(kind, env, service, user)

    app.action(re.compile(r"^home_[a-z]+$"))(ack=ack_home_button, lazy=[run_home_button])


class LocalLazyRunner(LazyListenerRunner):
    """Runs lazy listeners in threads of this process (tests, local sandbox) instead of Lambda invokes."""

    def __init__(self, logger: logging.Logger, workers: int = 8) -> None:
        self.logger = logger
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lazy")
        self._futures: list[Future[Any]] = []
        self._lock = threading.Lock()

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        future = self.executor.submit(build_runnable_function(func=function, logger=self.logger, request=request))
        with self._lock:
            self._futures.append(future)

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until every lazy listener started so far has finished."""
        while True:
            with self._lock:
                pending, self._futures = self._futures, []
            if not pending:
                return
            for future in pending:
                future.result(timeout=timeout)
