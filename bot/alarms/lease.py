"""One writer per Slack channel across concurrent invocations of the alarm relay.

The relay's SQS event source runs up to two batches at once (template.yaml: ScalingConfig MaximumConcurrency 2;
reserved concurrency would not bound SQS pollers). Slack takes about one write per second per channel, and the
relay reads, changes and saves each alarm's card: so an invocation takes a lease on every channel its batch will
write before it reads the cards, and holds it until its writes and saves are done.

The lease is one item of the state table per channel (pk `alarmlease#<channel>`, sk `lease`), taken with a
conditional PutItem: free, expired, or already this holder's. It expires by itself when its invocation ends
(the holder passes its own deadline), so a crashed or timed-out invocation blocks nobody for longer than its
own timeout. On release the item keeps `next_write_at`, the moment the channel's next write may start (the
Pacer's next slot, a 429's Retry-After included), and the next holder waits for it: the pace holds from one
invocation to the next, on any container. A second invocation waits for a taken lease (polling, within its
time budget); when the budget runs out, its records of that channel are failed back to SQS (partial batch
response) and redelivered after the visibility timeout, never dropped. The alarm's card decides order
(StateChangeTime), so which batch writes first does not change what the card shows.

Turns: a waiting invocation writes itself into the item as its `waiter` (while no other live waiter is there),
renewed at every poll and lapsing WAIT_SECONDS after it stopped. A free lease with a live waiter goes only to
that waiter (a holder that releases and takes its next batch at once cannot take it back first), and a holder
that has only low-priority writes left (own cards behind the storm digest, bot.alarms.relay) asks `waiting`
before each one and gives the lease back when someone waits: what shows a state never queues behind what only
catches up.

Hand-over: a waiting invocation whose whole batch writes to one channel does not queue behind the holder: it
offers its records to the holder (an item `offer#<invocation>` beside the lease) and waits for the outcome. The
holder claims the open offers (offered -> taken, conditional) shortly before its next write slot, shows them in the
same writes as its own batch, and records per record what became of it (taken -> done); the offerer then answers
SQS with that outcome. The records stay in SQS until then, so a hand-over is at least once: an offer nobody claimed
is withdrawn when the lease comes free (the offerer shows its batch itself), one whose claimer lost its lease before
it was done is taken back too, and one still unanswered when the offerer's time runs out fails its records back to
SQS (withdrawn first if nobody claimed it). An offer carries its offerer's deadline: no writer claims it after that,
nor its own. Showing a record twice is harmless: the card keeps the newest StateChangeTime, and a repeat shows
nothing.

Times here are the wall clock (shared by every container); the Pacer's own clock may be monotonic.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.clock import Clock, system_clock
from bot.table import Condition, Table, condition_failed, key

log = logging.getLogger(__name__)

LEASE_SK = "lease"
WAIT_SECONDS = 2.0  # a waiter's mark lapses this long after its last poll (a waiter that gave up blocks nobody)
KEEP_SECONDS = 86400  # a released lease item (its next_write_at) stays a day, then the table's TTL removes it
OFFER_PREFIX = "offer#"  # sk of an offer: offer#<the offering invocation>
MAX_OFFER_BYTES = 300_000  # DynamoDB's item limit is 400 KB: a larger batch waits for the lease instead
OFFER_KEEP_SECONDS = 3600  # an offer's item stays this long after its offerer's end, then the table's TTL removes it


def lease_pk(channel: str) -> str:
    return f"alarmlease#{channel}"


@dataclass
class Taken:
    """A lease this invocation holds, and the moment (wall clock) before which its channel must not be written."""

    channel: str
    not_before: float


@dataclass(frozen=True)
class Outcome:
    """What the holder did with the records of an offer: per record id, when Slack showed its alarm, or why it
    failed (retried) or was dropped."""

    shown_at: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"shown_at": self.shown_at, "failed": self.failed, "dropped": self.dropped})

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        data = json.loads(text)
        return cls(dict(data["shown_at"]), dict(data["failed"]), dict(data["dropped"]))


@dataclass(frozen=True)
class Offer:
    """Records another invocation handed over to this one, claimed: to be shown in this one's writes."""

    channel: str
    offerer: str
    records: tuple[tuple[str, str], ...]  # (record id, body)


@dataclass(frozen=True)
class _Status:
    state: str | None  # offered, taken, done; None: there is no offer
    claimer: str = ""
    outcome: Outcome | None = None


@dataclass
class ChannelLeases:
    table: Table
    holder: str  # unique per invocation
    clock: Clock = system_clock
    sleep: Callable[[float], None] = time.sleep
    poll: float = 0.1  # first wait between tries; doubles up to max_poll
    # Short: a released lease waits for its waiter's next poll (the waiter's mark keeps others out meanwhile).
    max_poll: float = 0.1
    held: dict[str, Taken] = field(default_factory=dict)
    waited: float = 0.0  # seconds slept waiting for leases, for the logs and the benchmark
    served: set[str] = field(default_factory=set)  # the invocations whose offers this one claimed

    def acquire(
        self, channel: str, hold_until: float, budget: float, offer: Sequence[tuple[str, str]] = ()
    ) -> Taken | Outcome | None:
        """Take the channel's lease until `hold_until`, waiting (sleeping) at most `budget` seconds for it.
        With `offer` (record id, body), the records are offered to the holder meanwhile: an Outcome when it
        showed them. None when another invocation still holds the lease then (and has not shown the offer)."""
        if channel in self.held:
            return self.held[channel]
        records = tuple(offer)
        if len(json.dumps(records)) > MAX_OFFER_BYTES:
            records = ()
        offered = False
        slept, delay = 0.0, self.poll
        while True:
            status = self._offer_status(channel) if offered else _Status(None)
            if status.outcome is not None:
                self._unmark(channel, self.holder)
                return status.outcome
            offered = offered and status.state is not None  # gone: nobody shows it; this invocation will
            taken, other_until, other = self._try(channel, hold_until)
            if taken is not None:
                self.held[channel] = taken
                outcome = self._withdraw(channel) if offered else None
                if outcome is not None:  # shown after all: nothing left to write
                    self.release(channel, taken.not_before)
                    return outcome
                return taken
            claimed = status.state == "taken"
            if claimed and status.claimer != other:  # its claimer lost the lease before it was done
                outcome = self._take_back(channel, status.claimer)
                if outcome is not None:
                    self._unmark(channel, self.holder)
                    return outcome
                offered = claimed = False
            if records and not offered and other and other_until > self.clock():
                offered = self._offer(channel, records, hold_until)
            if not claimed:  # a claimed offer waits for its outcome, not for the lease
                self._wait_for(channel)
            if slept >= budget:
                log.warning("channel %s: its lease stayed taken for %.1f s; its alarms are retried", channel, slept)
                outcome = self._take_back(channel) if offered else None
                if outcome is not None:
                    self._unmark(channel, self.holder)
                return outcome
            step = min(delay, budget - slept, max(0.05, other_until - self.clock()))
            self.sleep(step)
            slept += step
            self.waited += step
            delay = min(delay * 2, self.max_poll)

    # --- offers, the offering side --------------------------------------------------------------------

    def _offer_key(self, channel: str, offerer: str | None = None) -> tuple[str, str]:
        return lease_pk(channel), OFFER_PREFIX + (offerer or self.holder)

    def _offer(self, channel: str, records: tuple[tuple[str, str], ...], until: float) -> bool:
        """Offer the records until `until` (this invocation's end: no writer claims the offer later, so an offer
        never outlives its offerer, and SQS's next delivery of a record never meets it). True when the offer
        may exist (a write that failed may still have been made: the next poll reads it)."""
        now = self.clock()
        pk, sk = self._offer_key(channel)
        item = {
            **key(pk, sk),
            "state": {"S": "offered"},
            "records": {"S": json.dumps(records)},
            "offered_at": {"N": f"{now:.3f}"},
            "until": {"N": f"{until:.3f}"},
            "expires_at": {"N": str(int(until + OFFER_KEEP_SECONDS))},
        }
        try:
            self.table.put_item(item, what="Offer alarms to the channel's writer")
        except Exception:
            log.warning("channel %s: could not offer the batch to its writer", channel, exc_info=True)
        return True

    def _offer_item(self, channel: str, offerer: str | None = None) -> dict[str, Any] | None:
        pk, sk = self._offer_key(channel, offerer)
        item: dict[str, Any] | None = self.table.ddb.get_item(
            TableName=self.table.name, Key=key(pk, sk), ConsistentRead=True
        ).get("Item")
        return item

    def _offer_status(self, channel: str) -> _Status:
        """This invocation's offer: its state (None when it is gone), its claimer, and the outcome once done."""
        try:
            item = self._offer_item(channel)
        except Exception:
            log.warning("channel %s: could not read this invocation's offer", channel, exc_info=True)
            return _Status("offered")  # unknown: ask again at the next poll
        if item is None or "state" not in item:
            return _Status(None)
        state = str(item["state"]["S"])
        if state == "done":
            self._forget(channel)
            return _Status(state, outcome=Outcome.from_json(item["outcome"]["S"]))
        return _Status(state, str(item.get("claimer", {}).get("S", "")))

    def _withdraw(self, channel: str) -> Outcome | None:
        """This invocation now holds the lease, so nobody else is showing its offer: take it back, whoever
        claimed it (the outcome instead, when it was shown meanwhile)."""
        status = self._offer_status(channel)
        if status.outcome is not None or status.state is None:
            return status.outcome
        return self._take_back(channel, status.claimer if status.state == "taken" else None)

    def _take_back(self, channel: str, claimer: str | None = None) -> Outcome | None:
        """Withdraw the offer: one nobody claimed, or one `claimer` claimed and can no longer finish. The
        outcome instead when the offer is done (shown after all)."""
        pk, sk = self._offer_key(channel)
        condition = (
            Condition("#s = :offered", {":offered": {"S": "offered"}}, {"#s": "state"})
            if claimer is None
            else Condition(
                "#s = :taken AND claimer = :claimer",
                {":taken": {"S": "taken"}, ":claimer": {"S": claimer}},
                {"#s": "state"},
            )
        )
        try:
            written = self.table.delete_item(pk, sk, condition, what="Take back an offer of alarms")
        except Exception:
            log.warning("channel %s: could not take back this invocation's offer", channel, exc_info=True)
            return None
        if written.ok:
            return None
        return self._offer_status(channel).outcome

    def _forget(self, channel: str) -> None:
        pk, sk = self._offer_key(channel)
        try:
            self.table.delete(pk, sk)
        except Exception:  # the table's TTL removes it
            log.warning("channel %s: could not delete a finished offer", channel, exc_info=True)

    # --- offers, the holder's side ----------------------------------------------------------------------

    def claim_offers(self, channel: str) -> list[Offer]:
        """Claim every live offer of a channel this invocation holds (offered -> taken). An offer that cannot be
        read or claimed now is left for the next look (its offerer shows it itself once the lease is free)."""
        if channel not in self.held:
            return []
        claimed = []
        for sk in self._open_offers(channel):
            offerer = sk.removeprefix(OFFER_PREFIX)
            if offerer == self.holder:
                continue  # this invocation's own offer, which it could not take back: its records are in its batch
            now = self.clock()
            try:
                written = self.table.update_item(
                    lease_pk(channel),
                    sk,
                    "SET #s = :taken, claimer = :holder",
                    {"#s": "state"},
                    {":taken": {"S": "taken"}, ":holder": {"S": self.holder}},
                    "Claim an offer of alarms",
                    Condition(
                        "#s = :offered AND #u > :now",
                        {":offered": {"S": "offered"}, ":now": {"N": f"{now:.3f}"}},
                        {"#s": "state", "#u": "until"},
                    ),
                    return_new=True,
                )
            except Exception:
                log.warning("channel %s: could not claim the offer of %s", channel, offerer, exc_info=True)
                continue
            if not written.ok or written.old is None:
                continue
            records = tuple((str(r), str(b)) for r, b in json.loads(written.old["records"]["S"]))
            claimed.append(Offer(channel, offerer, records))
            self.served.add(offerer)
            self._unmark(channel, offerer)  # it waits for the outcome now, not for the lease
        return claimed

    def _open_offers(self, channel: str) -> list[str]:
        """The sort keys of the channel's offers still open (offered, their offerer still there), every page of
        them: only the key, state and end are read, not the records."""
        now = self.clock()
        kwargs: dict[str, Any] = {
            "TableName": self.table.name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :offer)",
            "ProjectionExpression": "sk, #s, #u",
            "ExpressionAttributeNames": {"#s": "state", "#u": "until"},
            "ExpressionAttributeValues": {":pk": {"S": lease_pk(channel)}, ":offer": {"S": OFFER_PREFIX}},
            "ConsistentRead": True,
        }
        open_ = []
        try:
            while True:
                page = self.table.ddb.query(**kwargs)
                for item in page.get("Items", []):
                    if item.get("state", {}).get("S") == "offered" and _number(item, "until", 0.0) > now:
                        open_.append(str(item["sk"]["S"]))
                if "LastEvaluatedKey" not in page:
                    return open_
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except Exception:
            log.warning("channel %s: could not read its offers", channel, exc_info=True)
            return open_

    def settle(self, offer: Offer, outcome: Outcome) -> None:
        """Record what became of a claimed offer's records (taken -> done; the records themselves are dropped):
        the offerer answers SQS with it. A failure leaves the offer taken: the offerer takes it back once this
        invocation has let the lease go."""
        pk, sk = self._offer_key(offer.channel, offer.offerer)
        try:
            self.table.update_item(
                pk,
                sk,
                "SET #s = :done, outcome = :outcome REMOVE #r",
                {"#s": "state", "#r": "records"},
                {":done": {"S": "done"}, ":outcome": {"S": outcome.to_json()}},
                "Settle an offer of alarms",
                Condition(
                    "#s = :taken AND claimer = :holder",
                    {":taken": {"S": "taken"}, ":holder": {"S": self.holder}},
                    {"#s": "state"},
                ),
            )
        except Exception:
            log.warning("channel %s: could not settle the offer of %s", offer.channel, offer.offerer, exc_info=True)

    def _unmark(self, channel: str, waiter: str) -> None:
        """Clear `waiter`'s waiting mark, so that a lease it no longer needs goes to whoever asks next."""
        try:
            self.table.update_item(
                lease_pk(channel),
                LEASE_SK,
                "REMOVE waiter, waiting_until",
                {},
                {},
                "Clear a waiting mark",
                Condition("waiter = :waiter", {":waiter": {"S": waiter}}),
            )
        except Exception:  # it lapses by itself
            log.warning("channel %s: could not clear the waiting mark of %s", channel, waiter, exc_info=True)

    # --- the lease --------------------------------------------------------------------------------------

    def _try(self, channel: str, hold_until: float) -> tuple[Taken | None, float, str]:
        """(the lease, 0, "") when taken; (None, when the other holder's lease expires, who holds it) when not."""
        now = self.clock()
        item = {
            "pk": {"S": lease_pk(channel)},
            "sk": {"S": LEASE_SK},
            "holder": {"S": self.holder},
            "lease_until": {"N": f"{hold_until:.3f}"},
            "next_write_at": {"N": "0"},
            "expires_at": {"N": str(int(hold_until + KEEP_SECONDS))},
        }
        # Free (or this holder's), and no other live waiter. A flat OR of ANDs: moto mis-reads the nested form.
        free = Condition(
            "attribute_not_exists(pk) OR holder = :holder"
            " OR (lease_until <= :now AND attribute_not_exists(waiter))"
            " OR (lease_until <= :now AND waiter = :holder)"
            " OR (lease_until <= :now AND waiting_until <= :now)",
            {":now": {"N": f"{now:.3f}"}, ":holder": {"S": self.holder}},
        )
        written = self.table.put_item(item, free, return_old=True, what="Take the channel's lease")
        if not written.ok:
            old = written.old or {}
            return None, _number(old, "lease_until", now + self.poll), str(old.get("holder", {}).get("S", ""))
        return Taken(channel, _number(written.old or {}, "next_write_at", 0.0)), 0.0, ""

    def _wait_for(self, channel: str) -> None:
        """Mark this invocation as the channel's waiter, unless another live waiter is there first."""
        now = self.clock()
        try:
            self.table.ddb.update_item(
                TableName=self.table.name,
                Key={"pk": {"S": lease_pk(channel)}, "sk": {"S": LEASE_SK}},
                UpdateExpression="SET waiter = :holder, waiting_until = :until",
                ConditionExpression=(
                    "attribute_exists(pk) AND holder <> :holder AND "
                    "(attribute_not_exists(waiter) OR waiter = :holder OR waiting_until <= :now)"
                ),
                ExpressionAttributeValues={
                    ":holder": {"S": self.holder},
                    ":until": {"N": f"{now + WAIT_SECONDS:.3f}"},
                    ":now": {"N": f"{now:.3f}"},
                },
            )
        except Exception as error:  # another waiter is first, or the table failed: waiting works without the mark
            if not condition_failed(error):
                log.warning("channel %s: could not mark this invocation as waiting", channel, exc_info=True)

    def waiting(self, channel: str) -> bool:
        """Another invocation waits for this channel's lease (its mark is live), or has offered it records. An
        invocation whose offer this one showed no longer waits, though its mark may still be live."""
        if self._offered(channel):
            return True
        try:
            item = self.table.ddb.get_item(
                TableName=self.table.name,
                Key={"pk": {"S": lease_pk(channel)}, "sk": {"S": LEASE_SK}},
                ConsistentRead=True,
            ).get("Item", {})
        except Exception:
            log.warning("channel %s: could not read its lease; assuming someone waits", channel, exc_info=True)
            return True
        waiter = item.get("waiter", {}).get("S", "")
        live = _number(item, "waiting_until", 0.0) > self.clock()
        return bool(waiter) and waiter != self.holder and waiter not in self.served and live

    def _offered(self, channel: str) -> bool:
        return bool([sk for sk in self._open_offers(channel) if sk != OFFER_PREFIX + self.holder])

    def release(self, channel: str, next_write_at: float) -> None:
        """Give the lease back, keeping when the channel may be written next (and its waiter's mark). A lease
        that expired and was taken by another invocation meanwhile is left alone."""
        if self.held.pop(channel, None) is None:
            return
        try:
            self.table.ddb.update_item(
                TableName=self.table.name,
                Key={"pk": {"S": lease_pk(channel)}, "sk": {"S": LEASE_SK}},
                UpdateExpression="SET holder = :free, lease_until = :zero, next_write_at = :next, expires_at = :exp",
                ConditionExpression="holder = :holder",
                ExpressionAttributeValues={
                    ":free": {"S": ""},
                    ":zero": {"N": "0"},
                    ":next": {"N": f"{next_write_at:.3f}"},
                    ":exp": {"N": str(int(next_write_at + KEEP_SECONDS))},
                    ":holder": {"S": self.holder},
                },
            )
        except Exception as error:  # never fail a batch whose writes are done over the release
            if condition_failed(error):
                log.warning("channel %s: the lease had expired and was taken by another invocation", channel)
            else:
                log.exception("channel %s: could not release its lease; it expires by itself", channel)

    def release_all(self, next_write_at: Callable[[str], float]) -> None:
        for channel in list(self.held):
            self.release(channel, next_write_at(channel))


def _number(item: dict[str, Any], name: str, default: float) -> float:
    try:
        return float(item[name]["N"])
    except (KeyError, TypeError, ValueError):
        return default
