"""pytest plugin: every payload that reaches a Slack stand-in during the run is checked as Slack would.

The stand-in (sandbox.slack_api) tells its observers about each chat.postMessage, chat.update,
chat.postEphemeral, chat.scheduleMessage, views.* and response_url post it receives, accepted or
refused. This plugin records each one with the nodeid of the test that was running (the stand-in's HTTP
server runs in threads of this process; a sandbox started as a subprocess is not seen), and when the
session ends checks them all:

* with slack_sdk's Block Kit models: `Block.parse(block)` must know the block, and `validate_json()`
  plus `to_dict()` (which validates every nested element) must pass; a view goes through
  `slack_sdk.models.views.View` the same way;
* against Slack's documented limits, some of which slack_sdk does not check: message text 40,000, a
  fallback `text` whenever blocks are sent, 50 blocks in a message and 100 in a view, section text
  3,000 and fields 10 of 2,000, header 150 and plain_text only, context 10 elements, actions 25
  elements, button text 75 and value 2,000, action_id and block_id 255, block_id unique in a message,
  action_id unique in a block, url and image_url 3,000; an image (block or context element) has an
  alt_text of 1 to 2,000 characters and exactly one of image_url and slack_file (`{"id"}` or `{"url"}`),
  an image block's title is plain_text of at most 2,000;
* for views, Slack's view rules: type modal or home; a modal's title (required), submit and close are
  plain_text of at most 24 characters, and a modal with an input block has a submit; private_metadata
  3,000, callback_id and external_id 255 characters; an input block has a plain_text label and an
  optional plain_text hint of at most 2,000 and an input element; a static select (anywhere in a view)
  has 1 to 100 options or option groups, option text plain_text of 75 and unique values of 1 to 150,
  and its initial_option is one of them.

Any violation fails the run (exit status 1), each printed with the test that sent it; the terminal
summary ends with "Slack payloads checked: N, violations: M". A test that sends bad payloads on purpose
(the stand-in's own tests) is marked `@pytest.mark.slack_invalid_payloads_expected`; what it sends is
counted apart and not checked.

Registered for the whole suite by tests/conftest.py; `pytest -p slack_payloads` loads it elsewhere.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from sandbox import slack_api

MARKER = "slack_invalid_payloads_expected"
MESSAGE_METHODS = frozenset(
    {"chat.postMessage", "chat.update", "chat.postEphemeral", "chat.scheduleMessage", "response_url"}
)
VIEW_METHODS = frozenset({"views.open", "views.update", "views.push", "views.publish"})

MAX_TEXT = 40_000
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3_000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2_000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2_000
MAX_ID = 255
MAX_URL = 3_000
MAX_ALT_TEXT = 2_000
MAX_VIEW_TEXT = 24  # a modal's title, submit and close
MAX_PRIVATE_METADATA = 3_000
MAX_LABEL = 2_000
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
INPUT_ELEMENTS = frozenset(
    {
        "plain_text_input", "email_text_input", "url_text_input", "number_input", "rich_text_input",
        "static_select", "multi_static_select", "external_select", "multi_external_select", "users_select",
        "multi_users_select", "conversations_select", "multi_conversations_select", "channels_select",
        "multi_channels_select", "checkboxes", "radio_buttons", "datepicker", "timepicker", "datetimepicker",
        "file_input",
    }
)  # fmt: skip
URL_KEYS = ("url", "image_url")


@dataclass(frozen=True)
class Payload:
    nodeid: str
    method: str
    body: dict[str, Any] | None
    refused: str | None


@dataclass
class Recorder:
    """What the stand-ins received, tagged with the test that was running."""

    current: str = "(outside any test)"
    expected_invalid: bool = False
    payloads: list[Payload] = field(default_factory=list)
    not_checked: int = 0
    violations: list[tuple[Payload, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, sent: slack_api.Sent) -> None:
        with self._lock:
            if self.expected_invalid:
                self.not_checked += 1
            else:
                self.payloads.append(Payload(self.current, sent.method, sent.payload, sent.error))

    def check(self) -> None:
        """One violation per payload Slack would refuse, with every reason found."""
        with self._lock:
            payloads = list(self.payloads)
        found = ((p, problems(p.method, p.body)) for p in payloads)
        self.violations = [(p, "; ".join(reasons)) for p, reasons in found if reasons]


RECORDER = pytest.StashKey[Recorder]()
STOP = pytest.StashKey[Any]()


# --- the checks -------------------------------------------------------------------------------------------


def problems(method: str, body: dict[str, Any] | None) -> list[str]:
    """Why Slack would refuse (or badly show) this payload; empty when it is fine."""
    if body is None:
        return ["the body is not a JSON object"]
    if method in VIEW_METHODS:
        return _view_problems(body)
    if method == "response_url" and body.get("delete_original"):
        return []
    found = []
    text, blocks = body.get("text"), body.get("blocks")
    if text is not None and not isinstance(text, str):
        found.append(f"text is a {type(text).__name__}, not a string")
    elif isinstance(text, str) and len(text) > MAX_TEXT:
        found.append(f"text has {len(text):,} characters (Slack takes {MAX_TEXT:,})")
    if blocks is None:
        if not text and not body.get("attachments"):
            found.append("neither text nor blocks")
        return found
    if not text:
        found.append("blocks without a fallback text (Slack shows it in notifications and screen readers)")
    return found + _blocks_problems(blocks, MAX_MESSAGE_BLOCKS)


def _view_problems(body: dict[str, Any]) -> list[str]:
    view = body.get("view")
    if isinstance(view, str):
        try:
            view = json.loads(view)
        except ValueError:
            return ["view is not JSON"]
    if not isinstance(view, dict):
        return ["no view"]
    found = _view_limits(view)
    try:
        View(**view).to_dict()  # validate_json() on the view and everything in it
    except (SlackObjectFormationError, TypeError, ValueError) as error:
        found.append(f"view: {error}")
    return found + _blocks_problems(view.get("blocks") or [], MAX_VIEW_BLOCKS)


def _view_limits(view: dict[str, Any]) -> list[str]:
    """Slack's rules for a view object and the inputs and selects in it."""
    kind = view.get("type")
    if kind not in {"modal", "home"}:
        return [f"view type {kind!r} (Slack takes modal and home)"]
    found = []
    blocks = [b for b in view.get("blocks") or [] if isinstance(b, dict)]
    if kind == "modal":
        if view.get("title") is None:
            found.append("a modal needs a title")
        for key in ("title", "submit", "close"):
            found += _plain_limit(view.get(key), MAX_VIEW_TEXT, key)
        if view.get("submit") is None and any(b.get("type") == "input" for b in blocks):
            found.append("a modal with an input block needs submit")
    for key, most in (("private_metadata", MAX_PRIVATE_METADATA), ("callback_id", MAX_ID), ("external_id", MAX_ID)):
        if len(str(view.get(key) or "")) > most:
            found.append(f"{key} over {most:,} characters")
    for index, block in enumerate(blocks):
        where = f"blocks[{index}]"
        elements: list[tuple[str, Any]] = []
        if block.get("type") == "input":
            found += _plain_limit(block.get("label"), MAX_LABEL, f"{where}.label")
            if block.get("label") is None:
                found.append(f"{where}: an input block needs a label")
            found += _plain_limit(block.get("hint"), MAX_LABEL, f"{where}.hint")
            element = block.get("element")
            if not isinstance(element, dict) or element.get("type") not in INPUT_ELEMENTS:
                found.append(f"{where}.element is no input element")
            elements.append((f"{where}.element", element))
        if isinstance(block.get("accessory"), dict):
            elements.append((f"{where}.accessory", block["accessory"]))
        if block.get("type") == "actions":
            elements += [(f"{where}.elements[{i}]", e) for i, e in enumerate(block.get("elements") or [])]
        for at, element in elements:
            if isinstance(element, dict) and element.get("type") in {"static_select", "multi_static_select"}:
                found += _select_limits(element, at)
    return found


def _plain_limit(text: Any, most: int, where: str) -> list[str]:
    if text is not None and (not isinstance(text, dict) or text.get("type") != "plain_text"):
        return [f"{where} must be plain_text"]
    return _text_limit(text, most, where)


def _select_limits(element: dict[str, Any], where: str) -> list[str]:
    """A static select's options (or option groups): 1 to 100, text of 75, unique values of 1 to 150."""
    options, groups = element.get("options"), element.get("option_groups")
    if (options is None) == (groups is None):
        return [f"{where} needs exactly one of options and option_groups"]
    listed = list(options or [])
    for group in groups or []:
        listed += group.get("options") or [] if isinstance(group, dict) else []
    found = []
    count = len(options if isinstance(options, list) else groups if isinstance(groups, list) else [])
    if not 0 < count <= MAX_OPTIONS:
        found.append(f"{where} has {count} options (Slack takes 1 to {MAX_OPTIONS})")
    values = [o.get("value") for o in listed if isinstance(o, dict)]
    for i, item in enumerate(listed):
        found += _plain_limit(
            item.get("text") if isinstance(item, dict) else None, MAX_OPTION_TEXT, f"{where}.options[{i}].text"
        )
    found += [
        f"{where}: option value {str(v)[:20]!r}... not 1 to {MAX_OPTION_VALUE} characters"
        for v in values
        if not isinstance(v, str) or not 0 < len(v) <= MAX_OPTION_VALUE
    ]
    found += [f"{where}: option value {v!r} twice" for v in _twice(values)]
    initial = element.get("initial_option")
    if initial is not None and (not isinstance(initial, dict) or initial.get("value") not in values):
        found.append(f"{where}.initial_option is none of its options")
    return found


def _blocks_problems(blocks: Any, most: int) -> list[str]:
    if not isinstance(blocks, list):
        return ["blocks is not a list"]
    found = []
    if len(blocks) > most:
        found.append(f"{len(blocks)} blocks (Slack takes {most})")
    block_ids = [b.get("block_id") for b in blocks if isinstance(b, dict) and b.get("block_id") is not None]
    found += [f"block_id {i!r} used twice in one message" for i in _twice(block_ids)]
    for index, block in enumerate(blocks):
        found += [f"blocks[{index}] ({_kind(block)}): {problem}" for problem in _block_problems(block)]
    return found


def _block_problems(block: Any) -> list[str]:
    if not isinstance(block, dict):
        return ["not an object"]
    try:
        parsed = Block.parse(block)
    except TypeError as error:  # a required field missing: the limits below say which, else slack_sdk does
        return _limits(block) or [f"slack_sdk: {error}"]
    if parsed is None:
        return [f"slack_sdk does not know the block type {block.get('type')!r}"]
    found = _limits(block)
    if not found:  # what slack_sdk finds besides (it stops at the first problem, and says it less clearly)
        try:
            parsed.validate_json()
            parsed.to_dict()  # validates every nested element too
        except SlackObjectFormationError as error:
            found.append(f"slack_sdk: {error}")
    return found


def _limits(block: dict[str, Any]) -> list[str]:
    """Slack's documented limits, checked here whether or not slack_sdk checks them."""
    found = []
    kind = block.get("type")
    if len(str(block.get("block_id", ""))) > MAX_ID:
        found.append(f"block_id over {MAX_ID} characters")
    if kind == "section":
        found += _text_limit(block.get("text"), MAX_SECTION_TEXT, "text")
        fields = block.get("fields") or []
        if len(fields) > MAX_FIELDS:
            found.append(f"{len(fields)} fields (Slack takes {MAX_FIELDS})")
        for i, item in enumerate(fields):
            found += _text_limit(item, MAX_FIELD_TEXT, f"fields[{i}]")
        if isinstance(block.get("accessory"), dict):
            found += _element_limits(block["accessory"], "accessory")
    elif kind == "header":
        text = block.get("text")
        if not isinstance(text, dict) or text.get("type") != "plain_text":
            found.append("header text must be plain_text")
        found += _text_limit(text, MAX_HEADER_TEXT, "text")
    elif kind == "context":
        elements = block.get("elements") or []
        if len(elements) > MAX_CONTEXT_ELEMENTS:
            found.append(f"{len(elements)} elements (Slack takes {MAX_CONTEXT_ELEMENTS})")
        for i, element in enumerate(elements):
            found += _urls(element, f"elements[{i}]")
            if isinstance(element, dict) and element.get("type") == "image":
                found += _image_limits(element, f"elements[{i}].")
    elif kind == "image":
        found += _image_limits(block, "")
        title = block.get("title")
        if title is not None and (not isinstance(title, dict) or title.get("type") != "plain_text"):
            found.append("title must be plain_text")
        found += _text_limit(title, MAX_ALT_TEXT, "title")
    elif kind == "actions":
        elements = block.get("elements") or []
        if len(elements) > MAX_ACTIONS_ELEMENTS:
            found.append(f"{len(elements)} elements (Slack takes {MAX_ACTIONS_ELEMENTS})")
        ids = [e.get("action_id") for e in elements if isinstance(e, dict) and e.get("action_id") is not None]
        found += [f"action_id {i!r} used twice in one block" for i in _twice(ids)]
        for i, element in enumerate(elements):
            found += _element_limits(element, f"elements[{i}]")
    found += _urls(block, "")
    return found


def _image_limits(image: dict[str, Any], prefix: str) -> list[str]:
    """An image's alt_text, and its one source: image_url or a slack_file naming an id or a url."""
    found = []
    alt_text = image.get("alt_text")
    if not isinstance(alt_text, str) or not alt_text:
        found.append(f"{prefix}alt_text missing (screen readers read it)")
    elif len(alt_text) > MAX_ALT_TEXT:
        found.append(f"{prefix}alt_text has {len(alt_text):,} characters (Slack takes {MAX_ALT_TEXT:,})")
    url, slack_file = image.get("image_url"), image.get("slack_file")
    if (url is None) == (slack_file is None):
        found.append(f"{prefix}needs exactly one of image_url and slack_file")
    if slack_file is not None and (
        not isinstance(slack_file, dict) or not any(isinstance(slack_file.get(k), str) for k in ("id", "url"))
    ):
        found.append(f"{prefix}slack_file needs an id or a url")
    return found


def _element_limits(element: Any, where: str) -> list[str]:
    if not isinstance(element, dict):
        return [f"{where} is not an object"]
    found = []
    if len(str(element.get("action_id", ""))) > MAX_ID:
        found.append(f"{where}.action_id over {MAX_ID} characters")
    if element.get("type") == "button":
        found += _text_limit(element.get("text"), MAX_BUTTON_TEXT, f"{where}.text")
        if len(str(element.get("value", ""))) > MAX_BUTTON_VALUE:
            found.append(f"{where}.value over {MAX_BUTTON_VALUE:,} characters")
    return found + _urls(element, where)


def _text_limit(text: Any, most: int, where: str) -> list[str]:
    if text is None:
        return []
    value = text.get("text") if isinstance(text, dict) else None
    if not isinstance(value, str) or not value:
        return [f"{where} has no text"]
    if len(value) > most:
        return [f"{where} has {len(value):,} characters (Slack takes {most:,})"]
    return []


def _urls(item: Any, where: str) -> list[str]:
    if not isinstance(item, dict):
        return []
    prefix = f"{where}." if where else ""
    return [
        f"{prefix}{key} has {len(str(item[key])):,} characters (Slack takes {MAX_URL:,})"
        for key in URL_KEYS
        if len(str(item.get(key) or "")) > MAX_URL
    ]


def _twice(ids: list[Any]) -> list[Any]:
    seen: set[str] = set()
    twice = []
    for i in ids:
        if str(i) in seen and i not in twice:
            twice.append(i)
        seen.add(str(i))
    return twice


def _kind(block: Any) -> str:
    return str(block.get("type")) if isinstance(block, dict) else type(block).__name__


# --- pytest hooks -----------------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}: this test sends payloads Slack refuses on purpose; the suite-wide Slack payload check "
        "(tests/slack_payloads.py) leaves them out",
    )
    recorder = Recorder()
    config.stash[RECORDER] = recorder
    config.stash[STOP] = slack_api.observe(recorder)


def pytest_unconfigure(config: pytest.Config) -> None:
    stop = config.stash.get(STOP, None)
    if stop is not None:
        stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Payloads sent from the item's setup to its teardown are the item's."""
    recorder = item.config.stash[RECORDER]
    recorder.current, recorder.expected_invalid = item.nodeid, item.get_closest_marker(MARKER) is not None
    try:
        return (yield)
    finally:
        recorder.current, recorder.expected_invalid = "(outside any test)", False


WORKER_KEY = "slack_payloads"
REMOTE = pytest.StashKey[dict[str, Any]]()


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    recorder = config.stash[RECORDER]
    recorder.check()
    found = _violation_lines(recorder)
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: the controller adds up and reports
        workeroutput[WORKER_KEY] = {
            "checked": len(recorder.payloads),
            "not_checked": recorder.not_checked,
            "violations": found,
        }
    remote = config.stash.get(REMOTE, None)
    if (found or (remote and remote["violations"])) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist, on the controller: a worker finished; add its payloads and violations."""
    sent = getattr(node, "workeroutput", {}).get(WORKER_KEY)
    if sent is None:
        return
    if REMOTE not in node.config.stash:
        node.config.stash[REMOTE] = {"checked": 0, "not_checked": 0, "violations": []}
    remote = node.config.stash[REMOTE]
    remote["checked"] += sent["checked"]
    remote["not_checked"] += sent["not_checked"]
    remote["violations"] += sent["violations"]


def _violation_lines(recorder: Recorder) -> list[str]:
    lines = []
    for payload, problem in recorder.violations:
        refused = f" (the stand-in answered {payload.refused})" if payload.refused else ""
        lines.append(f"{payload.nodeid}: {payload.method}{refused}: {problem}")
    return lines


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    recorder = config.stash[RECORDER]
    remote = config.stash.get(REMOTE, None) or {"checked": 0, "not_checked": 0, "violations": []}
    violations = [*_violation_lines(recorder), *remote["violations"]]
    checked = len(recorder.payloads) + remote["checked"]
    not_checked = recorder.not_checked + remote["not_checked"]
    if violations:
        terminalreporter.section("Slack payloads Slack would refuse", red=True)
        for line in violations:
            terminalreporter.write_line(line)
    line = f"Slack payloads checked: {checked}, violations: {len(violations)}"
    if not_checked:
        line += f"; {not_checked} not checked (sent by tests marked {MARKER})"
    terminalreporter.write_line(line, red=bool(violations), green=not violations)
