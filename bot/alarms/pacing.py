"""Slack writes at a steady pace per channel: Slack allows about one message per second per channel.

The Pacer spaces writes to one channel by 1/rate seconds, counted from the end of the previous write
(so a slow response cannot bunch two writes into one second at Slack's end), and backs off for a
429's Retry-After. Its clock and sleep are injectable: tests and the benchmark run it on a simulated
clock. PacedSlack is bot.slack.SlackOut behind a Pacer, and refuses to start a write that the
Lambda invocation has no time left to finish (the record is then retried, not half done), or one to a
channel whose lease (bot.alarms.lease) the invocation does not hold. The Pacer spaces the writes of one
invocation; the lease carries its next slot to the next invocation that writes to the channel, on any container.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import InitVar, dataclass, field
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError

from bot import render
from bot.slack import SlackPort

T = TypeVar("T")


class OutOfTime(RuntimeError):
    """Not enough of the invocation is left for another Slack write; the record is retried later."""


class NotLeased(RuntimeError):
    """The invocation does not hold the channel's lease (bot.alarms.lease): another one may be writing there."""


@dataclass(eq=False)
class Pacer:
    per_second: InitVar[float] = 1.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    waited: float = field(default=0.0, init=False)  # seconds spent waiting, for the logs and the benchmark
    _next: dict[str, float] = field(default_factory=dict, init=False)

    def __post_init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second

    def wait_time(self, channel: str) -> float:
        return max(0.0, self._next.get(channel, 0.0) - self.clock())

    @contextmanager
    def slot(self, channel: str) -> Iterator[None]:
        """Wait for the channel's next slot; the slot after this one starts when this write ends."""
        wait = self.wait_time(channel)
        if wait > 0:
            self.waited += wait
            self.sleep(wait)
        try:
            yield
        finally:
            self._next[channel] = max(self._next.get(channel, 0.0), self.clock() + self.interval)

    def back_off(self, channel: str, seconds: float) -> None:
        self._next[channel] = max(self._next.get(channel, 0.0), self.clock() + seconds)


@dataclass(eq=False)
class PacedSlack:
    """SlackOut's post and update, paced per channel, with a time budget per invocation."""

    slack: SlackPort
    pacer: Pacer
    remaining: Callable[[], float] | None = None
    margin: float = 10.0
    leased: Callable[[str], bool] | None = None  # None: no lease needed (a single writer)
    writes: int = field(default=0, init=False)

    def post(self, channel: str, msg: render.Message, thread_ts: str | None = None, broadcast: bool = False) -> str:
        """A reply broadcast to the channel too is one write, like any other."""
        return self._write(channel, lambda: self.slack.post(channel, msg, thread_ts, broadcast))

    def update(self, channel: str, ts: str, msg: render.Message) -> None:
        self._write(channel, lambda: self.slack.update(channel, ts, msg))

    def _write(self, channel: str, call: Callable[[], T]) -> T:
        if self.leased is not None and not self.leased(channel):
            raise NotLeased(f"no lease on {channel}: another invocation may be writing there")
        if self.remaining is not None and self.remaining() - self.pacer.wait_time(channel) < self.margin:
            raise OutOfTime(f"less than {self.margin:.0f} s left for a Slack write to {channel}")
        with self.pacer.slot(channel):
            try:
                result = call()
            except SlackApiError as error:
                if error.response.status_code == 429:
                    self.pacer.back_off(channel, _retry_after(error.response))
                raise
        self.writes += 1
        return result


def _retry_after(response: Any) -> float:
    headers = {str(k).lower(): v for k, v in (getattr(response, "headers", None) or {}).items()}
    raw = headers.get("retry-after")
    value = raw[0] if isinstance(raw, list) and raw else raw
    try:
        return max(1.0, float(str(value)))
    except ValueError:
        return 1.0
