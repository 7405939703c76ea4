"""The forms (Slack modals) of /deploy, /scale and /rollback typed without arguments, and of the App Home's
buttons: environment and service, then the choices that depend on them, loaded as the person picks.

    ack of the command (or button)   Modals.open: views.open with the request's trigger_id (Slack takes it for
                                     3 s), a first view built from the ack's settings, no AWS
    a pick of environment/service    block_actions -> lazy: the choices read from AWS (bot.pickers), then
                                     Modals.update: views.update with the view's hash (a newer view wins)
    submit                           the ack checks the form as the typed command it stands for (one syntax:
                                     bot.commands' parser), errors back into the form by block id; then the
                                     lazy work runs that command through Dispatcher.run, as if typed

The view JSON is built here by hand (no slack_sdk models: the ack imports this module). Every tag, image or
name from outside shown in mrkdwn is escaped; plain_text needs no escaping, only its lengths.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot.command_names import CommandNames
from bot.errors import UsageError
from bot.slack_text import SLACK_ID, clip_mrkdwn, escape

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.commands import Command, Parser

log = logging.getLogger(__name__)

KINDS = ("deploy", "scale", "rollback")
CALLBACK_PREFIX = "modal_"  # a form's callback_id: modal_deploy, modal_scale, modal_rollback
ENV_ACTION = "modal_env"
SERVICE_ACTION = "modal_service"
PICK_ACTIONS = (ENV_ACTION, SERVICE_ACTION)  # dispatch_action: each pick loads the choices (block_actions)
TAG_ACTION, COUNT_ACTION, REVISION_ACTION = "modal_tag", "modal_count", "modal_revision"
ENV_BLOCK, SERVICE_BLOCK, COUNT_BLOCK = "env", "service", "count"  # the count's block: count:{env}:{service}
# What the choices say (running tag, counts, the revisions' deployers), mrkdwn: choices:{kind}:{env}:{service}
# once they are loaded for that env and service (a submit is refused unless they name the picked ones).
CHOICES_BLOCK = "choices"
OPTION_TEXT_LIMIT = 75  # Slack's limit on an option's text
TAG_KEPT = 24  # an image tag keeps at least this much of itself in its option's text
MAX_OPTIONS = 100  # ... and on a static_select's options
OPTION_VALUE_LIMIT = 150
SECTION_LIMIT = 3000
ERROR_LIMIT = 200
TITLES = {"deploy": "Deploy", "scale": "Scale", "rollback": "Roll back"}
SUBMIT = {"deploy": "Plan the deploy", "scale": "Plan the scale", "rollback": "Plan the rollback"}


class Bounds(Protocol):
    @property
    def min_tasks(self) -> int: ...
    @property
    def max_tasks(self) -> int: ...


class Settings(Protocol):
    """What a form is built from: the ack's settings (bot.config_source.AckSettings) or the validated Config."""

    @property
    def environment_names(self) -> list[str]: ...
    @property
    def service_names(self) -> list[str]: ...
    @property
    def command_names(self) -> CommandNames: ...
    def service(self, name: str) -> Bounds: ...


# --- the choices that depend on environment and service (loaded by bot.pickers) -----------------------------


@dataclass(frozen=True, slots=True)
class TagChoice:
    tag: str
    pushed_at: float
    running: bool = False
    bad: str = ""  # what became of it when it is known to be bad: "failed", "rolled back from"
    pre_release: bool = False  # a pre-release in a protected environment: deployed only when named


@dataclass(frozen=True, slots=True)
class RevisionChoice:
    number: int
    tag: str
    deployed_by: str  # a user id, or "" when unknown
    deployed_at: float | None


@dataclass(frozen=True, slots=True)
class Choices:
    """The dependent choices of one kind of form for one service, or the problem that kept them from loading
    (`problem`: the bot's own mrkdwn, outside text in it escaped)."""

    kind: str
    env: str
    service: str
    tags: tuple[TagChoice, ...] = ()
    revisions: tuple[RevisionChoice, ...] = ()
    current_revision: int | None = None
    current_tag: str = ""
    running: int | None = None
    desired: int | None = None
    autoscaling: tuple[int, int] | None = None  # the scalable target's min and max
    problem: str = ""


# --- what a view says ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Picked:
    """A form as Slack sends it back (block_actions, view_submission): never trusted, each value checked."""

    kind: str
    view_id: str
    hash: str
    channel: str
    env: str | None
    service: str | None
    values: dict[str, str] = field(default_factory=dict)  # block id -> the value picked or typed
    blocks: tuple[str, ...] = ()  # the block ids the view shows


def kind_of(callback_id: str) -> str | None:
    kind = callback_id.removeprefix(CALLBACK_PREFIX)
    return kind if callback_id.startswith(CALLBACK_PREFIX) and kind in KINDS else None


def read_view(view: dict[str, Any], settings: Settings) -> Picked | None:
    """The kind, channel and picks of a form; None when it is not one of the bot's forms or its channel (carried
    in private_metadata, which Slack returns as the bot set it, but a request is input) is not a channel id."""
    kind = kind_of(str(view.get("callback_id", "")))
    if kind is None:
        return None
    try:
        metadata = json.loads(str(view.get("private_metadata") or "{}"))
    except ValueError:
        return None
    channel = metadata.get("channel") if isinstance(metadata, dict) else None
    if not isinstance(channel, str) or not SLACK_ID.match(channel):
        return None
    values: dict[str, str] = {}
    state = (view.get("state") or {}).get("values") or {}
    for block_id, actions in state.items() if isinstance(state, dict) else ():
        for value in (actions or {}).values() if isinstance(actions, dict) else ():
            if not isinstance(value, dict):
                continue
            chosen = value.get("selected_option")
            text = chosen.get("value") if isinstance(chosen, dict) else value.get("value")
            if isinstance(text, str) and text.strip():
                values[str(block_id)] = text.strip()
    env, service = values.get(ENV_BLOCK), values.get(SERVICE_BLOCK)
    return Picked(
        kind=kind,
        view_id=str(view.get("id", "")),
        hash=str(view.get("hash", "")),
        channel=channel,
        env=env if env in settings.environment_names else None,
        service=service if service in settings.service_names else None,
        values=values,
        blocks=tuple(str(b.get("block_id", "")) for b in view.get("blocks") or [] if isinstance(b, dict)),
    )


def dependent_block(kind: str, env: str, service: str) -> str:
    """The block id of the dependent choice: per service, so a pick made (or a count typed or pre-filled) for one
    service is never carried over to another (Slack keeps an input's value across updates when its block id
    stays)."""
    field = {"deploy": "tag", "rollback": "revision"}.get(kind, COUNT_BLOCK)
    return f"{field}:{env}:{service}"


def choices_block(kind: str, env: str, service: str) -> str:
    """The block id of what the choices loaded for `service` in `env` say: a submit checks it names its picks."""
    return f"{CHOICES_BLOCK}:{kind}:{env}:{service}"


def _stale(picked: Picked, env: str, service: str) -> str:
    """Why the choices the form shows are not those of the picked env and service, or "" when they are: two
    quick picks (the older one's update landed, the newer one's was refused) or a submit before they loaded."""
    if choices_block(picked.kind, env, service) in picked.blocks:
        return ""
    shown = next((b.split(":", 3) for b in picked.blocks if b.startswith(CHOICES_BLOCK + ":")), None)
    if shown is not None and len(shown) == 4:
        return f"The choices shown are {shown[3]}'s in {shown[2]}, not {service}'s in {env}: pick the service again."
    return f"The choices of {service} in {env} have not loaded yet: wait a moment, or pick the service again."


@dataclass(frozen=True, slots=True)
class Typed:
    """A submitted form as the command a person would type: `/deploy service-a v1.3.0 production`."""

    command: str  # the slash command (`/deploy`, `/ops-deploy`, `/ops`)
    text: str  # its text, escaped as Slack sends typed text
    key: str  # the same submission (Slack's retries resend it) always gives the same key

    @property
    def shown(self) -> str:
        return f"{self.command} {self.text}".strip()


def typed(picked: Picked, names: CommandNames) -> tuple[Typed | None, dict[str, str]]:
    """The command a submitted form stands for, or the errors to show in it (by block id)."""
    errors: dict[str, str] = {}
    if picked.env is None:
        errors[ENV_BLOCK] = "Pick an environment."
    if picked.service is None:
        errors[SERVICE_BLOCK] = "Pick a service."
    if picked.env is None or picked.service is None:
        return None, errors
    words = [picked.service]
    block = dependent_block(picked.kind, picked.env, picked.service)
    stale = _stale(picked, picked.env, picked.service)
    if stale:
        return None, {SERVICE_BLOCK: plain(stale)}
    chosen = picked.values.get(block, "")
    if picked.kind == "scale":
        if not chosen:
            return None, {block: "Give a number of tasks, or auto."}
        words.append(chosen)
    elif chosen:
        words.append(chosen)
    if any(len(word.split()) != 1 for word in words):
        return None, {block: "One word only."}
    words.append(picked.env)
    slash, _, sub = names.slash(picked.kind).partition(" ")
    text = escape(" ".join([sub, *words]).strip())
    digest = hashlib.sha256(json.dumps([picked.kind, picked.channel, words]).encode()).hexdigest()[:16]
    return Typed(slash, text, f"view:{picked.view_id}:{digest}"), {}


def check(picked: Picked, parser: Parser) -> tuple[Command | None, Typed | None, dict[str, str]]:
    """A submitted form parsed as its typed command: (command, typed) or the errors to show in the form."""
    command, errors = typed(picked, parser.names)
    if command is None or picked.env is None or picked.service is None:
        return None, None, errors
    try:
        return parser.parse(command.command, command.text), command, {}
    except UsageError as error:
        return None, None, {dependent_block(picked.kind, picked.env, picked.service): plain(error.message)}


def plain(text: str) -> str:
    """The parser's message (mrkdwn of its own) as an error under a field: plain text."""
    shown = text.replace("`", "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return shown if len(shown) <= ERROR_LIMIT else shown[: ERROR_LIMIT - 1] + "…"


# --- the view -----------------------------------------------------------------------------------------------


def _plain(text: str, limit: int = OPTION_TEXT_LIMIT) -> dict[str, Any]:
    clipped = text if len(text) <= limit else text[: limit - 1] + "…"
    return {"type": "plain_text", "text": clipped}


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": _plain(text), "value": value}


def _select(action_id: str, options: list[dict[str, Any]], selected: str | None, placeholder: str) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": action_id,
        "placeholder": _plain(placeholder, 150),
        "options": options[:MAX_OPTIONS],
    }
    initial = next((o for o in element["options"] if o["value"] == selected), None)
    if initial is not None:
        element["initial_option"] = initial
    return element


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False, hint: str = "") -> Any:
    block: dict[str, Any] = {"type": "input", "block_id": block_id, "label": _plain(label, 2000), "element": element}
    if optional:
        block["optional"] = True
    if hint:
        block["hint"] = _plain(hint, 2000)
    return block


def _context(text: str, block_id: str = CHOICES_BLOCK) -> dict[str, Any]:
    clipped = clip_mrkdwn(text, SECTION_LIMIT)
    return {"type": "context", "block_id": block_id, "elements": [{"type": "mrkdwn", "text": clipped}]}


def _when(moment: float | None) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "?"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def form(
    kind: str,
    settings: Settings,
    channel: str,
    env: str | None = None,
    service: str | None = None,
    choices: Choices | None = None,
    values: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The form of `kind` for a command given in `channel`; with `choices` (loaded for `env` and `service`),
    its dependent field; `values`: what the person typed or picked so far (block id -> value), kept."""
    if kind not in KINDS:
        raise ValueError(f"not a form: {kind}")
    environments = settings.environment_names
    if env is None and len(environments) == 1:
        env = environments[0]
    blocks: list[dict[str, Any]] = [
        _input(
            ENV_BLOCK,
            "Environment",
            {**_select(ENV_ACTION, [_option(e, e) for e in environments], env, "Pick an environment")},
        ),
        _input(
            SERVICE_BLOCK,
            "Service",
            _select(SERVICE_ACTION, [_option(s, s) for s in settings.service_names], service, "Pick a service"),
        ),
    ]
    for block in blocks:
        block["dispatch_action"] = True  # each pick sends block_actions: the choices load
    blocks.extend(_dependent(kind, settings, env, service, choices, values or {}))
    return {
        "type": "modal",
        "callback_id": f"{CALLBACK_PREFIX}{kind}",
        "title": _plain(TITLES[kind], 24),
        "submit": _plain(SUBMIT[kind], 24),
        "close": _plain("Cancel", 24),
        "private_metadata": json.dumps({"channel": channel}),
        "blocks": blocks,
    }


def _dependent(
    kind: str,
    settings: Settings,
    env: str | None,
    service: str | None,
    choices: Choices | None,
    values: dict[str, str],
) -> list[dict[str, Any]]:
    if env is None or service is None:
        return [_context("Pick an environment and a service to see " + _what(kind) + ".")]
    if choices is None or (choices.env, choices.service, choices.kind) != (env, service, kind):
        return [_context(f"Loading {_what(kind)} of *{escape(service)}* in *{escape(env)}*…")]
    shown = choices_block(kind, env, service)
    if choices.problem:  # refused or failed: nothing to pick, nothing shown of the service
        return [_context(choices.problem, shown)]
    block = dependent_block(kind, env, service)
    if kind == "deploy":
        return [*_tag_field(block, choices, values.get(block)), _context(_deploy_summary(choices), shown)]
    if kind == "rollback":
        return [*_revision_field(block, choices, values.get(block)), _context(_rollback_summary(choices), shown)]
    count = _count_input(settings, block, choices, values.get(block))
    return [count, _context(_scale_summary(settings, choices), shown)]


def _what(kind: str) -> str:
    return {"deploy": "its newest image tags", "scale": "its task counts", "rollback": "its known-good revisions"}[kind]


def _tag_field(block: str, choices: Choices, selected: str | None) -> list[dict[str, Any]]:
    options = []
    for choice in choices.tags[:MAX_OPTIONS]:
        if len(choice.tag) > OPTION_VALUE_LIMIT:
            continue
        options.append(_option(_tag_text(choice), choice.tag))
    if not options:
        return []
    hint = "Leave it empty for the newest tag not known to be bad, as the command without a tag does."
    return [_input(block, "Image tag", _select(TAG_ACTION, options, selected, "Pick a tag"), optional=True, hint=hint)]


def _tag_text(choice: TagChoice) -> str:
    """An option's text: the tag (clipped if long), when it was pushed and its marks; when they leave less than
    TAG_KEPT characters of the tag in Slack's 75, the marks and the date shortened (51 characters at most)."""
    marks = f" · pushed {_when(choice.pushed_at)}" + (" · running now" if choice.running else "")
    marks += f" · known bad: {choice.bad}" if choice.bad else ""
    marks += " · pre-release" if choice.pre_release else ""
    if min(len(choice.tag), TAG_KEPT) + len(marks) <= OPTION_TEXT_LIMIT:
        return _clip(choice.tag, OPTION_TEXT_LIMIT - len(marks)) + marks
    short = f" · {_when(choice.pushed_at)[:10]}" + (" · running" if choice.running else "")
    short += f" · {choice.bad.removesuffix(' from')}" if choice.bad else ""
    short += " · pre-release" if choice.pre_release else ""
    return _clip(choice.tag, OPTION_TEXT_LIMIT - len(short)) + short


def _deploy_summary(choices: Choices) -> str:
    if not choices.tags:
        return f"*{escape(choices.service)}* has no tagged image in its repository: push one, then deploy it."
    running = f"`{escape(choices.current_tag)}`" if choices.current_tag else "an image without a tag"
    bad = sum(1 for t in choices.tags if t.bad)
    shown = f"the newest {len(choices.tags)} tags" if len(choices.tags) >= MAX_OPTIONS else "its tags"
    words = f"*{escape(choices.service)}* ({escape(choices.env)}) runs {running}"
    if choices.current_revision is not None:
        words += f" (revision {choices.current_revision})"
    words += f"; {shown}, newest push first"
    return words + (f"; {bad} known bad (failed or rolled back from)." if bad else ".")


def _revision_field(block: str, choices: Choices, selected: str | None) -> list[dict[str, Any]]:
    options = []
    for choice in choices.revisions[:MAX_OPTIONS]:
        tail = f" · {_when(choice.deployed_at)}"
        head = f"revision {choice.number} · "
        tag = _clip(choice.tag or "?", OPTION_TEXT_LIMIT - len(head) - len(tail))
        options.append(_option(f"{head}{tag}{tail}", str(choice.number)))
    if not options:
        return []
    hint = "Leave it empty for the newest known-good revision, as the command without a revision does."
    select = _select(REVISION_ACTION, options, selected, "Pick a revision")
    return [_input(block, "Revision", select, optional=True, hint=hint)]


def _rollback_summary(choices: Choices) -> str:
    now = f" runs revision {choices.current_revision}" if choices.current_revision is not None else ""
    tag = f" (`{escape(choices.current_tag)}`)" if choices.current_tag else ""
    head = f"*{escape(choices.service)}* ({escape(choices.env)}){now}{tag}."
    if not choices.revisions:
        return head + " No known-good revision below it is recorded; the rollback would say what it can go to."
    lines = [head, "Known good, newest first:"]
    for choice in choices.revisions[:10]:
        by = f"<@{choice.deployed_by}>" if SLACK_ID.match(choice.deployed_by) else escape(choice.deployed_by or "?")
        shown = escape(_clip(choice.tag or "?", 60))
        lines.append(f"• revision {choice.number} `{shown}`, deployed by {by} on {_when(choice.deployed_at)}")
    return "\n".join(lines)


def _count_input(settings: Settings, block: str, choices: Choices, value: str | None) -> Any:
    """The count of `choices.service` (its own block): what the person typed there, else its desired count."""
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": COUNT_ACTION, "max_length": 5}
    if value:
        element["initial_value"] = value
    elif choices.desired is not None:
        element["initial_value"] = str(choices.desired)
    bounds = settings.service(choices.service)
    hint = f"From {bounds.min_tasks} to {bounds.max_tasks} tasks, or auto to hand it back to autoscaling."
    return _input(block, "Tasks", element, hint=hint)


def _scale_summary(settings: Settings, choices: Choices) -> str:
    bounds = settings.service(choices.service)
    words = f"*{escape(choices.service)}* ({escape(choices.env)}): {choices.running} running, {choices.desired} desired"
    words += f"; allowed {bounds.min_tasks} to {bounds.max_tasks} tasks"
    if choices.autoscaling is not None:
        words += f"; autoscaling between {choices.autoscaling[0]} and {choices.autoscaling[1]}"
    return words + "."


# --- Slack: open and update ---------------------------------------------------------------------------------


def external_id(trigger_id: str) -> str:
    """The id a form opened with `trigger_id` is known by (views.update by external_id: the lazy work of the
    same request knows the trigger id, not the view's id)."""
    return "modal-" + hashlib.sha256(trigger_id.encode()).hexdigest()[:32]


class Modals:
    """Opens the forms (in an ack: Slack takes a trigger_id for 3 s) and updates them (in the lazy work).

    `client` makes the lazy updates; `opener` (default: `client`) the views.open in the ack: give it a client
    with a short timeout and no retries, since the trigger_id would expire during a retry anyway; `time_left`,
    if given, sets that timeout at each open: the seconds the ack has left (its request spent some already)."""

    def __init__(
        self,
        settings: Settings,
        client: WebClient,
        opener: WebClient | None = None,
        time_left: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.opener = opener or client
        self.time_left = time_left

    def open(
        self, kind: str, trigger_id: str, user: str, channel: str, env: str | None = None, service: str | None = None
    ) -> None:
        """Open the form of `kind` (deploy, scale, rollback) for `user`, its command to run in `channel`, with
        `env` and `service` picked when given (a known one). Raises slack_sdk's SlackApiError as the client does.
        With both given, the lazy work calls `load(...)` next (the choices need AWS)."""
        env = env if env in self.settings.environment_names else None
        service = service if service in self.settings.service_names else None
        view = form(kind, self.settings, channel, env, service)
        opener = self.opener
        if self.time_left is not None:
            opener = copy.copy(opener)  # this request's timeout, on its own client
            # slack_sdk annotates an int, and hands it to urllib's urlopen, which takes seconds as a float
            opener.timeout = max(0.1, self.time_left())  # type: ignore[assignment]
        opener.views_open(trigger_id=trigger_id, view={**view, "external_id": external_id(trigger_id)})

    def load(self, kind: str, trigger_id: str, channel: str, choices: Choices) -> None:
        """The choices of a form `open` opened with its env and service, shown (by its external id)."""
        view = form(kind, self.settings, channel, choices.env, choices.service, choices)
        self._update(view, external_id=external_id(trigger_id))

    def update(self, picked: Picked, choices: Choices | None) -> bool:
        """The form as picked so far, with the choices loaded for it; False when the person changed the form
        meanwhile (hash_conflict: their newer pick has its own update coming)."""
        view = form(picked.kind, self.settings, picked.channel, picked.env, picked.service, choices, picked.values)
        return self._update(view, view_id=picked.view_id, hash=picked.hash)

    def _update(self, view: dict[str, Any], **which: str) -> bool:
        from slack_sdk.errors import SlackApiError

        try:
            self.client.views_update(view=view, **{k: v for k, v in which.items() if v})  # no hash: no check
        except SlackApiError as error:
            if error.response.get("error") == "hash_conflict":
                return False
            raise
        return True
