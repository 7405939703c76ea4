"""What the bot keeps about alarms, in the bot's table (bot.table):

    alarm#<account>#<region>#<name>   card / ack / mute      an alarm's card, who acknowledged it, its mute (TTL)
                                      done#<action>          a change asked for from its card's button that ran
                                      changed#<incident>     its what-changed reply was posted (alarms/changed.py)
    alarmstorm#<channel>              window                 alarms that opened lately, and the current digest
    alarmdigest#<channel>             <message ts>           one digest card of an alarm storm

Each record is JSON in the item's `data` (bot.table.Codec), in the form the bot has always written: deployed
tables hold items of every earlier version, and they load.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.table import Codec, Key, Table

ALARM_CARD_TTL_SECONDS = 30 * 86400
ALARM_DONE_ACTIONS = ("rollback", "scale")  # one item each: the newest change of that kind


@dataclass(frozen=True, slots=True)
class RecentDeploy:
    """The change of a service's revision that an alarm followed (deploy correlation)."""

    actor: str
    at: float
    summary: str
    from_revision: int
    to_revision: int
    from_tag: str = ""
    to_tag: str = ""


@dataclass(frozen=True, slots=True)
class AlarmCard:
    """Where an alarm's current incident is shown in Slack, and what its card says."""

    key: str
    name: str
    channel: str
    ts: str  # the card; the digest's when in_digest; "" when muted before it was ever shown
    incident: str  # the incident's id: the alarm key and the time it first fired
    state: str
    changed_at: float  # StateChangeTime of the newest notification applied: older ones are stale
    opened_at: float
    resolved_at: float | None = None
    fired: int = 1  # how often it fired in this incident (a flapping alarm keeps its card)
    in_digest: bool = False
    env: str = ""
    service: str | None = None
    region: str = ""
    reason: str = ""
    description: str = ""
    condition: str = ""
    deploy: RecentDeploy | None = None
    copies: tuple[tuple[str, str], ...] = ()  # (channel, ts) of the card in the route's other channels
    foreign: str = ""  # not one of the environments' alarms (alarms.foreign_alarms: show): why, shown on the card
    graph: str = ""  # the Slack file id of the card's graph (bot.alarms.context), shown as an image block
    graph_title: str = ""  # the graph's window and the changes it marks, in words (shown as the image's title)
    graph_for: str = ""  # the state and change it was drawn for, "<state>@<changed_at>": a new state redraws it
    children: tuple[tuple[str, str], ...] = ()  # a composite alarm's (child alarm, its state), shown for a graph


@dataclass(frozen=True, slots=True)
class AlarmAck:
    by: str
    at: float
    incident: str


@dataclass(frozen=True, slots=True)
class AlarmMute:
    by: str
    at: float
    until: float


@dataclass(frozen=True, slots=True)
class AlarmDone:
    """A change asked for from an alarm card's button (Roll back, Scale up) that ran: its plan executed.
    Written only then (bot.operations' on_executed hook), never for a plan made, cancelled or refused."""

    action: str  # bot.model.Action: rollback, scale
    to: int  # the revision rolled back to; the number of tasks scaled to
    by: str  # who confirmed it (ran it)
    requested_by: str  # who pressed the card's button
    at: float
    incident: str
    plan_id: str = ""


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    """Everything stored about one alarm; ack and done count only for the incident they were given in."""

    card: AlarmCard | None = None
    ack: AlarmAck | None = None
    mute: AlarmMute | None = None
    done: tuple[AlarmDone, ...] = ()

    @property
    def current_ack(self) -> AlarmAck | None:
        return self.ack if self.ack and self.card and self.ack.incident == self.card.incident else None

    @property
    def current_done(self) -> tuple[AlarmDone, ...]:
        """What ran from this incident's card, oldest first."""
        incident = self.card.incident if self.card else None
        return tuple(sorted((d for d in self.done if d.incident == incident), key=lambda d: d.at))


@dataclass(slots=True)
class DigestEntry:
    name: str
    state: str
    since: float
    service: str | None = None


@dataclass(slots=True)
class Digest:
    """One card for every alarm that opened during a storm, updated in place. `changed` holds the alarms with
    cards of their own whose state changed while the digest was current: the digest shows their new state at
    once (one write for all of them), their own cards follow at a lower priority (StormWindow.behind)."""

    channel: str
    ts: str
    opened_at: float
    entries: dict[str, DigestEntry] = field(default_factory=dict)
    changed: dict[str, DigestEntry] = field(default_factory=dict)


@dataclass(slots=True)
class Behind:
    """An own card whose Slack message is behind its alarm's state (shown in the storm digest meanwhile):
    `card` is what it must show; `told`/`told_fired` what its thread last told (the state and firing count
    its card showed before); `drawn` once the card is redrawn and only its thread reply is left."""

    card: AlarmCard
    told: str
    told_fired: int
    drawn: bool = False


@dataclass(slots=True)
class StormWindow:
    """The alarms of one channel that opened lately (alarm key -> when), the digest they share, and the own
    cards still to redraw (incident -> Behind)."""

    opened: dict[str, float] = field(default_factory=dict)
    digest_ts: str | None = None
    digest_joined_at: float = 0.0
    behind: dict[str, Behind] = field(default_factory=dict)


_CARD = Codec(AlarmCard)
_ACK = Codec(AlarmAck)
_MUTE = Codec(AlarmMute)
_DONE = Codec(AlarmDone)
_DIGEST = Codec(Digest)
_STORM = Codec(StormWindow)


def _key(alarm_key: str, kind: str) -> Key:
    """(pk, sk) of an alarm's `card`, `ack`, `mute` or `done#<action>`."""
    return (f"alarm#{alarm_key}", kind)


class AlarmStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    # --- an alarm's card, acknowledgement, mute and what ran from it ----------------------------------------

    def records(self, alarm_keys: list[str], now: float | None = None) -> dict[str, AlarmRecord]:
        """Card, acknowledgement, mute and what ran from the card, of each alarm, in BatchGetItem round trips
        of 100 items (a batch of 20 alarms is one)."""
        kinds = ("card", "ack", "mute", *(f"done#{action}" for action in ALARM_DONE_ACTIONS))
        found = self.table.get_many([_key(k, kind) for k in alarm_keys for kind in kinds], now)
        records = {}
        for key in alarm_keys:
            card = found.get(_key(key, "card"))
            ack = found.get(_key(key, "ack"))
            mute = found.get(_key(key, "mute"))
            done = [found.get(_key(key, f"done#{action}")) for action in ALARM_DONE_ACTIONS]
            records[key] = AlarmRecord(
                _CARD.load(card) if card else None,
                _ACK.load(ack) if ack else None,
                _MUTE.load(mute) if mute else None,
                tuple(_DONE.load(d) for d in done if d),
            )
        return records

    def record(self, alarm_key: str, now: float | None = None) -> AlarmRecord:
        return self.records([alarm_key], now)[alarm_key]

    def save_card(self, card: AlarmCard, now: float | None = None) -> None:
        expires = (now or self.table.clock()) + ALARM_CARD_TTL_SECONDS
        self.table.put(*_key(card.key, "card"), _CARD.dump(card), expires)

    def acknowledge(self, alarm_key: str, ack: AlarmAck) -> None:
        self.table.put(*_key(alarm_key, "ack"), _ACK.dump(ack), ack.at + ALARM_CARD_TTL_SECONDS)

    def mute(self, alarm_key: str, mute: AlarmMute) -> None:
        """Stored with the mute's end as its expiry: once it passes, reads find no mute."""
        self.table.put(*_key(alarm_key, "mute"), _MUTE.dump(mute), mute.until)

    def done(self, alarm_key: str, done: AlarmDone) -> None:
        """Record a change from the alarm's card that ran (one item per kind of change: its newest)."""
        self.table.put(*_key(alarm_key, f"done#{done.action}"), _DONE.dump(done), done.at + ALARM_CARD_TTL_SECONDS)

    # --- storm control: a channel's window of opened alarms, and its digest cards ------------------------------

    def storm(self, channel: str) -> StormWindow:
        data = self.table.get(f"alarmstorm#{channel}", "window")
        return _STORM.load(data) if data else StormWindow()

    def save_storm(self, channel: str, window: StormWindow, expires_at: float) -> None:
        self.table.put(f"alarmstorm#{channel}", "window", _STORM.dump(window), expires_at)

    def digest(self, channel: str, ts: str) -> Digest | None:
        data = self.table.get(f"alarmdigest#{channel}", ts)
        return _DIGEST.load(data) if data else None

    def save_digest(self, digest: Digest, now: float) -> None:
        self.table.put(f"alarmdigest#{digest.channel}", digest.ts, _DIGEST.dump(digest), now + ALARM_CARD_TTL_SECONDS)
