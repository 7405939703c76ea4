"""Slack's views for the stand-in (sandbox.slack_api): modals and the App Home tab, as Slack keeps them.

views.open and views.push take a trigger_id the stand-in issued (`SlackStandIn.trigger(user)`): usable
once (`exchanged_trigger_id` after), within 3 seconds on the stand-in's clock (`expired_trigger_id`),
unknown ones are `invalid_trigger_id`. views.update finds a view by view_id or external_id (`not_found`)
and refuses a stale `hash` (`hash_conflict`); views.publish keeps one home view per user. A view Slack
would refuse gets `invalid_arguments` with Slack's `response_metadata.messages`, each naming what is wrong
and where (`[ERROR] ... [json-pointer:/view/title/text]`).

The limits are Slack's documented ones for view objects and the blocks and elements the bot uses in them:
type modal or home; a modal's title (required), submit and close are plain_text of at most 24
characters; at most 100 blocks; private_metadata 3,000 and callback_id and external_id 255 characters;
external_id unique in the team; an input block has a plain_text label (2,000), an input element, an
optional plain_text hint (2,000) and no dispatch_action on a file_input; a modal with an input block
needs submit; a static select has 1 to 100 options (or option groups) with plain_text text of 75 and a
value of 150, and an initial_option among them; a views.push onto a stack of 3 is `push_limit_reached`.

What a person does in a view (the page, tests/harness.py) goes through `selected` (a value picked in
the view: its state) and `answered` (the app's ack to a view_submission: close, clear, update, push or
errors shown beside their blocks).
"""

from __future__ import annotations

import copy
import itertools
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

TRIGGER_LIFETIME = 3.0  # seconds: Slack's window for exchanging a trigger_id
MAX_VIEW_BLOCKS = 100
MAX_VIEW_BUTTON_TEXT = 24  # a modal's title, submit and close
MAX_PRIVATE_METADATA = 3_000
MAX_ID = 255
MAX_LABEL = 2_000
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_PLACEHOLDER = 150
MAX_INPUT_LENGTH = 3_000
MAX_VIEW_BYTES = 250_000
MAX_STACK = 3
TEAM_ID = "T0SANDBOX"
APP_ID = "A0SANDBOX"
BOT_ID = "BBOT"
VIEW_TYPES = frozenset({"modal", "home"})
SELECTS = frozenset({"static_select", "multi_static_select"})
INPUT_ELEMENTS = frozenset(
    {
        "plain_text_input",
        "email_text_input",
        "url_text_input",
        "number_input",
        "rich_text_input",
        "static_select",
        "multi_static_select",
        "external_select",
        "multi_external_select",
        "users_select",
        "multi_users_select",
        "conversations_select",
        "multi_conversations_select",
        "channels_select",
        "multi_channels_select",
        "checkboxes",
        "radio_buttons",
        "datepicker",
        "timepicker",
        "datetimepicker",
        "file_input",
    }
)


@dataclass
class Trigger:
    user: str
    issued: float
    used: bool = False


@dataclass
class StoredView:
    """A view as Slack keeps it: what the app sent, plus Slack's id, hash, stack and the person's state."""

    id: str
    user: str
    view: dict[str, Any]  # as the app sent it (type, title, blocks, ...)
    hash: str
    root_view_id: str
    previous_view_id: str | None = None
    values: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # block_id -> action_id -> value
    errors: dict[str, str] = field(default_factory=dict)  # block_id -> the app's response_action error
    closed: bool = False

    @property
    def type(self) -> str:
        return str(self.view.get("type"))

    @property
    def external_id(self) -> str:
        return str(self.view.get("external_id") or "")

    def as_slack(self) -> dict[str, Any]:
        """The view object Slack returns from views.* and sends in view_submission and block_actions."""
        view = copy.deepcopy(self.view)
        values = copy.deepcopy(self.values)
        for block_id, element in stateful_elements(view):  # Slack lists every element, null when untouched
            if element.get("action_id") is not None:
                values.setdefault(block_id, {}).setdefault(str(element["action_id"]), selected_value(element, None))
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "type": self.type,
            "blocks": view.get("blocks") or [],
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": values},
            "hash": self.hash,
            "title": view.get("title"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": self.previous_view_id,
            "root_view_id": self.root_view_id,
            "app_id": APP_ID,
            "external_id": self.external_id,
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }


@dataclass(frozen=True)
class ViewEvent:
    """One change to a person's views, in order: what tests read (`SlackStandIn.view_events`)."""

    method: str  # views.open, views.push, views.update, views.publish, or "response_action:<kind>"
    user: str
    view: dict[str, Any]  # the view object (as_slack) after the change


def pointer(path: str, message: str) -> str:
    """One of Slack's response_metadata messages for invalid_arguments."""
    return f"[ERROR] {message} [json-pointer:{path}]"


def _plain(text: Any, most: int, where: str, required: bool = True) -> list[str]:
    if text is None:
        return [pointer(where, "must provide an object")] if required else []
    if not isinstance(text, dict) or text.get("type") != "plain_text":
        return [pointer(f"{where}/type", "must be plain_text")]
    value = text.get("text")
    if not isinstance(value, str) or not value:
        return [pointer(f"{where}/text", "must be more than 0 characters")]
    if len(value) > most:
        return [pointer(f"{where}/text", f"must be less than {most + 1} characters")]
    return []


def _options(element: dict[str, Any], where: str) -> list[str]:
    options, groups = element.get("options"), element.get("option_groups")
    if (options is None) == (groups is None):
        return [pointer(where, "must provide exactly one of options and option_groups")]
    found: list[str] = []
    listed: list[tuple[str, Any]] = []
    if options is not None:
        listed = [(f"{where}/options/{i}", o) for i, o in enumerate(options if isinstance(options, list) else [])]
        count = len(options) if isinstance(options, list) else 0
    else:
        count = len(groups) if isinstance(groups, list) else 0
        for g, group in enumerate(groups if isinstance(groups, list) else []):
            inner = group.get("options") if isinstance(group, dict) else None
            found += _plain(
                group.get("label") if isinstance(group, dict) else None, 75, f"{where}/option_groups/{g}/label"
            )
            listed += [(f"{where}/option_groups/{g}/options/{i}", o) for i, o in enumerate(inner or [])]
    if not 0 < count <= MAX_OPTIONS:
        found.append(
            pointer(
                f"{where}/{'options' if options is not None else 'option_groups'}",
                f"must provide 1 to {MAX_OPTIONS} items",
            )
        )
    values = []
    for at, option in listed:
        if not isinstance(option, dict):
            found.append(pointer(at, "must provide an object"))
            continue
        found += _plain(option.get("text"), MAX_OPTION_TEXT, f"{at}/text")
        value = option.get("value")
        if not isinstance(value, str) or not 0 < len(value) <= MAX_OPTION_VALUE:
            found.append(pointer(f"{at}/value", f"must be 1 to {MAX_OPTION_VALUE} characters"))
        values.append(value)
    if len(values) != len(set(map(str, values))):
        found.append(pointer(where, "options must have unique values"))
    initial = element.get("initial_option")
    if initial is not None and (not isinstance(initial, dict) or initial.get("value") not in values):
        found.append(pointer(f"{where}/initial_option", "must match one of the provided options"))
    return found


def element_problems(element: Any, where: str) -> list[str]:
    """What Slack refuses in an interactive element of a view (selects and text inputs in detail)."""
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [pointer(where, "must provide an object with a type")]
    found = []
    if len(str(element.get("action_id", ""))) > MAX_ID:
        found.append(pointer(f"{where}/action_id", f"must be less than {MAX_ID + 1} characters"))
    kind = element["type"]
    if element.get("placeholder") is not None:
        found += _plain(element["placeholder"], MAX_PLACEHOLDER, f"{where}/placeholder")
    if kind in SELECTS:
        found += _options(element, where)
    if kind == "plain_text_input":
        for key in ("min_length", "max_length"):
            value = element.get(key)
            if value is not None and (not isinstance(value, int) or not 0 <= value <= MAX_INPUT_LENGTH):
                found.append(pointer(f"{where}/{key}", f"must be 0 to {MAX_INPUT_LENGTH}"))
    if kind == "button":
        found += _plain(element.get("text"), 75, f"{where}/text")
        if element.get("style") not in {None, "primary", "danger"}:
            found.append(pointer(f"{where}/style", "must be primary or danger"))
    return found


def _input_problems(block: dict[str, Any], where: str) -> list[str]:
    found = _plain(block.get("label"), MAX_LABEL, f"{where}/label")
    found += _plain(block.get("hint"), MAX_LABEL, f"{where}/hint", required=False)
    element = block.get("element")
    if not isinstance(element, dict):
        return [*found, pointer(f"{where}/element", "must provide an object")]
    if element.get("type") not in INPUT_ELEMENTS:
        found.append(pointer(f"{where}/element/type", f"{element.get('type')!r} is not an input element"))
    elif block.get("dispatch_action") and element["type"] == "file_input":
        found.append(pointer(f"{where}/dispatch_action", "unsupported type: file_input"))
    return found + element_problems(element, f"{where}/element")


def view_problems(view: Any, blocks_problem: Any) -> list[str]:
    """Slack's invalid_arguments messages for a view object; `blocks_problem(block)` is the stand-in's
    check of one block (sandbox.slack_api), run on every block that is no input block."""
    if not isinstance(view, dict):
        return [pointer("/view", "must provide an object")]
    kind = view.get("type")
    if kind not in VIEW_TYPES:
        return [pointer("/view/type", "must be one of modal, home")]
    found = []
    if kind == "modal":
        found += _plain(view.get("title"), MAX_VIEW_BUTTON_TEXT, "/view/title")
        for key in ("submit", "close"):
            found += _plain(view.get(key), MAX_VIEW_BUTTON_TEXT, f"/view/{key}", required=False)
    for key, most in (("private_metadata", MAX_PRIVATE_METADATA), ("callback_id", MAX_ID), ("external_id", MAX_ID)):
        value = view.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > most):
            found.append(pointer(f"/view/{key}", f"must be a string of at most {most} characters"))
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        return [*found, pointer("/view/blocks", "must provide an array")]
    if len(blocks) > MAX_VIEW_BLOCKS:
        found.append(pointer("/view/blocks", f"must be less than {MAX_VIEW_BLOCKS + 1} items"))
    ids = [b.get("block_id") for b in blocks if isinstance(b, dict) and b.get("block_id") is not None]
    if len(ids) != len(set(map(str, ids))):
        found.append(pointer("/view/blocks", "block_id must be unique in a view"))
    has_input = False
    for index, block in enumerate(blocks):
        where = f"/view/blocks/{index}"
        if isinstance(block, dict) and block.get("type") == "input":
            has_input = True
            if len(str(block.get("block_id", ""))) > MAX_ID:
                found.append(pointer(f"{where}/block_id", f"must be less than {MAX_ID + 1} characters"))
            found += _input_problems(block, where)
            continue
        if blocks_problem(block):
            found.append(pointer(where, "invalid block"))
            continue
        inner = [(f"{where}/accessory", block["accessory"])] if block.get("accessory") else []
        if block.get("type") == "actions":
            inner += [(f"{where}/elements/{i}", e) for i, e in enumerate(block.get("elements") or [])]
        for at, element in inner:
            found += element_problems(element, at)
    if kind == "modal" and has_input and view.get("submit") is None:
        found.append(pointer("/view/submit", "must provide submit when the view has input blocks"))
    if len(json.dumps(view)) > MAX_VIEW_BYTES:
        found.append("view_too_large")
    return found


def selected_value(element: dict[str, Any], value: Any) -> dict[str, Any]:
    """How Slack puts a person's choice for `element` in state.values and in a block_actions action."""
    kind = str(element.get("type"))
    shown: dict[str, Any] = {"type": kind}
    if kind in {"static_select", "radio_buttons"}:
        shown["selected_option"] = None if value is None else option(element, str(value))
    elif kind in {"multi_static_select", "checkboxes"}:
        shown["selected_options"] = [option(element, str(v)) for v in (value or [])]
    elif kind in {"users_select", "conversations_select", "channels_select"}:
        shown[f"selected_{kind.removesuffix('s_select').removesuffix('_select')}"] = value
    elif kind == "datepicker":
        shown["selected_date"] = value
    elif kind == "timepicker":
        shown["selected_time"] = value
    else:
        shown["value"] = value
    return shown


def option(element: dict[str, Any], value: str) -> dict[str, Any]:
    """The option of a select (or its option groups) whose value is `value`."""
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    for found in options:
        if found.get("value") == value:
            return {"text": found.get("text"), "value": value}
    raise ValueError(f"no option {value!r} in {element.get('action_id')!r}")


def with_ids(view: dict[str, Any]) -> dict[str, Any]:
    """The view as Slack stores it: a block_id for every block and an action_id for every interactive
    element that came without one (Slack makes them up; they come back in the view and in payloads)."""
    view = copy.deepcopy(view)
    for block in view.get("blocks") or []:
        if not isinstance(block, dict):
            continue
        block.setdefault("block_id", secrets.token_urlsafe(3))
        elements = [block.get("element"), block.get("accessory"), *(block.get("elements") or [])]
        for element in elements:
            if isinstance(element, dict) and element.get("type") not in {None, "image", "mrkdwn", "plain_text"}:
                element.setdefault("action_id", secrets.token_urlsafe(3))
    return view


def dispatches_action(view: dict[str, Any], block_id: str) -> bool:
    """Whether Slack sends block_actions when an element of `block_id` is used: always outside input
    blocks, inside one only with dispatch_action."""
    for block in view.get("blocks") or []:
        if str(block.get("block_id")) == block_id:
            return block.get("type") != "input" or bool(block.get("dispatch_action"))
    return False


def stateful_elements(view: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(block_id, element) of each element whose value Slack keeps in state.values: input blocks' elements
    and the selects of actions blocks and section accessories."""
    found = []
    for block in view.get("blocks") or []:
        block_id = str(block.get("block_id", ""))
        if block.get("type") == "input":
            found.append((block_id, block["element"]))
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        elements += [block["accessory"]] if block.get("accessory") else []
        found += [(block_id, e) for e in elements if isinstance(e, dict) and e.get("type") != "button"]
    return found


@dataclass
class ViewStore:
    """Every person's views: triggers, modal stacks, home tabs, and each change in order."""

    triggers: dict[str, Trigger] = field(default_factory=dict)
    views: dict[str, StoredView] = field(default_factory=dict)
    stacks: dict[str, list[str]] = field(default_factory=dict)  # user -> open modal view ids, root first
    homes: dict[str, str] = field(default_factory=dict)  # user -> home view id
    events: list[ViewEvent] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    def new_hash(self, now: float) -> str:
        return f"{now:.6f}.{next(self._ids):08x}"

    def by_external_id(self, external_id: str) -> StoredView | None:
        if not external_id:
            return None
        return next((v for v in self.views.values() if v.external_id == external_id and not v.closed), None)

    def top(self, user: str) -> StoredView | None:
        stack = self.stacks.get(user) or []
        return self.views[stack[-1]] if stack else None

    def record(self, method: str, stored: StoredView) -> None:
        self.events.append(ViewEvent(method, stored.user, stored.as_slack()))

    def close_stack(self, user: str, keep: int = 0) -> None:
        """Close the user's modals above the first `keep`."""
        stack = self.stacks.get(user) or []
        for view_id in stack[keep:]:
            self.views[view_id].closed = True
        self.stacks[user] = stack[:keep]
