"""Block Kit rendering, in one place. Every message fits Slack's limits by construction.

slack_sdk's block classes validate lengths and counts when `.to_dict()` runs; the helpers here
truncate (with a visible note) before that, so a long log line or many services never make Slack
reject a message.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.command_names import DEFAULT_NAMES, CommandNames
from bot.commands import SPECS
from bot.errors import BotError, UsageError
from bot.model import Alarm, Change, LogLine, Plan, ServiceState, tag_of
from bot.slack_text import SLACK_ID, link, mentions_only, own_text
from bot.slack_text import clip as clip  # re-exported: callers write render.clip
from bot.slack_text import clip_mrkdwn as clip_mrkdwn  # re-exported: callers write render.clip_mrkdwn
from bot.slack_text import escape as escape  # re-exported: callers write render.escape

if TYPE_CHECKING:
    from bot.config import Config, EscalationLevel  # annotations only: the ack's usage line renders without pydantic
    from bot.routing import Route, RouteTest
    from bot.stores import AuditEntry

Message = dict[str, Any]
SECTION_LIMIT = 3000
MAX_BLOCKS = 50
CONFIRM_ACTION = "plan_confirm"
CANCEL_ACTION = "plan_cancel"
ROLLBACK_ACTION = "rollback_request"
SUGGESTION_ACTION = "run_suggestion"  # Did you mean: runs the corrected command (bot.dispatch, as typed)
AUDIT_REQUEST_SHOWN = 120  # characters of each request in /ops audit: ten entries fit a section, decisions too
ALARMS_NAMED = 10  # firing alarms named per service in /status and the home tab; the rest are counted
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000


def section(text: str) -> SectionBlock:
    """A mrkdwn section of the bot's own text (outside text in it escaped by the caller), cut at Slack's limit
    between escape sequences."""
    return SectionBlock(text=MarkdownTextObject(text=clip_mrkdwn(own_text(text), SECTION_LIMIT)))


def context(*parts: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip_mrkdwn(own_text(p), 2000)) for p in parts[:10]])


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=clip(text, 150))


def message(text: str, blocks: Sequence[Block] = ()) -> Message:
    """A message dict for chat.postMessage / respond(); at most 50 blocks, fallback text included."""
    kept = list(blocks)
    if len(kept) > MAX_BLOCKS:
        kept = [
            *kept[: MAX_BLOCKS - 1],
            context(f"{len(blocks) - MAX_BLOCKS + 1} more blocks were left out."),
        ]
    return {"text": clip_mrkdwn(own_text(text), 3000), "blocks": [b.to_dict() for b in kept]}


def when(moment: datetime | float | None) -> str:
    if moment is None:
        return "unknown"
    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


# d, h, min, s: the unit's name in prose, compact, and its size in seconds.
_UNITS = ((" d", 86400), (" h", 3600), (" min", 60), (" s", 1))


def span(seconds: float, *, compact: bool = False) -> str:
    """How long, in its largest unit and the next: 45 s, 12 min, 2 h 5 min, 3 d 4 h (seconds only under a
    minute). `compact`, to the second in minutes and seconds (a deploy's time): 45s, 3m 05s, 75m 00s.
    The one duration format of the bot's messages (a /logs window is written as typed: commands.window_text)."""
    rest = max(0, int(seconds))
    if compact:
        minutes, rest = divmod(rest, 60)
        return f"{minutes}m {rest:02d}s" if minutes else f"{rest}s"
    amounts = []
    for _, size in _UNITS:
        amount, rest = divmod(rest, size)
        amounts.append(amount)
    first = next((i for i, amount in enumerate(amounts) if amount), len(_UNITS) - 1)
    text = f"{amounts[first]}{_UNITS[first][0]}"
    after = first + 1
    if after < len(_UNITS) - 1 and amounts[after]:
        text += f" {amounts[after]}{_UNITS[after][0]}"
    return text


def short_time(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%H:%M")


# --- plain replies -------------------------------------------------------------------------------


def error(err: BotError) -> Message:
    text = f":warning: {err.message}"
    if err.hint:
        text += f"\n{err.hint}"
    if isinstance(err, UsageError) and err.suggestion is not None:
        return _did_you_mean(text, err.suggestion)
    return message(text, [section(text)])


def _did_you_mean(text: str, suggestion: str) -> Message:
    """The error, then "Did you mean `/deploy service-a v1.3.0`?" with a button that runs it. The button's
    value is the command as Slack sends typed text (escaped), which bot.dispatch parses again as typed."""
    asked = f"Did you mean `{clip(escape(suggestion).replace('`', "'"), 1000)}`?"
    value = escape(suggestion)
    if len(value) > BUTTON_VALUE_LIMIT:
        return message(f"{text}\n{asked}", [section(text), section(asked)])
    run = ButtonElement(text=clip(f"Run {suggestion}", BUTTON_TEXT_LIMIT), action_id=SUGGESTION_ACTION, value=value)
    asking = SectionBlock(text=MarkdownTextObject(text=own_text(asked)), accessory=run)
    return message(f"{text}\n{asked}", [section(text), asking])


def info(text: str) -> Message:
    return message(text, [section(text)])


def help_message(topic: str | None, names: CommandNames = DEFAULT_NAMES) -> Message:
    """`/ops help [topic]`, with the commands named as the workspace has them (`slack.commands`)."""
    if topic is not None:
        spec = SPECS[topic]
        text = f"`{names.shown(spec.usage)}`\n{names.shown(spec.summary)}"
        return message(text, [section(text)])
    lines = [f"`{names.shown(spec.usage)}`  {names.shown(spec.summary)}" for spec in SPECS.values()]
    heading = "*Commands*" if names.single else "*Commands* (each also works as `/ops <command> ...`)"
    text = heading + "\n" + "\n".join(lines)
    return message(text, [section(text)])


# --- status, alarms, logs, audit ----------------------------------------------------------------


def status(
    env: str,
    states: Sequence[ServiceState],
    tags: dict[str, str],
    alarms: Sequence[Alarm],
    changes: dict[str, str],
) -> Message:
    blocks: list[Block] = [header(f"Status: {env}")]
    for state in states:
        if not state.exists:
            blocks.append(section(f"*{state.name}*  :grey_question: not found in the cluster"))
            continue
        firing = [a.name for a in alarms if a.service == state.name and a.state == "ALARM"]
        rollout = state.rollout_state or "unknown"
        icon = (
            ":red_circle:"
            if firing
            else (":large_green_circle:" if rollout == "COMPLETED" else ":large_yellow_circle:")
        )
        tag = tags.get(state.name, "")
        lines = [
            f"{icon} *{state.name}*  revision {state.revision}" + (f", image `{escape(tag)}`" if tag else ""),
            f"tasks: {state.running} running / {state.desired} desired / {state.pending} pending;"
            f" rollout: {rollout.lower().replace('_', ' ')}",
        ]
        if state.name in changes:
            lines.append(f"last change: {changes[state.name]}")
        if firing:  # last, and counted: a section holds 3,000 characters, and the names are outside text
            named = ", ".join(f"`{escape(n)}`" for n in firing[:ALARMS_NAMED])
            left = len(firing) - min(len(firing), ALARMS_NAMED)
            lines.append(f"alarms: {named}" + (f" and {left} more (`/alarms` lists them)" if left else ""))
        blocks.append(section("\n".join(lines)))
    other = [a for a in alarms if a.service is None and a.state == "ALARM"]
    if other:
        blocks.append(context("Other alarms in ALARM: " + ", ".join(f"`{escape(a.name)}`" for a in other)))
    summary = ", ".join(f"{s.name} {s.running}/{s.desired}" for s in states if s.exists)
    return message(f"Status of {env}: {summary}", blocks)


def status_error(env: str, err: BotError) -> Message:
    """An environment's place in /status all when it cannot be read: its error, and what to do."""
    text = f":warning: {err.message}" + (f"\n{err.hint}" if err.hint else "")
    return message(f"Status of {env}: {err.message}", [header(f"Status: {env}"), section(text)])


def statuses(parts: Sequence[Message]) -> Message:
    """/status all: each environment's status (or its error) in turn, within Slack's 50 blocks."""
    if not parts:
        return info("You may see no environment from this channel.")
    blocks = [block for part in parts for block in part["blocks"]]
    if len(blocks) > MAX_BLOCKS:
        left_out = len(blocks) - MAX_BLOCKS + 1
        note = context(f"{left_out} more blocks were left out: ask `/status <env>` for one environment.")
        blocks = [*blocks[: MAX_BLOCKS - 1], note.to_dict()]
    return {"text": clip("\n".join(str(part["text"]) for part in parts), 3000), "blocks": blocks}


def alarms_message(env: str, alarms: Sequence[Alarm]) -> Message:
    if not alarms:
        text = f":white_check_mark: All alarms in {env} are OK."
        return message(text, [section(text)])
    blocks: list[Block] = [header(f"Alarms not OK: {env} ({len(alarms)})")]
    for alarm in alarms[:45]:
        icon = ":rotating_light:" if alarm.state == "ALARM" else ":grey_question:"
        owner = alarm.service or "no known service"
        blocks.append(
            section(
                f"{icon} *{escape(alarm.name)}* — {alarm.state} since {when(alarm.updated_at)}\n"
                f"service: {owner}\n_{escape(clip(alarm.reason, 300))}_"
            )
        )
    if len(alarms) > 45:
        blocks.append(context(f"{len(alarms) - 45} more not shown; see the CloudWatch console."))
    return message(f"{len(alarms)} alarms not OK in {env}", blocks)


def logs_message(
    service: str,
    env: str,
    lines: Sequence[LogLine],
    window: str,
    pattern: str | None,
    console_url: str | None,
    limit: int,
    *,
    searched_from: datetime | None = None,
) -> Message:
    """The newest lines, oldest first (the newest at the bottom, as a terminal's tail shows them).
    `searched_from`: the read stopped there (bot.model.LogRead), so the window's older lines were not seen."""
    title = f"Logs: {service} ({env}), last {window}" + (f", filter `{escape(pattern)}`" if pattern else "")
    blocks: list[Block] = [section(f"*{title}*")]
    console = link(console_url, "Open in CloudWatch") if console_url else None
    stopped = None
    if searched_from is not None:
        stopped = (
            f"since {searched_from.astimezone(UTC).strftime('%H:%M:%S')} UTC, where the search stopped: it goes back"
            " from the newest line, and the whole window did not fit its limit. Give a shorter window or a filter,"
            " or open CloudWatch"
        )
    if not lines and stopped is None:
        blocks.append(section("No log lines in that window."))
    elif not lines:
        blocks.append(section(f"No log lines found {stopped}."))
        if console:
            blocks.append(context(console))
    else:
        texts = [_log_text(line) for line in lines]
        kept = _newest_within(texts, LOG_BLOCKS_BUDGET)
        blocks.extend(section(f"```{box}```") for box in chunks(kept, SECTION_LIMIT - len("``````")))
        notes = [f"{len(lines)} line{'' if len(lines) == 1 else 's'} (at most {limit})"]
        if len(kept) < len(texts):
            notes.append(f"the oldest {len(texts) - len(kept)} left out to fit Slack")
        if stopped:
            notes.append(f"only lines {stopped}")
        blocks.append(context("; ".join(notes) + (f" · {console}" if console else "")))
    return message(title, blocks)


# Slack refuses a message whose blocks pass about 13,000 characters of JSON (msg_blocks_too_long); the log
# lines get this much of it, the title, the note and the link the rest.
LOG_BLOCKS_BUDGET = 11_000


def _log_text(line: LogLine) -> str:
    # Log lines are outside text (a request path is whatever the internet sent), even in code.
    text = f"{line.timestamp.astimezone(UTC).strftime('%H:%M:%S')} {escape(clip(line.message, 500))}"
    return text.replace("```", "'''")


def _newest_within(texts: Sequence[str], budget: int) -> list[str]:
    """The newest of `texts` (oldest first) whose JSON, one line each, fits in `budget` characters."""
    kept: list[str] = []
    used = 0
    for text in reversed(texts):
        used += len(json.dumps(text))  # its quotes stand for the newline that joins it to the next line
        if kept and used > budget:
            break
        kept.append(text)
    return kept[::-1]


def chunks(texts: Sequence[str], limit: int) -> list[str]:
    """Lines, in order, joined by newlines into the fewest texts of at most `limit` characters (a longer
    line is one of its own), filled evenly: for code blocks of log lines, sections of a card's lines.

    Filling each text to the brim would leave the newest line or two alone in a last block, which reads
    as if they were something apart; instead every block gets about the same share.
    """
    if not texts:
        return []

    def pack(width: int) -> list[str]:
        boxes: list[str] = []
        for text in texts:
            if boxes and len(boxes[-1]) + 1 + len(text) <= width:
                boxes[-1] += "\n" + text
            else:
                boxes.append(text)
        return boxes

    fewest = len(pack(limit))
    # The narrowest width that needs no more blocks than `limit` does.
    narrow, wide = min(max(map(len, texts)), limit), limit
    while narrow < wide:
        middle = (narrow + wide) // 2
        if len(pack(middle)) <= fewest:
            wide = middle
        else:
            narrow = middle + 1
    return pack(narrow)


# --- plans and results ----------------------------------------------------------------------------


def _changes(changes: Sequence[Change]) -> str:
    return "\n".join(f"• {c.label}: `{escape(c.old)}` → `{escape(c.new)}`" for c in changes)


def plan_card(plan: Plan, needs_confirmation: bool, four_eyes: bool) -> Message:
    blocks: list[Block] = [
        header(f"Plan: {plan.action.verb} {plan.service} ({plan.env})"),
        section(_changes(plan.changes) or "No change."),
    ]
    facts = [f"requested by <@{plan.requested_by}>"]
    facts.append("alarms: " + ", ".join(f"`{escape(a)}`" for a in plan.alarms) if plan.alarms else "no alarms firing")
    reason = f" ({escape(plan.lock_reason)})" if plan.lock_reason else ""
    facts.append(f"lock: <@{plan.lock_holder}>{reason}" if plan.lock_holder else "not locked")
    if plan.note:
        facts.append(plan.note)  # the planner's own words; outside parts escaped where it wrote them
    blocks.append(context(*facts))
    if plan.lock_holder and plan.lock_holder != plan.requested_by:
        blocks.append(
            section(
                f":warning: {plan.service} ({plan.env}) is locked by <@{plan.lock_holder}>{reason}. "
                f"Scaling is allowed under a lock; <@{plan.lock_holder}> is told in this card's thread when it runs."
            )
        )
    if needs_confirmation:
        confirm_note = "someone else with the role must confirm" if four_eyes else "confirm to run it"
        blocks.append(
            ActionsBlock(
                block_id=f"plan:{plan.id}",
                elements=[
                    ButtonElement(text="Confirm", action_id=CONFIRM_ACTION, value=plan.id, style="primary"),
                    ButtonElement(text="Cancel", action_id=CANCEL_ACTION, value=plan.id),
                ],
            )
        )
        blocks.append(context(f"Expires at {short_time(plan.expires_at)} UTC; {confirm_note}."))
    return message(f"Plan: {plan.summary}", blocks)


def plan_closed(plan: Plan, outcome: str, by: str, at: float) -> Message:
    """The plan card once used: its buttons replaced by who did what, so it cannot be pressed again."""
    blocks: list[Block] = [
        header(f"{plan.action.verb} {plan.service} ({plan.env})"),
        section(_changes(plan.changes) or "No change."),
        context(f"{outcome} by <@{by}> at {short_time(at)} UTC · requested by <@{plan.requested_by}>"),
    ]
    return message(f"{plan.summary}: {outcome}", blocks)


def result_card(plan: Plan, by: str, at: float, outcome: str, detail: str = "", rollout: str | None = None) -> Message:
    blocks: list[Block] = [
        header(f"{plan.action.verb} {plan.service} ({plan.env})"),
        section(_changes(plan.changes)),
    ]
    if rollout is not None:
        icon = {"COMPLETED": ":white_check_mark:", "FAILED": ":x:", "SUPERSEDED": ":leftwards_arrow_with_hook:"}.get(
            rollout, ":hourglass_flowing_sand:"
        )
        blocks.append(
            section(f"{icon} Rollout: *{rollout.replace('_', ' ').lower()}*" + (f"\n{detail}" if detail else ""))
        )
    elif detail:
        blocks.append(section(detail))
    facts = [f"{outcome} by <@{by}> at {short_time(at)} UTC · requested by <@{plan.requested_by}>"]
    if plan.note:
        facts.append(plan.note)  # why this target or tag: the planner's own words
    blocks.append(context(*facts))
    return message(f"{plan.summary}: {outcome}" + (f" ({rollout})" if rollout else ""), blocks)


def copy_of(msg: Message, home: str) -> Message:
    """A deploy card's copy in a routed channel: the same card, saying where it was asked for."""
    note = context(f"Copy of the card in <#{home}>, where it was asked for; both are kept up to date.").to_dict()
    return {**msg, "blocks": [*msg.get("blocks", [])[: MAX_BLOCKS - 1], note]}


def rollback_button(service: str, env: str) -> ActionsBlock:
    return ActionsBlock(
        elements=[ButtonElement(text="Roll back", action_id=ROLLBACK_ACTION, value=f"{env}:{service}", style="danger")]
    )


def audit_message(env: str, service: str | None, entries: Sequence[AuditEntry]) -> Message:
    """One line per entry: when, who (a mention), what they asked (escaped), the decision and its outcome.
    The outcome is the bot's mrkdwn (AuditEntry.outcome_mrkdwn): the people and channels it names are shown
    as mentions; anything else in angle brackets is escaped, so no audit line can ping or link."""
    scope = f"{service} ({env})" if service else env
    if not entries:
        return info(f"No audit entries for {scope}.")
    lines = []
    for e in entries:
        actor = f"<@{e.actor}>" if SLACK_ID.match(e.actor) else escape(e.actor)
        outcome = mentions_only(clip_mrkdwn(e.outcome_mrkdwn(), 200))
        lines.append(
            f"`{when(e.at)}` {actor} {escape(clip(e.request, AUDIT_REQUEST_SHOWN))} — *{mentions_only(e.decision)}*"
            + (f": {outcome}" if outcome else "")
        )
    return message(f"Audit for {scope}", [header(f"Audit: {scope}"), section("\n".join(lines))])


def image_label(image: str) -> str:
    return tag_of(image) or image


# --- routing ----------------------------------------------------------------------------------------


def channels_text(channels: Sequence[str]) -> str:
    return ", ".join(f"<#{c}>" for c in channels) or "no channel"


def escalation_text(levels: Sequence[EscalationLevel]) -> str:
    if not levels:
        return "no escalation"
    return "escalates " + ", then ".join(f"{level.mention} after {level.after_minutes} min" for level in levels)


def routes_message(config: Config) -> Message:
    """/ops routes: the rules in the order they are tried, then what applies when none matches."""
    settings = config.routing
    lines = []
    for index, rule in enumerate(settings.rules):
        criteria = [
            ("kind", rule.kinds),
            ("env", rule.environments),
            ("service", rule.services),
            ("severity", rule.severities),
        ]
        parts = [f"{label} {' or '.join(values)}" for label, values in criteria if values]
        if rule.alarm_pattern is not None:
            parts.append(f"alarm name ~ `{escape(rule.alarm_pattern)}`")
        line = f"{index + 1}. *{escape(rule.name or '(unnamed)')}*: {', '.join(parts) or 'everything'}"
        line += f" → {channels_text(rule.channels)}"
        if rule.escalation is not None and "alarm" in (rule.kinds or ["alarm"]):
            line += f" ({escalation_text(rule.escalation)})"
        lines.append(line)
    rules = "\n".join(lines) if lines else "No rules: every message goes to its default."
    fallbacks = [
        f"alarm cards: {channels_text([config.alarms.channel] if config.alarms.channel else [])} (alarms.channel)",
        f"weekly cost post: {channels_text([config.cost.weekly_channel] if config.cost.weekly_channel else [])} "
        "(cost.weekly_channel)",
        f"anything else: {channels_text([settings.default_channel] if settings.default_channel else [])} "
        "(routing.default_channel)",
        "deploy cards with no route stay in the channel the command was typed in",
    ]
    blocks: list[Block] = [
        header("Routing rules (first match wins)"),
        section(clip(rules, SECTION_LIMIT)),
        section("*When no rule matches*\n" + "\n".join(f"• {f}" for f in fallbacks)),
        context(
            f"Unacknowledged ALARM cards: {escalation_text(settings.escalation.levels)} (routing.escalation).",
            "`/ops routes test <alarm-name|service> [env]` shows where messages would go.",
        ),
    ]
    return message(f"Routing rules: {len(settings.rules)}", blocks)


def route_test_message(test: RouteTest) -> Message:
    """/ops routes test: where each kind of message would go, and which setting decided it. Nothing is sent."""
    lines = [f"• {what}: {route_text(route)}" for what, route in test.rows]
    blocks: list[Block] = [
        header(f"Routes of {test.subject}"),
        section("\n".join(lines)),
        context(*(escape(n) for n in test.notes), "Nothing was sent."),
    ]
    summary = "; ".join(f"{what} → {', '.join(route.channels) or 'nowhere'}" for what, route in test.rows)
    return message(f"Routes of {escape(test.subject)}: {summary}", blocks)


def route_text(route: Route) -> str:
    text = f"{channels_text(route.channels)} ({route.decided_by})"
    if route.escalation:
        text += f"; {escalation_text(route.escalation)}"
    return text
