"""The CPU work behind /process: real, measured, and bounded so one request cannot hog a task."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

# The default is a light, realistic backend call; heavier work is asked for with ?work=N.
DEFAULT_ROUNDS = 1_000
MAX_ROUNDS = 1_000_000
_SALT = b"service-b/process"


@dataclass(frozen=True)
class WorkDone:
    rounds: int
    digest: str
    seconds: float


def hash_rounds(rounds: int, data: str) -> WorkDone:
    """`rounds` iterations of PBKDF2-HMAC-SHA256 over `data`, timed with a monotonic clock."""
    if not 1 <= rounds <= MAX_ROUNDS:
        raise ValueError(f"rounds must be from 1 to {MAX_ROUNDS}, got {rounds}")
    started = time.perf_counter()
    digest = hashlib.pbkdf2_hmac("sha256", data.encode(), _SALT, rounds)
    return WorkDone(rounds=rounds, digest=digest.hex(), seconds=time.perf_counter() - started)
