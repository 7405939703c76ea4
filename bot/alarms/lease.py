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

Times here are the wall clock (shared by every container); the Pacer's own clock may be monotonic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.clock import Clock, system_clock
from bot.table import Condition, Table, condition_failed

log = logging.getLogger(__name__)

LEASE_SK = "lease"
WAIT_SECONDS = 2.0  # a waiter's mark lapses this long after its last poll (a waiter that gave up blocks nobody)
KEEP_SECONDS = 86400  # a released lease item (its next_write_at) stays a day, then the table's TTL removes it


def lease_pk(channel: str) -> str:
    return f"alarmlease#{channel}"


@dataclass
class Taken:
    """A lease this invocation holds, and the moment (wall clock) before which its channel must not be written."""

    channel: str
    not_before: float


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

    def acquire(self, channel: str, hold_until: float, budget: float) -> Taken | None:
        """Take the channel's lease until `hold_until`, waiting (sleeping) at most `budget` seconds for it.
        None when another invocation still holds it then."""
        if channel in self.held:
            return self.held[channel]
        slept, delay = 0.0, self.poll
        while True:
            taken, other_until = self._try(channel, hold_until)
            if taken is not None:
                self.held[channel] = taken
                return taken
            self._wait_for(channel)
            if slept >= budget:
                log.warning("channel %s: its lease stayed taken for %.1f s; its alarms are retried", channel, slept)
                return None
            step = min(delay, budget - slept, max(0.05, other_until - self.clock()))
            self.sleep(step)
            slept += step
            self.waited += step
            delay = min(delay * 2, self.max_poll)

    def _try(self, channel: str, hold_until: float) -> tuple[Taken | None, float]:
        """(the lease, 0) when taken; (None, when the other holder's lease expires) when not."""
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
            return None, _number(written.old or {}, "lease_until", now + self.poll)
        return Taken(channel, _number(written.old or {}, "next_write_at", 0.0)), 0.0

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
        """Another invocation waits for this channel's lease (its mark is live)."""
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
        return bool(waiter) and waiter != self.holder and _number(item, "waiting_until", 0.0) > self.clock()

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
