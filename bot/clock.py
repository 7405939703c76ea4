"""Time, for the whole bot: every component takes a `Clock` and is given one by the composition root
(handlers/runtime.py). `system_clock` is the only place in bot/ that reads the system time
(tests/test_architecture.py checks it), so a test or a benchmark that sets the clock sets it everywhere:
a plan's expiry is computed and checked on the same clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]  # seconds since the epoch, like time.time()


def system_clock() -> float:
    return time.time()
