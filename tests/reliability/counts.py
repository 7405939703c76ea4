"""What the reliability suite tried, counted by the tests and printed at the end of the run (conftest.py)."""

from __future__ import annotations

import threading
from collections import Counter

COUNTS: Counter[str] = Counter()
_lock = threading.Lock()

# The order (and names) of the summary lines.
LABELS = {
    "forged requests": "forged requests sent (all rejected, no side effect)",
    "duplicate commands": "duplicate slash commands sent concurrently",
    "duplicate clicks": "duplicate button clicks sent concurrently",
    "slack faults": "Slack faults injected (429, 5xx on chat.postMessage / chat.update / response_url)",
    "aws faults": "AWS faults injected (throttling, AccessDenied, deleted service, deregistered revision)",
    "command fuzz examples": "command parser fuzz examples (hypothesis)",
    "command fuzz end-to-end": "fuzzed mutating commands run end to end (hypothesis)",
    "command fuzz planned": "  of which got past the parser into planning",
    "alarm fuzz examples": "alarm parser fuzz examples (hypothesis)",
    "unsigned fuzz examples": "unsigned events fuzzed into the Slack handler (hypothesis; all 4xx, no side effect)",
    "signed garbage fuzz examples": "signed garbage fuzzed into the Slack handler (hypothesis; all 4xx or 200)",
    "replays": "verbatim replays of signed requests sent (all refused)",
    "config fields": "invalid config fields tried (each named in its error)",
}


def count(what: str, n: int = 1) -> None:
    with _lock:
        COUNTS[what] += n
