"""Escalation of unacknowledged ALARM cards: a mention in the card's thread per configured level.

When the relay opens a card in ALARM (or one reopens), it schedules each level of its route
(routing.escalation.levels, or the rule's own): one item per level,

    escalate#<env>          <due time>#<incident>#<fired>#<level>

so that one Query per environment finds every level that is due. An EventBridge schedule runs
handlers/escalation.py each minute: for each due level it reads the alarm's card, acknowledgement, mute
and stop marker; if the card is still in ALARM, in the same incident and firing, unacknowledged and not
muted, it claims the level with a conditional write

    escalation#<incident>   level#<fired>#<level>

and posts the mention in the card's thread (and in its copies' threads). A level whose claim exists was
posted already (a second run, a retried event): it is dropped. A post that fails releases the claim and
keeps the item, so the next run tries again. Acknowledge and Mute write `escalation#<incident>` / `stop`;
OK, a newer incident, or firing again (a new chain for the reopened card) make pending levels stale.
Nothing sleeps: due times are data, and the clock is injected.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot import render
from bot.alarms.store import AlarmCard, AlarmRecord, AlarmStore
from bot.clock import Clock, system_clock
from bot.config import Config, EscalationLevel
from bot.render import span
from bot.slack import SlackPort
from bot.table import Codec, Table

log = logging.getLogger(__name__)
KEEP_SECONDS = 7 * 86400  # a level not handled within a week (the function was off) is dropped
BATCH = 100  # due levels per environment per run; more wait for the next minute


def due_key(at: float) -> str:
    """Sort key of a due time: fixed-width UTC, so string order is time order."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Stop:
    """Why a card's escalation stopped (Acknowledge, Mute)."""

    by: str
    at: float
    why: str


_STOP = Codec(Stop)


@dataclass(frozen=True, slots=True)
class Posted:
    """An escalation level that was posted (its claim, `escalation#<incident>` / `level#<fired>#<level>`)."""

    level: int
    fired: int
    at: float
    mention: str


@dataclass
class RunResult:
    posted: list[str] = field(default_factory=list)  # "<alarm name> level <n>"
    stopped: dict[str, str] = field(default_factory=dict)  # level -> why it was not posted
    duplicates: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # level -> error (retried next run)


@dataclass(eq=False)
class Escalations:
    config: Config
    table: Table
    slack: SlackPort  # SlackOut, or the relay's PacedSlack
    clock: Clock = system_clock

    def __post_init__(self) -> None:
        self.alarms = AlarmStore(self.table)

    # --- scheduling (the relay) and stopping (the buttons) ---------------------------------------------------

    def schedule(self, card: AlarmCard, levels: Sequence[EscalationLevel]) -> None:
        """Write one due item per level, counted from when the card (re)opened. Idempotent: a retried
        batch writes the same items again."""
        start = card.changed_at if card.fired > 1 else card.opened_at
        for number, level in enumerate(levels, start=1):
            due = start + 60 * level.after_minutes
            data = {
                "alarm": card.key,
                "name": card.name,
                "incident": card.incident,
                "fired": card.fired,
                "level": number,
                "levels": len(levels),
                "mention": level.mention,
                "after_minutes": level.after_minutes,
                "due": due,
            }
            sk = f"{due_key(due)}#{card.incident}#{card.fired}#{number}"
            self.table.put(f"escalate#{card.env}", sk, {**data, "sk": sk}, due + KEEP_SECONDS)

    def stop(self, incident: str, stop: Stop) -> None:
        """No further level of this incident is posted (the first stop is kept)."""
        self.table.put_new(f"escalation#{incident}", "stop", _STOP.dump(stop), stop.at + KEEP_SECONDS)

    def trail(self, incident: str) -> tuple[list[Posted], Stop | None]:
        """What happened to an incident's escalation: the levels posted, oldest first, and its stop."""
        posted: list[Posted] = []
        stop = None
        for item in self.table.query_items(f"escalation#{incident}", newest_first=False, limit=100):
            data = self.table.data(item)
            sk = str(item["sk"]["S"])
            if data is None:
                continue
            if sk == "stop":
                stop = _STOP.load(data)
            elif sk.startswith("level#") and sk.count("#") == 2:
                _, fired, level = sk.split("#")
                if fired.isdigit() and level.isdigit():
                    posted.append(Posted(int(level), int(fired), float(data["at"]), str(data.get("mention", ""))))
        return sorted(posted, key=lambda p: p.at), stop

    # --- the scheduled run ----------------------------------------------------------------------------------

    def run(self) -> RunResult:
        now = self.clock()
        result = RunResult()
        for env in self.config.environments:
            due = self.table.query(
                f"escalate#{env.name}", newest_first=False, limit=BATCH, sk_between=("0", f"{due_key(now)}~")
            )
            due = [item for item in due if float(item["due"]) <= now]
            if not due:
                continue
            records = self.alarms.records(list({str(item["alarm"]) for item in due}), now=now)
            stops = self.table.get_many([(f"escalation#{item['incident']}", "stop") for item in due], now=now)
            for item in due:
                stop = stops.get((f"escalation#{item['incident']}", "stop"))
                self._one(env.name, item, records[str(item["alarm"])], stop, now, result)
        return result

    def _one(
        self,
        env: str,
        item: dict[str, Any],
        record: AlarmRecord,
        stop: dict[str, Any] | None,
        now: float,
        result: RunResult,
    ) -> None:
        label = f"{item['name']} level {item['level']}"
        why = _not_needed(item, record, stop, now)
        if why is not None:
            log.info("escalation of %s not posted: %s", label, why)
            result.stopped[label] = why
            self.table.delete(f"escalate#{env}", str(item["sk"]))
            return
        card = record.card
        assert card is not None
        claim = (f"escalation#{item['incident']}", f"level#{item['fired']}#{item['level']}")
        if not self.table.put_new(*claim, {"at": now, "mention": item["mention"]}, now + KEEP_SECONDS):
            log.info("escalation of %s was posted already", label)
            result.duplicates += 1
            self.table.delete(f"escalate#{env}", str(item["sk"]))
            return
        message = escalation_reply(card, item)
        try:
            self.slack.post(card.channel, message, thread_ts=card.ts)
        except Exception as error:
            log.exception("escalation of %s not posted; the next run tries again", label)
            self.table.delete(*claim)
            result.failed[label] = repr(error)
            return
        for channel, ts in card.copies:
            if ts:
                try:
                    self.slack.post(channel, message, thread_ts=ts)
                except Exception:
                    log.exception("escalation of %s not posted in the copy in %s", label, channel)
        self.table.delete(f"escalate#{env}", str(item["sk"]))
        result.posted.append(label)


def _not_needed(item: dict[str, Any], record: AlarmRecord, stop: dict[str, Any] | None, now: float) -> str | None:
    card = record.card
    if card is None or card.incident != item["incident"]:
        return "a newer incident has the card"
    if not card.ts or card.in_digest:
        return "the alarm has no card of its own (muted when it opened, or in a storm digest)"
    if card.state != "ALARM":
        return f"the alarm is {card.state} now"
    if card.fired != item["fired"]:
        return "it fired again since; that has its own escalation"
    if record.current_ack is not None:
        return f"acknowledged by {record.current_ack.by}"
    if record.mute is not None and record.mute.until > now:
        return f"muted by {record.mute.by}"
    if stop is not None:
        return f"stopped: {stop.get('why')} by {stop.get('by')}"
    return None


def escalation_reply(card: AlarmCard, item: dict[str, Any]) -> render.Message:
    level = EscalationLevel(after_minutes=int(item["after_minutes"]), mention=str(item["mention"]))
    of = f" (escalation {item['level']} of {item['levels']})" if int(item["levels"]) > 1 else ""
    since = card.changed_at if card.fired > 1 else card.opened_at
    return render.info(
        f"{level.slack_mention} :rotating_light: `{render.escape(card.name)}` has been in ALARM for "
        f"{span(float(item['due']) - since)} and nobody has acknowledged it{of}. "
        "Press Acknowledge or Mute on the card to stop the escalation."
    )
