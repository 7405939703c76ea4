"""The Bolt app, wired in one place: each slash command and button is an ack (fast, no AWS) plus a lazy
listener (the work). Parsing happens in the ack, so a wrong call gets its usage line at once and
never reaches AWS.

A slash command's ack loads the parser only: the buttons' listeners are registered at the first request
that is not a slash command (their action ids come from bot.dispatch, which loads the renderer and the
models: ~30 ms of a cold start), or by `register_buttons` (SnapStart's priming).
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


def build_app(parser: Parser, dispatcher: Callable[[], Dispatcher], signing_secret: str, client: WebClient) -> App:
    """A Bolt app for Lambda (process_before_response) that never calls Slack while it is built. The
    dispatcher is asked for in the lazy listeners only: it needs the validated config, which the ack does not."""

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

    def ack_command(ack: Ack, command: dict[str, Any]) -> None:
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

    lock, registered = threading.Lock(), list[bool]()

    def add_buttons() -> None:
        with lock:
            if registered:
                return
            from bot.dispatch import ALARM_ACTION_PREFIX, BUTTON_ACTIONS

            for action_id in BUTTON_ACTIONS:
                app.action(action_id)(ack=ack_button, lazy=[run_button])
            app.action(re.compile(f"^{ALARM_ACTION_PREFIX}[a-z_]+$"))(ack=ack_button, lazy=[run_button])
            registered.append(True)

    def buttons_first(body: dict[str, Any], next: Callable[[], None]) -> None:  # Bolt passes by name
        if not registered and not body.get("command"):  # Bolt matches listeners after the middleware
            add_buttons()
        next()

    app.use(buttons_first)
    _button_registrars[app] = add_buttons
    return app


def register_buttons(app: App) -> None:
    """Register the button listeners of an app build_app made now, not at its first button."""
    _button_registrars[app]()


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
