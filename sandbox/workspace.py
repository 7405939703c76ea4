"""A Slack workspace on one page: the Web API stand-in, #ops rendered live, a composer and the controls.

Served on one loopback port (3000 by default):

    /api/<method>, /respond/<id>    the Web API and response_url the bot calls (sandbox.slack_api)
    GET  /                          the page (static/index.html): #ops, threads, composer, controls
    GET  /static/slack_text.js      what Slack shows for mrkdwn and plain_text, as DOM nodes (the page's renderer)
    GET  /page/state?user=&since=   the channel as the chosen user sees it, their modal (with the app's
                                    errors) and their Home tab (long poll on a version number)
    GET  /page/alarms               the seeded alarms and their state in moto
    GET  /files/<id>                an uploaded file's bytes (sandbox.slack_api): image blocks' slack_file
    POST /page/command              {"user", "text"}: a slash command, form-encoded and signed as Slack does;
                                    any other text is a message the person posts in the channel (and
                                    a note for them alone: the app answers slash commands)
    POST /page/action               {"user", "ts", "action_id"}: a button click, a signed block_actions payload
    POST /page/view_action          {"user", "view_id", "block_id", "action_id", "value"}: a button pressed or
                                    an option picked in a modal or the Home tab: kept in the view's state,
                                    and a signed block_actions (with a trigger_id) when Slack sends one
                                    (outside input blocks, or with dispatch_action)
    POST /page/view_submit          {"user", "view_id", "values": {block_id: value}}: the modal's submit, a
                                    signed view_submission; the app's ack applied as Slack applies it
                                    (close, clear, update, push, errors beside their blocks)
    POST /page/view_close           {"user"}: the modal's close button
    POST /page/home                 {"user"}: the Home tab opened, a signed app_home_opened event
    POST /page/alarm                {"name", "state"}: set the alarm in moto and notify its SNS topic
    POST /page/cost                 the weekly cost schedule fires now

Requests to the bot go over HTTP to the bot adapter (sandbox.adapter), with Slack's 3-second limit:
a slow or failed ack is shown to the person as Slack shows it (operation_timeout, dispatch_failed).
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from slack_sdk.signature import SignatureVerifier

from bot.config import Config, Role
from sandbox.alarms import AlarmTrigger, UnknownAlarmError
from sandbox.slack_api import Message, RateLimit, SlackStandIn
from sandbox.slack_views import dispatches_action

STATIC = Path(__file__).resolve().parent / "static"
PAGE = STATIC / "index.html"
ASSETS = {"/static/slack_text.js": (STATIC / "slack_text.js", "text/javascript; charset=utf-8")}
MANIFEST = Path(__file__).resolve().parent.parent / "manifest.yaml"
TEAM_ID = "T0SANDBOX"
APP_ID = "A0SANDBOX"
FORM = "application/x-www-form-urlencoded"
ACK_TIMEOUT = 3.0  # Slack's limit for the HTTP answer to a command or a click
LONG_POLL = 15.0
SNIPPET_PREVIEW = 20_000  # bytes of a snippet the page shows inline
BOT_USER = "UBOT"
SLACKBOT = "USLACKBOT"
# The app hears slash commands only (it subscribes to no message events): a message typed here gets no answer.
MESSAGE_HINT = "fargate-chatops answers slash commands, not messages: type one, e.g. `/ops help`."


@dataclass(frozen=True)
class User:
    id: str
    name: str
    role: str


@dataclass(frozen=True)
class Origin:
    """Where a response_url came from: who asked, in which channel, about which message."""

    user: str
    channel: str
    message_ts: str | None = None


def users_from_roles(config: Config) -> list[User]:
    """One person per user ID the default environment's roles name, with their highest role.

    A "*" grant adds a person who is in no list (everyone has that role); user groups are skipped.
    """
    seen: dict[str, User] = {}
    everyone: Role | None = None
    for role, members in config.environment().roles.grants():
        for member in members:
            if member == "*":
                everyone = everyone or role
            elif member.startswith(("U", "W")) and member not in seen:
                name = member[2:].lower() if member[1:2] == "0" else member.lower()
                seen[member] = User(member, name, role.label)
    users = list(seen.values())
    if everyone is not None:
        users.append(User("U0SOMEONE", "someone", f"{everyone.label} (everyone)"))
    return users


def manifest_commands(path: Path = MANIFEST) -> frozenset[str]:
    """The slash commands the Slack app declares: Slack sends only these to the app."""
    import yaml

    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    return frozenset(str(c["command"]) for c in manifest.get("features", {}).get("slash_commands", []))


def slack_escape(text: str) -> str:
    """What Slack does to text a person types before storing or sending it: & < > as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sign(body: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with a request: its timestamp and the v0 HMAC-SHA256 signature."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": str(signature)}


class SlackWorkspace(SlackStandIn):
    def __init__(
        self,
        config: Config,
        bot_url: str,
        signing_secret: str,
        alarms: AlarmTrigger | None,
        *,
        channel_id: str = "C0OPS",
        channel_name: str = "ops",
        port: int = 0,
        rate_limit: RateLimit | None = None,
    ) -> None:
        super().__init__(port=port, rate_limit=rate_limit or RateLimit())
        self.config = config
        self.bot_url = bot_url.rstrip("/")
        self.signing_secret = signing_secret
        self.alarm_trigger = alarms
        self.channel_id = channel_id
        self.channel_name = channel_name
        self.users = users_from_roles(config)
        self.commands = manifest_commands() if MANIFEST.exists() else frozenset()
        self.version = 0
        self._origins: dict[str, Origin] = {}
        self._page = PAGE.read_bytes()
        self._assets = {route: (path.read_bytes(), kind) for route, (path, kind) in ASSETS.items()}

    # --- state the page reads ---------------------------------------------------------------------------

    def handle(self, path: str, raw: bytes, content_type: str, authorization: str) -> tuple[int, Any, dict[str, str]]:
        answer = super().handle(path, raw, content_type, authorization)
        if path.startswith("/api/"):
            self._bump()
        return answer

    def _bump(self) -> None:
        with self._changed:
            self.version += 1
            self._changed.notify_all()

    def visible(self, user: str) -> list[dict[str, Any]]:
        """#ops as `user` sees it: everyone's messages and the ephemeral ones meant for them."""
        names = {u.id: u.name for u in self.users} | {BOT_USER: "fargate-chatops", SLACKBOT: "Slackbot"}
        with self._lock:
            shown = [m for m in self.state.messages if m.channel == self.channel_id and m.ephemeral_to in (None, user)]
            return [
                {
                    **asdict(m),
                    "files": [self._shown_file(f) for f in m.files],
                    "user_name": names.get(m.user, m.user),
                    "ephemeral": m.ephemeral_to is not None,
                }
                for m in shown
            ]

    def _shown_file(self, file: dict[str, Any]) -> dict[str, Any]:
        """A shared file as the page shows it: a snippet with its text (Slack shows it inline), else its URL."""
        shown = {k: file.get(k) for k in ("id", "title", "name", "mode", "filetype", "mimetype")}
        shown["src"] = f"/files/{urllib.parse.quote(str(file.get('id', '')))}"
        uploaded = self.state.files.get(str(file.get("id")))
        if file.get("mode") == "snippet" and uploaded is not None and uploaded.data is not None:
            shown["preview"] = uploaded.data[:SNIPPET_PREVIEW].decode(errors="replace")
        return shown

    def page_state(self, user: str, since: int) -> dict[str, Any]:
        deadline = time.monotonic() + LONG_POLL
        with self._changed:
            while self.version <= since and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())
            version = self.version
        return {
            "version": version,
            "channel": {"id": self.channel_id, "name": self.channel_name},
            "messages": self.visible(user),
            "modal": self.modal(user),
            "modal_errors": self.modal_errors(user),
            "home": self.home(user),
        }

    # --- what Slack does when a person acts -----------------------------------------------------------

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _add(self, message: Message) -> None:
        with self._changed:
            self.state.messages.append(message)
            self.version += 1
            self._changed.notify_all()

    def _ephemeral(self, user: str, text: str, sender: str = BOT_USER) -> None:
        self._add(Message(self.channel_id, self._next_ts(), text, [], user=sender, ephemeral_to=user))

    def _response_url(self, origin: Origin) -> str:
        name = secrets.token_hex(12)
        with self._lock:
            self._origins[name] = origin
        return self.response_url(name)

    def command(self, user: str, line: str) -> dict[str, Any]:
        """Type `line` (e.g. "/deploy service-a v1.3.0") as `user` and send it the way Slack does.

        Slack escapes & < > in what a person types, in the message it stores and in the command's text
        it sends to the app; anything that is not a slash command is a message in the channel, and a note
        only its author sees says that the app answers slash commands.
        """
        command, _, text = line.strip().partition(" ")
        if not command.startswith("/") or len(command) < 2:
            if not line.strip():
                return {"ok": False, "error": "nothing to send"}
            self._add(Message(self.channel_id, self._next_ts(), slack_escape(line.strip()), [], user=user))
            self._ephemeral(user, MESSAGE_HINT, SLACKBOT)
            return {"ok": True, "posted": True}
        self._ephemeral(user, slack_escape(line.strip()), sender=user)
        if self.commands and command not in self.commands:
            known = ", ".join(sorted(self.commands))
            said = f"{slack_escape(command)} is not a valid command. This app's commands: {known}."
            self._ephemeral(user, said, SLACKBOT)
            return {"ok": False, "error": "unknown command"}
        trigger = self.trigger(user)  # views.open takes it once, within 3 seconds
        body = urllib.parse.urlencode(
            {
                "token": "sandbox-verification-token",
                "team_id": TEAM_ID,
                "team_domain": "sandbox",
                "channel_id": self.channel_id,
                "channel_name": self.channel_name,
                "user_id": user,
                "user_name": self._name(user),
                "command": command,
                "text": slack_escape(text.strip()),
                "api_app_id": APP_ID,
                "is_enterprise_install": "false",
                "response_url": self._response_url(Origin(user, self.channel_id)),
                "trigger_id": trigger,
            }
        )
        return self._send(user, body, command)

    def click(self, user: str, ts: str, action_id: str) -> dict[str, Any]:
        """Click the button `action_id` on message `ts`: a signed block_actions payload, as Slack sends."""
        with self._lock:
            message = next((m for m in self.state.messages if m.ts == ts and m.channel == self.channel_id), None)
        if message is None or message.ephemeral_to not in (None, user):
            return {"ok": False, "error": "no such message"}
        found = [
            (block, element)
            for block in message.blocks
            for element in (block.get("elements") or ([block["accessory"]] if "accessory" in block else []))
            if isinstance(element, dict) and element.get("action_id") == action_id
        ]
        if not found:
            return {"ok": False, "error": "no such button on that message"}
        block, button = found[0]
        ephemeral = message.ephemeral_to is not None
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user, "username": self._name(user), "name": self._name(user), "team_id": TEAM_ID},
            "api_app_id": APP_ID,
            "token": "sandbox-verification-token",
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": self.channel_id,
                "is_ephemeral": ephemeral,
            },
            "trigger_id": self.trigger(user),
            "team": {"id": TEAM_ID, "domain": "sandbox"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": self.channel_id, "name": self.channel_name},
            "state": {"values": {}},
            "response_url": self._response_url(Origin(user, self.channel_id, message.ts)),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block.get("block_id") or secrets.token_hex(3),
                    "text": button.get("text"),
                    "value": button.get("value", ""),
                    "style": button.get("style"),
                    "type": button.get("type", "button"),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        if not ephemeral:  # Slack leaves the message out of clicks on ephemeral messages
            payload["message"] = {
                "type": "message",
                "subtype": "bot_message",
                "user": message.user,
                "bot_id": "BBOT",
                "ts": message.ts,
                "text": message.text,
                "blocks": message.blocks,
                **({"thread_ts": message.thread_ts} if message.thread_ts else {}),
            }
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return self._send(user, body, "the button")

    def _deliver(self, body: str, content_type: str) -> tuple[int, bytes, float] | str:
        """POST the signed request to the app: (status, body, seconds), or Slack's error when it got no
        answer within 3 seconds (operation_timeout) or none at all (dispatch_failed)."""
        headers = {"Content-Type": content_type, **sign(body, self.signing_secret)}
        request = urllib.request.Request(  # noqa: S310 - the bot adapter on loopback
            f"{self.bot_url}/slack/events", data=body.encode(), headers=headers, method="POST"
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=ACK_TIMEOUT) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except (TimeoutError, urllib.error.URLError) as error:
            late = isinstance(error, TimeoutError) or "timed out" in str(error)
            return "operation_timeout" if late else "dispatch_failed"
        return status, raw, time.monotonic() - started

    def _send(self, user: str, body: str, what: str) -> dict[str, Any]:
        """POST the signed request to the app; show the ack's message or Slack's error to `user`."""
        delivered = self._deliver(body, "application/x-www-form-urlencoded")
        if isinstance(delivered, str):
            self._ephemeral(user, f'{what} failed with the error "{delivered}"')
            return {"ok": False, "error": delivered}
        status, raw, took = delivered
        if status != 200:
            self._ephemeral(user, f'{what} failed with the error "dispatch_failed" (HTTP {status})')
            return {"ok": False, "error": "dispatch_failed", "status": status}
        if raw.strip():
            try:
                ack = json.loads(raw)
            except ValueError:
                ack = {"text": raw.decode(errors="replace")}
            if isinstance(ack, dict) and (ack.get("text") or ack.get("blocks")):
                self._add(
                    Message(
                        self.channel_id,
                        self._next_ts(),
                        str(ack.get("text", "")),
                        list(ack.get("blocks") or []),
                        ephemeral_to=user,
                    )
                )
        return {"ok": True, "ack_seconds": round(took, 3)}

    # --- modals and the Home tab -----------------------------------------------------------------------

    def _person(self, user: str) -> dict[str, Any]:
        return {"id": user, "username": self._name(user), "name": self._name(user), "team_id": TEAM_ID}

    def view_action(self, user: str, view_id: str, block_id: str, action_id: str, value: Any) -> dict[str, Any]:
        """`user` presses a button or picks an option in their modal or Home tab: the choice is kept in the
        view's state, and the app gets a signed block_actions (container type view, a fresh trigger_id) when
        Slack sends one: outside input blocks, or in one with dispatch_action."""
        current = self.view(view_id)
        if current is None:
            return {"ok": False, "error": "no such view"}
        try:
            action = self.select(user, view_id, block_id, action_id, value)
        except (LookupError, ValueError) as error:
            return {"ok": False, "error": str(error).strip("'\"")}
        self._bump()
        if not dispatches_action(current, block_id):
            return {"ok": True, "sent": False}
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._person(user),
            "api_app_id": APP_ID,
            "token": "sandbox-verification-token",
            "container": {"type": "view", "view_id": view_id},
            "trigger_id": self.trigger(user),
            "team": {"id": TEAM_ID, "domain": "sandbox"},
            "enterprise": None,
            "is_enterprise_install": False,
            "view": self.view(view_id),
            "actions": [action],
        }
        delivered = self._deliver(urllib.parse.urlencode({"payload": json.dumps(payload)}), FORM)
        if isinstance(delivered, str) or delivered[0] != 200:
            return {"ok": False, "error": delivered if isinstance(delivered, str) else "dispatch_failed"}
        return {"ok": True, "sent": True}

    def submit_view(self, user: str, view_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """`user` presses the modal's submit button with `values` ({block_id: value}) in its inputs: what
        Slack's client refuses itself (a required input left empty) never leaves; otherwise a signed
        view_submission, and the app's ack applied as Slack applies it."""
        try:
            missing = self.fill(user, view_id, {str(k): v for k, v in values.items()})
        except (LookupError, ValueError) as error:
            return {"ok": False, "error": str(error).strip("'\"")}
        self._bump()
        if missing:
            return {"ok": False, "error": "required", "errors": missing}
        payload: dict[str, Any] = {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": "sandbox"},
            "user": self._person(user),
            "api_app_id": APP_ID,
            "token": "sandbox-verification-token",
            "trigger_id": self.trigger(user),
            "view": self.view(view_id),
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        delivered = self._deliver(urllib.parse.urlencode({"payload": json.dumps(payload)}), FORM)
        if isinstance(delivered, str):
            return {"ok": False, "error": delivered, "shown": "We had some trouble connecting. Try again?"}
        status, raw, took = delivered
        try:
            ack = json.loads(raw) if raw.strip() else {}
        except ValueError:
            ack = None
        shown = self.answered(user, view_id, status, ack if isinstance(ack, dict) else None)
        self._bump()
        if shown is not None:
            return {"ok": False, "error": "refused", "shown": shown}
        return {"ok": True, "ack": ack, "ack_seconds": round(took, 3)}

    def close_view(self, user: str) -> dict[str, Any]:
        self.close_modal(user)
        self._bump()
        return {"ok": True}

    def open_home(self, user: str) -> dict[str, Any]:
        """`user` opens the app's Home tab: a signed app_home_opened event, with the view published so far."""
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user,
            "channel": f"D{user[1:]}",
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        }
        home = self.home(user)
        if home is not None:
            event["view"] = home
        body = json.dumps(
            {
                "token": "sandbox-verification-token",
                "team_id": TEAM_ID,
                "api_app_id": APP_ID,
                "event": event,
                "type": "event_callback",
                "event_id": f"Ev{secrets.token_hex(6).upper()}",
                "event_time": int(time.time()),
                "authorizations": [
                    {"team_id": TEAM_ID, "user_id": BOT_USER, "is_bot": True, "is_enterprise_install": False}
                ],
            }
        )
        delivered = self._deliver(body, "application/json")
        if isinstance(delivered, str) or delivered[0] != 200:
            return {"ok": False, "error": delivered if isinstance(delivered, str) else "dispatch_failed"}
        return {"ok": True}

    def on_response(self, name: str, body: dict[str, Any]) -> None:
        """Show a response_url post where Slack would (called with the state lock held)."""
        origin = self._origins.get(name)
        if origin is None:
            return
        self.version += 1
        original = next(
            (m for m in self.state.messages if origin.message_ts and m.ts == origin.message_ts),
            None,
        )
        if body.get("delete_original") and original is not None:
            self.state.messages.remove(original)
            return
        text, blocks = str(body.get("text", "")), list(body.get("blocks") or [])
        if body.get("replace_original") is True and original is not None:
            original.text, original.blocks = text, blocks
            original.edits += 1
            return
        in_channel = body.get("response_type") == "in_channel"
        self.state.messages.append(
            Message(
                origin.channel,
                self._next_ts(),
                text,
                blocks,
                thread_ts=body.get("thread_ts"),
                ephemeral_to=None if in_channel else origin.user,
            )
        )

    def _name(self, user: str) -> str:
        return next((u.name for u in self.users if u.id == user), user.lower())

    # --- the controls ---------------------------------------------------------------------------------

    def alarms(self) -> list[dict[str, Any]]:
        return self.alarm_trigger.alarms() if self.alarm_trigger else []

    def trigger_alarm(self, name: str, state: str) -> dict[str, Any]:
        if self.alarm_trigger is None:
            return {"ok": False, "error": "no AWS stand-in to trigger alarms in"}
        try:
            message = self.alarm_trigger.trigger(name, state)
        except (UnknownAlarmError, ValueError) as error:
            return {"ok": False, "error": str(error)}
        self._bump()
        return {"ok": True, "alarm": name, "state": state, "reason": message["NewStateReason"]}

    def weekly_cost(self) -> dict[str, Any]:
        """Fire the weekly cost schedule now: a Scheduled Event into the bot's EventBridge endpoint."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": now,
            "region": self.config.environment().region,
            "resources": [f"arn:aws:events:{self.config.environment().region}:123456789012:rule/weekly-cost"],
            "detail": {},
        }
        request = urllib.request.Request(  # noqa: S310 - the bot adapter on loopback
            f"{self.bot_url}/events",
            data=json.dumps(event).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            result: dict[str, Any] = json.loads(response.read() or b"{}")
        return {"ok": True, **result}

    # --- HTTP -----------------------------------------------------------------------------------------

    def handle_other(self, method: str, path: str, raw: bytes, content_type: str) -> tuple[int, Any, dict[str, str]]:
        route, _, query = path.partition("?")
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
        if method == "GET" and route in {"/", "/index.html"}:
            return 200, self._page, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
        if method == "GET" and route in self._assets:
            asset, kind = self._assets[route]
            return 200, asset, {"Content-Type": kind, "Cache-Control": "no-store"}
        if method == "GET" and route == "/health":
            return 200, {"ok": True}, {}
        if method == "GET" and route == "/page/state":
            since = int(params.get("since", "-1")) if params.get("since", "-1").lstrip("-").isdigit() else -1
            return 200, self.page_state(params.get("user", ""), since), {}
        if method == "GET" and route == "/page/users":
            users = [asdict(u) for u in self.users]
            return 200, {"users": users, "channel": self.channel_name, "channel_id": self.channel_id}, {}
        if method == "GET" and route == "/page/alarms":
            return 200, {"alarms": self.alarms()}, {}
        if method == "POST" and route.startswith("/page/"):
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                return 400, {"ok": False, "error": "the body must be JSON"}, {}
            if not isinstance(body, dict):
                return 400, {"ok": False, "error": "the body must be a JSON object"}, {}
            return self._page_post(route, body)
        return 404, {"ok": False, "error": "not_found"}, {}

    def _page_post(self, route: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        actions: dict[str, Callable[[], dict[str, Any]]] = {
            "/page/command": lambda: self.command(str(body.get("user", "")), str(body.get("text", ""))),
            "/page/action": lambda: self.click(
                str(body.get("user", "")), str(body.get("ts", "")), str(body.get("action_id", ""))
            ),
            "/page/view_action": lambda: self.view_action(
                str(body.get("user", "")),
                str(body.get("view_id", "")),
                str(body.get("block_id", "")),
                str(body.get("action_id", "")),
                body.get("value"),
            ),
            "/page/view_submit": lambda: self.submit_view(
                str(body.get("user", "")),
                str(body.get("view_id", "")),
                body["values"] if isinstance(body.get("values"), dict) else {},
            ),
            "/page/view_close": lambda: self.close_view(str(body.get("user", ""))),
            "/page/home": lambda: self.open_home(str(body.get("user", ""))),
            "/page/alarm": lambda: self.trigger_alarm(str(body.get("name", "")), str(body.get("state", ""))),
            "/page/cost": self.weekly_cost,
        }
        action = actions.get(route)
        if action is None:
            return 404, {"ok": False, "error": "not_found"}, {}
        personal = {
            "/page/command",
            "/page/action",
            "/page/view_action",
            "/page/view_submit",
            "/page/view_close",
            "/page/home",
        }
        if route in personal and body.get("user") not in {u.id for u in self.users}:
            return 400, {"ok": False, "error": "pick a user of the workspace"}, {}
        result = action()
        return (200 if result.get("ok") else 400), result, {}


class SlackPage:
    """The workspace as a supervisor component: bound on start, so the port check comes first."""

    name = "slack"
    port_variable = "SANDBOX_PAGE_PORT"

    def __init__(self, port: int, build: Callable[[int], SlackWorkspace]) -> None:
        self.port = port
        self._build = build
        self.workspace: SlackWorkspace | None = None

    def start(self) -> str:
        self.workspace = self._build(self.port)
        self.workspace.start()
        return f"{self.workspace.base_url}  (Slack: Web API, #ops, composer, alarm and cost controls)"

    def stop(self) -> None:
        if self.workspace is not None:
            self.workspace.stop()
            self.workspace = None
