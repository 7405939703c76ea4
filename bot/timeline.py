"""`/ops timeline <service> [env] [since]`: what happened to a service, in order, and its postmortem draft.

Four sources, each read on its own so that one that fails (AccessDenied, throttling) does not sink the
others; the answer names what is missing:

    alarm state changes     DescribeAlarmHistory (StateUpdate) of the alarms bot.alarm_services maps to it
    ECS                     DescribeServices: the service's events and its deployments' start and end
    the bot's audit trail   plans, confirmations, refusals, executions, locks (bot.stores.AuditLog)
    alarm cards             acknowledgements, mutes and escalations (bot.alarms.store, bot.alarms.escalation)

The timeline answers the person who asked alone (ephemeral, like every read: audit requests, lock reasons
and ECS events are not for everyone in the channel). Its Export button is the one step that shares: it
posts the postmortem draft (a Markdown snippet: summary, impact window, timeline, actions taken, what is
not complete, follow-ups) in the channel, with a comment naming who exported it; once per service,
environment, window and person. Where the app is not in the channel Slack refuses the upload
(not_in_channel): the person is told to invite it, and may press again. The button's value names the
service, the environment and the window, so the draft covers exactly what the timeline showed; it is
read back like any value from Slack (checked against the config and the clock). Limits that cut what was
read (alarms, alarm history, ECS's 100 events, the audit trail) are named, in the timeline and the draft.

Light at import: the Slack function's ack path imports this module for the button's action id.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement

from bot import render
from bot.commands import MAX_TIMELINE_WINDOW, Timeline, window_text
from bot.errors import BotError, NotAllowedError
from bot.model import AlarmRef
from bot.slack import FilePort
from bot.slack_text import REGION, SLACK_ID, alarm_console_url, link, mentions_only

if TYPE_CHECKING:
    from bot.access import AccessPolicy
    from bot.alarms.escalation import Escalations
    from bot.alarms.store import AlarmStore
    from bot.clock import Clock
    from bot.config import Config, Target  # annotations only: the ack path imports this module without pydantic
    from bot.idempotency import Once
    from bot.plans import Requester
    from bot.platform import Platform
    from bot.slack import Message, Respond
    from bot.stores import AuditEntry, AuditLog, PlanStore

log = logging.getLogger(__name__)

EXPORT_ACTION = "timeline_export"
MAX_LINES = 100  # the newest are shown; the earlier ones are counted
# Of the blocks' JSON: Slack refuses a message whose blocks pass about 13,000 characters (msg_blocks_too_long,
# which the stand-in enforces too); a line with its link is ~150-300.
BLOCKS_BUDGET = 12_000
MAX_ALARMS = 25  # of one service: one DescribeAlarmHistory each
MAX_ALARM_CHANGES = 100  # per alarm, the newest
MAX_AUDIT = 200
MAX_PLAN_LINKS = 10
LINE_TEXT = 300  # characters of outside text per line
# Value of the Export button: env, service, the window's start and end in epoch seconds.
_EXPORT_VALUE = re.compile(r"^(?P<env>[^:\s]{1,64}):(?P<service>[^:\s]{1,64}):(?P<start>\d{9,11}):(?P<end>\d{9,11})$")
_TS = re.compile(r"^\d{9,11}\.\d{1,6}$")


class Source(StrEnum):
    """Where a line came from; the value names the source when it could not be read."""

    ALARMS = "alarm state changes (CloudWatch)"
    ECS = "ECS events and deployments"
    AUDIT = "the bot's audit trail"
    CARDS = "acknowledgements and escalations (alarm cards)"


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the timeline. `what` is plain text (outside text as it came, escaped when shown);
    `what_mrkdwn`, when set, is the bot's own mrkdwn shown in Slack instead (an audit outcome)."""

    at: float
    source: Source
    who: str  # a Slack user id, or the name of a system (CloudWatch, ECS, the bot)
    what: str
    what_mrkdwn: str = ""
    url: str = ""
    url_label: str = ""
    alarm_state: str = ""  # an alarm's new state (the impact window)
    alarm_old_state: str = ""  # and the state it left
    alarm: str = ""
    executed: bool = False  # a change the bot made (actions taken)
    link_in_slack: bool = True  # False: the link is in the message's head once, not on every line (ECS's)

    @property
    def person(self) -> bool:
        return self.source in (Source.AUDIT, Source.CARDS) and SLACK_ID.match(self.who) is not None


@dataclass
class Window:
    """What happened to one service in one window, and what could not be read."""

    target: Target
    start: datetime
    end: datetime
    entries: list[Entry] = field(default_factory=list)
    missing: dict[Source, str] = field(default_factory=dict)  # source -> why (the bot's words)
    cut: list[str] = field(default_factory=list)  # what a limit left out (the bot's words, plain text)

    @property
    def title(self) -> str:
        return f"{self.target.name} ({self.target.env})"


@dataclass(frozen=True, slots=True)
class Impact:
    started: float | None  # the first ALARM in the window (the window's start: `before` it)
    ended: float | None  # the last OK after it; None while an alarm is still in ALARM
    alarm: str = ""
    before: bool = False  # the alarm was in ALARM already when the window began

    @property
    def ongoing(self) -> bool:
        return self.started is not None and self.ended is None


class SlackWrites(FilePort, Protocol):
    """What the timeline writes to Slack (its draft, a file shared in the channel): SlackOut."""

    def post(self, channel: str, msg: Message, thread_ts: str | None = None, broadcast: bool = False) -> str: ...


@dataclass(eq=False)
class Timelines:
    config: Config
    platform: Platform
    access: AccessPolicy
    audit: AuditLog
    plans: PlanStore
    alarms: AlarmStore
    escalations: Escalations
    slack: SlackWrites
    once: Callable[[], Once]
    clock: Clock

    # --- the command ---------------------------------------------------------------------------------------

    def show(self, command: Timeline, who: Requester) -> Message:
        """The timeline, for `who` alone (answered ephemerally), with Export to share its draft. The role was
        checked."""
        target = self.config.target(command.service, command.env)
        end = datetime.fromtimestamp(math.ceil(self.clock()), UTC)  # whole seconds: the Export button names it
        window = self.read(target, end - command.since, end)
        return timeline_message(window, command.since, exportable=True)

    # --- the Export button -----------------------------------------------------------------------------------

    def export(self, value: str, who: Requester, respond: Respond) -> None:
        """The postmortem draft of the window the button names, shared in the channel the button was pressed
        in as a Markdown snippet, with a comment naming who exported it. Once per service, environment,
        window and person (the timeline is ephemeral: its ts is no key); a refused upload gives the claim
        back (raising inside `once` deletes it), so that pressing again works."""
        from bot.config import Role

        target, start, end = self._window_of(value)
        request = f"export the timeline of {target.name} ({target.env})"
        decision = self.access.check(who.user, who.channel, target.env, Role.VIEWER)
        if not decision.allowed:
            self.audit.record_safe(target.env, target.name, who.user, request, "denied", decision.reason)
            raise NotAllowedError(decision.reason)
        if not SLACK_ID.match(who.channel or ""):
            raise BotError("This button is not in a channel the bot can share in.", "Run `/ops timeline` again.")

        def work() -> dict[str, Any]:
            window = self.read(target, start, end)
            draft = postmortem_markdown(window, who.user, self.clock())
            self._share(window, draft, who)
            return {"shared": who.channel}

        key = f"timeline-export:{target.env}:{target.name}:{int(start.timestamp())}:{int(end.timestamp())}:{who.user}"
        result = self.once().run(key, work)
        if result.in_progress:
            respond(render.info("Your postmortem draft of this timeline is being shared in the channel."))
        elif not result.ran_here:
            respond(render.info("You shared it in the channel already: the postmortem draft of this timeline."))
        else:
            respond(render.info(f"The postmortem draft of {target.name} ({target.env}) is shared in the channel."))

    def _share(self, window: Window, draft: str, who: Requester) -> None:
        """The draft as a snippet in `who`'s channel; a refusal raises a BotError saying what to do."""
        from slack_sdk.errors import SlackApiError

        span = f"{window.start:%H:%M}\u2013{window.end:%H:%M} UTC"
        if window.start.date() != window.end.date():
            span = f"{window.start:%Y-%m-%d %H:%M} \u2013 {window.end:%Y-%m-%d %H:%M} UTC"
        comment = f"Postmortem draft: {render.escape(window.title)}, {span}, exported by <@{who.user}>"
        try:
            self.slack.upload(
                draft,
                f"postmortem-{window.target.name}-{window.target.env}-{window.start:%Y%m%d-%H%M}.md",
                f"Postmortem draft: {window.title}",
                channel=who.channel,
                snippet_type="markdown",
                initial_comment=comment,
            )
        except SlackApiError as error:
            code = str(error.response.get("error") or "") if error.response is not None else ""
            log.warning("could not share the postmortem draft of %s in %s: %s", window.title, who.channel, code)
            if code in {"not_in_channel", "channel_not_found"}:
                raise BotError(
                    "The app is not in this channel, so it cannot share the postmortem draft here.",
                    "Invite the app to this channel (`/invite @` and the app's name) and press Export again.",
                ) from None
            raise BotError(
                f"The bot could not share the postmortem draft: Slack answered `{render.escape(code or 'an error')}`.",
                "Press Export again; if it keeps failing, ask an admin (details in the bot's logs).",
            ) from None
        except Exception:
            log.exception("could not share the postmortem draft of %s in %s", window.title, who.channel)
            raise BotError(
                "The bot could not share the postmortem draft: Slack could not be reached.",
                "Press Export again in a minute.",
            ) from None

    def _window_of(self, value: str) -> tuple[Target, datetime, datetime]:
        """The button's value, checked: a configured service and environment, a window of at most 7 days
        that has ended (a value from Slack is never trusted)."""
        match = _EXPORT_VALUE.match(value or "")
        stale = BotError("This button no longer matches a configured service.", "Run `/ops timeline` again.")
        if match is None:
            raise stale
        env, service = match.group("env"), match.group("service")
        if service not in self.config.service_names or env not in self.config.environment_names:
            raise stale
        start, end = int(match.group("start")), int(match.group("end"))
        if not 0 < end - start <= MAX_TIMELINE_WINDOW.total_seconds() or end > self.clock() + 300:
            raise stale
        return self.config.target(service, env), datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)

    # --- reading the four sources --------------------------------------------------------------------------

    def read(self, target: Target, start: datetime, end: datetime) -> Window:
        window = Window(target, start, end)
        alarms: list[AlarmRef] | None = None
        try:
            alarms = self.platform.service_alarms(target)
            if len(alarms) > MAX_ALARMS:
                window.cut.append(
                    f"alarms: only {MAX_ALARMS} of the service's {len(alarms)} alarms were read; the others' changes"
                    " and cards are not shown"
                )
                alarms = alarms[:MAX_ALARMS]
        except BotError as error:
            log.warning("timeline of %s: could not list the alarms", window.title, exc_info=True)
            window.missing[Source.ALARMS] = window.missing[Source.CARDS] = error.message
        readers: list[tuple[Source, Callable[[], list[Entry]]]] = [
            (Source.ECS, lambda: self._ecs(window)),
            (Source.AUDIT, lambda: self._audit(window)),
        ]
        if alarms is not None:
            found = alarms
            readers[:0] = [(Source.ALARMS, lambda: self._alarm_changes(window, found))]
            readers.append((Source.CARDS, lambda: self._cards(window, found)))
        for source, reader in readers:
            try:
                window.entries.extend(reader())
            except BotError as error:
                log.warning("timeline of %s: %s could not be read", window.title, source.value, exc_info=True)
                window.missing[source] = error.message
            except Exception:
                log.exception("timeline of %s: %s could not be read", window.title, source.value)
                window.missing[source] = "it failed on the bot's side (details in the bot's logs)"
        window.entries = _without_repeated_acks(window.entries)
        window.entries.sort(key=lambda e: e.at)
        return window

    def _alarm_changes(self, window: Window, alarms: Sequence[AlarmRef]) -> list[Entry]:
        names = [a.name for a in alarms]
        changes, cut = self.platform.alarm_history(window.target, names, window.start, window.end, MAX_ALARM_CHANGES)
        window.cut += [
            f"alarm history: only the newest {MAX_ALARM_CHANGES} changes of {name} were read; older ones are not shown"
            for name in cut
        ]
        entries = []
        for change in changes:
            url = alarm_console_url(change.alarm, window.target.region) or ""
            moved = f"{change.old_state} → {change.new_state}" if change.old_state else change.new_state
            entries.append(
                Entry(
                    change.at,
                    Source.ALARMS,
                    "CloudWatch",
                    f"{change.alarm} {moved}: {change.reason}",
                    url=url,
                    url_label="alarm",
                    alarm_state=change.new_state,
                    alarm_old_state=change.old_state,
                    alarm=change.alarm,
                )
            )
        return entries

    def _ecs(self, window: Window) -> list[Entry]:
        url = ecs_service_console_url(window.target)
        events, cut = self.platform.service_events(window.target, window.start, window.end)
        if cut:
            window.cut.append(
                "ECS events: ECS keeps only its newest 100 events; older ones in the window are gone (its"
                " deployments are shown)"
            )
        return [
            Entry(e.at, Source.ECS, "ECS", e.message, url=url, url_label="service", link_in_slack=False) for e in events
        ]

    def _audit(self, window: Window) -> list[Entry]:
        trail = self.audit.trail(window.target.env, window.target.name, MAX_AUDIT + 1, (window.start, window.end))
        if len(trail) > MAX_AUDIT:  # newest first: the oldest goes
            trail = trail[:MAX_AUDIT]
            window.cut.append(
                f"the bot's audit trail: only the newest {MAX_AUDIT} entries in the window were read; older ones"
                " are not shown"
            )
        cards = self._plan_cards([e.plan_id for e in trail if e.plan_id])
        return [_audit_entry(e, cards.get(e.plan_id)) for e in trail]

    def _plan_cards(self, plan_ids: Sequence[str]) -> dict[str, str]:
        """The plan card's link of the newest plans the trail names (a plan is kept a day past its expiry)."""
        links: dict[str, str] = {}
        for plan_id in list(dict.fromkeys(plan_ids))[:MAX_PLAN_LINKS]:
            try:
                plan = self.plans.load(plan_id)
            except BotError:
                log.warning("timeline: could not read plan %s", plan_id, exc_info=True)
                continue
            if plan is not None and plan.message_ts:
                links[plan_id] = message_url(plan.channel, plan.message_ts)
        return {k: v for k, v in links.items() if v}

    def _cards(self, window: Window, alarms: Sequence[AlarmRef]) -> list[Entry]:
        low, high = window.start.timestamp(), window.end.timestamp()
        keys = {_alarm_key(a): a for a in alarms}
        records = self.alarms.records(list(keys), now=self.clock())
        entries: list[Entry] = []
        for key, record in records.items():
            card = record.card
            url = message_url(card.channel, card.ts) if card and not card.in_digest else ""
            name = keys[key].name
            if record.ack is not None and low <= record.ack.at <= high:
                entries.append(Entry(record.ack.at, Source.CARDS, record.ack.by, f"acknowledged {name}", url=url))
            if record.mute is not None and low <= record.mute.at <= high:
                until = f"{datetime.fromtimestamp(record.mute.until, UTC):%H:%M} UTC"
                entries.append(
                    Entry(record.mute.at, Source.CARDS, record.mute.by, f"muted {name} until {until}", url=url)
                )
            if card is None:
                continue
            posted, _ = self.escalations.trail(card.incident)
            for level in posted:
                if low <= level.at <= high:
                    what = f"escalated {name}: level {level.level} posted (to {level.mention}), nobody had acknowledged"
                    entries.append(Entry(level.at, Source.CARDS, "the bot", what, url=url))
        return entries


# --- lines ---------------------------------------------------------------------------------------------------


def _alarm_key(alarm: AlarmRef) -> str:
    """The key the alarm relay stores an alarm's card under (bot.alarms.model.AlarmNotification.key)."""
    return f"{alarm.account or '-'}#{alarm.region or '-'}#{alarm.name}"


def _audit_entry(entry: AuditEntry, plan_url: str | None) -> Entry:
    outcome = entry.outcome_mrkdwn()
    plain = _plain(outcome)
    what = f"{entry.decision}: {entry.request}" + (f" — {plain}" if plain else "")
    shown = f"*{render.escape(entry.decision)}*: {render.escape(render.clip(entry.request, LINE_TEXT))}"
    if outcome:
        shown += f" — {mentions_only(render.clip_mrkdwn(outcome, 200))}"
    return Entry(
        entry.at,
        Source.AUDIT,
        entry.actor,
        what,
        what_mrkdwn=shown,
        url=plan_url or "",
        url_label="plan" if plan_url else "",
        executed=entry.decision == "executed",
    )


def _without_repeated_acks(entries: list[Entry]) -> list[Entry]:
    """An acknowledgement or mute is both on the card and in the audit trail: the card's line is kept (it
    links to the card); the audit's within a minute of it, by the same person, goes."""
    from_cards = [(e.who, e.what.split(" ", 1)[0], e.at) for e in entries if e.source is Source.CARDS]

    def repeated(entry: Entry) -> bool:
        if entry.source is not Source.AUDIT:
            return False
        decision = entry.what.split(":", 1)[0]
        return any(who == entry.who and what == decision and abs(at - entry.at) <= 60 for who, what, at in from_cards)

    return [e for e in entries if not repeated(e)]


def _plain(mrkdwn: str) -> str:
    """The bot's mrkdwn as plain text: mentions as @id / #id, links as their label, entities decoded."""
    text = re.sub(r"<([@#])([A-Z0-9]+)(?:\|[^<>]*)?>", r"\1\2", mrkdwn)
    text = re.sub(r"<(https://[^\s<>|]+)\|([^<>]*)>", r"\2", text)
    return html.unescape(text)


def message_url(channel: str, ts: str) -> str:
    """A Slack message's link (Slack redirects it to the workspace), or "" from anything but an id and a ts."""
    if not SLACK_ID.match(channel or "") or not _TS.match(ts or ""):
        return ""
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def ecs_service_console_url(target: Target) -> str:
    """The ECS console's page of the service's events, or "" when the region is not a region code."""
    region = target.region
    if not REGION.match(region) or not re.match(r"^[A-Za-z0-9_-]+$", target.cluster + target.ecs_service):
        return ""
    return (
        f"https://{region}.console.aws.amazon.com/ecs/v2/clusters/{target.cluster}/services/"
        f"{target.ecs_service}/events?region={region}"
    )


def impact_of(entries: Sequence[Entry]) -> Impact:
    """First ALARM in the window -> the last OK after it, or still in ALARM (an alarm's newest state is ALARM).
    An alarm whose first change in the window leaves ALARM was in ALARM when the window began: the impact
    started before it (`before`, `started` is then the first change's time, the window's start is shown)."""
    changes = [e for e in entries if e.alarm_state]
    first_of: dict[str, Entry] = {}
    for e in changes:
        first_of.setdefault(e.alarm, e)
    already = next((e for e in first_of.values() if e.alarm_old_state == "ALARM"), None)
    origin = already or next((e for e in changes if e.alarm_state == "ALARM"), None)
    if origin is None:
        return Impact(None, None)
    started, alarm = origin.at, origin.alarm
    newest: dict[str, str] = {}
    for e in changes:
        newest[e.alarm] = e.alarm_state
    if any(state == "ALARM" for state in newest.values()):
        return Impact(started, None, alarm, before=already is not None)
    last_ok = max((e.at for e in changes if e.alarm_state == "OK" and e.at >= started), default=None)
    return Impact(started, last_ok, alarm, before=already is not None)


def _clock_text(at: float, whole_day: bool) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    return f"{moment:%H:%M:%S}" if whole_day else f"{moment:%m-%d %H:%M}"


def slack_line(entry: Entry, whole_day: bool) -> str:
    who = f"<@{entry.who}>" if entry.person else f"_{render.escape(entry.who)}_"
    what = entry.what_mrkdwn or render.escape(render.clip(entry.what, LINE_TEXT))
    line = f"`{_clock_text(entry.at, whole_day)}` {who} {what}"
    if entry.url and entry.link_in_slack:
        line += f" · {link(entry.url, entry.url_label or 'card')}"
    return line


def timeline_message(window: Window, since: timedelta, *, exportable: bool) -> Message:
    """The timeline in Slack: the newest lines in time order, as many as Slack's limits take (MAX_LINES, and
    BLOCKS_BUDGET of the blocks' JSON); the earlier ones are counted, and the draft has them all."""
    whole_day = window.start.date() == window.end.date()
    end = f"{window.end:%H:%M}" if whole_day else f"{window.end:%Y-%m-%d %H:%M}"
    span = f"{window.start:%Y-%m-%d %H:%M} to {end} UTC"
    facts = f"Last {window_text(since)}: {span} · {len(window.entries)} events · times in UTC"
    if url := ecs_service_console_url(window.target):
        facts += f" · {link(url, 'ECS events')}"
    top: list[Block] = [render.header(f"Timeline: {window.title}"), render.context(facts)]
    if window.missing:
        missing = "; ".join(f"{source.value}: {why}" for source, why in window.missing.items())
        top.append(render.section(f":warning: *Not shown*, could not be read: {missing}"))
    if window.cut:
        cut = "; ".join(render.escape(why) for why in window.cut)
        top.append(render.section(f":warning: *Not complete*: {render.clip_mrkdwn(cut, 2000)}"))
    bottom: list[Block] = []
    if exportable:
        start, stop = int(window.start.timestamp()), int(window.end.timestamp())
        value = f"{window.target.env}:{window.target.name}:{start}:{stop}"
        bottom.append(
            render.context(
                "Only you see this timeline. Export shares its postmortem draft (a Markdown file, every line) in"
                " this channel, naming you."
            )
        )
        bottom.append(ActionsBlock(elements=[ButtonElement(text="Export", action_id=EXPORT_ACTION, value=value)]))
    lines = _newest_within(
        [slack_line(e, whole_day) for e in window.entries[-MAX_LINES:]],
        BLOCKS_BUDGET - len(json.dumps([b.to_dict() for b in top + bottom])) - 400,  # 400: the note below
    )
    earlier = len(window.entries) - len(lines)
    if earlier:
        more = " Export's draft has them all." if exportable else ""
        top.append(render.context(f"{earlier} earlier events not shown: a shorter window shows them.{more}"))
    sections = [render.section(text) for text in render.chunks(lines, render.SECTION_LIMIT)]
    if not lines:
        sections = [render.section("Nothing happened to it in this window that the bot can see.")]
    return render.message(f"Timeline of {window.title}: {len(window.entries)} events", top + sections + bottom)


def _newest_within(lines: Sequence[str], budget: int) -> list[str]:
    """The newest of `lines` (oldest first) whose JSON, with a section's wrapping per 3000 characters, fits."""
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        used += len(json.dumps(line)) + 1
        if used + 80 * (used // render.SECTION_LIMIT + 1) > budget:
            break
        kept.append(line)
    return kept[::-1]


# --- the postmortem draft (Markdown) -----------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~@])")  # @: no e-mail autolink
_AUTOLINK = re.compile(r"(?i)(:(?=//)|(?<![\w.-])www(?=\.))")  # https://…, www.…: GFM's autolinks


def md(text: str) -> str:
    """Outside text inside Markdown: one line, its markup characters escaped, and no autolink: a URL someone
    typed (`https://…`, `www.…`, an e-mail address) shows as text, not as a link to click (`https\\://`,
    `www\\.`: an escaped character ends the autolink, the words are kept)."""
    escaped = _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))
    return _AUTOLINK.sub(lambda m: "\\:" if m.group(0) == ":" else m.group(0) + "\\", escaped)


def _md_who(entry: Entry) -> str:
    return f"@{entry.who}" if entry.person else md(entry.who)


def _md_line(entry: Entry) -> str:
    at = datetime.fromtimestamp(entry.at, UTC)
    line = f"- `{at:%Y-%m-%d %H:%M:%S}` **{_md_who(entry)}**: {md(render.clip(entry.what, LINE_TEXT))}"
    if entry.url:
        line += f" ([{entry.url_label or 'card'}]({entry.url}))"
    return line


def postmortem_markdown(window: Window, exported_by: str, now: float) -> str:
    entries = window.entries
    impact = impact_of(entries)
    actions = [e for e in entries if e.executed]
    alarm_changes = sum(1 for e in entries if e.source is Source.ALARMS)
    deployments = sum(1 for e in entries if e.source is Source.ECS and "deployment" in e.what)

    def stamp(at: float) -> str:
        return f"{datetime.fromtimestamp(at, UTC):%Y-%m-%d %H:%M:%S} UTC"

    out = [
        f"# Postmortem draft: {md(window.title)}",
        "",
        f"_Drafted by the bot from `/ops timeline` for {stamp(window.start.timestamp())} to "
        f"{stamp(window.end.timestamp())}, exported by @{exported_by} at {stamp(now)}. Edit before sharing._",
        "",
        "## Summary",
        "",
        f"{md(window.title)}: {alarm_changes} alarm state changes, {deployments} ECS deployment events and "
        f"{len(actions)} changes made through the bot in the window. _What happened, in a sentence: …_",
        "",
        "## Impact window",
        "",
    ]
    begins = window.start.timestamp()
    if impact.started is None:
        out.append("No alarm went to ALARM in the window.")
    else:
        if impact.before:
            out.append(
                f"- Start: before {stamp(begins)} (the window's start): `{md(impact.alarm)}` was already in ALARM"
                " when the window began; a longer window shows when it fired"
            )
        else:
            out.append(f"- Start: {stamp(impact.started)}, first ALARM (`{md(impact.alarm)}`)")
        if impact.ended is None:
            out.append(f"- End: still in ALARM at the end of the window ({stamp(window.end.timestamp())})")
        else:
            out.append(f"- End: {stamp(impact.ended)}, the last OK")
            if impact.before:
                out.append(f"- Duration: at least {render.span(impact.ended - begins)}")
            else:
                out.append(f"- Duration: {render.span(impact.ended - impact.started)}")
    out += ["", "## Timeline (UTC)", ""]
    out += [_md_line(e) for e in entries] or ["Nothing the bot can see happened in the window."]
    out += ["", "## Actions taken", ""]
    out += [_md_line(e) for e in actions] or ["No change was made through the bot in the window."]
    if window.missing:
        out += ["", "## Not in this draft", ""]
        out += [f"- {source.value}: could not be read ({md(_plain(why))})" for source, why in window.missing.items()]
    if window.cut:
        out += ["", "## Not complete", ""]
        out += [f"- {md(why)}" for why in window.cut]
    out += [
        "",
        "## Follow-ups",
        "",
        "- [ ] _What to change so that this does not happen again, and who owns it_",
        "- [ ] _What would have found it sooner_",
        "",
    ]
    return "\n".join(out)
