"""Verbatim replays of signed Slack requests: each signature is accepted once.

Slack's signature covers the request's timestamp and body, and a signature verifies while its timestamp is
within 5 minutes of now. Within that window a copy of a signed request (from a proxy's log, a captured
browser session) verifies again. The first sight of each signature is therefore recorded in the state table
with a conditional put, and a second sight is a replay.

The record lives a minute past the last moment its signature can verify: the timestamp may be up to
5 minutes ahead of our clock, so that moment is max(now, timestamp) + 5 minutes. DynamoDB deletes expired
items only eventually; a record it has not deleted yet still refuses its copy, which is harmless, since by
then the signature no longer verifies anyway.

Two copies are not replays. Bolt's own asynchronous self-invocation carries the signed request it came
from (the caller does not check those). A copy with X-Slack-Retry-Num is Slack retrying a delivery: it
gets a 200 and nothing more, since Slack counts any other answer as a failure and the original is already
being handled. If DynamoDB cannot answer, the request goes through with a warning (fail open): the
signature and its 5-minute window still hold, and refusing every command would make an outage of the
table an outage of the bot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any

from bot.aws import ClientFactory
from bot.clock import Clock, system_clock
from bot.table import NEW_KEY, condition_failed

log = logging.getLogger(__name__)

SIGNATURE_WINDOW_SECONDS = 5 * 60  # slack_sdk's SignatureVerifier: |now - timestamp| <= 5 minutes
MARGIN_SECONDS = 60
SORT_KEY = "seen"


def replay_key(signature: str) -> str:
    return f"replay#{signature}"


class Sighting(Enum):
    FIRST = "first"  # not seen before: go on
    REPLAY = "replay"  # a verbatim copy: refuse it
    RETRY = "retry"  # a copy that Slack says is its retry: answer 200, run nothing
    UNCHECKED = "unchecked"  # DynamoDB did not answer: go on (fail open)


@dataclass(eq=False)
class ReplayGuard:
    """One conditional PutItem per request, on a client that gives up quickly (it runs inside the ack)."""

    clients: ClientFactory
    table: str
    region: str
    clock: Clock = system_clock

    @property
    def ddb(self) -> Any:
        return self.clients.client("dynamodb", self.region, quick=True)

    def warm(self) -> None:
        """Create the client now (at build time), not inside the first request's 3 seconds."""
        _ = self.ddb

    def expires_at(self, timestamp: int) -> int:
        return max(int(self.clock()), timestamp) + SIGNATURE_WINDOW_SECONDS + MARGIN_SECONDS

    def sight(self, signature: str, timestamp: int, retry_num: str | None = None) -> Sighting:
        """Record this signature, and say whether (and how) it was seen before; logs what is not FIRST."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if self.first_sight(signature, timestamp):
                return Sighting.FIRST
        except (BotoCoreError, ClientError) as error:
            log.warning("replay check unavailable: request let through", extra={"error": str(error)})
            return Sighting.UNCHECKED
        seen = {"request_timestamp": timestamp, "retry_num": retry_num}
        if retry_num is not None:
            # A warning: Slack retries only what it got no answer to within 3 seconds the first time.
            log.warning("retry of a request already seen: answered 200, not run again", extra=seen)
            return Sighting.RETRY
        log.warning("replayed request refused", extra=seen)
        return Sighting.REPLAY

    def first_sight(self, signature: str, timestamp: int) -> bool:
        """True the first time `signature` is seen, False for a copy.

        Raises botocore's errors when DynamoDB cannot answer: whether to let the request through then is
        the caller's decision.
        """
        from botocore.exceptions import ClientError

        item = {
            "pk": {"S": replay_key(signature)},
            "sk": {"S": SORT_KEY},
            "expires_at": {"N": str(self.expires_at(timestamp))},
        }
        try:
            self.ddb.put_item(TableName=self.table, Item=item, **NEW_KEY.kwargs())
        except ClientError as error:
            if condition_failed(error):
                return False
            raise
        return True
