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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from bot.alarms.store import (
    ALARM_CARD_TTL_SECONDS,
    ALARM_DONE_ACTIONS,
    AlarmAck,
    AlarmCard,
    AlarmDone,
    AlarmMute,
    AlarmRecord,
    AlarmStore,
    RecentDeploy,
)
from bot.aws import ClientFactory
from bot.clock import Clock, system_clock
from bot.deployments import DeployCard, DeployCards, DeploymentTracker, RollingOutError
from bot.errors import BotError, aws_operation
from bot.history import RevisionHistory
from bot.model import Plan, PlanStatus
from bot.slack import SlackPort
from bot.slack_text import escape
from bot.table import Table

# Moved to bot.alarms.store and bot.deployments; named here until issue 17.1.
__all__ = [
    "ALARM_CARD_TTL_SECONDS",
    "ALARM_DONE_ACTIONS",
    "AlarmCard",
    "AlarmRecord",
    "DeployCard",
    "RecentDeploy",
    "RollingOutError",
]

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


class StateStore(Table):
    """Until issue 17.1 wires the stores per aggregate: the old one-for-everything store, over the Table
    (whose data-item methods it inherits) and delegating to the new stores."""

    def __init__(self, clients: ClientFactory, table: str, region: str, clock: Clock = system_clock) -> None:
        super().__init__(clients, table, region, clock)
        self.table = table

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

    # --- alarm cards (bot.alarms.store.AlarmStore) ----------------------------------------------------

    def alarm_records(self, alarm_keys: list[str], now: float | None = None) -> dict[str, AlarmRecord]:
        return AlarmStore(self).records(alarm_keys, now)

    def alarm_record(self, alarm_key: str, now: float | None = None) -> AlarmRecord:
        return AlarmStore(self).record(alarm_key, now)

    def save_alarm_card(self, card: AlarmCard, now: float | None = None) -> None:
        AlarmStore(self).save_card(card, now)

    def acknowledge_alarm(self, alarm_key: str, ack: AlarmAck) -> None:
        AlarmStore(self).acknowledge(alarm_key, ack)

    def mute_alarm(self, alarm_key: str, mute: AlarmMute) -> None:
        AlarmStore(self).mute(alarm_key, mute)

    def alarm_action_done(self, alarm_key: str, done: AlarmDone) -> None:
        AlarmStore(self).done(alarm_key, done)

    # --- deploy cards (bot.deployments.DeployCards) ----------------------------------------------------

    def save_deploy_card(self, service_arn: str, card: DeployCard, ttl_seconds: int = 7 * 86400) -> None:
        DeployCards(self).save(service_arn, card, ttl_seconds)

    def deploy_card(self, service_arn: str) -> DeployCard | None:
        return DeployCards(self).get(service_arn)

    def deploy_cards(self, service_arns: list[str]) -> dict[str, DeployCard]:
        return DeployCards(self).many(service_arns)

    def take_deploy_card(self, service_arn: str) -> DeployCard | None:
        return DeployCards(self).take(service_arn)

    def deployment_tracker(
        self,
        slack: SlackPort,
        clock: Clock,
        running: Callable[[DeployCard], str | None] = lambda card: None,
    ) -> DeploymentTracker:
        """The tracker over this table (until issue 17.1 builds it from the stores)."""
        legacy = _LegacyStores(self)
        history = RevisionHistory(self, clock)
        return DeploymentTracker(DeployCards(self), legacy, legacy, legacy, history, slack, clock, running)


class _LegacyStores:
    """A StateStore as the locks, audit and plans DeploymentTracker takes (until issue 17.1)."""

    def __init__(self, state: StateStore) -> None:
        self.state = state

    def release(self, env: str, service: str, holder: str | None = None) -> bool:
        return self.state.release_lock(env, service, holder)

    def record_safe(
        self,
        env: str,
        service: str,
        actor: str,
        request: str,
        decision: str,
        outcome: str = "",
        plan_id: str = "",
    ) -> None:
        self.state.audit_safe(env, service, actor, request, decision, outcome, plan_id)

    def load(self, plan_id: str) -> Plan | None:
        return self.state.load_plan(plan_id)


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}
