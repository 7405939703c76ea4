"""Exactly-once execution keyed on Slack's natural identifiers, through Powertools Idempotency on DynamoDB."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

RECORD_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class OnceResult:
    result: dict[str, Any]
    ran_here: bool  # False: a duplicate; `result` is what the first run stored (empty while it still runs)
    in_progress: bool = False


class Once:
    """Runs a function at most once per key; duplicates get the first run's stored result."""

    def __init__(self, ddb_client: Any, table: str, scope: str = "actions") -> None:
        self.persistence = DynamoDBPersistenceLayer(
            table_name=table,
            key_attr="pk",
            sort_key_attr="sk",
            static_pk_value=f"idempotency#{scope}",
            expiry_attr="expires_at",
            boto3_client=ddb_client,
        )
        self.config = IdempotencyConfig(
            event_key_jmespath="key",
            expires_after_seconds=RECORD_TTL_SECONDS,
            raise_on_no_idempotency_key=True,
        )

    def register_lambda_context(self, context: Any) -> None:
        """Lets an in-progress record expire if the Lambda times out mid-run."""
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            self.config.register_lambda_context(context)

    def run(self, key: str, work: Callable[[], dict[str, Any]]) -> OnceResult:
        nonce = uuid.uuid4().hex

        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="request", persistence_store=self.persistence, config=self.config
        )
        def once(request: dict[str, str]) -> dict[str, Any]:
            return {**work(), "nonce": request["nonce"]}

        try:
            result = once(request={"key": key, "nonce": nonce})
        except IdempotencyAlreadyInProgressError:
            return OnceResult({}, ran_here=False, in_progress=True)
        return OnceResult(result, ran_here=result.get("nonce") == nonce)
