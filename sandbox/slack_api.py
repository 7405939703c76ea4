"""A stand-in for the part of Slack's Web API the bot calls, on a loopback port.

It answers auth.test, chat.postMessage, chat.update, chat.postEphemeral, usergroups.users.list and
response_url posts; it keeps the channel history (messages, edits, threads) and every call, and it
rejects what Slack rejects (too many blocks, too long texts, an unknown message to update, a missing
token), so the bot cannot pass here and fail in Slack. Faults (429 with Retry-After, 5xx) can be
injected per method for reliability tests.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BLOCKS = 50
MAX_TEXT = 40_000
MAX_SECTION_TEXT = 3_000
MAX_BLOCKS_CHARS = 13_000


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
class SlackState:
    messages: list[Message] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    user_groups: dict[str, list[str]] = field(default_factory=dict)


def block_problems(blocks: Any) -> str | None:
    """Why Slack would refuse these blocks, or None."""
    if not isinstance(blocks, list):
        return "invalid_blocks_format"
    if len(blocks) > MAX_BLOCKS:
        return "invalid_blocks"
    if len(json.dumps(blocks)) > MAX_BLOCKS_CHARS:
        return "msg_blocks_too_long"
    for block in blocks:
        if not isinstance(block, dict) or "type" not in block:
            return "invalid_blocks"
        text = block.get("text")
        if isinstance(text, dict) and len(str(text.get("text", ""))) > MAX_SECTION_TEXT:
            return "invalid_blocks"
        if block["type"] == "actions" and len(block.get("elements", [])) > 25:
            return "invalid_blocks"
    return None


class SlackStandIn:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, token_prefix: str = "xoxb-") -> None:  # noqa: S107 - a prefix, not a secret
        self.state = SlackState()
        self.token_prefix = token_prefix
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
                status, body, headers = stand_in.handle(
                    self.path, raw, self.headers.get("Content-Type", ""), self.headers.get("Authorization", "")
                )
                payload = json.dumps(body).encode() if not isinstance(body, bytes) else body
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
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
        return f"{self.base_url}/respond/{urllib.parse.quote(name)}"

    def start(self) -> SlackStandIn:
        self._thread = threading.Thread(target=self.server.serve_forever, name="slack-stand-in", daemon=True)
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

    def handle(self, path: str, raw: bytes, content_type: str, authorization: str) -> tuple[int, Any, dict[str, str]]:
        if path.startswith("/respond/"):
            return self._respond(raw)
        if not path.startswith("/api/"):
            return 404, {"ok": False, "error": "unknown_method"}, {}
        method = path.removeprefix("/api/").split("?")[0]
        try:
            params = _params(raw, content_type)
        except ValueError:
            return 200, {"ok": False, "error": "invalid_json"}, {}
        with self._changed:
            call = Call(method, params, time.time())
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
            if method == "chat.update":
                found = next(
                    (m for m in self.state.messages if m.channel == channel and m.ts == params.get("ts")), None
                )
                if found is None:
                    return {"ok": False, "error": "message_not_found"}
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
            )
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

    def _respond(self, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 400, b"invalid_payload", {}
        if not isinstance(body, dict):
            return 400, b"invalid_payload", {}
        problem = self._message_problem({"channel": "response_url", **body})
        if problem:
            return 400, problem.encode(), {}
        with self._changed:
            self.state.responses.append(body)
            self._changed.notify_all()
        return 200, b"ok", {}


def _params(raw: bytes, content_type: str) -> dict[str, Any]:
    if "json" in content_type:
        loaded = json.loads(raw or b"{}")
        if not isinstance(loaded, dict):
            raise ValueError("not an object")
        params: dict[str, Any] = loaded
    else:
        params = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode(), keep_blank_values=True).items()}
    for key in ("blocks", "attachments"):
        if isinstance(params.get(key), str):
            params[key] = json.loads(params[key])
    return params
