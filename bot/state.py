"""The bot's own state in one DynamoDB table (pk, sk, TTL attribute expires_at).

What lives here:
    plan#<id>                      plan                   a plan until it is confirmed, cancelled or expires
    lock#<env>#<service>           lock                   deploy lock (conditional writes)
    audit#<env>#<service|*>        <iso time>#<id>        audit trail, per service and per environment
    change#<env>#<service>         last                   who made the last change, and what
    rev#<env>#<service>            <revision>             what became of each revision (bot/history.py)
    card#<service arn>             deploy                 the Slack message that shows a deployment
    image#<task definition arn>    image                  image of a revision (immutable, so cached forever)
    alarm#<account>#<alarm name>   card / ack / mute      an alarm's card, who acknowledged it, its mute (TTL)
                                   done#<action>          a change asked for from its card's button that ran
    alarmstorm#<channel>           window                 alarms that opened lately, and the current digest
    alarmdigest#<channel>          <message ts>           one digest card of an alarm storm
    escalate#<env>                 <due time>#<incident>  an escalation level waiting to be due (alarms/escalation.py)
    escalation#<incident>          level#<n>#<m> / stop   a level posted (exactly once) / why escalation stopped
    idempotency#<function>         <hash>                 Powertools idempotency records
    replay#<Slack signature>       seen                   a signed Slack request already accepted (bot/replay.py, TTL)

DynamoDB's TTL deletes expired items only eventually (moto never does), so reads treat an item whose
expires_at has passed as absent.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from bot.aws import ClientFactory
from bot.errors import BotError, aws_operation
from bot.model import Plan, PlanStatus
from bot.slack_text import escape

# A child of "bot": the Lambda handlers hand Powertools' configuration to the "bot" loggers
# (handlers.runtime.share_logging), so this line reaches the function's log. Its own level keeps it there
# when the functions' LogLevel is raised above INFO: the audit trail is a record, not diagnostics.
AUDIT_LOG = logging.getLogger("bot.audit")
AUDIT_LOG.setLevel(logging.INFO)
AUDIT_RETENTION_SECONDS = 400 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Lock:
    env: str
    service: str
    holder: str
    since: float
    reason: str
    expires_at: float

    @property
    def since_text(self) -> str:
        return datetime.fromtimestamp(self.since, UTC).strftime("%H:%M UTC")


class LockedError(BotError):
    def __init__(self, lock: Lock) -> None:
        reason = f": {escape(lock.reason)}" if lock.reason else ""
        super().__init__(
            f"{lock.service} ({lock.env}) is locked by <@{lock.holder}> since {lock.since_text}{reason}.",
            "Ask them to finish or `/ops unlock` it, or wait until the lock expires.",
        )
        self.lock = lock


class RollingOutError(BotError):
    """A deploy or rollback of the service is still rolling out: one at a time, so every card ends."""

    def __init__(self, card: DeployCard) -> None:
        revision = card.task_definition.rpartition(":")[2]
        since = datetime.fromtimestamp(card.started_at, UTC).strftime("%H:%M")
        super().__init__(
            f"{card.service} ({card.env}) is rolling out revision {revision} since {since} UTC "
            f"({escape(card.summary)}, by <@{card.actor}>).",
            "Wait until its card says completed or failed, then try again.",
        )
        self.card = card


AUDIT_TEXT = "text"
AUDIT_MRKDWN = "mrkdwn"
# An alarm incident's internal id (bot.alarms.relay): `<account>#<region>#<alarm name>@<opened at>`.
_INCIDENT_ID = re.compile(r"^[^#\s]+#[^#\s]+#.+@(?P<opened>\d{9,11}(?:\.\d+)?)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One request, decision or outcome.

    actor     the Slack user id of who did it (shown as a mention)
    request   what was asked, as the person typed it (or the bot's words for a click): plain text, shown escaped
    decision  the bot's word for what it did: planned, denied, rejected, confirmed, executed, locked, ...
    outcome   what came of it. `outcome_format` says how to read it:
              "mrkdwn"  the bot's own Slack mrkdwn: its mentions of people and channels are meant; any outside
                        text in it (a lock reason, an AWS message, an alarm name) was escaped where it was
                        written, as in every message the bot sends. Every entry the bot writes is so.
              "text"    plain text, shown escaped whole: entries stored before the format was recorded mixed
                        the bot's words with what people typed, so none of their `<...>` can be trusted.
    """

    env: str
    service: str
    actor: str
    request: str
    decision: str
    outcome: str = ""
    plan_id: str = ""
    at: float = 0.0
    id: str = ""
    outcome_format: str = AUDIT_TEXT

    @property
    def when(self) -> datetime:
        return datetime.fromtimestamp(self.at, UTC)

    def outcome_mrkdwn(self) -> str:
        """The outcome as Slack-safe mrkdwn: the bot's own as stored; older plain text escaped (and an alarm
        incident's internal id, which acknowledgements recorded, named by when the incident opened)."""
        if self.outcome_format == AUDIT_MRKDWN:
            return self.outcome
        incident = _INCIDENT_ID.match(self.outcome)
        if incident is not None:
            opened = datetime.fromtimestamp(float(incident.group("opened")), UTC)
            return f"incident opened {opened:%Y-%m-%d %H:%M} UTC"
        return escape(self.outcome)


@dataclass(frozen=True, slots=True)
class LastChange:
    actor: str
    summary: str
    at: float


@dataclass(frozen=True, slots=True)
class DeployCard:
    """Where a deployment is shown in Slack, and what it is."""

    channel: str
    ts: str
    plan_id: str
    env: str
    service: str
    actor: str
    summary: str
    started_at: float
    task_definition: str
    from_task_definition: str
    deployment_id: str | None = None
    release_lock: bool = True
    requested_by: str = ""
    copies: tuple[tuple[str, str], ...] = ()  # (channel, ts) of the card's copies in the routed channels

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> DeployCard:
        return cls(**{**data, "copies": tuple((str(c), str(t)) for c, t in data.get("copies") or ())})


@dataclass(frozen=True, slots=True)
class RecentDeploy:
    """The change of a service's revision that an alarm followed (deploy correlation)."""

    actor: str
    at: float
    summary: str
    from_revision: int
    to_revision: int
    from_tag: str = ""
    to_tag: str = ""


@dataclass(frozen=True, slots=True)
class AlarmCard:
    """Where an alarm's current incident is shown in Slack, and what its card says."""

    key: str
    name: str
    channel: str
    ts: str  # the card; the digest's when in_digest; "" when muted before it was ever shown
    incident: str  # the incident's id: the alarm key and the time it first fired
    state: str
    changed_at: float  # StateChangeTime of the newest notification applied: older ones are stale
    opened_at: float
    resolved_at: float | None = None
    fired: int = 1  # how often it fired in this incident (a flapping alarm keeps its card)
    in_digest: bool = False
    env: str = ""
    service: str | None = None
    region: str = ""
    reason: str = ""
    description: str = ""
    condition: str = ""
    deploy: RecentDeploy | None = None
    copies: tuple[tuple[str, str], ...] = ()  # (channel, ts) of the card in the route's other channels
    foreign: str = ""  # not one of the environments' alarms (alarms.foreign_alarms: show): why, shown on the card

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> AlarmCard:
        deploy = data.get("deploy")
        copies = tuple((str(c), str(t)) for c, t in data.get("copies") or ())
        return cls(**{**data, "deploy": RecentDeploy(**deploy) if deploy else None, "copies": copies})


@dataclass(frozen=True, slots=True)
class AlarmAck:
    by: str
    at: float
    incident: str


@dataclass(frozen=True, slots=True)
class AlarmMute:
    by: str
    at: float
    until: float


@dataclass(frozen=True, slots=True)
class AlarmDone:
    """A change asked for from an alarm card's button (Roll back, Scale up) that ran: its plan executed.
    Written only then (bot.operations' on_executed hook), never for a plan made, cancelled or refused."""

    action: str  # bot.model.Action: rollback, scale
    to: int  # the revision rolled back to; the number of tasks scaled to
    by: str  # who confirmed it (ran it)
    requested_by: str  # who pressed the card's button
    at: float
    incident: str
    plan_id: str = ""


ALARM_DONE_ACTIONS = ("rollback", "scale")  # one item each: the newest change of that kind


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    """Everything stored about one alarm; ack and done count only for the incident they were given in."""

    card: AlarmCard | None = None
    ack: AlarmAck | None = None
    mute: AlarmMute | None = None
    done: tuple[AlarmDone, ...] = ()

    @property
    def current_ack(self) -> AlarmAck | None:
        return self.ack if self.ack and self.card and self.ack.incident == self.card.incident else None

    @property
    def current_done(self) -> tuple[AlarmDone, ...]:
        """What ran from this incident's card, oldest first."""
        incident = self.card.incident if self.card else None
        return tuple(sorted((d for d in self.done if d.incident == incident), key=lambda d: d.at))


ALARM_CARD_TTL_SECONDS = 30 * 86400


class StateStore:
    def __init__(self, clients: ClientFactory, table: str, region: str) -> None:
        self.clients = clients
        self.table = table
        self.region = region

    @property
    def ddb(self) -> Any:
        return self.clients.client("dynamodb", self.region)

    # --- generic items ---------------------------------------------------------------------------

    def put(self, pk: str, sk: str, data: dict[str, Any], expires_at: float | None = None) -> None:
        item: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": sk}, "data": {"S": json.dumps(data)}}
        if expires_at is not None:
            item["expires_at"] = {"N": str(int(expires_at))}
        with aws_operation("Save bot state"):
            self.ddb.put_item(TableName=self.table, Item=item)

    def get(self, pk: str, sk: str, now: float | None = None) -> dict[str, Any] | None:
        with aws_operation("Read bot state"):
            item = self.ddb.get_item(TableName=self.table, Key=_key(pk, sk), ConsistentRead=True).get("Item")
        return _data(item, now)

    def put_new(self, pk: str, sk: str, data: dict[str, Any], expires_at: float | None = None) -> bool:
        """Store the item only if none has this key; False if one has (someone else did it first)."""
        from botocore.exceptions import ClientError

        item: dict[str, Any] = {**_key(pk, sk), "data": {"S": json.dumps(data)}}
        if expires_at is not None:
            item["expires_at"] = {"N": str(int(expires_at))}
        try:
            self.ddb.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            with aws_operation("Save bot state"):
                raise
        return True

    def delete(self, pk: str, sk: str) -> None:
        with aws_operation("Save bot state"):
            self.ddb.delete_item(TableName=self.table, Key=_key(pk, sk))

    def get_many(self, keys: list[tuple[str, str]], now: float | None = None) -> dict[tuple[str, str], dict[str, Any]]:
        """Up to 100 items in one BatchGetItem round trip (retrying unprocessed keys)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        pending = [_key(pk, sk) for pk, sk in dict.fromkeys(keys)]
        attempts = 0
        while pending and attempts < 5:
            attempts += 1
            batch, pending = pending[:100], pending[100:]
            with aws_operation("Read bot state"):
                response = self.ddb.batch_get_item(RequestItems={self.table: {"Keys": batch}})
            for item in response.get("Responses", {}).get(self.table, []):
                data = _data(item, now)
                if data is not None:
                    found[(item["pk"]["S"], item["sk"]["S"])] = data
            pending += response.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
        return found

    def query(
        self,
        pk: str,
        *,
        newest_first: bool = True,
        limit: int = 10,
        sk_between: tuple[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ScanIndexForward": not newest_first,
            "Limit": limit,
        }
        if sk_between is not None:
            kwargs["KeyConditionExpression"] += " AND sk BETWEEN :lo AND :hi"
            kwargs["ExpressionAttributeValues"].update({":lo": {"S": sk_between[0]}, ":hi": {"S": sk_between[1]}})
        with aws_operation("Read bot state"):
            items = self.ddb.query(**kwargs).get("Items", [])
        return [d for d in (_data(item) for item in items) if d is not None]

    # --- plans ------------------------------------------------------------------------------------

    def save_plan(self, plan: Plan) -> None:
        # Kept a day past its expiry so that a late Confirm is told "expired", not "unknown".
        self.put(f"plan#{plan.id}", "plan", {"plan": plan.to_json()}, plan.expires_at + 86400)

    def create_plan(self, plan: Plan) -> bool:
        """Store a new plan; False if a plan with this id exists (the same Slack request, retried)."""
        from botocore.exceptions import ClientError

        item = {
            **_key(f"plan#{plan.id}", "plan"),
            "data": {"S": json.dumps({"plan": plan.to_json()})},
            "status": {"S": plan.status.value},
            "expires_at": {"N": str(int(plan.expires_at + 86400))},
        }
        try:
            self.ddb.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            with aws_operation("Save plan"):
                raise
        return True

    def load_plan(self, plan_id: str) -> Plan | None:
        data = self.get(f"plan#{plan_id}", "plan")
        return Plan.from_json(data["plan"]) if data else None

    def move_plan(self, plan: Plan, expected: PlanStatus) -> bool:
        """Store `plan` only if the stored one is still in `expected` status (compare-and-set)."""
        item = {
            "pk": {"S": f"plan#{plan.id}"},
            "sk": {"S": "plan"},
            "data": {"S": json.dumps({"plan": plan.to_json()})},
            "status": {"S": plan.status.value},
            "expires_at": {"N": str(int(plan.expires_at + 86400))},
        }
        from botocore.exceptions import ClientError

        try:
            with aws_operation("Save plan"):
                self.ddb.put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(#s) OR #s = :expected",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":expected": {"S": expected.value}},
                )
        except BotError as error:
            if isinstance(error.__cause__, ClientError) and "ConditionalCheckFailed" in str(error.__cause__):
                return False
            raise
        return True

    # --- locks ------------------------------------------------------------------------------------

    def acquire_lock(self, env: str, service: str, holder: str, reason: str, ttl_seconds: int) -> Lock:
        """Take the lock, or extend it if `holder` has it; raise LockedError if someone else does."""
        now = time.time()
        lock = Lock(env, service, holder, now, reason, now + ttl_seconds)
        from botocore.exceptions import ClientError

        item = {
            **_key(f"lock#{env}#{service}", "lock"),
            "holder": {"S": holder},
            "data": {"S": json.dumps(asdict(lock))},
            "expires_at": {"N": str(int(lock.expires_at))},
        }
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now OR holder = :holder",
                ExpressionAttributeValues={":now": {"N": str(int(now))}, ":holder": {"S": holder}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                with aws_operation("Take deploy lock"):
                    raise
            old = error.response.get("Item")
            current = self.lock(env, service) if old is None else Lock(**json.loads(old["data"]["S"]))
            if current is None:  # released in between: try once more
                return self.acquire_lock(env, service, holder, reason, ttl_seconds)
            raise LockedError(current) from None
        return lock

    def lock(self, env: str, service: str) -> Lock | None:
        data = self.get(f"lock#{env}#{service}", "lock")
        return Lock(**data) if data else None

    def release_lock(self, env: str, service: str, holder: str | None = None) -> bool:
        """Release the lock (only `holder`'s, when given). Returns whether a lock was removed."""
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"TableName": self.table, "Key": _key(f"lock#{env}#{service}", "lock")}
        if holder is not None:
            kwargs["ConditionExpression"] = "holder = :holder"
            kwargs["ExpressionAttributeValues"] = {":holder": {"S": holder}}
        else:
            kwargs["ConditionExpression"] = "attribute_exists(pk)"
        try:
            self.ddb.delete_item(**kwargs)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            with aws_operation("Release deploy lock"):
                raise
        return True

    # --- audit --------------------------------------------------------------------------------------

    def audit(self, entry: AuditEntry) -> AuditEntry:
        """Record one request, decision or outcome: two items (per service, per environment) and a log line."""
        at = entry.at or time.time()
        stored = AuditEntry(**{**asdict(entry), "at": at, "id": entry.id or uuid.uuid4().hex[:12]})
        AUDIT_LOG.info(json.dumps({"audit": asdict(stored)}, sort_keys=True))
        sk = f"{datetime.fromtimestamp(at, UTC).isoformat()}#{stored.id}"
        for scope in (stored.service or "-", "*"):
            self.put(f"audit#{stored.env}#{scope}", sk, asdict(stored), at + AUDIT_RETENTION_SECONDS)
        return stored

    def audit_safe(
        self,
        env: str,
        service: str,
        actor: str,
        request: str,
        decision: str,
        outcome: str = "",
        plan_id: str = "",
    ) -> None:
        """Audit without letting a failed write hide the result from the person (the log line stays).
        `request` is plain text; `outcome` is the bot's mrkdwn, outside text in it escaped (AuditEntry)."""
        try:
            self.audit(
                AuditEntry(env, service, actor, request, decision, outcome, plan_id, outcome_format=AUDIT_MRKDWN)
            )
        except BotError:
            logging.getLogger(__name__).exception("audit write failed")

    def audit_trail(
        self,
        env: str,
        service: str | None = None,
        limit: int = 10,
        between: tuple[datetime, datetime] | None = None,
    ) -> list[AuditEntry]:
        bounds = None
        if between is not None:
            bounds = (between[0].astimezone(UTC).isoformat(), between[1].astimezone(UTC).isoformat() + "~")
        items = self.query(f"audit#{env}#{service or '*'}", limit=limit, sk_between=bounds)
        return [AuditEntry(**item) for item in items]

    # --- last change, image cache ---------------------------------------------------------------------

    def set_last_change(self, env: str, service: str, change: LastChange) -> None:
        self.put(f"change#{env}#{service}", "last", asdict(change))

    @staticmethod
    def image_key(task_definition: str) -> tuple[str, str]:
        return (f"image#{task_definition}", "image")

    @staticmethod
    def change_key(env: str, service: str) -> tuple[str, str]:
        return (f"change#{env}#{service}", "last")

    def cache_image(self, task_definition: str, image: str) -> None:
        self.put(*self.image_key(task_definition), {"image": image})

    def last_change(self, env: str, service: str) -> LastChange | None:
        data = self.get(*self.change_key(env, service))
        return LastChange(**data) if data else None

    # --- alarm cards ------------------------------------------------------------------------------

    @staticmethod
    def alarm_key(alarm_key: str, kind: str) -> tuple[str, str]:
        """(pk, sk) of an alarm's `card`, `ack`, `mute` or `done#<action>`."""
        return (f"alarm#{alarm_key}", kind)

    def alarm_records(self, alarm_keys: list[str], now: float | None = None) -> dict[str, AlarmRecord]:
        """Card, acknowledgement, mute and what ran from the card, of each alarm, in BatchGetItem round trips
        of 100 items (a batch of 20 alarms is one)."""
        kinds = ("card", "ack", "mute", *(f"done#{action}" for action in ALARM_DONE_ACTIONS))
        found = self.get_many([self.alarm_key(k, kind) for k in alarm_keys for kind in kinds], now)
        records = {}
        for key in alarm_keys:
            card = found.get(self.alarm_key(key, "card"))
            ack = found.get(self.alarm_key(key, "ack"))
            mute = found.get(self.alarm_key(key, "mute"))
            done = [found.get(self.alarm_key(key, f"done#{action}")) for action in ALARM_DONE_ACTIONS]
            records[key] = AlarmRecord(
                AlarmCard.from_data(card) if card else None,
                AlarmAck(**ack) if ack else None,
                AlarmMute(**mute) if mute else None,
                tuple(AlarmDone(**d) for d in done if d),
            )
        return records

    def alarm_record(self, alarm_key: str, now: float | None = None) -> AlarmRecord:
        return self.alarm_records([alarm_key], now)[alarm_key]

    def save_alarm_card(self, card: AlarmCard, now: float | None = None) -> None:
        expires = (now or time.time()) + ALARM_CARD_TTL_SECONDS
        self.put(*self.alarm_key(card.key, "card"), asdict(card), expires)

    def acknowledge_alarm(self, alarm_key: str, ack: AlarmAck) -> None:
        self.put(*self.alarm_key(alarm_key, "ack"), asdict(ack), ack.at + ALARM_CARD_TTL_SECONDS)

    def mute_alarm(self, alarm_key: str, mute: AlarmMute) -> None:
        """Stored with the mute's end as its expiry: once it passes, reads find no mute."""
        self.put(*self.alarm_key(alarm_key, "mute"), asdict(mute), mute.until)

    def alarm_action_done(self, alarm_key: str, done: AlarmDone) -> None:
        """Record a change from the alarm's card that ran (one item per kind of change: its newest)."""
        self.put(*self.alarm_key(alarm_key, f"done#{done.action}"), asdict(done), done.at + ALARM_CARD_TTL_SECONDS)

    # --- deploy cards -----------------------------------------------------------------------------

    def save_deploy_card(self, service_arn: str, card: DeployCard, ttl_seconds: int = 7 * 86400) -> None:
        self.put(f"card#{service_arn}", "deploy", asdict(card), time.time() + ttl_seconds)

    def deploy_card(self, service_arn: str) -> DeployCard | None:
        data = self.get(f"card#{service_arn}", "deploy")
        return DeployCard.from_data(data) if data else None

    def deploy_cards(self, service_arns: list[str]) -> dict[str, DeployCard]:
        """The open deploy cards of these services, in one BatchGetItem (per 100), by service ARN."""
        found = self.get_many([(f"card#{arn}", "deploy") for arn in service_arns])
        return {pk.removeprefix("card#"): DeployCard.from_data(data) for (pk, _), data in found.items()}

    def take_deploy_card(self, service_arn: str) -> DeployCard | None:
        """Remove the card and return it, to exactly one caller: the one that ends the deployment."""
        from botocore.exceptions import ClientError

        try:
            with aws_operation("Save bot state"):
                old = self.ddb.delete_item(
                    TableName=self.table,
                    Key=_key(f"card#{service_arn}", "deploy"),
                    ConditionExpression="attribute_exists(pk)",
                    ReturnValues="ALL_OLD",
                ).get("Attributes")
        except BotError as error:
            if isinstance(error.__cause__, ClientError) and "ConditionalCheckFailed" in str(error.__cause__):
                return None
            raise
        data = _data(old)
        return DeployCard.from_data(data) if data else None


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _data(item: dict[str, Any] | None, now: float | None = None) -> dict[str, Any] | None:
    if not item:
        return None
    expires = item.get("expires_at", {}).get("N")
    if expires is not None and float(expires) <= (now if now is not None else time.time()):
        return None
    loaded: dict[str, Any] = json.loads(item["data"]["S"])
    return loaded
