"""A clock that tests and benchmarks move: waiting on it skips the wait instead of sleeping.

One class for every stand-in of time: the alarm relay's pacer and leases under test (`now`/`sleep`), the
Slack stand-in's response_url expiry and rate limit (called as a function), the cost cache, and the alarm
storm's pollers in threads (bench/alarm_storm.py), where it follows the wall clock and jumps only over the
waits of threads that all sleep.
"""

from __future__ import annotations

import threading
import time


class SimulatedClock:
    """The time it says is `at` (moved by `advance`, `sleep` or by setting `at`), or with `wall=True` the
    wall clock plus the waits that were skipped.

    Threads can take part (`join`/`leave`, as the storm's pollers do): a participant's sleep lasts until the
    clock reaches its wake-up; while another participant runs that takes real time, and when every participant
    sleeps the clock jumps to the earliest wake-up. With no participants every sleep is skipped at once.
    `slept` lists every wait asked for, in order.
    """

    def __init__(self, at: float = 1000.0, *, wall: bool = False) -> None:
        self.at = at
        self.wall = wall
        self.skipped = 0.0
        self.slept: list[float] = []
        self.participants = 0
        self._cond = threading.Condition()
        self._sleeping: dict[int, float] = {}

    def now(self) -> float:
        return time.time() + self.skipped if self.wall else self.at

    def __call__(self) -> float:
        return self.now()

    def advance(self, seconds: float) -> None:
        if self.wall:
            self.skipped += seconds
        else:
            self.at += seconds

    def join(self, count: int = 1) -> None:
        with self._cond:
            self.participants += count

    def leave(self) -> None:
        with self._cond:
            self.participants -= 1
            self._cond.notify_all()

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if seconds <= 0:
            return
        if not self.participants:
            self.advance(seconds)
            return
        me = threading.get_ident()
        with self._cond:
            wake = self.now() + seconds
            self._sleeping[me] = wake
            try:
                while self.now() < wake:
                    if len(self._sleeping) >= self.participants:
                        gap = min(self._sleeping.values()) - self.now()
                        if gap > 0:
                            self.advance(gap)
                        self._cond.notify_all()
                        if self.now() < wake:
                            self._cond.wait(wake - self.now())
                    else:
                        self._cond.wait(wake - self.now())
            finally:
                del self._sleeping[me]
                self._cond.notify_all()

    def until(self, moment: float) -> None:
        self.sleep(moment - self.now())
