"""A stand-in for the part of Slack's Web API the bot calls, on a loopback port.

It answers auth.test, chat.postMessage, chat.update, chat.postEphemeral, usergroups.users.list and
response_url posts; it keeps the channel history (messages, edits, threads, thread replies also sent to the
channel) and every call, and it
rejects what Slack rejects (Block Kit limits, a repeated action_id in a block or block_id in a message,
URLs over 3,000 characters, too long texts, an unknown message to update, a missing token, a
response_url used more than five times or more than 30 minutes after its interaction, and, when
`rate_limit` is given, more messages per channel than Slack allows), so the bot cannot pass here and
fail in Slack. Faults (429 with
Retry-After, 5xx) can be injected per method for reliability tests.

Subclasses serve more than the API on the same port by overriding `handle_other` (sandbox.workspace).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from sandbox.http_server import LoopbackHTTPServer

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
        return any(_url_problem(e) for e in images) or any(_text_problem(e, MAX_SECTION_TEXT) for e in texts)
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
    ) -> None:
        self.state = SlackState()
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
        if path.startswith("/respond/"):
            body = _json_object(raw)
            answer = self._respond(urllib.parse.unquote(path.removeprefix("/respond/")), body)
            _tell_observers("response_url", body, answer)
            return answer
        if not path.startswith("/api/"):
            return self.handle_other("POST", path, raw, content_type)
        method = path.removeprefix("/api/").split("?")[0]
        try:
            params: dict[str, Any] | None = _params(raw, content_type)
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
        if method in {"chat.postMessage", "chat.update", "chat.postEphemeral"}:
            problem = self._message_problem(params)
            if problem:
                return {"ok": False, "error": problem}
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
