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

Times here are the wall clock (shared by every container); the Pacer's own clock may be monotonic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.clock import Clock, system_clock
from bot.table import Condition, Table

log = logging.getLogger(__name__)

LEASE_SK = "lease"
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
    poll: float = 0.2  # first wait between tries; doubles up to max_poll
    # Short: a holder that releases and takes its next batch at once may take the lease again while a waiter
    # sleeps (in the storm one batch waited 100 s for it with 1 s; no turns are kept, so this only narrows it).
    max_poll: float = 0.25
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
        free = Condition(
            "attribute_not_exists(pk) OR lease_until <= :now OR holder = :holder",
            {":now": {"N": f"{now:.3f}"}, ":holder": {"S": self.holder}},
        )
        written = self.table.put_item(item, free, return_old=True, what="Take the channel's lease")
        if not written.ok:
            return None, _number(written.old or {}, "lease_until", now + self.poll)
        return Taken(channel, _number(written.old or {}, "next_write_at", 0.0)), 0.0

    def release(self, channel: str, next_write_at: float) -> None:
        """Give the lease back, keeping when the channel may be written next. A lease that expired and was
        taken by another invocation meanwhile is left alone."""
        if self.held.pop(channel, None) is None:
            return
        item = {
            "pk": {"S": lease_pk(channel)},
            "sk": {"S": LEASE_SK},
            "holder": {"S": ""},
            "lease_until": {"N": "0"},
            "next_write_at": {"N": f"{next_write_at:.3f}"},
            "expires_at": {"N": str(int(next_write_at + KEEP_SECONDS))},
        }
        try:
            mine = Condition("holder = :holder", {":holder": {"S": self.holder}})
            if not self.table.put_item(item, mine, what="Release the channel's lease").ok:
                log.warning("channel %s: the lease had expired and was taken by another invocation", channel)
        except Exception:  # never fail a batch whose writes are done over the release
            log.exception("channel %s: could not release its lease; it expires by itself", channel)

    def release_all(self, next_write_at: Callable[[str], float]) -> None:
        for channel in list(self.held):
            self.release(channel, next_write_at(channel))


def _number(item: dict[str, Any], name: str, default: float) -> float:
    try:
        return float(item[name]["N"])
    except (KeyError, TypeError, ValueError):
        return default
