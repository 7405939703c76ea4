""" "What changed": when a deploy preceded an alarm, its card's thread gets the difference between the revision
that ran before and the one deployed (issue 19.3).

In scope, and nothing else: per container the image tag (and repository when it changed), the NAMES of
environment variables and secrets added, removed or changed, CPU and memory (task and container), port
mappings added or removed. Values never leave `diff`: an environment variable's value and a secret's
`valueFrom` are compared there and dropped, so neither the diff, its message, a log line nor an exception
can carry one.

The two revisions are the deploy record's (`RecentDeploy.from_revision` -> `to_revision`, what the relay
found: the last known-good revision before the deployed one); a record without the previous revision takes
it from the revision history (bot.history). Both are read with ECS DescribeTaskDefinition.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bot import render
from bot.alarms.store import ALARM_CARD_TTL_SECONDS, AlarmCard
from bot.config import ConfigError
from bot.errors import BotError
from bot.history import RevisionHistory, last_known_good
from bot.platform import Platform
from bot.slack import SlackPort
from bot.table import Table

log = logging.getLogger(__name__)

NAMES_SHOWN = 20  # per list; the rest is counted
NAME_CHARS = 80  # a name longer than this is clipped
LINE_CHARS = 2_900  # a line, escaped, within a section's 3,000
MESSAGE_BLOCK_CHARS = 11_000  # the blocks' JSON, within what Slack takes in one message (about 13,000)
NOTHING = "No differences in image, environment, CPU/memory or ports between these revisions."


@dataclass(frozen=True, slots=True)
class Change:
    """A value in scope that is not a secret (a tag, a repository, CPU units, MiB), before and after."""

    before: str
    after: str


@dataclass(frozen=True, slots=True)
class ContainerDiff:
    name: str
    status: str = "changed"  # "added", "removed" (the container is only in one revision)
    image_repository: Change | None = None
    image_tag: Change | None = None
    env_added: tuple[str, ...] = ()
    env_removed: tuple[str, ...] = ()
    env_changed: tuple[str, ...] = ()
    secrets_added: tuple[str, ...] = ()
    secrets_removed: tuple[str, ...] = ()
    secrets_changed: tuple[str, ...] = ()
    cpu: Change | None = None
    memory: Change | None = None
    memory_reservation: Change | None = None
    ports_added: tuple[str, ...] = ()
    ports_removed: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return self == ContainerDiff(self.name, self.status) and self.status == "changed"


@dataclass(frozen=True, slots=True)
class TaskDefinitionDiff:
    cpu: Change | None = None
    memory: Change | None = None
    containers: tuple[ContainerDiff, ...] = ()  # only the containers with a difference

    @property
    def empty(self) -> bool:
        return self.cpu is None and self.memory is None and not self.containers


# --- the diff (pure) ------------------------------------------------------------------------------------


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> TaskDefinitionDiff:
    """What changed in scope from `before` to `after`, two DescribeTaskDefinition `taskDefinition`s."""
    old = _containers(before)
    new = _containers(after)
    containers = [_container(name, old.get(name), definition) for name, definition in new.items()]
    containers += [_container(name, definition, None) for name, definition in old.items() if name not in new]
    return TaskDefinitionDiff(
        cpu=_change(before.get("cpu"), after.get("cpu")),
        memory=_change(before.get("memory"), after.get("memory")),
        containers=tuple(c for c in containers if not c.empty),
    )


def _containers(definition: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for container in definition.get("containerDefinitions") or []:
        if isinstance(container, Mapping):
            found.setdefault(str(container.get("name", "")), container)
    return found


def _container(name: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> ContainerDiff:
    status = "added" if before is None else "removed" if after is None else "changed"
    old, new = before or {}, after or {}
    old_repository, old_tag = split_image(str(old.get("image", "")))
    new_repository, new_tag = split_image(str(new.get("image", "")))
    env = _named(old, new, "environment", "value")
    secrets = _named(old, new, "secrets", "valueFrom")
    old_ports, new_ports = _ports(old), _ports(new)
    return ContainerDiff(
        name=name,
        status=status,
        image_repository=_change(old_repository, new_repository),
        image_tag=_change(old_tag, new_tag) if (old_tag or new_tag) else None,
        env_added=env[0],
        env_removed=env[1],
        env_changed=env[2],
        secrets_added=secrets[0],
        secrets_removed=secrets[1],
        secrets_changed=secrets[2],
        cpu=_change(old.get("cpu"), new.get("cpu")),
        memory=_change(old.get("memory"), new.get("memory")),
        memory_reservation=_change(old.get("memoryReservation"), new.get("memoryReservation")),
        ports_added=tuple(p for p in new_ports if p not in old_ports),
        ports_removed=tuple(p for p in old_ports if p not in new_ports),
    )


def _named(
    before: Mapping[str, Any], after: Mapping[str, Any], key: str, value: str
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Names added, removed and changed of a list of {name, <value>}; the values are compared, never kept."""
    old, new = _pairs(before.get(key), value), _pairs(after.get(key), value)
    return (
        tuple(sorted(n for n in new if n not in old)),
        tuple(sorted(n for n in old if n not in new)),
        tuple(sorted(n for n in new if n in old and old[n] != new[n])),
    )


def _pairs(items: Any, value: str) -> dict[str, object]:
    pairs: dict[str, object] = {}
    for item in items or []:
        if isinstance(item, Mapping) and "name" in item:
            pairs[str(item["name"])] = item.get(value)
    return pairs


def _ports(container: Mapping[str, Any]) -> list[str]:
    """Each port mapping as `8080/tcp` (with its host port when another, or its range), in order."""
    ports: list[str] = []
    for mapping in container.get("portMappings") or []:
        if not isinstance(mapping, Mapping):
            continue
        port = mapping.get("containerPort", mapping.get("containerPortRange", "?"))
        text = f"{port}/{mapping.get('protocol') or 'tcp'}"
        host = mapping.get("hostPort")
        if host and host != port:
            text += f" (host {host})"
        if text not in ports:
            ports.append(text)
    return ports


def _change(before: object, after: object) -> Change | None:
    old = "" if before is None else str(before)
    new = "" if after is None else str(after)
    return None if old == new else Change(old, new)


def split_image(image: str) -> tuple[str, str]:
    """`repo:tag` -> (repo, tag); `repo@sha256:…` -> (repo, the digest); no tag -> (image, "")."""
    if "@" in image:
        repository, _, digest = image.partition("@")
        return repository, digest
    head, slash, last = image.rpartition("/")
    if ":" in last:
        name, _, tag = last.rpartition(":")
        return head + slash + name, tag
    return image, ""


# --- the message ----------------------------------------------------------------------------------------


def _code(text: str) -> str:
    """Outside text as inline code: escaped, clipped, and no backtick to end the code span early."""
    cleaned = " ".join(text.replace("`", "'").split())
    return f"`{render.escape(render.clip(cleaned, NAME_CHARS))}`"


def _value(text: str, missing: str) -> str:
    return _code(text) if text else missing


def _arrow(change: Change, missing: str = "not set") -> str:
    return f"{_value(change.before, missing)} → {_value(change.after, missing)}"


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(_code(n) for n in names[:NAMES_SHOWN])
    more = len(names) - NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _container_lines(container: ContainerDiff) -> list[str]:
    title = f"*Container {_code(container.name)}*"
    if container.status == "removed":
        return [f"{title} removed"]
    new = container.status == "added"
    lines = [title + (" (new)" if new else "")]

    def arrow(change: Change, missing: str = "not set") -> str:
        return _value(change.after, missing) if new else _arrow(change, missing)

    if container.image_repository:
        lines.append(f"• image repository {arrow(container.image_repository, 'none')}")
    if container.image_tag:
        lines.append(f"• image tag {arrow(container.image_tag, 'no tag')}")
    for kind, added, removed, changed in (
        ("environment", container.env_added, container.env_removed, container.env_changed),
        ("secrets", container.secrets_added, container.secrets_removed, container.secrets_changed),
    ):
        for what, names in (("added", added), ("removed", removed), ("changed", changed)):
            if names:
                lines.append(f"• {kind} {what}: {_names(names)}")
    for label, change in (
        ("CPU units", container.cpu),
        ("memory (MiB)", container.memory),
        ("memory reservation (MiB)", container.memory_reservation),
    ):
        if change:
            lines.append(f"• {label} {arrow(change)}")
    if container.ports_added:
        lines.append(f"• ports added: {_names(container.ports_added)}")
    if container.ports_removed:
        lines.append(f"• ports removed: {_names(container.ports_removed)}")
    return lines


def changed_reply(changes: TaskDefinitionDiff, service: str, before_rev: int, after_rev: int) -> render.Message:
    """The thread reply: what changed from revision `before_rev` to `after_rev` of `service`."""
    title = f"*What changed* in {_code(service)}: revision {before_rev} → {after_rev}"
    lines: list[str] = []
    task = [f"{label} {_arrow(c)}" for label, c in (("CPU", changes.cpu), ("memory", changes.memory)) if c]
    if task:
        lines.append("*Task* " + ", ".join(task))
    for container in changes.containers:
        lines.extend(_container_lines(container))
    if changes.empty:
        lines.append(NOTHING)
    shown = _within(title, [render.clip_mrkdwn(line, LINE_CHARS) for line in lines])
    if len(shown) < len(lines):
        left = len(lines) - len(shown)
        shown.append(f"_{left} more line{'s' if left > 1 else ''} not shown: the two revisions in ECS have it all._")
    texts = render.chunks(shown, LINE_CHARS)
    blocks = [render.section(title), *(render.section(text) for text in texts)]
    fallback = f"What changed in {render.escape(service)}: revision {before_rev} → {after_rev}"
    return render.message(fallback, blocks)


def _within(title: str, lines: list[str]) -> list[str]:
    """The first of `lines` whose blocks stay within MESSAGE_BLOCK_CHARS, leaving room for the "more not shown"
    line: each line's JSON, and a section's wrapping (about 80 characters) per LINE_CHARS of them."""
    budget = MESSAGE_BLOCK_CHARS - len(json.dumps(render.section(title).to_dict())) - 300
    kept: list[str] = []
    used = 0
    for line in lines:
        used += len(json.dumps(line)) + 1
        if used + 80 * (used // LINE_CHARS + 1) > budget:
            break
        kept.append(line)
    return kept


# --- the component ----------------------------------------------------------------------------------------


class WhatChanged:
    """The "what changed" reply of an alarm card that followed a deploy, read from ECS; posted once per incident.

    Stored: `alarm#<account>#<region>#<name>` / `changed#<incident>`, the claim of an incident's reply (TTL as
    the card's)."""

    def __init__(self, platform: Platform, table: Table) -> None:
        self.platform = platform
        self.table = table
        self.history = RevisionHistory(table)

    def reply_once(self, card: AlarmCard, slack: SlackPort) -> bool:
        """Post `reply_for(card)` in the card's thread, once per incident. True when it was posted. Never raises:
        the reply is never worth a retried record.

        Once: the reply is recorded after Slack took it, and a card whose reply is recorded reads nothing
        more. The relay calls this while it holds the channel's lease (bot.alarms.lease), the one writer of
        the card, so no other invocation posts it meanwhile. A read that fails, or a post Slack refuses,
        records nothing: the next delivery of the notification tries again. (A post Slack took whose record
        then fails to save would be posted again by a later delivery: logged.)"""
        if card.deploy is None or not card.service or not card.ts:
            return False
        pk, sk = f"alarm#{card.key}", f"changed#{card.incident}"
        try:
            if self.table.get(pk, sk) is not None:
                return False
        except Exception as error:  # BotError
            log.warning("alarm %s: no what-changed reply: %s", card.name, _why(error))
            return False
        message = self.reply_for(card)  # None when the revisions could not be read (logged)
        if message is None:
            return False
        try:
            slack.post(card.channel, message, thread_ts=card.ts)
        except Exception as error:  # SlackApiError, OutOfTime, NotLeased
            log.warning("alarm %s: no what-changed reply: %s", card.name, _why(error))
            return False
        try:
            self.table.put(pk, sk, {"at": card.changed_at}, card.opened_at + ALARM_CARD_TTL_SECONDS)
        except Exception as error:  # BotError
            log.warning("alarm %s: the what-changed reply was posted but not recorded: %s", card.name, _why(error))
        return True

    def reply_for(self, card: AlarmCard) -> render.Message | None:
        """The reply for `card`'s thread; None when no deploy preceded the alarm, or when the revisions could
        not be read (one log line)."""
        deploy = card.deploy
        if deploy is None or not card.service:
            return None
        before, after = deploy.from_revision, deploy.to_revision
        try:
            target = self.platform.config.target(card.service, card.env or None)
            if before <= 0:
                before = self._previous(target.env, card.service, target.task_family, after)
            if before <= 0 or after <= 0:
                log.warning("no what-changed reply for %s (%s): no revision before %s", card.service, card.env, after)
                return None
            old = self.platform.task_definition(target, f"{target.task_family}:{before}")
            new = self.platform.task_definition(target, f"{target.task_family}:{after}")
        except (BotError, ConfigError, BotoCoreError, ClientError) as error:
            log.warning(
                "no what-changed reply for %s (%s) revisions %s -> %s: %s",
                card.service,
                card.env,
                before,
                after,
                _why(error),
            )
            return None
        return changed_reply(diff(old, new), card.service, before, after)

    def _previous(self, env: str, service: str, family: str, after: int) -> int:
        """The revision that ran before `after`, from the revision history: the newest known-good one below it,
        else the newest recorded one below it; 0 when none is recorded."""
        revisions = self.history.revisions(env, service)
        good = last_known_good(revisions, f"{family}:{after}")
        if good is not None:
            return good.number
        return next((r.number for r in revisions if r.number < after), 0)


def _why(error: Exception) -> str:
    """An error in one line: a BotError's or ConfigError's own words, Slack's error code, or the
    exception's type; never the request that failed."""
    if isinstance(error, (BotError, ConfigError)):
        return " ".join(str(error).split())[:300]
    response = getattr(error, "response", None)
    if isinstance(response, Mapping) and isinstance(response.get("error"), str):
        return f"Slack answered {response['error']}"
    return type(error).__name__
