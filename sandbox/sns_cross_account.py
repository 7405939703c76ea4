"""SNS delivery to an SQS queue of another account, which moto sends to the topic's account (moto 5.2.5).

In AWS, a topic in a workload account delivers to the queue its subscription's endpoint ARN names, in
whatever account that is (the bot's alarm queue, when the queue's policy allows the topic). moto's
Subscription.publish looks the queue up in the subscription's own account, so a staging alarm published in
the staging account would look for the bot's queue in the staging account and never reach it.

`install()` makes moto deliver an SQS subscription's messages to the account of its endpoint ARN, for the
rest of the process. Idempotent.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Deliver SNS -> SQS to the queue's own account, for the rest of the process."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.sns.models import Subscription

        publish = Subscription.publish

        def to_the_queues_account(self: Subscription, *args: Any, **kwargs: Any) -> Any:
            parts = str(self.endpoint).split(":")
            if self.protocol == "sqs" and len(parts) > 5 and parts[4] != self.account_id:
                delivering = copy.copy(self)  # the same subscription, seen from the queue's account
                delivering.account_id = parts[4]
                return publish(delivering, *args, **kwargs)
            return publish(self, *args, **kwargs)

        Subscription.publish = to_the_queues_account  # type: ignore[method-assign]
        _installed = True
