"""The bot's DynamoDB table (pk, sk, TTL attribute expires_at), as every store uses it.

What lives in it, and which module owns each key prefix and its record type:
    plan#<id>                      plan                   a plan until it is confirmed, cancelled or expires (stores.py)
    lock#<env>#<service>           lock                   deploy lock (conditional writes) (stores.py)
    audit#<env>#<service|*>        <iso time>#<id>        audit trail, per service and per environment (stores.py)
    change#<env>#<service>         last                   who made the last change, and what (stores.py)
    image#<task definition arn>    image                  image of a revision (immutable, so cached forever) (stores.py)
    rev#<env>#<service>            <revision>             what became of each revision (history.py)
    card#<service arn>             deploy                 the Slack message that shows a deployment (deployments.py)
    alarm#<account>#<alarm name>   card / ack / mute      an alarm's card, who acknowledged it, its mute (TTL)
                                   done#<action>          a change asked for from its card's button that ran
                                                          (alarms/store.py)
                                   changed#<incident>     its what-changed reply was posted (alarms/changed.py)
    alarmstorm#<channel>           window                 alarms that opened lately, and the current digest
                                                          (alarms/store.py)
    alarmdigest#<channel>          <message ts>           one digest card of an alarm storm (alarms/store.py)
    alarmlease#<channel>           lease                  the one writer of a channel's cards (alarms/lease.py)
                                   offer#<invocation>     a waiting batch handed to that writer, and its
                                                          answer (alarms/lease.py)
    escalate#<env>                 <due time>#<incident>  an escalation level waiting to be due
                                   #<fired>#<level>       (alarms/escalation.py)
    escalation#<incident>          level#<fired>#<level>  a level posted (exactly once) / why escalation stopped
                                   / stop                 (alarms/escalation.py)
    cost#<env>                     <group>#<first day>#.. Cost Explorer's answers, cached (cost.py)
    idempotency#<function>         <hash>                 Powertools idempotency records (idempotency.py)
    replay#<Slack signature>       seen                   a signed Slack request already accepted (replay.py, TTL)
    home                           <user id>              who opened the App Home lately, their publish slots (home.py)

Each store owns its key prefixes and record types and reaches DynamoDB only through a Table:

* an item's record is JSON in its `data` attribute, (de)serialised by a Codec (pydantic's TypeAdapter
  over the record's dataclass), so no record class writes its own to_json/from_data;
* a conditional write answers True (written) or False (the condition did not hold): the one place that
  recognises DynamoDB's ConditionalCheckFailedException, whether botocore raised it as it is or
  bot.errors.aws_operation wrapped it;
* DynamoDB's TTL deletes expired items only eventually (moto never does), so reads treat an item whose
  expires_at has passed as absent, "now" being the injected clock's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from bot.clock import Clock, system_clock
from bot.errors import aws_operation

if TYPE_CHECKING:
    from pydantic import TypeAdapter

    from bot.aws import ClientFactory

Key = tuple[str, str]
CONDITION_FAILED = "ConditionalCheckFailedException"


def condition_failed(error: BaseException) -> bool:
    """Whether `error` (or what it wraps) is DynamoDB refusing a write because its condition did not hold."""
    seen: BaseException | None = error
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict) and response.get("Error", {}).get("Code") == CONDITION_FAILED:
            return True
        seen = seen.__cause__
    return False


@dataclass(frozen=True, slots=True)
class Condition:
    """A ConditionExpression with its names and values (DynamoDB's typed values: {"S": ...}, {"N": ...})."""

    expression: str
    values: dict[str, Any] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"ConditionExpression": self.expression}
        if self.values:
            kwargs["ExpressionAttributeValues"] = self.values
        if self.names:
            kwargs["ExpressionAttributeNames"] = self.names
        return kwargs


NEW_KEY = Condition("attribute_not_exists(pk)")
EXISTING_KEY = Condition("attribute_exists(pk)")


@dataclass(frozen=True, slots=True)
class Written:
    """The outcome of a conditional write: whether it was made, and the item as it was before (when asked
    for: the replaced or deleted item if written, the item that failed the condition if not), or for an update
    asked to return it, the item as written."""

    ok: bool
    old: dict[str, Any] | None = None


class Codec[T]:
    """A record type's JSON form, by pydantic: dataclasses, enums, nested records and tuples included.
    Built on first use, so a module that only names a record costs nothing at import."""

    def __init__(self, kind: type[T]) -> None:
        self.kind = kind

    @cached_property
    def _adapter(self) -> TypeAdapter[T]:
        from pydantic import TypeAdapter

        return TypeAdapter(self.kind)

    def dump(self, value: T) -> dict[str, Any]:
        dumped: dict[str, Any] = self._adapter.dump_python(value, mode="json")
        return dumped

    def load(self, data: dict[str, Any]) -> T:
        return self._adapter.validate_python(data)


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def item_of(
    pk: str, sk: str, data: dict[str, Any], expires_at: float | None = None, **attributes: Any
) -> dict[str, Any]:
    """A data item; `attributes` are more top-level attributes (typed values) a condition can read."""
    item: dict[str, Any] = {**key(pk, sk), "data": {"S": json.dumps(data)}, **attributes}
    if expires_at is not None:
        item["expires_at"] = {"N": str(int(expires_at))}
    return item


class Table:
    def __init__(self, clients: ClientFactory, name: str, region: str, clock: Clock = system_clock) -> None:
        self.clients = clients
        self.name = name
        self.region = region
        self.clock = clock

    @property
    def ddb(self) -> Any:
        return self.clients.client("dynamodb", self.region)

    # --- data items ---------------------------------------------------------------------------------

    def put(self, pk: str, sk: str, data: dict[str, Any], expires_at: float | None = None) -> None:
        with aws_operation("Save bot state"):
            self.ddb.put_item(TableName=self.name, Item=item_of(pk, sk, data, expires_at))

    def put_new(self, pk: str, sk: str, data: dict[str, Any], expires_at: float | None = None) -> bool:
        """Store the item only if none has this key; False if one has (someone else did it first)."""
        return self.put_item(item_of(pk, sk, data, expires_at), NEW_KEY).ok

    def get(self, pk: str, sk: str, now: float | None = None) -> dict[str, Any] | None:
        with aws_operation("Read bot state"):
            item = self.ddb.get_item(TableName=self.name, Key=key(pk, sk), ConsistentRead=True).get("Item")
        return self.data(item, now)

    def get_many(self, keys: list[Key], now: float | None = None) -> dict[Key, dict[str, Any]]:
        """Up to 100 items a BatchGetItem round trip (retrying unprocessed keys)."""
        found: dict[Key, dict[str, Any]] = {}
        pending = [key(pk, sk) for pk, sk in dict.fromkeys(keys)]
        attempts = 0
        while pending and attempts < 5:
            attempts += 1
            batch, pending = pending[:100], pending[100:]
            with aws_operation("Read bot state"):
                response = self.ddb.batch_get_item(RequestItems={self.name: {"Keys": batch}})
            for item in response.get("Responses", {}).get(self.name, []):
                data = self.data(item, now)
                if data is not None:
                    found[(item["pk"]["S"], item["sk"]["S"])] = data
            pending += response.get("UnprocessedKeys", {}).get(self.name, {}).get("Keys", [])
        return found

    def query(
        self,
        pk: str,
        *,
        newest_first: bool = True,
        limit: int = 10,
        sk_between: tuple[str, str] | None = None,
        now: float | None = None,
    ) -> list[dict[str, Any]]:
        """The data of the partition's items in sort-key order (descending by default), unexpired ones only."""
        return [
            d for d in (self.data(item, now) for item in self.query_items(pk, newest_first, limit, sk_between)) if d
        ]

    def delete(self, pk: str, sk: str) -> None:
        with aws_operation("Save bot state"):
            self.ddb.delete_item(TableName=self.name, Key=key(pk, sk))

    # --- whole items, for the stores that keep more than `data` -------------------------------------

    def put_item(
        self,
        item: dict[str, Any],
        condition: Condition | None = None,
        *,
        return_old: bool = False,
        what: str = "Save bot state",
    ) -> Written:
        """PutItem; with a condition, a False outcome when it does not hold (never an exception)."""
        kwargs: dict[str, Any] = {"TableName": self.name, "Item": item}
        if condition is not None:
            kwargs.update(condition.kwargs(), ReturnValuesOnConditionCheckFailure="ALL_OLD")
        if return_old:
            kwargs["ReturnValues"] = "ALL_OLD"
        return self._conditional(what, lambda: self.ddb.put_item(**kwargs))

    def delete_item(
        self,
        pk: str,
        sk: str,
        condition: Condition | None = None,
        *,
        return_old: bool = False,
        what: str = "Save bot state",
    ) -> Written:
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": key(pk, sk)}
        if condition is not None:
            kwargs.update(condition.kwargs())
        if return_old:
            kwargs["ReturnValues"] = "ALL_OLD"
        return self._conditional(what, lambda: self.ddb.delete_item(**kwargs))

    def update_item(
        self,
        pk: str,
        sk: str,
        update: str,
        names: dict[str, str],
        values: dict[str, Any],
        what: str,
        condition: Condition | None = None,
        *,
        return_new: bool = False,
    ) -> Written:
        """UpdateItem; with a condition, a False outcome when it does not hold (never an exception). With
        `return_new`, the written item comes back in Written.old."""
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": key(pk, sk), "UpdateExpression": update}
        if return_new:
            kwargs["ReturnValues"] = "ALL_NEW"
        if condition is not None:
            kwargs.update(condition.kwargs())
            names = {**names, **condition.names}
            values = {**values, **condition.values}
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if values:
            kwargs["ExpressionAttributeValues"] = values
        return self._conditional(what, lambda: self.ddb.update_item(**kwargs))

    def query_items(
        self,
        pk: str,
        newest_first: bool = True,
        limit: int = 10,
        sk_between: tuple[str, str] | None = None,
        consistent: bool = False,
        what: str = "Read bot state",
    ) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ScanIndexForward": not newest_first,
            "Limit": limit,
        }
        if sk_between is not None:
            kwargs["KeyConditionExpression"] += " AND sk BETWEEN :lo AND :hi"
            kwargs["ExpressionAttributeValues"].update({":lo": {"S": sk_between[0]}, ":hi": {"S": sk_between[1]}})
        if consistent:
            kwargs["ConsistentRead"] = True
        with aws_operation(what):
            items: list[dict[str, Any]] = self.ddb.query(**kwargs).get("Items", [])
        return items

    def data(self, item: dict[str, Any] | None, now: float | None = None) -> dict[str, Any] | None:
        """An item's record, or None if there is none or it has expired."""
        if not item or "data" not in item:
            return None
        expires = item.get("expires_at", {}).get("N")
        if expires is not None and float(expires) <= (self.clock() if now is None else now):
            return None
        loaded: dict[str, Any] = json.loads(item["data"]["S"])
        return loaded

    def _conditional(self, what: str, call: Callable[[], dict[str, Any]]) -> Written:
        try:
            with aws_operation(what):
                response = call()
        except Exception as error:
            if not condition_failed(error):
                raise
            old = getattr(error.__cause__, "response", None) or getattr(error, "response", None) or {}
            return Written(False, old.get("Item"))
        return Written(True, response.get("Attributes"))
