"""What the Slack function checks in a request before Bolt sees it (handlers.slack).

Bolt parses the body before it verifies the signature, and its parser and middleware assume a body shaped
like Slack's: a body that is not (`{not json`, `payload=[1]`, `{"event": null}`) raised out of the handler
or made Bolt answer 500. Here the signature is checked first, on the bytes as sent, and a signed body Bolt
could not handle is a 400. Light to import: the Slack function's cold path loads it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slack_sdk.signature import SignatureVerifier

MAX_TIMESTAMP_DIGITS = 12  # int() of a 5,000-digit string raises; Slack's Unix seconds have 10 digits


def answer(status: int, error: str) -> dict[str, Any]:
    """An API Gateway response with a JSON error (and never a traceback)."""
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps({"error": error})}


@dataclass(frozen=True, slots=True)
class Delivered:
    """A request as Slack signed it: header names lower-cased, the body as text decoded from base64 if
    API Gateway encoded it. Slack signs the bytes it sends, so this is what the signature is checked on,
    and (by way of event()) exactly what Bolt then parses."""

    headers: dict[str, Any]
    body: str

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return value if isinstance(value, str) else None

    @property
    def timestamp(self) -> str:
        return self.header("x-slack-request-timestamp") or ""

    @property
    def signature(self) -> str:
        return self.header("x-slack-signature") or ""

    def signed_with(self, verifier: SignatureVerifier) -> bool:
        """Slack's HMAC over the timestamp and body, with the timestamp within 5 minutes of now (both
        checked by SignatureVerifier), after the checks that keep the verifier itself from raising."""
        stamp, signature = self.timestamp, self.signature
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= MAX_TIMESTAMP_DIGITS):
            return False
        if not signature.isascii():  # hmac.compare_digest raises TypeError on other text
            return False
        return verifier.is_valid(self.body, stamp, signature)

    def event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The event for Bolt (and so for its self-invocation): the verified body and headers as they were
        verified, so that Bolt cannot decode anything differently."""
        return {**event, "headers": self.headers, "body": self.body, "isBase64Encoded": False}


def delivered(event: Mapping[str, Any]) -> Delivered | None:
    """The request as sent, or None when its bytes cannot be what anyone signed (flagged base64 but not
    base64, not UTF-8, a lone surrogate)."""
    body = event.get("body") or ""
    if not isinstance(body, str):
        return None
    try:
        raw = base64.b64decode(body, validate=True) if event.get("isBase64Encoded") else body.encode("utf-8")
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeError is a ValueError
        return None
    headers = {str(name).lower(): value for name, value in (event.get("headers") or {}).items()}
    return Delivered(headers, text)


# Top-level fields that Bolt reads before any listener runs (its context, its self-event filter, its
# listener matchers, its "unhandled request" log line), with the JSON types Slack sends them as. Bolt
# assumes those types: with any other it logs a traceback and answers 500.
NULL = type(None)
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "type": (str,),
    "command": (str,),
    "event": (dict,),
    "view": (dict,),
    "actions": (list,),
    "authorizations": (list,),
    "container": (dict, NULL),
    "message": (dict, NULL),
    "enterprise": (dict, str, NULL),
    "team": (dict, str, NULL),
    "user": (dict, str, NULL),
    "channel": (dict, str, NULL),
    "action_id": (str,),
    "block_id": (str,),
    "callback_id": (str,),
}
ACTION_PAYLOADS = ("block_actions", "interactive_message")  # Bolt reads actions[0] of these


def well_formed(body: dict[str, Any]) -> bool:
    """Whether the fields Bolt reads have Slack's types (FIELD_TYPES), and its actions are objects."""
    if any(name in body and not isinstance(body[name], types) for name, types in FIELD_TYPES.items()):
        return False
    actions = body.get("actions", [])
    if body.get("type") in ACTION_PAYLOADS and not actions:
        return False
    if not all(isinstance(action, dict) and _ids_are_text(action) for action in actions):
        return False
    if body.get("type") == "block_actions" and not all("action_id" in action for action in actions):
        return False  # Bolt's action matchers read action["action_id"] of a block action
    return all(isinstance(entry, dict) for entry in body.get("authorizations", []))


def _ids_are_text(action: dict[str, Any]) -> bool:
    return all(isinstance(action.get(name, ""), str) for name in ("action_id", "block_id"))


def readable_by_bolt(event: dict[str, Any]) -> bool:
    """Whether Bolt can handle the event: its request built exactly as its Lambda adapter builds it (the
    parser raises on JSON that does not parse, on `payload=[1]`, on Slack fields of the wrong type), a
    JSON object, and well formed."""
    from slack_bolt.adapter.aws_lambda.handler import to_bolt_request

    try:
        request = to_bolt_request({**event, "headers": dict(event["headers"])})  # it adds a cookie header
    except Exception:  # whatever the parser raises, the answer is the same 400
        return False
    return isinstance(request.body, dict) and well_formed(request.body)
