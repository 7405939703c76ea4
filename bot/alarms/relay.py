"""The alarm relay: a batch of SQS records -> one living Slack card per alarm incident.

For each batch:
  1. parse every record (bot.alarms.model); what is not an alarm notification is logged and dropped, and so
     is an alarm of another account or topic than the environments' (or, with alarms.foreign_alarms: show,
     it gets a card without buttons, service, deploy correlation or escalation);
  2. coalesce per alarm: the newest StateChangeTime wins; older notifications than the card shows are stale;
  3. per alarm, oldest change first: open a card (or join the storm digest), update it in place, reply in
     its thread on resolve and on firing (a reply that it fires again in the incident also goes to the
     channel: reply_broadcast), or do nothing for a repeat of the state it shows;
  4. write the digest once for the whole batch.

While a channel storms (its digest is current), a change of an alarm with a card of its own is shown in the
digest too ("changed during the storm"): the one digest write shows the batch's every change. Its own card is
then behind (StormWindow.behind) and is redrawn, with its thread reply, after everything that shows a state,
as long as no other invocation waits for the channel (bot.alarms.lease); what is left, the next holder does.

Before it reads the cards, the batch takes the lease of every channel it will write (bot.alarms.lease): the
event source runs two batches at once, and the lease keeps one writer per channel, so the pace holds and no
card is raced. A group whose channel stays taken for the batch's time budget fails and is retried.

Slack writes go through PacedSlack (one per second per channel). State is saved only after the writes of
a change succeeded, so a failed write leaves the alarm as it was and fails exactly the records of that
alarm: SQS delivers them again, and after the queue's maxReceiveCount they wait in the DLQ (alarmed).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import InitVar, dataclass, field, replace

from bot import render
from bot.alarms import cards
from bot.alarms.context import AlarmGraphs
from bot.alarms.escalation import Escalations
from bot.alarms.lease import ChannelLeases, Offer, Outcome
from bot.alarms.model import AlarmNotification, AlarmState, NotAnAlarm, ServiceMap, parse_body
from bot.alarms.pacing import OutOfTime, PacedSlack, Pacer
from bot.alarms.store import (
    AlarmCard,
    AlarmRecord,
    AlarmStore,
    Behind,
    Digest,
    DigestEntry,
    RecentDeploy,
    StormWindow,
)
from bot.clock import Clock, system_clock
from bot.config import AlarmSettings, Config, ConfigError, EnvironmentConfig
from bot.errors import BotError
from bot.history import RevisionHistory, last_known_good
from bot.model import family_of, revision_of, tag_of
from bot.platform import Platform
from bot.routing import Kind, Route, Router, severity_of
from bot.slack import SlackPort
from bot.stores import StatusCache
from bot.table import Table

log = logging.getLogger(__name__)

DEFAULT_INVOCATION_SECONDS = 120.0  # template.yaml's Timeout, when the caller gives no remaining time
WRITE_MARGIN_SECONDS = 10.0  # PacedSlack starts no write with less than this left
# Offers are claimed until this long before the next write slot: the time to read and draw the batch first.
ABSORB_MARGIN_SECONDS = 0.3
NOT_SHOWN = "not shown by the channel's writer"  # an offered record the writer has no answer for


class ChannelBusy(RuntimeError):
    """Another invocation kept the channel's lease for this batch's whole time budget; the records are retried."""


@dataclass(frozen=True, slots=True)
class Received:
    """One SQS record."""

    record_id: str
    body: str


@dataclass
class BatchResult:
    failed: dict[str, str] = field(default_factory=dict)  # record id -> why (these are retried)
    dropped: dict[str, str] = field(default_factory=dict)  # record id -> why (never retried)
    shown_at: dict[str, float] = field(default_factory=dict)  # record id -> when Slack showed its alarm's state
    writes: int = 0
    handed: int = 0  # records this batch handed to the channel's writer (bot.alarms.lease), which showed them
    shown_for_others: int = 0  # records other invocations handed to this one


@dataclass
class _Group:
    """The records of one alarm in this batch."""

    key: str
    notes: list[tuple[str, AlarmNotification]]

    @property
    def record_ids(self) -> list[str]:
        return [record_id for record_id, _ in self.notes]

    @property
    def latest(self) -> AlarmNotification:
        return max(enumerate(self.notes), key=lambda item: (item[1][1].changed_at, item[0]))[1][1]


@dataclass
class _Storm:
    """Alarms that opened lately in one channel, and the digest card they share while it storms."""

    opened: dict[str, float] = field(default_factory=dict)
    digest_ts: str | None = None
    digest_joined_at: float = 0.0
    changed: bool = False
    behind: dict[str, Behind] = field(default_factory=dict)  # own cards to redraw (StormWindow.behind)


@dataclass
class _DigestWork:
    digest: Digest
    members: list[tuple[AlarmCard, _Group]] = field(default_factory=list)
    changed: list[tuple[AlarmCard, AlarmCard, _Group]] = field(default_factory=list)  # (shown, new, records)


_RANK_SHOW = 0  # a new incident (a card or a digest line), or an alarm of the digest
_RANK_UPDATE = 1  # an update of the alarm's own card


@dataclass
class _Reply:
    """A reply in a card's thread (and its copies'), sent after every card of the batch is drawn."""

    card: AlarmCard
    group: _Group
    message: render.Message
    broadcast: bool
    on_copies: Callable[[AlarmCard, Callable[[str, str], object]], None]

    def send(self, slack: PacedSlack) -> None:
        card, message, broadcast = self.card, self.message, self.broadcast
        slack.post(card.channel, message, thread_ts=card.ts, broadcast=broadcast)
        self.on_copies(card, lambda channel, ts: slack.post(channel, message, thread_ts=ts, broadcast=broadcast))


@dataclass(eq=False)
class AlarmRelay:
    config: Config
    table: Table
    platform: Platform
    slack: SlackPort
    pacer: Pacer
    clock: Clock = system_clock
    sleep: Callable[[float], None] = time.sleep
    graphs: AlarmGraphs | None = None  # the graph on each card the batch drew (docs/alarms.md "Graph")
    own_topics: InitVar[frozenset[str]] = frozenset()

    def __post_init__(self, own_topics: frozenset[str]) -> None:
        self.settings: AlarmSettings = self.config.alarms
        self.alarms = AlarmStore(self.table)
        self.services = ServiceMap(self.config, self.platform.alarm_tags, own_topics, self._target_groups)
        self.router = Router(self.config)
        self.escalations = Escalations(self.config, self.table, self.slack, self.clock)
        self._groups: dict[str, dict[str, str]] = {}  # per environment, for one batch (see _target_groups)

    # --- the batch ------------------------------------------------------------------------------------

    def process(
        self, records: Sequence[Received], remaining: Callable[[], float] | None = None, holder: str | None = None
    ) -> BatchResult:
        """`holder` names this invocation in the channels' leases (unique per invocation)."""
        self._groups.clear()
        result = BatchResult()
        groups: dict[str, _Group] = {}
        for record in records:
            self._parse_into(groups, record, result)
        if not groups:
            return result
        bodies = {record.record_id: record.body for record in records}
        leases = ChannelLeases(self.table, holder or uuid.uuid4().hex, self.clock, self.sleep)
        try:
            return self._process_leased(groups, leases, remaining, result, bodies)
        finally:
            leases.release_all(lambda channel: self.clock() + self.pacer.wait_time(channel))

    def _parse_into(self, groups: dict[str, _Group], record: Received, result: BatchResult) -> str | None:
        """Add the record to its alarm's group; the alarm's key, or None when the record was dropped or failed."""
        try:
            alarm = parse_body(record.body, record.record_id)
        except NotAnAlarm as reason:
            log.warning("record %s dropped: %s", record.record_id, reason)
            result.dropped[record.record_id] = str(reason)
            return None
        except Exception as error:  # a bug, not the message: retry, and let the DLQ keep it
            log.exception("record %s could not be parsed", record.record_id)
            result.failed[record.record_id] = f"parse failed: {error!r}"
            return None
        foreign = self.services.foreign(alarm)
        if foreign is not None:
            if self.settings.foreign_alarms == "drop":
                log.warning("record %s dropped: alarm %r %s", record.record_id, alarm.name, foreign.reason)
                result.dropped[record.record_id] = f"not this bot's alarm: {foreign.reason}"
                return None
            log.warning("record %s: alarm %r %s; shown without buttons", record.record_id, alarm.name, foreign.reason)
            alarm = replace(alarm, foreign=foreign.summary)
        groups.setdefault(alarm.key, _Group(alarm.key, [])).notes.append((record.record_id, alarm))
        return alarm.key

    def _process_leased(
        self,
        groups: dict[str, _Group],
        leases: ChannelLeases,
        remaining: Callable[[], float] | None,
        result: BatchResult,
        bodies: dict[str, str],
    ) -> BatchResult:
        offers: list[Offer] = []
        own = set(bodies)
        try:
            groups = self._take_leases(groups, leases, remaining, result, bodies)
            if not groups:
                return result
            self._absorb(leases, remaining, offers)
            offered = self._merge(groups, offers, result, own)
            stored = self.alarms.records(list(groups), now=self.clock())
            for key in offered:  # shown only in channels this invocation holds (the offerer's view may be old)
                busy = sorted(self._channels(groups[key].latest, stored.get(key)) - set(leases.held))
                if busy:
                    self._fail(result, groups.pop(key), ChannelBusy(f"not the writer of {', '.join(busy)}"))
            storms: dict[str, _Storm] = {}
            ranks = {key: self._rank(stored[key], group, storms) for key, group in groups.items()}
        except Exception as error:
            log.exception("could not read the alarms' state; the batch is retried")
            for group in groups.values():
                self._fail(result, group, error)
            self._settle(offers, leases, result, own)
            return result
        slack = PacedSlack(self.slack, self.pacer, remaining, leased=lambda channel: channel in leases.held)
        digests: dict[str, _DigestWork] = {}
        replies: list[_Reply] = []
        # What shows a state comes first, what tells about it last (storm control, docs/alarms.md): the alarms of the
        # digest and new incidents, then the storm digest (one write for all its alarms), then the updates of
        # known cards, and only then the thread replies, which show no state the cards do not already show; last,
        # the own cards behind the digest, while nobody waits for the channel.
        ordered = sorted(groups.values(), key=lambda g: (ranks[g.key], g.latest.changed_at))
        for group in ordered:
            if ranks[group.key] == _RANK_UPDATE and digests:
                self._write_digests(digests, storms, slack, result)
            try:
                self._apply(group, stored[group.key], storms, digests, slack, result, replies)
            except Exception as error:
                self._fail(result, group, error)
        self._write_digests(digests, storms, slack, result)
        for reply in replies:
            try:
                reply.send(slack)
                self.alarms.save_card(reply.card, self.clock())
            except Exception as error:
                self._fail(result, reply.group, error)
        failed = set(result.failed)  # before the offers' outcomes leave the result
        self._settle(offers, leases, result, own)
        self._catch_up(storms, leases, slack)
        for channel, storm in storms.items():
            if storm.changed:
                self._save_storm(channel, storm)
        if self.graphs is not None:  # the lowest priority: after every card and reply; it never fails a record
            behind = {b.card.key for storm in storms.values() for b in storm.behind.values()}
            self.graphs.after_batch(
                [g.latest for g in groups.values() if not failed & set(g.record_ids) and g.key not in behind],
                slack,
                may_write=lambda channel: not leases.waiting(channel),  # never while another batch waits
            )
        result.writes = slack.writes
        return result

    # --- the channels' leases ------------------------------------------------------------------------------

    def _take_leases(
        self,
        groups: dict[str, _Group],
        leases: ChannelLeases,
        remaining: Callable[[], float] | None,
        result: BatchResult,
        bodies: dict[str, str],
    ) -> dict[str, _Group]:
        """Take the lease of every channel the batch may write (its alarms' routes, and the channels of their
        cards), in one order (no two invocations wait for each other); returns the groups whose channels are all
        held. The others fail, so SQS delivers them again. A batch that writes to one channel only is offered
        to that channel's holder while it waits (bot.alarms.lease): when the holder shows it, its outcome is
        this batch's, and nothing is left to do here."""
        left = remaining() if remaining is not None else DEFAULT_INVOCATION_SECONDS
        hold_until = self.clock() + left
        # Wait at most until the invocation keeps two margins for its own writes (PacedSlack stops at one).
        budget = max(0.0, left - 2 * WRITE_MARGIN_SECONDS)
        try:
            before = self.alarms.records(list(groups), now=self.clock())
        except BotError:
            before = {}  # read again under the leases; a table that stays down fails the batch there
        need = {key: self._channels(group.latest, before.get(key)) for key, group in groups.items()}
        channels = sorted(set().union(*need.values()))
        offer: list[tuple[str, str]] = []
        if len(channels) == 1:
            offer = [(record_id, bodies[record_id]) for group in groups.values() for record_id in group.record_ids]
        waited = leases.waited
        for channel in channels:
            taken = leases.acquire(channel, hold_until, max(0.0, budget - (leases.waited - waited)), offer)
            if isinstance(taken, Outcome):
                log.info("batch shown by the writer of %s (%d records handed over)", channel, len(offer))
                self._handed(result, taken, [record_id for record_id, _ in offer])
                return {}
            if taken is not None:
                # The previous holder's next slot: the pace holds from one invocation to the next.
                self.pacer.back_off(channel, taken.not_before - self.clock())
        kept = {}
        for key, group in groups.items():
            busy = sorted(need[key] - set(leases.held))
            if busy:
                self._fail(result, group, ChannelBusy(f"another invocation holds the lease of {', '.join(busy)}"))
            else:
                kept[key] = group
        return kept

    def _handed(self, result: BatchResult, outcome: Outcome, record_ids: list[str]) -> None:
        """The holder's outcome for the records this batch handed over, as this batch's own."""
        result.handed += len(record_ids)
        _copy_answers(outcome, result, record_ids)

    # --- offers: the batches of other invocations, shown in this one's writes ------------------------------------

    def _absorb(self, leases: ChannelLeases, remaining: Callable[[], float] | None, offers: list[Offer]) -> None:
        """Claim the offers of the channels this invocation holds, into `offers`, shortly before its next write to
        them (it waits for that slot anyway; every offer made by then is taken in): they are shown in the same
        writes as this batch. Not when the wait would eat the time this invocation keeps for its own writes."""
        if not leases.held:
            return
        left = remaining() if remaining is not None else DEFAULT_INVOCATION_SECONDS
        wait = min(self.pacer.wait_time(channel) for channel in leases.held) - ABSORB_MARGIN_SECONDS
        if left - max(wait, 0.0) < 2 * WRITE_MARGIN_SECONDS:
            return  # too little time left to show more than this batch
        if wait > 0:
            self.sleep(wait)
        for channel in sorted(leases.held):
            offers += leases.claim_offers(channel)
        if offers:
            log.info("showing %d offered batches with this one", len(offers))

    def _merge(self, groups: dict[str, _Group], offers: list[Offer], result: BatchResult, own: set[str]) -> set[str]:
        """Parse the offered records into the batch's groups; returns the keys of the groups they touch. A record
        this batch already has (SQS delivered it again, or two offers carry it) is taken once."""
        keys: set[str] = set()
        seen = set(own)
        for offer in offers:
            for record_id, body in offer.records:
                if record_id not in seen:
                    seen.add(record_id)
                    key = self._parse_into(groups, Received(record_id, body), result)
                    if key is not None:
                        keys.add(key)
        return keys

    def _settle(self, offers: list[Offer], leases: ChannelLeases, result: BatchResult, own: set[str]) -> None:
        """Tell each offerer what became of its records; then they leave this batch's result, unless they are also
        this batch's own."""
        for offer in offers:
            result.shown_for_others += len(offer.records)
            outcome = Outcome()
            _copy_answers(result, outcome, [record_id for record_id, _ in offer.records])
            leases.settle(offer, outcome)
        for offer in offers:
            for record_id, _ in offer.records:
                if record_id not in own:
                    for answers in (result.shown_at, result.dropped, result.failed):
                        answers.pop(record_id, None)

    def _channels(self, alarm: AlarmNotification, record: AlarmRecord | None) -> set[str]:
        """Where this alarm's writes may go: its card's channels, and its route's (a new card's)."""
        channels: set[str] = set()
        card = record.card if record is not None else None
        if card is not None:
            channels.add(card.channel)
            channels.update(channel for channel, _ in card.copies)
        try:
            env, service = self._where(alarm)
            route = self._route(alarm, env.name, service)
        except Exception:  # _new_card meets the same error, and fails the alarm's records with it
            log.warning("alarm %s: no route", alarm.name, exc_info=True)
            return channels
        if route.home is not None:
            channels.add(route.home)
        channels.update(route.copies)
        return channels

    def _fail(self, result: BatchResult, group: _Group, error: Exception) -> None:
        if isinstance(error, OutOfTime | ChannelBusy):
            log.warning("alarm %s left for the next delivery: %s", group.latest.name, error)
        else:
            log.error("alarm %s not shown; its records are retried: %r", group.latest.name, error, exc_info=error)
        for record_id in group.record_ids:
            result.failed[record_id] = repr(error)
            result.shown_at.pop(record_id, None)

    def _rank(self, record: AlarmRecord, group: _Group, storms: dict[str, _Storm]) -> int:
        """The order of the batch's writes: an alarm of the digest, a new incident, or a change the storm digest
        shows, else an update of its card."""
        card = record.card
        if card is None or card.in_digest or not card.ts or not self._open(card, group.latest):
            return _RANK_SHOW
        if self._behind_digest(self._storm(storms, card.channel), replace(card, changed_at=group.latest.changed_at)):
            return _RANK_SHOW
        return _RANK_UPDATE

    def _write_digests(
        self, digests: dict[str, _DigestWork], storms: dict[str, _Storm], slack: PacedSlack, result: BatchResult
    ) -> None:
        for work in digests.values():
            self._write_digest(work, storms, slack, result)
        digests.clear()

    def _shown(self, result: BatchResult, group: _Group) -> None:
        now = self.clock()
        for record_id in group.record_ids:
            result.shown_at[record_id] = now

    # --- one alarm --------------------------------------------------------------------------------------

    def _apply(
        self,
        group: _Group,
        record: AlarmRecord,
        storms: dict[str, _Storm],
        digests: dict[str, _DigestWork],
        slack: PacedSlack,
        result: BatchResult,
        replies: list[_Reply],
    ) -> None:
        alarm = group.latest
        card = record.card
        newer = [n for _, n in group.notes if card is None or n.changed_at > card.changed_at]
        if not newer:
            log.info("alarm %s: stale or repeated notification, nothing to show", alarm.name)
            self._shown(result, group)
            return
        now = self.clock()
        muted = record.mute is not None and record.mute.until > now
        if card is not None and self._open(card, alarm):
            self._update(card, alarm, record, muted, storms, digests, slack, result, group, replies)
            return
        fired = [n for n in newer if n.state is AlarmState.ALARM]
        if not alarm.state.firing and not fired:
            log.info("alarm %s: %s with no open card, nothing to show", alarm.name, alarm.state)
            self._shown(result, group)
            return
        # A new incident; when it fired and resolved within this batch, its card opens resolved.
        opened_at = min(n.changed_at for n in fired) if fired else alarm.changed_at
        new = self._new_card(alarm, opened_at)
        if muted:
            self.alarms.save_card(replace(new, ts=""), now)
            log.info("alarm %s is muted until %s: not shown", alarm.name, record.mute.until if record.mute else "")
            self._shown(result, group)
            return
        storm = self._storm(storms, new.channel)
        if self._storming(storm, new.key, opened_at):
            self._join_digest(storm, new, group, digests)
            return
        if new.state == AlarmState.ALARM and not new.foreign:
            # Before the post: a retried batch writes the same items, and a card never shown escalates nothing.
            self.escalations.schedule(new, self._route(alarm, new.env, new.service).escalation)
        shown = self._post_card(new, cards.alarm_card(new, AlarmRecord(new), self.settings, now), slack)
        self.alarms.save_card(shown, now)
        self._shown(result, group)

    def _open(self, card: AlarmCard, alarm: AlarmNotification) -> bool:
        """The card's incident is still open for this notification: firing, or resolved within the flap window."""
        if card.state != AlarmState.OK:
            return True
        resolved = card.resolved_at if card.resolved_at is not None else card.changed_at
        return alarm.changed_at - resolved <= 60 * self.settings.flap_window_minutes

    def _update(
        self,
        card: AlarmCard,
        alarm: AlarmNotification,
        record: AlarmRecord,
        muted: bool,
        storms: dict[str, _Storm],
        digests: dict[str, _DigestWork],
        slack: PacedSlack,
        result: BatchResult,
        group: _Group,
        replies: list[_Reply],
    ) -> None:
        now = self.clock()
        if alarm.state.value == card.state:
            log.info("alarm %s: still %s, nothing new to show", alarm.name, alarm.state)
            self._shown(result, group)
            return
        reopened = card.state == AlarmState.OK and alarm.state.firing
        updated = replace(
            card,
            state=alarm.state.value,
            changed_at=alarm.changed_at,
            reason=alarm.reason or card.reason,
            resolved_at=alarm.changed_at if alarm.state is AlarmState.OK else None,
            fired=card.fired + (1 if reopened else 0),
        )
        if updated.in_digest:
            work = self._digest_work(updated.channel, updated.ts, digests)
            work.members.append((updated, group))
            return
        if not updated.ts:  # muted when it opened, so never shown
            if alarm.state.firing and not muted:
                updated = self._post_card(updated, cards.alarm_card(updated, record, self.settings, now), slack)
            self.alarms.save_card(updated, now)
            self._shown(result, group)
            return
        if reopened and not muted and alarm.state is AlarmState.ALARM and not updated.foreign:
            self.escalations.schedule(updated, self._route(alarm, updated.env, updated.service).escalation)
        storm = self._storm(storms, updated.channel)
        if self._behind_digest(storm, updated):
            # The storm digest shows the change (one write for the batch); the card follows (_catch_up).
            self._digest_work(updated.channel, storm.digest_ts or "", digests).changed.append((card, updated, group))
            return
        message = cards.alarm_card(updated, replace(record, card=updated), self.settings, now)
        slack.update(updated.channel, updated.ts, message)
        self._on_copies(updated, lambda channel, ts: slack.update(channel, ts, message))
        reply = None
        if not muted and alarm.state is AlarmState.OK:
            reply = cards.resolved_reply(updated)
        elif not muted and alarm.state is AlarmState.ALARM:
            reply = cards.firing_reply(updated)
        # The card shows the new state now; its reply waits until every card of the batch is drawn, and the state
        # is saved after the reply (a failed reply fails the records, and the retry draws and replies again).
        self._shown(result, group)
        if reply is None:
            self.alarms.save_card(updated, now)
            return
        # Firing again in this incident: the card is re-drawn where it was, maybe far up the channel, so the
        # reply in its thread goes to the channel too (one write, paced as any other).
        again = cards.fired_again(updated) and alarm.state is AlarmState.ALARM
        replies.append(_Reply(updated, group, reply, again, self._on_copies))

    # --- the route's channels: the card's home, and its copies ---------------------------------------------

    def _route(self, alarm: AlarmNotification, env: str, service: str | None) -> Route:
        tag_key = self.config.routing.severity_tag_key
        tags = (
            self.platform.alarm_tags(self.config.environment(env), alarm.arn)
            if tag_key and alarm.arn and not alarm.foreign
            else None
        )
        return self.router.resolve(Kind.ALARM, env, service, alarm.name, severity_of(alarm.name, tags, tag_key))

    def _post_card(self, card: AlarmCard, message: render.Message, slack: PacedSlack) -> AlarmCard:
        """Post the card to its home channel (a failure fails the alarm's records), then to each copy's
        channel (a failure there is logged: the copy is missing, the home card is what is retried)."""
        ts = slack.post(card.channel, message)
        copies = []
        for channel, _ in card.copies:
            try:
                copies.append((channel, slack.post(channel, message)))
            except Exception:
                log.exception("alarm %s: no copy of the card in %s", card.name, channel)
                copies.append((channel, ""))
        return replace(card, ts=ts, copies=tuple(copies))

    @staticmethod
    def _on_copies(card: AlarmCard, write: Callable[[str, str], object]) -> None:
        for channel, ts in card.copies:
            if ts:
                try:
                    write(channel, ts)
                except Exception:
                    log.exception("alarm %s: the copy of the card in %s was not updated", card.name, channel)

    def _where(self, alarm: AlarmNotification) -> tuple[EnvironmentConfig, str | None]:
        """The alarm's environment and service. A foreign alarm is routed as the default environment's, and is
        no service's; so is one that two environments of its account and region could both own."""
        if alarm.foreign:
            return self.config.environment(), None
        return self.services.where(alarm)

    def _new_card(self, alarm: AlarmNotification, opened_at: float) -> AlarmCard:
        env, service = self._where(alarm)
        resolved = not alarm.state.firing
        route = self._route(alarm, env.name, service)
        if route.home is None:
            raise ConfigError(
                "no channel for alarm cards: add a routing rule (routing.rules) or routing.default_channel, "
                "or set alarms.channel in the config or OPSBOT_ALARM_CHANNEL"
            )
        return AlarmCard(
            key=alarm.key,
            name=alarm.name,
            channel=route.home,
            copies=tuple((channel, "") for channel in route.copies),
            ts="",
            incident=f"{alarm.key}@{opened_at:.3f}",
            state=alarm.state.value,
            changed_at=alarm.changed_at,
            opened_at=opened_at,
            resolved_at=alarm.changed_at if resolved else None,
            env=env.name,
            service=service,
            region=alarm.region or env.region,
            reason=alarm.reason,
            description=alarm.description,
            condition=alarm.condition(),
            deploy=self._recent_deploy(env, service, opened_at) if service else None,
            foreign=alarm.foreign,
        )

    # --- deploy correlation ------------------------------------------------------------------------------

    def _recent_deploy(self, env: EnvironmentConfig, service: str, fired_at: float) -> RecentDeploy | None:
        """The deploy or rollback of `service` shortly before the alarm, and the revision that ran before it."""
        try:
            status = StatusCache(self.table)
            change = status.last_change(env.name, service)
            if change is None or not change.summary.startswith(("deploy ", "rollback ")):
                return None
            if not 0 <= fired_at - change.at <= 60 * self.settings.deploy_window_minutes:
                return None
            target = self.config.target(service, env.name)
            current = self.platform.service(target).task_definition
            # The button rolls back only to a revision known to be good: never to one that failed or was
            # rolled back from (which would go forward again), nor to one of which nothing is known.
            good = last_known_good(RevisionHistory(self.table).revisions(env.name, service), current)
            if good is None or family_of(good.task_definition) != family_of(current):
                return None
            before = good.task_definition
            _, images = status.read(env.name, [], [before, current])
            from_image = images.get(before, "")
            to_image = images.get(current, "")
            return RecentDeploy(
                actor=change.actor,
                at=change.at,
                summary=change.summary,
                from_revision=revision_of(before),
                to_revision=revision_of(current),
                from_tag=tag_of(from_image),
                to_tag=tag_of(to_image),
            )
        except BotError:
            log.warning("no deploy correlation for %s (%s)", service, env.name, exc_info=True)
            return None

    def _target_groups(self, env: EnvironmentConfig) -> dict[str, str]:
        """The target groups the environment's services are registered with, as CloudWatch's TargetGroup
        dimension names them (`targetgroup/<name>/<id>`, the end of the ARN), each to its service: from
        DescribeServices' loadBalancers, once per environment per batch (a replaced group is seen by the next
        batch). A failure is logged and maps no alarm by target group in this batch."""
        if env.name not in self._groups:
            try:
                self._groups[env.name] = self.platform.target_groups(env)
            except Exception:
                log.warning("could not read the target groups of %s's services", env.name, exc_info=True)
                self._groups[env.name] = {}
        return self._groups[env.name]

    # --- storm control --------------------------------------------------------------------------------------

    def _storm(self, storms: dict[str, _Storm], channel: str) -> _Storm:
        if channel not in storms:
            window = self.alarms.storm(channel)
            storms[channel] = _Storm(window.opened, window.digest_ts, window.digest_joined_at, behind=window.behind)
        return storms[channel]

    def _storming(self, storm: _Storm, key: str, at: float) -> bool:
        """Count this alarm as opened at `at`; True when more than digest_threshold opened in the window."""
        window = self.settings.digest_window_seconds
        storm.opened[key] = max(at, storm.opened.get(key, at))
        newest = max(storm.opened.values())
        storm.opened = {k: t for k, t in storm.opened.items() if t > newest - window}
        storm.changed = True
        recent = [t for t in storm.opened.values() if at - window < t <= at + window]
        return len(recent) > self.settings.digest_threshold

    def _join_digest(self, storm: _Storm, card: AlarmCard, group: _Group, digests: dict[str, _DigestWork]) -> None:
        window = self.settings.digest_window_seconds
        joins_current = storm.digest_ts is not None and card.opened_at - storm.digest_joined_at <= window
        ts = storm.digest_ts if joins_current and storm.digest_ts else ""
        work = self._digest_work(card.channel, ts, digests, opened_at=card.opened_at)
        storm.digest_joined_at = max(storm.digest_joined_at, card.opened_at)
        work.members.append((replace(card, in_digest=True, ts=ts), group))

    def _digest_work(
        self, channel: str, ts: str, digests: dict[str, _DigestWork], opened_at: float | None = None
    ) -> _DigestWork:
        slot = f"{channel}#{ts}"
        if slot not in digests:
            digest = (self.alarms.digest(channel, ts) if ts else None) or Digest(
                channel, ts, opened_at if opened_at is not None else self.clock()
            )
            digests[slot] = _DigestWork(digest)
        return digests[slot]

    def _behind_digest(self, storm: _Storm, card: AlarmCard) -> bool:
        """The channel's digest is current for this change of an own card (which has no copies elsewhere: their
        channels are not the digest's), so the digest shows it and the card follows."""
        return (
            storm.digest_ts is not None
            and not card.in_digest
            and bool(card.ts)
            and not any(ts for _, ts in card.copies)
            and card.changed_at - storm.digest_joined_at <= self.settings.digest_window_seconds
        )

    def _write_digest(
        self, work: _DigestWork, storms: dict[str, _Storm], slack: PacedSlack, result: BatchResult
    ) -> None:
        digest = work.digest
        for card, _ in work.members:
            digest.entries[card.key] = DigestEntry(card.name, card.state, card.changed_at, card.service)
        for _, card, _ in work.changed:
            digest.changed[card.key] = DigestEntry(card.name, card.state, card.changed_at, card.service)
        now = self.clock()
        try:
            message = cards.digest_card(digest, self.settings, self.config.command_names)
            if digest.ts:
                slack.update(digest.channel, digest.ts, message)
            else:
                digest.ts = slack.post(digest.channel, message)
                storm = self._storm(storms, digest.channel)
                storm.digest_ts, storm.changed = digest.ts, True
            self.alarms.save_digest(digest, now)
            if work.changed:
                # What the cards must still show is saved before their new state: a retry finds it either way.
                storm = self._storm(storms, digest.channel)
                for shown, card, _ in work.changed:
                    behind = storm.behind.get(card.incident)
                    if behind is None:
                        storm.behind[card.incident] = Behind(card, shown.state, shown.fired)
                    else:
                        behind.card, behind.drawn = card, False
                storm.changed = True
                self._save_storm(digest.channel, storm, strict=True)
            for card, group in work.members:
                self.alarms.save_card(replace(card, ts=digest.ts), now)
                self._shown(result, group)
            for _, card, group in work.changed:
                self.alarms.save_card(card, now)
                self._shown(result, group)
        except Exception as error:
            for _, group in work.members:
                self._fail(result, group, error)
            for _, _, group in work.changed:
                self._fail(result, group, error)

    def _catch_up(self, storms: dict[str, _Storm], leases: ChannelLeases, slack: PacedSlack) -> None:
        """Redraw the own cards behind the storm digest (oldest change first) and send their thread replies, in
        every channel this batch holds, until another invocation waits for the channel: then the lease goes to
        it (what shows a state never waits for this), and the next holder continues. A failure leaves the card
        behind for the next holder."""
        for channel in sorted(leases.held):
            try:
                storm = self._storm(storms, channel)
            except Exception:
                log.warning("channel %s: could not read its storm window; its cards catch up later", channel)
                continue
            for incident, behind in sorted(storm.behind.items(), key=lambda item: item[1].card.changed_at):
                try:
                    if not self._catch_up_card(storm, incident, behind, leases, slack):
                        break
                except Exception:
                    log.warning("alarm %s: card left behind the digest for now", behind.card.name, exc_info=True)
                    break
                finally:
                    if storm.changed:
                        self._save_storm(channel, storm)
                        storm.changed = False

    def _free_slot(self, channel: str, leases: ChannelLeases) -> bool:
        """Wait for the channel's next write slot while nobody else waits for the channel: False as soon as
        someone does (the slot is theirs: a catch-up write never delays what shows a state)."""
        while True:
            if leases.waiting(channel):
                return False
            wait = self.pacer.wait_time(channel)
            if wait <= 0:
                return True
            self.sleep(min(wait, leases.max_poll))

    def _catch_up_card(
        self, storm: _Storm, incident: str, behind: Behind, leases: ChannelLeases, slack: PacedSlack
    ) -> bool:
        """One card behind the digest: False when another invocation waits for the channel."""
        card, now = behind.card, self.clock()
        record = self.alarms.record(card.key, now)
        current = record.card
        if current is not None and current.incident == incident and current.changed_at > card.changed_at:
            storm.behind.pop(incident)  # drawn with a newer state since (the storm ended meanwhile)
            storm.changed = True
            return True
        muted = record.mute is not None and record.mute.until > now
        reply, broadcast = None, False
        if not muted and card.state == AlarmState.OK and behind.told != AlarmState.OK:
            reply = cards.resolved_reply(card)
        elif (
            not muted
            and card.state == AlarmState.ALARM
            and (behind.told != AlarmState.ALARM or card.fired > behind.told_fired)
        ):
            reply, broadcast = cards.firing_reply(card), cards.fired_again(card)
        if not behind.drawn:
            if not self._free_slot(card.channel, leases):
                return False
            slack.update(card.channel, card.ts, cards.alarm_card(card, replace(record, card=card), self.settings, now))
            behind.drawn, storm.changed = True, True
        if reply is not None:
            if not self._free_slot(card.channel, leases):
                return False
            slack.post(card.channel, reply, thread_ts=card.ts, broadcast=broadcast)
        storm.behind.pop(incident)
        storm.changed = True
        return True

    def _save_storm(self, channel: str, storm: _Storm, strict: bool = False) -> None:
        """`strict`: a failure raises (the changes it records are then retried), else it is logged."""
        window = StormWindow(storm.opened, storm.digest_ts, storm.digest_joined_at, storm.behind)
        expires = self.clock() + 2 * self.settings.digest_window_seconds + 86400
        try:
            self.alarms.save_storm(channel, window, expires)
        except BotError:
            if strict:
                raise
            log.exception("could not save the storm window of %s", channel)


def _copy_answers(source: Outcome | BatchResult, target: Outcome | BatchResult, record_ids: list[str]) -> None:
    """Each record's answer in `source` (shown at, dropped, else failed) written into `target`."""
    for record_id in record_ids:
        if record_id in source.shown_at:
            target.shown_at[record_id] = source.shown_at[record_id]
        elif record_id in source.dropped:
            target.dropped[record_id] = source.dropped[record_id]
        else:
            target.failed[record_id] = source.failed.get(record_id, NOT_SHOWN)
