"""The App Home tab's view (views.publish): per environment a person may see, each service's revision and
image tag, running/desired, a rollout in progress, open alarms and its lock, with Deploy / Scale / Roll back
/ Lock or Unlock buttons, then the environment's last five changes and who made them. Pure: bot.home reads
the platform and the bot's records into these records and publishes the result.

Every text that did not come from the bot (tags, alarm names, lock reasons, typed commands, deploy summaries)
is escaped. A home view holds at most 100 blocks: past that, the services and environments left out are
counted in a visible "and N more" line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, DividerBlock

from bot import render
from bot.command_names import DEFAULT_NAMES, CommandNames
from bot.model import ServiceState
from bot.slack_text import SLACK_ID, escape, mentions_only
from bot.stores import AuditEntry, Lock

if TYPE_CHECKING:
    from bot.config import Config, EnvironmentConfig

HOME_BLOCKS = 100  # Slack's limit for a home tab's view
ACTION_PREFIX = "home_"  # every button of the home tab (bot.app routes them to bot.home)
DEPLOY_ACTION = "home_deploy"
SCALE_ACTION = "home_scale"
ROLLBACK_ACTION = "home_rollback"
LOCK_ACTION = "home_lock"
UNLOCK_ACTION = "home_unlock"
HOME_ACTIONS = (DEPLOY_ACTION, SCALE_ACTION, ROLLBACK_ACTION, LOCK_ACTION, UNLOCK_ACTION)
FORM_OF = {DEPLOY_ACTION: "deploy", SCALE_ACTION: "scale", ROLLBACK_ACTION: "rollback"}  # bot.modals' kinds


@dataclass(frozen=True, slots=True)
class Rollout:
    """A rollout in progress: the bot's deploy card (summary and who) or, when the bot did not start it, ECS's."""

    revision: int
    since: float | None = None
    summary: str = ""  # outside text (a typed tag): escaped when shown
    actor: str = ""


@dataclass(frozen=True, slots=True)
class ServiceLine:
    state: ServiceState
    tag: str = ""  # the running revision's image tag (outside text)
    alarms: tuple[str, ...] = ()  # names of its alarms in ALARM (outside text)
    lock: Lock | None = None
    rollout: Rollout | None = None


@dataclass(frozen=True, slots=True)
class EnvironmentHome:
    name: str
    role: str  # the person's role there (its label)
    services: tuple[ServiceLine, ...] = ()
    changes: tuple[AuditEntry, ...] = ()  # executed changes, newest first
    other_alarms: tuple[str, ...] = ()  # in ALARM, of no known service
    problem: str = ""  # the bot's own words when the environment could not be read


def button_value(env: str, service: str) -> str:
    """`env:service`. No channel: where a plan asked for from the home is posted is worked out anew from the
    config (`plan_channel`), never taken from a request."""
    return f"{env}:{service}"


def parse_value(value: str) -> tuple[str, str]:
    """A button's environment and service, unchecked (a request is input: check each). Anything after them
    (the channel the buttons of homes published before carried) is ignored."""
    env, _, rest = value.partition(":")
    service, _, _ = rest.partition(":")
    return env, service


def plan_channel(config: Config, env: EnvironmentConfig | None, user: str) -> str:
    """Where a plan asked for from the home tab (which has no channel) is posted, for others to see and confirm,
    and the channel its role and channel checks see: the environment's first allowed channel, else
    routing.default_channel, else the person's messages with the app (a user id is a channel to chat.postMessage)."""
    return (env.channels[0] if env is not None and env.channels else None) or config.routing.default_channel or user


def home_view(
    environments: Sequence[EnvironmentHome], now: float, names: CommandNames = DEFAULT_NAMES
) -> dict[str, Any]:
    """The home tab of one person: the environments they may see, at most HOME_BLOCKS blocks; commands named
    as the workspace has them (`slack.commands`)."""
    head: list[Block] = [
        render.header("Platform at a glance"),
        render.context(f"Updated {render.when(now)} · refreshed after each change"),
    ]
    if not environments:
        head.append(
            render.section("You have no role in any environment. Ask an admin to grant one in the bot's config.")
        )
    full = [_environment_blocks(env, len(env.services), names) for env in environments]
    if len(head) + sum(map(len, full)) <= HOME_BLOCKS:
        return _view([*head, *(b for blocks in full for b in blocks)])
    # Too many: each environment gets an even share, its services cut with a line saying how many are left out.
    share = (HOME_BLOCKS - len(head) - 1) // len(environments)  # one block kept for environments left out
    blocks = list(head)
    for index, env in enumerate(environments):
        # At least the environment without its services, while the view has room (many environments).
        least = len(_environment_blocks(env, 0, names))
        fitting = _fitting(env, min(max(share, least), HOME_BLOCKS - 1 - len(blocks)), names)
        if fitting is None:
            left = len(environments) - index
            blocks.append(
                render.context(
                    f"…and {left} more environment{'' if left == 1 else 's'} not shown: a home tab holds "
                    f"{HOME_BLOCKS} blocks. " + names.shown("`/status <env>` shows each.")
                )
            )
            break
        blocks.extend(fitting)
    return _view(blocks)


def _view(blocks: Sequence[Block]) -> dict[str, Any]:
    return {"type": "home", "blocks": [b.to_dict() for b in blocks]}


def _fitting(env: EnvironmentHome, share: int, names: CommandNames) -> list[Block] | None:
    """The environment in at most `share` blocks, as many of its services as fit (None: not even without any)."""
    for count in range(len(env.services), -1, -1):
        blocks = _environment_blocks(env, count, names)
        if len(blocks) <= share:
            return blocks
    return None


def _environment_blocks(env: EnvironmentHome, count: int, names: CommandNames) -> list[Block]:
    """The environment with its first `count` services, and a line counting those left out."""
    blocks: list[Block] = [DividerBlock(), render.header(f"{env.name} · you are {env.role}")]
    if env.problem:
        blocks.append(render.section(f":warning: {env.problem}"))
    for line in env.services[:count]:
        blocks.extend(_service_blocks(env.name, line))
    left = len(env.services) - count
    if left:
        status = names.shown(f"`/status {env.name}`")
        blocks.append(
            render.context(
                f"…and {left} more service{'' if left == 1 else 's'} of {env.name} not shown: a home tab holds "
                f"{HOME_BLOCKS} blocks. {status} shows every one."
            )
        )
    if env.other_alarms:
        firing = ", ".join(f"`{escape(a)}`" for a in env.other_alarms[:20])
        blocks.append(render.context(f":rotating_light: In ALARM, of no known service: {firing}"))
    blocks.append(render.section(_changes_text(env.changes)))
    return blocks


def _service_blocks(env: str, line: ServiceLine) -> list[Block]:
    state = line.state
    if not state.exists:
        return [render.section(f"*{escape(state.name)}*  :grey_question: not found in the cluster")]
    icon = ":red_circle:" if line.alarms else (":large_yellow_circle:" if line.rollout else ":large_green_circle:")
    lines = [
        f"{icon} *{escape(state.name)}*  revision {state.revision}"
        + (f", image `{escape(line.tag)}`" if line.tag else ""),
        f"tasks: {state.running} running / {state.desired} desired",
    ]
    if line.rollout is not None:
        lines.append(_rollout_text(line.rollout))
    if line.alarms:
        named = line.alarms[: render.ALARMS_NAMED]
        lines.append(":rotating_light: alarms: " + ", ".join(f"`{escape(a)}`" for a in named))
        if len(line.alarms) > len(named):
            lines[-1] += f" and {len(line.alarms) - len(named)} more"
    if line.lock is not None:
        reason = f": {escape(render.clip(line.lock.reason, 200))}" if line.lock.reason else ""
        lines.append(
            f":lock: locked by {_person(line.lock.holder)} until {render.short_time(line.lock.expires_at)} UTC{reason}"
        )
    value = button_value(env, state.name)
    buttons = [
        ButtonElement(text="Deploy", action_id=DEPLOY_ACTION, value=value, style="primary"),
        ButtonElement(text="Scale", action_id=SCALE_ACTION, value=value),
        ButtonElement(text="Roll back", action_id=ROLLBACK_ACTION, value=value),
        ButtonElement(text="Unlock", action_id=UNLOCK_ACTION, value=value)
        if line.lock is not None
        else ButtonElement(text="Lock", action_id=LOCK_ACTION, value=value),
    ]
    return [render.section("\n".join(lines)), ActionsBlock(block_id=f"home:{env}:{state.name}", elements=buttons)]


def _rollout_text(rollout: Rollout) -> str:
    since = f" since {render.short_time(rollout.since)} UTC" if rollout.since else ""
    if rollout.summary:
        who = f" by {_person(rollout.actor)}" if rollout.actor else ""
        return (
            f":hourglass_flowing_sand: rolling out revision {rollout.revision}{since}: {escape(rollout.summary)}{who}"
        )
    return f":hourglass_flowing_sand: ECS is rolling out revision {rollout.revision}{since}"


def _changes_text(changes: Sequence[AuditEntry]) -> str:
    if not changes:
        return "*Last changes*\nNo change made through the bot lately."
    lines = [
        f"`{render.when(e.at)}` {_person(e.actor)} `{escape(render.clip(e.command, 200)).replace('`', "'")}`"
        for e in changes
    ]
    return "*Last changes*\n" + "\n".join(lines)


def _person(user: str) -> str:
    """A Slack user id as a mention; anything else (never expected) shown as text."""
    return mentions_only(f"<@{user}>") if SLACK_ID.match(user) else escape(user)
