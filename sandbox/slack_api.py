"""A stand-in for the part of Slack's Web API the bot calls, on a loopback port.

It answers auth.test, chat.postMessage, chat.update, chat.postEphemeral, usergroups.users.list,
response_url posts and Slack's external file upload as slack_sdk's `files_upload_v2` drives it
(files.getUploadURLExternal, a POST of the bytes to the upload_url it hands out, served here under
/upload/<file id>, files.completeUploadExternal, files.info; GET /files/<id> gives a file's bytes back).
It keeps the channel history (messages, edits, threads, thread replies also sent to the channel, files
shared) and every call, and it rejects what Slack rejects (Block Kit limits, a repeated action_id in a
block or block_id in a message, URLs over 3,000 characters, too long texts, an unknown message to
update, a missing token, a response_url used more than five times or more than 30 minutes after its
interaction, an image block whose slack_file is unknown or not yet processed, and, when `rate_limit` is
given, more messages per channel than Slack allows), so the bot cannot pass here and fail in Slack.
Faults (429 with Retry-After, 5xx) can be injected per method for reliability tests ("upload" for the
upload_url).

Subclasses serve more than the API on the same port by overriding `handle_other` (sandbox.workspace).
"""

from __future__ import annotations

import itertools
import json
import mimetypes
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from sandbox.http_server import LoopbackHTTPServer
from sandbox.slack_views import (
    MAX_STACK,
    TRIGGER_LIFETIME,
    StoredView,
    Trigger,
    ViewEvent,
    ViewStore,
    pointer,
    selected_value,
    stateful_elements,
    view_problems,
    with_ids,
)

MAX_BLOCKS = 50
MAX_TEXT = 40_000
MAX_SECTION_TEXT = 3_000
MAX_BLOCKS_CHARS = 13_000
MAX_HEADER_TEXT = 150
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2_000
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2_000
MAX_ID = 255
MAX_URL = 3_000  # a button's url, an image's image_url
MAX_ALT_TEXT = 2_000  # an image block's alt_text and title
MAX_FILE_SIZE = 1_000_000_000  # files.getUploadURLExternal's length (slack_sdk checks the same 1 GB)
MAX_RESPONSES = 5  # per response_url ...
RESPONSE_URL_LIFETIME = 30 * 60.0  # ... within 30 minutes of the interaction that handed it out
KNOWN_BLOCKS = frozenset(
    {"section", "header", "context", "divider", "actions", "image", "rich_text", "input", "file", "video", "markdown"}
)


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    user: str = "UBOT"
    edits: int = 0
    ephemeral_to: str | None = None
    broadcast: bool = False  # a thread reply also sent to the channel (reply_broadcast)
    files: list[dict[str, Any]] = field(default_factory=list)  # a file shared with the message (its file object)


@dataclass
class UploadedFile:
    """A file of the external upload flow: announced, its bytes posted, completed (and maybe shared)."""

    id: str
    filename: str
    length: int
    alt_txt: str | None = None
    snippet_type: str | None = None
    title: str = ""
    data: bytes | None = None  # None until the bytes reach the upload_url
    completed_at: float | None = None  # files.completeUploadExternal
    info_calls: int = 0  # files.info calls since completion (Slack processes a file asynchronously)
    channels: list[str] = field(default_factory=list)
    shares: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # channel -> the messages sharing it
    created: int = 0


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    status: int = 200


@dataclass
class Fault:
    status: int
    retry_after: int | None = None
    times: int = 1


@dataclass
class RateLimit:
    """chat.postMessage per channel: `burst` at once, then `per_second` (Slack: about 1 per second).

    `methods` widens what counts: the alarm benchmark counts chat.update too, with a burst of 1.
    """

    burst: float = 6
    per_second: float = 1.0
    methods: frozenset[str] = frozenset({"chat.postMessage"})
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, channel: str, now: float) -> float:
        """0 if a message may go now (and count it), else the seconds to wait."""
        tokens, at = self._buckets.get(channel, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.per_second)
        if tokens < 1:
            self._buckets[channel] = (tokens, now)
            return (1 - tokens) / self.per_second
        self._buckets[channel] = (tokens - 1, now)
        return 0.0


@dataclass
class SlackState:
    messages: list[Message] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    user_groups: dict[str, list[str]] = field(default_factory=dict)
    response_uses: dict[str, int] = field(default_factory=dict)
    response_issued: dict[str, float] = field(default_factory=dict)  # when each response_url was handed out
    files: dict[str, UploadedFile] = field(default_factory=dict)
    views: ViewStore = field(default_factory=ViewStore)  # triggers, modals, home tabs (sandbox.slack_views)


# --- observers: every payload any stand-in receives -------------------------------------------------

PAYLOAD_METHODS = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "chat.scheduleMessage",
        "views.open",
        "views.update",
        "views.push",
        "views.publish",
    }
)


@dataclass(frozen=True)
class Sent:
    """A payload a stand-in received: what its observers see (tests/slack_payloads.py checks each one)."""

    method: str  # a Web API method of PAYLOAD_METHODS, or "response_url"
    payload: dict[str, Any] | None  # None when the body was not a JSON object (or form) at all
    error: str | None  # the stand-in's refusal, None when it took the payload


PayloadObserver = Callable[[Sent], None]
_observers: list[PayloadObserver] = []
_observers_lock = threading.Lock()


def observe(observer: PayloadObserver) -> Callable[[], None]:
    """Call `observer` with every payload any stand-in in this process receives, accepted or refused.

    It is called in the stand-in's request thread, after the answer is decided and outside its lock.
    Returns the function that stops the observing.
    """
    with _observers_lock:
        _observers.append(observer)

    def stop() -> None:
        with _observers_lock:
            if observer in _observers:
                _observers.remove(observer)

    return stop


def _tell_observers(method: str, payload: dict[str, Any] | None, answer: tuple[int, Any, dict[str, str]]) -> None:
    with _observers_lock:
        observers = list(_observers)
    if not observers:
        return
    status, body = answer[0], answer[1]
    if isinstance(body, dict):
        error = None if body.get("ok") else str(body.get("error", status))
    else:
        error = None if status == 200 else bytes(body).decode(errors="replace")
    sent = Sent(method, payload, error)
    for observer in observers:
        observer(sent)


def _text_problem(text: Any, limit: int, kinds: frozenset[str] = frozenset({"plain_text", "mrkdwn"})) -> bool:
    """True when `text` is not a text object of one of `kinds` with 1..limit characters."""
    if not isinstance(text, dict) or text.get("type") not in kinds:
        return True
    value = text.get("text")
    return not isinstance(value, str) or not 0 < len(value) <= limit


def _url_problem(element: dict[str, Any]) -> bool:
    """True when the element's url or image_url is longer than Slack takes."""
    return any(len(str(element.get(key) or "")) > MAX_URL for key in ("url", "image_url"))


def _image_problem(image: dict[str, Any]) -> bool:
    """True for an image block or element Slack refuses: alt_text 1..2,000 characters, and exactly one
    of image_url and slack_file (an object with an `id` or a `url`); a block's title plain_text to 2,000."""
    alt_text = image.get("alt_text")
    if not isinstance(alt_text, str) or not 0 < len(alt_text) <= MAX_ALT_TEXT:
        return True
    url, slack_file = image.get("image_url"), image.get("slack_file")
    if (url is None) == (slack_file is None):
        return True
    if url is not None and (not isinstance(url, str) or not url):
        return True
    if slack_file is not None and (
        not isinstance(slack_file, dict) or not any(isinstance(slack_file.get(k), str) for k in ("id", "url"))
    ):
        return True
    title = image.get("title")
    return title is not None and _text_problem(title, MAX_ALT_TEXT, frozenset({"plain_text"}))


def _element_problem(element: Any) -> bool:
    """True for an element Slack would refuse; buttons are checked in detail, every element's URLs."""
    if not isinstance(element, dict) or "type" not in element:
        return True
    if _url_problem(element):
        return True
    if element["type"] != "button":
        return False
    if _text_problem(element.get("text"), MAX_BUTTON_TEXT, frozenset({"plain_text"})):
        return True
    if len(str(element.get("value", ""))) > MAX_BUTTON_VALUE or len(str(element.get("action_id", ""))) > MAX_ID:
        return True
    return element.get("style") not in {None, "primary", "danger"}


def _block_problem(block: Any) -> bool:
    """True when Slack would refuse this one block (the subset of Block Kit's rules the bot can hit)."""
    if not isinstance(block, dict) or block.get("type") not in KNOWN_BLOCKS:
        return True
    if len(str(block.get("block_id", ""))) > MAX_ID or _url_problem(block):
        return True
    kind = block["type"]
    if kind == "image":
        return _image_problem(block)
    if kind == "header":
        return _text_problem(block.get("text"), MAX_HEADER_TEXT, frozenset({"plain_text"}))
    if kind == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and not fields:
            return True
        if text is not None and _text_problem(text, MAX_SECTION_TEXT):
            return True
        if fields is not None and (
            not isinstance(fields, list)
            or not 0 < len(fields) <= MAX_FIELDS
            or any(_text_problem(f, MAX_FIELD_TEXT) for f in fields)
        ):
            return True
        accessory = block.get("accessory")
        return accessory is not None and _element_problem(accessory)
    if kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 0 < len(elements) <= MAX_CONTEXT_ELEMENTS:
            return True
        images = [e for e in elements if isinstance(e, dict) and e.get("type") == "image"]
        texts = [e for e in elements if e not in images]
        return any(_url_problem(e) or _image_problem(e) for e in images) or any(
            _text_problem(e, MAX_SECTION_TEXT) for e in texts
        )
    if kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 0 < len(elements) <= MAX_ACTIONS_ELEMENTS:
            return True
        return any(_element_problem(e) for e in elements) or _repeated(e.get("action_id") for e in elements)
    return False


def _repeated(ids: Any) -> bool:
    """True when an id appears twice (ids left out, None, are Slack's to fill in and never clash)."""
    seen = [i for i in ids if i is not None]
    return len(seen) != len(set(map(str, seen)))


def block_problems(blocks: Any) -> str | None:
    """Why Slack would refuse these blocks, or None."""
    if not isinstance(blocks, list):
        return "invalid_blocks_format"
    if len(blocks) > MAX_BLOCKS:
        return "invalid_blocks"
    if len(json.dumps(blocks)) > MAX_BLOCKS_CHARS:
        return "msg_blocks_too_long"
    if any(_block_problem(block) for block in blocks):
        return "invalid_blocks"
    if _repeated(block.get("block_id") for block in blocks):  # unique within a message
        return "invalid_blocks"
    return None


class SlackStandIn:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token_prefix: str = "xoxb-",  # noqa: S107 - a prefix, not a secret
        rate_limit: RateLimit | None = None,
        clock: Callable[[], float] | None = None,
        file_processing_calls: int = 1,
        file_processing_seconds: float | None = None,
    ) -> None:
        self.state = SlackState()
        # Slack processes an uploaded file asynchronously: a completed file's first `file_processing_calls`
        # files.info answers have mimetype "" and an image block cannot use it yet; it is ready after them
        # (or `file_processing_seconds` after completion, when given).
        self.file_processing_calls = file_processing_calls
        self.file_processing_seconds = file_processing_seconds
        self._file_ids = itertools.count(1)
        self.token_prefix = token_prefix
        self.rate_limit = rate_limit
        # One clock for call times and the rate limit (a benchmark's simulated time); by default the
        # wall clock for call times and the monotonic clock for the rate limit.
        self._clock = clock
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._changed = threading.Condition(self._lock)
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                self._answer(
                    *stand_in.handle(
                        self.path, raw, self.headers.get("Content-Type", ""), self.headers.get("Authorization", "")
                    )
                )

            def do_GET(self) -> None:
                if self.path.startswith(("/api/", "/files/")):
                    self._answer(*stand_in.handle(self.path, b"", "", self.headers.get("Authorization", "")))
                    return
                self._answer(*stand_in.handle_other("GET", self.path, b"", ""))

            def _answer(self, status: int, body: Any, headers: dict[str, str]) -> None:
                payload = json.dumps(body).encode() if not isinstance(body, bytes) else body
                self.send_response(status)
                if "Content-Type" not in headers:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)  # to a client that left (a page reloaded), quietly (LoopbackHTTPServer)

        self.server = LoopbackHTTPServer((host, port), Handler)
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, name: str = "r") -> str:
        """The response_url of an interaction happening now: 5 uses within 30 minutes from now."""
        with self._lock:
            self.state.response_issued.setdefault(name, self._now())
        return f"{self.base_url}/respond/{urllib.parse.quote(name)}"

    def _now(self) -> float:
        """Seconds on the injected clock, or the monotonic one (for durations, never for timestamps)."""
        return self._clock() if self._clock else time.monotonic()

    def start(self) -> SlackStandIn:
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-stand-in", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- test helpers --------------------------------------------------------------------------------

    def inject(self, method: str, status: int, retry_after: int | None = None, times: int = 1) -> None:
        with self._lock:
            self.state.faults.setdefault(method, []).append(Fault(status, retry_after, times))

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.state.calls if method is None or c.method == method]

    def channel(self, channel: str) -> list[Message]:
        with self._lock:
            return [m for m in self.state.messages if m.channel == channel and m.ephemeral_to is None]

    def responses(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.state.responses)

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> Any:
        """Block until predicate(self) is truthy (returning it), or fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                self._changed.release()
                try:
                    result = predicate(self)
                finally:
                    self._changed.acquire()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the Slack stand-in did not see what was expected")
                self._changed.wait(min(remaining, 0.05))

    # --- the API ----------------------------------------------------------------------------------------

    def handle_other(self, method: str, path: str, raw: bytes, content_type: str) -> tuple[int, Any, dict[str, str]]:
        """Anything that is neither the Web API nor a response_url; subclasses serve more here."""
        return 404, {"ok": False, "error": "unknown_method"}, {}

    def handle(self, path: str, raw: bytes, content_type: str, authorization: str) -> tuple[int, Any, dict[str, str]]:
        if path.startswith("/upload/"):
            return self._upload(urllib.parse.unquote(path.removeprefix("/upload/").split("?")[0]), raw)
        if path.startswith("/files/"):
            return self._file_bytes(urllib.parse.unquote(path.removeprefix("/files/").split("?")[0].split("/")[0]))
        if path.startswith("/respond/"):
            body = _json_object(raw)
            answer = self._respond(urllib.parse.unquote(path.removeprefix("/respond/")), body)
            _tell_observers("response_url", body, answer)
            return answer
        if not path.startswith("/api/"):
            return self.handle_other("POST", path, raw, content_type)
        method, _, query = path.removeprefix("/api/").partition("?")
        try:
            params: dict[str, Any] | None = {
                **{k: v[-1] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()},
                **_params(raw, content_type),
            }
        except ValueError:
            params = None
        answer = (
            (200, {"ok": False, "error": "invalid_json"}, {})
            if params is None
            else self._api(method, params, authorization)
        )
        if method in PAYLOAD_METHODS:
            _tell_observers(method, params, answer)
        return answer

    def _api(self, method: str, params: dict[str, Any], authorization: str) -> tuple[int, Any, dict[str, str]]:
        with self._changed:
            call = Call(method, params, self._clock() if self._clock else time.time())
            self.state.calls.append(call)
            faults = self.state.faults.get(method) or []
            if faults:
                fault = faults[0]
                fault.times -= 1
                if fault.times <= 0:
                    faults.pop(0)
                call.status = fault.status
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                error = "ratelimited" if fault.status == 429 else "internal_error"
                return fault.status, {"ok": False, "error": error}, headers
            token = authorization.removeprefix("Bearer ").strip() or str(params.get("token", ""))
            if method != "api.test" and not token.startswith(self.token_prefix):
                return 200, {"ok": False, "error": "not_authed"}, {}
            if self.rate_limit is not None and method in self.rate_limit.methods:
                wait = self.rate_limit.take(str(params.get("channel", "")), self._now())
                if wait > 0:
                    call.status = 429
                    return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(max(1, round(wait)))}
            result = self._method(method, params)
            self._changed.notify_all()
        return 200, result, {}

    def _method(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T0SANDBOX", "user": "fargate-chatops"}
        if method == "usergroups.users.list":
            return {"ok": True, "users": self.state.user_groups.get(str(params.get("usergroup")), [])}
        if method.startswith("files."):
            return self._files_method(method, params)
        if method.startswith("views."):
            return self._views_method(method, params)
        if method in {"chat.postMessage", "chat.update", "chat.postEphemeral"}:
            problem = self._message_problem(params)
            if problem:
                return {"ok": False, "error": problem}
            unready = self._unready_files(params.get("blocks"))
            if unready:
                return {"ok": False, "error": "invalid_blocks", "errors": unready}
            channel = str(params["channel"])
            if method == "chat.postEphemeral" and not params.get("user"):
                return {"ok": False, "error": "user_not_in_channel"}
            if method == "chat.update":
                found = next(
                    (
                        m
                        for m in self.state.messages
                        if m.channel == channel and m.ts == params.get("ts") and m.ephemeral_to is None
                    ),
                    None,
                )
                if found is None:
                    return {"ok": False, "error": "message_not_found"}
                if found.user != "UBOT":
                    return {"ok": False, "error": "cant_update_message"}
                found.text, found.blocks = str(params.get("text", "")), list(params.get("blocks") or [])
                found.edits += 1
                return {"ok": True, "channel": channel, "ts": found.ts}
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            message = Message(
                channel=channel,
                ts=ts,
                text=str(params.get("text", "")),
                blocks=list(params.get("blocks") or []),
                thread_ts=params.get("thread_ts"),
                ephemeral_to=str(params["user"]) if method == "chat.postEphemeral" else None,
                # Slack ignores reply_broadcast on a message that is no thread reply.
                broadcast=bool(params.get("thread_ts")) and params.get("reply_broadcast") in (True, "true", "1"),
            )
            if message.thread_ts is not None and not any(
                m.ts == message.thread_ts and m.channel == channel for m in self.state.messages
            ):
                return {"ok": False, "error": "thread_not_found"}
            self.state.messages.append(message)
            if method == "chat.postEphemeral":
                return {"ok": True, "message_ts": ts}
            return {"ok": True, "channel": channel, "ts": ts, "message": {"text": message.text}}
        return {"ok": False, "error": "unknown_method"}

    # --- views: modals and the App Home tab (sandbox.slack_views) -------------------------------------------

    def trigger(self, user: str) -> str:
        """A trigger_id for an interaction of `user` happening now, as Slack puts in a slash command, a
        block_actions or a view_submission: views.open or views.push take it once, within 3 seconds."""
        with self._lock:
            store = self.state.views
            trigger_id = f"{int(time.time())}.{next(store._ids)}.{uuid.uuid4().hex}"
            store.triggers[trigger_id] = Trigger(user, self._now())
            return trigger_id

    def _exchange(self, trigger_id: Any) -> tuple[str | None, str | None]:
        """(the trigger's user, None) or (None, Slack's error); the trigger is used up by a successful call."""
        found = self.state.views.triggers.get(str(trigger_id or ""))
        if found is None:
            return None, "invalid_trigger_id"
        if found.used:
            return None, "exchanged_trigger_id"
        if self._now() - found.issued > TRIGGER_LIFETIME:
            return None, "expired_trigger_id"
        return found.user, None

    def _views_method(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        store = self.state.views
        view: Any = params.get("view")
        if method in {"views.open", "views.push"}:
            if not params.get("trigger_id"):
                return _invalid([pointer("/trigger_id", "missing required field: trigger_id")])
            user, error = self._exchange(params.get("trigger_id"))
            if error or user is None:
                return {"ok": False, "error": error or "invalid_trigger_id"}
            refused = self._view_refused(view, "modal")
            if refused:
                return refused
            stack = store.stacks.get(user) or []
            if method == "views.push" and not stack:
                return _invalid([pointer("/trigger_id", "no modal is open to push a view onto")])
            if method == "views.push" and len(stack) >= MAX_STACK:
                return {"ok": False, "error": "push_limit_reached"}
            store.triggers[str(params["trigger_id"])].used = True
            if method == "views.open":
                store.close_stack(user)
            stored = self._new_view(user, view, stack[-1] if method == "views.push" else None)
            store.stacks.setdefault(user, []).append(stored.id)
            store.record(method, stored)
            return {"ok": True, "view": stored.as_slack()}
        if method == "views.update":
            view_id, external_id = params.get("view_id"), params.get("external_id")
            if not view_id and not external_id:
                return _invalid([pointer("/view_id", "must provide either view_id or external_id")])
            found = store.views.get(str(view_id)) if view_id else store.by_external_id(str(external_id))
            if found is None or found.closed:
                return {"ok": False, "error": "not_found"}
            if params.get("hash") and params["hash"] != found.hash:
                return {"ok": False, "error": "hash_conflict"}
            refused = self._view_refused(view, found.type, found)
            if refused:
                return refused
            self._replace(found, view)
            store.record(method, found)
            return {"ok": True, "view": found.as_slack()}
        if method == "views.publish":
            user = str(params.get("user_id") or "")
            if not user:
                return _invalid([pointer("/user_id", "missing required field: user_id")])
            home = store.views.get(store.homes.get(user, ""))
            if params.get("hash") and (home is None or params["hash"] != home.hash):
                return {"ok": False, "error": "hash_conflict"}
            refused = self._view_refused(view, "home", home)
            if refused:
                return refused
            if home is None:
                home = self._new_view(user, view, None)
                store.homes[user] = home.id
            else:
                self._replace(home, view)
            store.record(method, home)
            return {"ok": True, "view": home.as_slack()}
        return {"ok": False, "error": "unknown_method"}

    def _view_refused(self, view: Any, kind: str, replacing: StoredView | None = None) -> dict[str, Any] | None:
        """Slack's answer to a view it refuses (or None): invalid_arguments with its messages, a view of
        the wrong type for the method, a duplicate external_id, or a view over 250 kB."""
        problems = view_problems(view, _block_problem)
        if "view_too_large" in problems:
            return {"ok": False, "error": "view_too_large"}
        if not problems and isinstance(view, dict) and view.get("type") != kind:
            problems = [pointer("/view/type", f"must be {kind} for this method")]
        if problems:
            return _invalid(problems)
        assert isinstance(view, dict)
        other = self.state.views.by_external_id(str(view.get("external_id") or ""))
        if other is not None and other is not replacing:
            return {"ok": False, "error": "duplicate_external_id"}
        return None

    def _new_view(self, user: str, view: dict[str, Any], previous: str | None) -> StoredView:
        store = self.state.views
        view_id = store.new_id("V")
        root = store.views[previous].root_view_id if previous else view_id
        view = with_ids(view)
        stored = StoredView(view_id, user, view, store.new_hash(time.time()), root, previous)
        stored.values = _initial_values(view)
        store.views[view_id] = stored
        return stored

    def _replace(self, stored: StoredView, view: dict[str, Any]) -> None:
        """A new view in the same place: input kept where block_id, action_id and element type are the same."""
        view = with_ids(view)
        kept = {
            (block_id, str(element.get("action_id"))): str(element.get("type"))
            for block_id, element in stateful_elements(view)
        }
        values = _initial_values(view)
        for block_id, actions in stored.values.items():
            for action_id, value in actions.items():
                if kept.get((block_id, action_id)) == value.get("type"):
                    values.setdefault(block_id, {})[action_id] = value
        stored.view, stored.values, stored.errors = view, values, {}
        stored.hash = self.state.views.new_hash(time.time())

    # --- what a person does in a view (the page, tests/harness.py) ---------------------------------------------

    def view(self, view_id: str) -> dict[str, Any] | None:
        """The view object of `view_id` as Slack has it now (state included), or None."""
        with self._lock:
            found = self.state.views.views.get(view_id)
            return found.as_slack() if found is not None else None

    def modal(self, user: str) -> dict[str, Any] | None:
        """The modal `user` has in front of them (the top of their stack), or None."""
        with self._lock:
            top = self.state.views.top(user)
            return top.as_slack() if top is not None else None

    def modal_stack(self, user: str) -> list[dict[str, Any]]:
        with self._lock:
            store = self.state.views
            return [store.views[v].as_slack() for v in store.stacks.get(user) or []]

    def modal_errors(self, user: str) -> dict[str, str]:
        """The errors the app returned (response_action errors) shown beside blocks of `user`'s modal."""
        with self._lock:
            top = self.state.views.top(user)
            return dict(top.errors) if top is not None else {}

    def home(self, user: str) -> dict[str, Any] | None:
        """The App Home view published for `user`, or None."""
        with self._lock:
            store = self.state.views
            found = store.views.get(store.homes.get(user, ""))
            return found.as_slack() if found is not None else None

    def views(self, user: str | None = None) -> list[ViewEvent]:
        """Every views.* change that took (and each response_action applied), in order; `user`'s only if given."""
        with self._lock:
            return [e for e in self.state.views.events if user is None or e.user == user]

    def _own_view(self, user: str, view_id: str) -> StoredView:
        found = self.state.views.views.get(view_id)
        if found is None or found.user != user or found.closed:
            raise LookupError(f"{user} has no open view {view_id}")
        return found

    def select(self, user: str, view_id: str, block_id: str, action_id: str, value: Any) -> dict[str, Any]:
        """`user` picks `value` in an element of their view (a select's option value, a text, a button's
        value): kept in the view's state as Slack keeps it; returns the block_actions action."""
        with self._changed:
            stored = self._own_view(user, view_id)
            element = _element(stored.view, block_id, action_id)
            action: dict[str, Any] = {"action_id": action_id, "block_id": block_id, "action_ts": f"{time.time():.6f}"}
            if element.get("type") == "button":
                action |= {"type": "button", "text": element.get("text"), "value": element.get("value", "")}
                if element.get("style"):
                    action["style"] = element["style"]
            else:
                shown = selected_value(element, value)
                stored.values.setdefault(block_id, {})[action_id] = shown
                action |= shown
            self._changed.notify_all()
            return action

    def fill(self, user: str, view_id: str, values: dict[str, Any]) -> dict[str, str]:
        """`user` types and picks `values` ({block_id: value}) into the inputs of their view before
        submitting; returns what Slack's client itself says before sending (a required input left empty)."""
        with self._changed:
            stored = self._own_view(user, view_id)
            inputs = {str(b.get("block_id")): b for b in stored.view.get("blocks") or [] if b.get("type") == "input"}
            for block_id, value in values.items():
                if block_id not in inputs:
                    raise LookupError(f"no input block {block_id!r} in view {view_id}")
                element = inputs[block_id]["element"]
                stored.values.setdefault(block_id, {})[str(element.get("action_id"))] = selected_value(element, value)
            missing = {}
            for block_id, block in inputs.items():
                if block.get("optional"):
                    continue
                shown = stored.values.get(block_id, {}).get(str(block["element"].get("action_id")), {})
                if not any(shown.get(k) for k in shown if k != "type"):
                    missing[block_id] = "Please complete this required field."
            self._changed.notify_all()
            return missing

    def answered(self, user: str, view_id: str, status: int, ack: dict[str, Any] | None) -> str | None:
        """Do what Slack does with the app's answer to `user` submitting `view_id`: an empty 200 closes the
        view, response_action clear closes them all, update replaces it, push adds one, errors shows each
        beside its input block. Returns what Slack shows instead when the answer is not one it takes."""
        with self._changed:
            store = self.state.views
            stored = self._own_view(user, view_id)
            self._changed.notify_all()
            if status != 200:
                return "We had some trouble connecting. Try again?"
            action = (ack or {}).get("response_action")
            stack = store.stacks.get(user) or []
            where = stack.index(view_id) if view_id in stack else len(stack)
            if not action:
                store.close_stack(user, where)
                store.record("response_action:close", stored)
                return None
            if action == "clear":
                store.close_stack(user)
                store.record("response_action:clear", stored)
                return None
            if action == "errors":
                errors = (ack or {}).get("errors")
                inputs = {b.get("block_id") for b in stored.view.get("blocks") or [] if b.get("type") == "input"}
                if not isinstance(errors, dict) or not errors or not set(errors) <= inputs:
                    return "response_action errors must name input blocks of the view"
                stored.errors = {str(k): str(v) for k, v in errors.items()}
                store.record("response_action:errors", stored)
                return None
            if action in {"update", "push"}:
                view = (ack or {}).get("view")
                refused = self._view_refused(view, "modal", stored if action == "update" else None)
                if refused:
                    return f"the app answered with a view Slack refuses: {refused}"
                assert isinstance(view, dict)
                if action == "update":
                    self._replace(stored, view)
                    store.record("response_action:update", stored)
                    return None
                if len(stack) >= MAX_STACK:
                    return "push_limit_reached"
                pushed = self._new_view(user, view, view_id)
                stack.append(pushed.id)
                store.record("response_action:push", pushed)
                return None
            return f"unknown response_action {action!r}"

    def close_modal(self, user: str) -> None:
        """`user` closes their modal (the close button or Escape): Slack closes the top view."""
        with self._changed:
            stack = self.state.views.stacks.get(user) or []
            if stack:
                self.state.views.close_stack(user, len(stack) - 1)
            self._changed.notify_all()

    # --- files: the external upload flow (files_upload_v2) ------------------------------------------------

    def _files_method(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "files.getUploadURLExternal":
            filename, length = params.get("filename"), str(params.get("length", ""))
            if not filename:
                return {"ok": False, "error": "invalid_arguments"}
            if not length.isdigit() or not 0 < int(length) <= MAX_FILE_SIZE:
                return {"ok": False, "error": "invalid_length"}
            file_id = f"F{next(self._file_ids):010d}"
            self.state.files[file_id] = UploadedFile(
                file_id,
                str(filename),
                int(length),
                alt_txt=params.get("alt_txt") or None,
                snippet_type=params.get("snippet_type") or None,
                title=str(filename),
            )
            return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            return self._complete(params)
        if method == "files.info":
            found = self.state.files.get(str(params.get("file", "")))
            if found is None or found.completed_at is None:
                return {"ok": False, "error": "file_not_found"}
            ready = self._processed(found)
            found.info_calls += 1
            return {"ok": True, "file": self._file_object(found, ready), "comments": [], "response_metadata": {}}
        return {"ok": False, "error": "unknown_method"}

    def _complete(self, params: dict[str, Any]) -> dict[str, Any]:
        listed = params.get("files")
        try:
            entries = json.loads(listed) if isinstance(listed, str) else listed
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            return {"ok": False, "error": "invalid_arguments"}
        found = [self.state.files.get(str(e.get("id", ""))) for e in entries]
        if any(f is None or f.data is None or f.completed_at is not None for f in found):
            return {"ok": False, "error": "file_not_found"}  # unknown, its bytes never posted, or completed
        channels = [c for c in [params.get("channel_id"), *str(params.get("channels") or "").split(",")] if c]
        thread_ts = params.get("thread_ts") or None
        if thread_ts is not None and len(channels) != 1:
            return {"ok": False, "error": "invalid_arguments"}  # a thread reply goes to one channel
        if thread_ts is not None and not any(
            m.ts == thread_ts and m.channel == channels[0] and m.ephemeral_to is None for m in self.state.messages
        ):
            return {"ok": False, "error": "invalid_thread_ts"}
        files = [f for f in found if f is not None]
        for entry, file in zip(entries, files, strict=True):
            file.title = str(entry.get("title") or file.filename)
            file.completed_at = self._now()
            file.created = int(time.time())
            file.channels = list(channels)
        for channel in channels:  # shared: one message with the files, in the thread when thread_ts is given
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            self.state.messages.append(
                Message(
                    channel=channel,
                    ts=ts,
                    text=str(params.get("initial_comment") or ""),
                    blocks=[],
                    thread_ts=thread_ts,
                    files=[self._file_object(f, True) for f in files],
                )
            )
            for file in files:
                file.shares.setdefault(channel, []).append(
                    {"ts": ts, **({"thread_ts": thread_ts} if thread_ts else {})}
                )
        return {"ok": True, "files": [self._file_object(f, self._processed(f)) for f in files]}

    def _processed(self, file: UploadedFile) -> bool:
        if file.completed_at is None:
            return False
        if file.info_calls >= self.file_processing_calls:
            return True
        late = self.file_processing_seconds
        return late is not None and self._now() - file.completed_at >= late

    def _file_object(self, file: UploadedFile, ready: bool) -> dict[str, Any]:
        """Slack's file object; before processing, mimetype and filetype are "" as Slack answers them."""
        snippet = file.snippet_type is not None
        mimetype = "text/plain" if snippet else (mimetypes.guess_type(file.filename)[0] or "application/octet-stream")
        filetype = file.snippet_type if snippet else (file.filename.rpartition(".")[2].lower() or "binary")
        url = f"{self.base_url}/files/{file.id}/{urllib.parse.quote(file.filename)}"
        return {
            "id": file.id,
            "created": file.created,
            "timestamp": file.created,
            "name": file.filename,
            "title": file.title,
            "mimetype": mimetype if ready else "",
            "filetype": filetype if ready else "",
            "pretty_type": (filetype or "").upper() if ready else "",
            "user": "UBOT",
            "mode": "snippet" if snippet else "hosted",
            "editable": snippet,
            "is_external": False,
            "is_public": bool(file.channels),
            "public_url_shared": False,
            "size": len(file.data or b""),
            "url_private": url,
            "url_private_download": url,
            "permalink": url,
            **({"alt_txt": file.alt_txt} if file.alt_txt else {}),
            "channels": list(file.channels),
            "shares": {"public": {c: list(s) for c, s in file.shares.items()}} if file.shares else {},
        }

    def _unready_files(self, blocks: Any) -> list[str]:
        """Slack's errors for image blocks whose slack_file is unknown to it or not processed yet."""
        errors = []
        for index, block in enumerate(blocks if isinstance(blocks, list) else []):
            slack_file = block.get("slack_file") if isinstance(block, dict) and block.get("type") == "image" else None
            if not isinstance(slack_file, dict):
                continue
            file_id, url = slack_file.get("id"), slack_file.get("url")
            file = self.state.files.get(str(file_id)) if file_id else None
            if file is None and url:
                file = next(
                    (f for f in self.state.files.values() if self._file_object(f, True)["url_private"] == url), None
                )
            if file is None or not self._processed(file):
                errors.append(f"invalid slack file [json-pointer:/blocks/{index}/slack_file]")
        return errors

    def _upload(self, file_id: str, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        """The upload_url: the bytes of a file files.getUploadURLExternal announced (once)."""
        with self._changed:
            file = self.state.files.get(file_id)
            call = Call("upload", {"file_id": file_id, "bytes": len(raw)}, time.time())
            self.state.calls.append(call)
            faults = self.state.faults.get("upload") or []  # inject("upload", 500): the upload_url fails
            if faults:
                faults[0].times -= 1
                call.status = faults[0].status
                if faults[0].times <= 0:
                    faults.pop(0)
                return call.status, b"upload failed", {"Content-Type": "text/plain"}
            if file is None or file.data is not None:
                return 404, b"Not Found", {"Content-Type": "text/plain"}
            file.data = raw
            self._changed.notify_all()
        return 200, f"OK - {len(raw)}".encode(), {"Content-Type": "text/plain; charset=utf-8"}

    def _file_bytes(self, file_id: str) -> tuple[int, Any, dict[str, str]]:
        """A completed file's bytes (what the Slack client shows for url_private)."""
        with self._lock:
            file = self.state.files.get(file_id)
            if file is None or file.data is None or file.completed_at is None:
                return 404, b"Not Found", {"Content-Type": "text/plain"}
            kind = self._file_object(file, True)["mimetype"]
            return 200, file.data, {"Content-Type": str(kind), "Cache-Control": "no-store"}

    def file(self, file_id: str) -> UploadedFile | None:
        """A test's look at an uploaded file."""
        with self._lock:
            return self.state.files.get(file_id)

    @staticmethod
    def _message_problem(params: dict[str, Any]) -> str | None:
        if not params.get("channel"):
            return "channel_not_found"
        text, blocks = params.get("text"), params.get("blocks")
        if not text and not blocks:
            return "no_text"
        if text is not None and len(str(text)) > MAX_TEXT:
            return "msg_too_long"
        if blocks is not None:
            return block_problems(blocks)
        return None

    def _respond(self, name: str, body: dict[str, Any] | None) -> tuple[int, Any, dict[str, str]]:
        if body is None:
            return 400, b"invalid_payload", {}
        if not body.get("delete_original"):
            problem = self._message_problem({"channel": "response_url", **body})
            if problem:
                return 400, problem.encode(), {}
        with self._changed:
            # A URL the stand-in did not hand out (a test's own name) starts its 30 minutes at first use.
            issued = self.state.response_issued.setdefault(name, self._now())
            if self._now() - issued > RESPONSE_URL_LIFETIME:
                return 404, b"expired_url", {}
            uses = self.state.response_uses.get(name, 0) + 1
            if uses > MAX_RESPONSES:
                return 404, b"used_url", {}
            self.state.response_uses[name] = uses
            self.state.responses.append(body)
            self.on_response(name, body)
            self._changed.notify_all()
        return 200, b"ok", {}

    def on_response(self, name: str, body: dict[str, Any]) -> None:
        """A valid response_url post, under the state lock; subclasses show it (sandbox.workspace)."""


def _invalid(messages: list[str]) -> dict[str, Any]:
    return {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": messages}}


def _initial_values(view: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """state.values of a new view: each element's initial_option, initial_value and the like."""
    values: dict[str, dict[str, dict[str, Any]]] = {}
    for block_id, element in stateful_elements(view):
        kind = element.get("type")
        initial = element.get("initial_option") or element.get("initial_value") or element.get("initial_options")
        if initial is None:
            continue
        if kind in {"static_select", "radio_buttons"} and isinstance(initial, dict):
            chosen: Any = initial.get("value")
        elif isinstance(initial, list):
            chosen = [o.get("value") for o in initial if isinstance(o, dict)]
        else:
            chosen = initial
        try:
            values.setdefault(block_id, {})[str(element.get("action_id"))] = selected_value(element, chosen)
        except ValueError:
            continue
    return values


def _element(view: dict[str, Any], block_id: str, action_id: str) -> dict[str, Any]:
    for block in view.get("blocks") or []:
        if str(block.get("block_id")) != block_id:
            continue
        elements = [block.get("element"), block.get("accessory"), *(block.get("elements") or [])]
        for element in elements:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element
    raise LookupError(f"no element {action_id!r} in block {block_id!r} of the view")


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        loaded = json.loads(raw or b"{}")
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None


def _params(raw: bytes, content_type: str) -> dict[str, Any]:
    if "json" in content_type:
        loaded = json.loads(raw or b"{}")
        if not isinstance(loaded, dict):
            raise ValueError("not an object")
        params: dict[str, Any] = loaded
    else:
        params = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode(), keep_blank_values=True).items()}
    for key in ("blocks", "attachments", "view"):
        if isinstance(params.get(key), str):
            params[key] = json.loads(params[key])
    return params
