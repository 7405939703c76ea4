"""DynamoDB's one-item atomicity for moto, which checks a condition and writes in two steps (moto 5.2.5).

DynamoDB evaluates a ConditionExpression and applies the write as one step: of two `attribute_not_exists`
puts on one key, exactly one succeeds. moto reads the item, evaluates the condition, then stores, with no
lock between, so two threads can both pass the check (both take the deploy lock; both claim the alarm
channel's lease). The bot's locks, leases and exactly-once claims rest on that guarantee, and the tests and
the sandbox call moto from several threads (lazy work, concurrent SQS batches, the threaded moto server).

moto's response layer also reads the item it returns for `ReturnValues`/`ReturnValuesOnConditionCheckFailure`
(ALL_OLD) before the backend writes, so another thread's write can land between: a lease's next holder then
read its previous holder's `next_write_at` from before the release (the alarm storm bench met 429s so).

`install()` runs every moto DynamoDB write request (PutItem, UpdateItem, DeleteItem, TransactWriteItems,
BatchWriteItem), response layer and backend alike, under one process-wide lock. That is stricter than
DynamoDB, which serialises per item, and costs nothing a test can measure. Idempotent.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")

_installed = False
_install_lock = threading.Lock()
_write_lock = threading.RLock()


def _serialised(write: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(write)
    def one_at_a_time(*args: Any, **kwargs: Any) -> Any:
        with _write_lock:
            return write(*args, **kwargs)

    return one_at_a_time


def install() -> None:
    """Make moto's DynamoDB writes atomic, for the rest of the process."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.responses import DynamoHandler

        for owner in (DynamoHandler, DynamoDBBackend):  # the backend too: it has callers besides the handler
            for name in WRITES:
                setattr(owner, name, _serialised(getattr(owner, name)))
        _installed = True
