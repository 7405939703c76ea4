"""What an alarm looks like in Slack: its card, the storm digest, and the replies in a card's thread.

Built with bot.render's helpers, so every message fits Slack's limits by construction. Cards are
rendered from stored state only (bot.alarms.store.AlarmCard and its ack and mute), so the relay and the
buttons always draw the same card.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ImageBlock

from bot import render
from bot.alarms.model import AlarmState
from bot.alarms.store import AlarmCard, AlarmDone, AlarmRecord, Digest, RecentDeploy
from bot.command_names import DEFAULT_NAMES, CommandNames
from bot.config import AlarmSettings, Target
from bot.model import LogRead
from bot.render import span
from bot.slack_text import alarm_console_url, escape, link, log_group_console_url

ROLLBACK = "alarm_rollback"
SCALE_UP = "alarm_scale_up"
LOGS = "alarm_logs"
ACK = "alarm_ack"
MUTE = "alarm_mute"
ACTIONS = (ROLLBACK, SCALE_UP, LOGS, ACK, MUTE)
DONE_BY = {"rollback": ROLLBACK, "scale": SCALE_UP}  # AlarmDone.action -> the button it replaces
DIGEST_LINES = 60  # keeps the digest far below Slack's ~13k characters of blocks
CHILD_LINES = 20  # a composite alarm's children listed on its card
CHANGED_LINES = 20  # the newest changes of alarms with cards of their own, in the digest during a storm
CHANGED_HEADING = "Changed during the storm"

ICONS = {
    AlarmState.ALARM: ":rotating_light:",
    AlarmState.OK: ":white_check_mark:",
    AlarmState.INSUFFICIENT_DATA: ":grey_question:",
}
LABELS = {AlarmState.ALARM: "ALARM", AlarmState.OK: "RESOLVED", AlarmState.INSUFFICIENT_DATA: "INSUFFICIENT DATA"}


def console_link(name: str, region: str) -> str:
    """ "Open in CloudWatch", when the alarm's region (from its ARN, outside text) is a region code."""
    url = alarm_console_url(name, region)
    return link(url, "Open in CloudWatch") if url else ""


# --- button values --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ButtonValue:
    """What a button on an alarm card carries back: which alarm, and for Roll back, to which revision."""

    alarm: str
    env: str
    service: str | None = None
    revision: int | None = None

    def encode(self) -> str:
        data = {"a": self.alarm, "e": self.env, "s": self.service, "r": self.revision}
        return json.dumps({k: v for k, v in data.items() if v is not None}, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str) -> ButtonValue:
        """Raises ValueError when the value was not made by encode()."""
        data = json.loads(raw)
        if not isinstance(data, dict) or not isinstance(data.get("a"), str) or not isinstance(data.get("e"), str):
            raise ValueError("not an alarm button value")
        service, revision = data.get("s"), data.get("r")
        if service is not None and not isinstance(service, str):
            raise ValueError("service is not a string")
        if revision is not None and (not isinstance(revision, int) or isinstance(revision, bool)):
            raise ValueError("revision is not a number")
        return cls(data["a"], data["e"], service, revision)


def mute_label(minutes: int) -> str:
    return f"Mute {minutes // 60}h" if minutes % 60 == 0 else f"Mute {minutes} min"


# --- the card ---------------------------------------------------------------------------------------


def deploy_line(deploy: RecentDeploy, fired_at: float) -> str:
    verb = "rolled back" if deploy.summary.startswith("rollback") else "deployed"
    if deploy.from_tag and deploy.to_tag:
        change = (
            f"`{render.escape(deploy.from_tag)}` → `{render.escape(deploy.to_tag)}` "
            f"(revision {deploy.from_revision} → {deploy.to_revision})"
        )
    else:
        change = f"revision {deploy.from_revision} → {deploy.to_revision}"
        if deploy.to_tag:
            change += f" (`{render.escape(deploy.to_tag)}`)"
    return f":package: {verb} {change} by <@{deploy.actor}> {span(fired_at - deploy.at)} before it fired"


def alarm_card(card: AlarmCard, record: AlarmRecord, settings: AlarmSettings, now: float) -> render.Message:
    state = AlarmState(card.state)
    subject = escape(card.service or "no known service")
    title = f"{ICONS[state]} {LABELS[state]}: {card.name}"  # plain_text: shown as it is
    blocks: list[Block] = [render.header(title)]
    lines = [f"*{subject}* ({card.env})" if card.env else f"*{subject}*"]
    if card.description:
        lines.append(render.escape(render.clip(card.description, 500)))
    if card.reason:
        lines.append(f"_{render.escape(render.clip(card.reason, 600))}_")
    blocks.append(render.section("\n".join(lines)))
    if card.condition:
        blocks.append(render.context(f"`{render.escape(render.clip(card.condition, 400))}`"))
    history = [f"fired {render.when(card.opened_at)}"]
    if state is AlarmState.OK and card.resolved_at is not None:
        history.append(f"resolved after {span(card.resolved_at - card.opened_at)}")
    elif state is AlarmState.INSUFFICIENT_DATA:
        history.append(f"no data since {render.short_time(card.changed_at)} UTC")
    if card.fired > 1:
        history.append(f"fired {card.fired} times in this incident (flapping)")
    blocks.append(render.context(" · ".join(history)))
    if card.deploy is not None:
        blocks.append(render.section(deploy_line(card.deploy, card.opened_at)))
    if card.graph:  # uploaded after the card was posted (bot.alarms.context), once Slack had processed it
        blocks.append(graph_block(card))
    if card.children:  # a composite alarm: its children's states in place of a graph (bot.alarms.context)
        blocks.append(render.section(children_text(card.children)))
    status = []
    ack = record.current_ack
    if ack is not None:
        status.append(f":eyes: Acknowledged by <@{ack.by}> at {render.short_time(ack.at)} UTC")
    mute = record.mute if record.mute and record.mute.until > now else None
    if mute is not None:
        status.append(f":mute: Muted by <@{mute.by}> until {render.short_time(mute.until)} UTC")
    done = record.current_done
    status.extend(done_line(d) for d in done)
    if status:
        blocks.append(render.context(*status))
    if card.foreign:  # alarms.foreign_alarms: show; nothing on this card acts on the platform
        note = f":warning: Not one of this bot's alarms ({render.escape(card.foreign)}): no buttons, no escalation."
        blocks.append(render.context(note))
    elif state.firing:
        used = {DONE_BY[d.action] for d in done if d.action in DONE_BY}
        buttons = [b for b in _buttons(card, ack is not None, mute is not None, settings) if b.action_id not in used]
        if buttons:  # Slack refuses an actions block without elements
            blocks.append(ActionsBlock(block_id=f"alarm:{card.incident}"[:255], elements=buttons))
    links = console_link(card.name, card.region)
    if links:
        blocks.append(render.context(links))
    fallback = f"{LABELS[state]}: {escape(card.name)} ({subject})"
    return render.message(fallback, blocks)


def graph_block(card: AlarmCard) -> ImageBlock:
    """The card's graph: an image block over the uploaded file (private to the app, shown only here)."""
    alt = render.clip(f"Graph of the alarm {card.name}: its metric, threshold and the service's changes", 1900)
    title = render.clip(card.graph_title, 1900) or None  # plain text: shown as written, never parsed
    return ImageBlock(
        # alt_text and title are plain text: Slack shows (and reads out) them as written, so never HTML-escaped
        slack_file={"id": card.graph},
        alt_text=alt,
        title=title,
        block_id=f"graph:{card.graph}"[:255],
    )


def children_text(children: tuple[tuple[str, str], ...]) -> str:
    """A composite alarm's children as DescribeAlarms gave them when the card last changed state."""
    lines = []
    for name, state in children[:CHILD_LINES]:
        known = state in AlarmState.__members__
        shown = f"{ICONS[AlarmState(state)]} {LABELS[AlarmState(state)].lower()}" if known else "not found"
        lines.append(f"`{render.escape(render.clip(name, 120))}` · {shown}")
    if len(children) > CHILD_LINES:
        lines.append(f"{len(children) - CHILD_LINES} more in its rule")
    return render.clip("*Its alarms:*\n" + "\n".join(lines), render.SECTION_LIMIT)


def done_line(done: AlarmDone) -> str:
    """What ran from the card's button, in its place: "Rolled back to revision 3 by @x at 10:42 UTC"."""
    what = {
        "rollback": f":leftwards_arrow_with_hook: Rolled back to revision {done.to}",
        "scale": f":arrow_up: Scaled to {done.to} tasks",
    }.get(done.action, f"{render.escape(done.action)} to {done.to}")
    line = f"{what} by <@{done.by}> at {render.short_time(done.at)} UTC"
    if done.requested_by and done.requested_by != done.by:
        line += f" (requested by <@{done.requested_by}>)"
    return line


def _buttons(card: AlarmCard, acked: bool, muted: bool, settings: AlarmSettings) -> list[ButtonElement]:
    value = ButtonValue(card.key, card.env, card.service)
    buttons = []
    if card.service is not None:
        if card.deploy is not None:
            rollback = ButtonValue(card.key, card.env, card.service, card.deploy.from_revision)
            buttons.append(
                ButtonElement(
                    text=f"Roll back to revision {card.deploy.from_revision}",
                    action_id=ROLLBACK,
                    value=rollback.encode(),
                    style="danger",
                )
            )
        buttons.append(ButtonElement(text="Scale up", action_id=SCALE_UP, value=value.encode()))
        buttons.append(ButtonElement(text="Show logs", action_id=LOGS, value=value.encode()))
    if not acked:
        buttons.append(ButtonElement(text="Acknowledge", action_id=ACK, value=value.encode(), style="primary"))
    if not muted:
        buttons.append(ButtonElement(text=mute_label(settings.mute_minutes), action_id=MUTE, value=value.encode()))
    return buttons


def resolved_reply(card: AlarmCard) -> render.Message:
    took = span((card.resolved_at or card.changed_at) - card.opened_at)
    return render.info(f":white_check_mark: Resolved after {took} ({render.when(card.resolved_at)}).")


def fired_again(card: AlarmCard) -> bool:
    """The incident fired before (it resolved, or lost its data, and fires again): firing_reply says "again"."""
    return card.fired > 1


def firing_reply(card: AlarmCard) -> render.Message:
    again = f" again (fired {card.fired} times in this incident)" if fired_again(card) else ""
    reason = f"\n_{render.escape(render.clip(card.reason, 600))}_" if card.reason else ""
    return render.info(f":rotating_light: In ALARM{again} since {render.short_time(card.changed_at)} UTC.{reason}")


# --- the storm digest ----------------------------------------------------------------------------------


def digest_card(digest: Digest, settings: AlarmSettings, names: CommandNames = DEFAULT_NAMES) -> render.Message:
    entries = sorted(digest.entries.values(), key=lambda e: (not AlarmState(e.state).firing, e.name))
    firing = sum(1 for e in entries if AlarmState(e.state).firing)
    title = f":rotating_light: Alarm storm: {firing} of {len(entries)} alarms firing"
    blocks: list[Block] = [render.header(title)]
    lines = [
        f"{ICONS[AlarmState(e.state)]} `{render.escape(render.clip(e.name, 120))}` · "
        f"{e.service or 'no known service'} · {LABELS[AlarmState(e.state)].lower()} since "
        f"{render.short_time(e.since)} UTC"
        for e in entries[:DIGEST_LINES]
    ]
    blocks.extend(render.section(chunk) for chunk in render.chunks(lines, render.SECTION_LIMIT - 100))
    if digest.changed:
        # Alarms with cards of their own whose state changed during the storm: shown here first (one write for all),
        # their cards follow.
        changed = sorted(digest.changed.values(), key=lambda e: e.since, reverse=True)
        lines = [f"*{CHANGED_HEADING}* (their own cards above follow):"] + [
            f"{ICONS[AlarmState(e.state)]} `{render.escape(render.clip(e.name, 120))}` · "
            f"{e.service or 'no known service'} · {LABELS[AlarmState(e.state)].lower()} at "
            f"{render.short_time(e.since)} UTC · its own card"
            for e in changed[:CHANGED_LINES]
        ]
        if len(changed) > CHANGED_LINES:
            lines.append(f"{len(changed) - CHANGED_LINES} more changed: their own cards show them.")
        blocks.extend(render.section(chunk) for chunk in render.chunks(lines, render.SECTION_LIMIT - 100))
    notes = [
        f"More than {settings.digest_threshold} alarms fired within {span(settings.digest_window_seconds)}: "
        f"one card for all of them, kept up to date here. `{names.slash('alarms')}` lists them with their reasons."
    ]
    if len(entries) > DIGEST_LINES:
        notes.append(f"{len(entries) - DIGEST_LINES} more not shown.")
    blocks.append(render.context(*notes))
    return render.message(f"Alarm storm: {firing} of {len(entries)} alarms firing", blocks)


# --- Show logs ------------------------------------------------------------------------------------------


def logs_reply(target: Target, read: LogRead, at: float, window_minutes: int, limit: int) -> render.Message:
    """The log lines around an alarm's time, for the card's thread (with where the search stopped, if it did)."""
    console = log_group_console_url(target.log_group, target.region)
    message = render.logs_message(
        target.name,
        target.env,
        read.lines,
        f"{2 * window_minutes}m",
        None,
        console,
        limit,
        searched_from=read.searched_from,
    )
    title = f"Logs: {target.name} ({target.env}), {window_minutes} min either side of {render.short_time(at)} UTC"
    message["text"] = title
    message["blocks"][0] = render.section(f"*{title}*").to_dict()
    return message
