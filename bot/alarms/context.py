"""After the cards: the graph on each alarm card the batch opened or changed (docs/alarms.md "Graph").

The relay calls `AlarmGraphs.after_batch` once, at the end of its leased batch, when every card, digest and
reply of the batch is written: a card never waits for its graph. For each alarm whose card shows the
notification of this batch (opened, or changed state) and has no graph for that state yet:

  1. draw: the widget (bot.alarms.graph) with a vertical line at each deploy, rollback and scale of the
     alarm's service in the window, from the audit trail (its "executed" entries: the one record that knows
     all three, with their times), rendered by CloudWatch's GetMetricWidgetImage (Platform.metric_widget_image);
  2. upload it to Slack without a channel (files_upload_v2; private to the app, shown only in the card);
  3. wait until Slack has processed the uploads (files.info gives a `mimetype`; an image block naming a file
     before that is refused as invalid_blocks): a few polls with a short bounded backoff, on the injected sleep;
  4. update the card (and its copies) with the image block, a paced write of the lowest priority through the
     batch's PacedSlack, and save the card with the file id and the state it was drawn for.

A composite alarm has no metric, so no graph: its card lists the states of the alarms its rule names
instead (DescribeAlarms by name, one call), updated the same way. Anything that fails (CloudWatch refuses
or lacks the call, the upload fails, Slack never processes the file, the update is refused, the invocation
is out of time) leaves the card as it was and logs one line; it never fails the alarm's SQS records.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from slack_sdk.errors import SlackApiError

from bot.alarms import cards, graph
from bot.alarms.changed import WhatChanged
from bot.alarms.graph import Marker
from bot.alarms.model import AlarmKind, AlarmNotification
from bot.alarms.pacing import PacedSlack
from bot.alarms.store import AlarmCard, AlarmRecord, AlarmStore
from bot.clock import Clock
from bot.config import Config
from bot.errors import BotError
from bot.platform import Platform
from bot.slack import FilePort
from bot.stores import AuditEntry, AuditLog

log = logging.getLogger(__name__)

READY_WAITS = (0.5, 1.0, 2.0, 4.0)  # seconds between files.info polls: 7.5 s at most for the whole batch
GRAPH_SECONDS = 15.0  # what one graph may take of the invocation (render, upload, waits, update)
MARKER_ENTRIES = 200  # audit entries read per graph window (every decision of the service, not only executed)
CHANGES = ("deploy", "rollback", "scale")


def drawn_for(card: AlarmCard) -> str:
    """What a graph is drawn for: the card's state and the change that brought it (a new one redraws it)."""
    return f"{card.state}@{card.changed_at:.3f}"


@dataclass(frozen=True, slots=True)
class _Drawn:
    card: AlarmCard
    record: AlarmRecord
    file_id: str
    title: str = ""  # the graph's window and changes in words (bot.alarms.graph.caption)


@dataclass(eq=False)
class AlarmGraphs:
    config: Config
    platform: Platform
    files: FilePort
    alarms: AlarmStore
    audit: AuditLog
    clock: Clock
    sleep: Callable[[float], None]
    waits: tuple[float, ...] = READY_WAITS
    what_changed: WhatChanged | None = None  # a card opened after a deploy: what it changed, in its thread

    def after_batch(
        self,
        shown: Sequence[AlarmNotification],
        slack: PacedSlack,
        may_write: Callable[[str], bool] = lambda channel: True,
    ) -> None:
        """Add or refresh the graph of each card that shows one of `shown` (the batch's newest notification of
        each alarm whose records succeeded). `may_write(channel)` is asked before each write: False when another
        invocation waits for the channel (its cards come first; this card's graph waits for its next change).
        Never raises: a graph is never worth a retried record."""
        try:
            self._after_batch([alarm for alarm in shown if not alarm.foreign], slack, may_write)
        except Exception:
            log.warning("alarm graphs: skipped for this batch", exc_info=True)

    def _after_batch(
        self, alarms: list[AlarmNotification], slack: PacedSlack, may_write: Callable[[str], bool]
    ) -> None:
        if not alarms:
            return
        records = self.alarms.records([alarm.key for alarm in alarms], now=self.clock())
        drawn: list[_Drawn] = []
        for alarm in alarms:
            record = records[alarm.key]
            card = record.card
            if card is None or not card.ts or card.in_digest or card.changed_at != alarm.changed_at:
                continue  # muted, in the storm digest, or showing another notification than this one
            if not _time_left(slack):
                log.warning("alarm %s: no graph, the invocation is out of time for it", alarm.name)
                continue
            if not may_write(card.channel):
                log.warning("alarm %s: no graph, another invocation waits for channel %s", alarm.name, card.channel)
                continue
            if self.what_changed is not None:
                self.what_changed.reply_once(card, slack)  # once per incident; never raises
            if card.graph_for == drawn_for(card):
                continue
            if alarm.kind is AlarmKind.COMPOSITE:
                self._show_children(alarm, record, slack, may_write)
                continue
            uploaded = self._draw(alarm, card)
            if uploaded:
                drawn.append(_Drawn(card, record, *uploaded))
        ready = self._wait_ready([d.file_id for d in drawn])
        for item in drawn:
            if item.file_id in ready:
                self._show(item, slack, may_write)
            else:
                log.warning(
                    "alarm %s: no graph, Slack had not processed file %s after %.1f s",
                    item.card.name,
                    item.file_id,
                    sum(self.waits),
                )

    def _draw(self, alarm: AlarmNotification, card: AlarmCard) -> tuple[str, str] | None:
        """Render and upload the graph; its file id and caption, or None (logged)."""
        start, end = graph.window(alarm)
        markers = self.markers(card.env, card.service, start, end)
        widget = graph.widget(alarm, markers)
        if widget is None:
            return None
        try:
            png = self.platform.metric_widget_image(self.config.environment(card.env), json.dumps(widget))
        except Exception as error:
            log.warning("alarm %s: no graph, CloudWatch did not draw it: %s", alarm.name, _one_line(error))
            return None
        try:
            file_id = self.files.upload(
                png,
                filename=f"{_slug(alarm.name)}.png",
                title=f"{alarm.name} ({card.state})",
                alt_text=_alt_text(card),
            )
        except Exception as error:
            log.warning("alarm %s: no graph, the upload to Slack failed: %s", alarm.name, _one_line(error))
            return None
        return file_id, graph.caption(start, end, markers)

    def markers(self, env: str, service: str | None, start: float, end: float) -> list[Marker]:
        """Each deploy, rollback and scale of the service the bot ran in [start, end], from the audit trail."""
        if not service or not env:
            return []
        between = (datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))
        try:
            entries = self.audit.trail(env, service, limit=MARKER_ENTRIES, between=between)
        except BotError as error:
            log.warning("no change markers for %s (%s): %s", service, env, _one_line(error))
            return []
        found = [_marker(entry) for entry in entries if entry.decision == "executed" and start <= entry.at <= end]
        return sorted((m for m in found if m is not None), key=lambda m: m.at)

    def _wait_ready(self, file_ids: list[str]) -> set[str]:
        """The files Slack has processed, polled together with a bounded backoff."""
        pending, ready = list(file_ids), set()
        for wait in (0.0, *self.waits):
            if not pending:
                break
            if wait:
                self.sleep(wait)
            for file_id in list(pending):
                try:
                    processed = self.files.file_ready(file_id)
                except Exception as error:
                    log.warning("files.info on %s failed: %s", file_id, _one_line(error))
                    pending.remove(file_id)
                    continue
                if processed:
                    ready.add(file_id)
                    pending.remove(file_id)
        return ready

    def _show_children(
        self, alarm: AlarmNotification, record: AlarmRecord, slack: PacedSlack, may_write: Callable[[str], bool]
    ) -> None:
        """A composite alarm has no graph: its card lists the states of the alarms its rule names (one
        DescribeAlarms call), as they are when the card changed state."""
        card = record.card
        names = graph.children(alarm.alarm_rule or "")
        if card is None or not names:
            return
        try:
            states = self.platform.alarm_states(self.config.environment(card.env), names)
        except Exception as error:
            log.warning("alarm %s: its children's states were not read: %s", alarm.name, _one_line(error))
            return
        children = tuple((name, states.get(name, "")) for name in names)
        self._show(_Drawn(replace(card, children=children), record, ""), slack, may_write)

    def _show(self, item: _Drawn, slack: PacedSlack, may_write: Callable[[str], bool]) -> None:
        """Redraw the card with its graph (or a composite's children) from its record as it is now: an
        acknowledgement or a mute pressed while the graph was drawn and uploaded stays on the card."""
        now = self.clock()
        try:
            record = self.alarms.record(item.card.key, now=now)
        except BotError as error:
            log.warning("alarm %s: the card was not updated with its graph: %s", item.card.name, _one_line(error))
            return
        current = record.card
        if current is None or (current.ts, current.changed_at) != (item.card.ts, item.card.changed_at):
            log.warning("alarm %s: no graph, its card changed while the graph was drawn", item.card.name)
            return
        card = replace(
            current,
            graph=item.file_id or current.graph,
            graph_title=item.title if item.file_id else current.graph_title,
            graph_for=drawn_for(current),
            children=item.card.children,
        )
        message = cards.alarm_card(card, replace(record, card=card), self.config.alarms, now)
        if not may_write(card.channel):
            log.warning("alarm %s: no graph, another invocation waits for channel %s", card.name, card.channel)
            return
        try:
            slack.update(card.channel, card.ts, message)
        except Exception as error:  # SlackApiError (invalid_blocks), OutOfTime, NotLeased
            log.warning("alarm %s: the card was not updated with its graph: %s", card.name, _one_line(error))
            return
        for channel, ts in card.copies:
            if ts:
                try:
                    slack.update(channel, ts, message)
                except Exception as error:
                    log.warning("alarm %s: the copy in %s has no graph: %s", card.name, channel, _one_line(error))
        try:
            self.alarms.save_card(card, now)
        except BotError as error:
            log.warning("alarm %s: its graph was shown but not saved: %s", card.name, _one_line(error))


def _marker(entry: AuditEntry) -> Marker | None:
    """An executed change as the graph labels it: "deploy v1.4.2", "rollback revision 3", "scale 4".

    The entry's request as it would be typed (AuditEntry.command, as /cost lists the bot's changes):
    "/deploy service-a v1.4.2", "/rollback service-a 3", "/scale service-b 4", or a card button's words."""
    words = entry.command.split()
    if not words or words[0].lstrip("/") not in CHANGES:
        return None
    action = words[0].lstrip("/")
    detail = [w for w in words[1:] if w not in {entry.service, entry.env}]
    if action == "rollback" and detail[:1] and detail[0].isdigit():
        detail = ["revision", detail[0]]
    return Marker(entry.at, " ".join([action, *detail[:2]]))


def _time_left(slack: PacedSlack) -> bool:
    return slack.remaining is None or slack.remaining() - slack.margin >= GRAPH_SECONDS


def _alt_text(card: AlarmCard) -> str:
    return f"Graph of {card.name} ({card.state})"[:1000]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)[:100] or "alarm"


def _one_line(error: Exception) -> str:
    if isinstance(error, SlackApiError):
        return f"Slack answered {error.response.get('error', error.response.status_code)}"
    return " ".join(str(error).split())[:300] or type(error).__name__
