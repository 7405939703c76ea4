"""The core stores of the bot's table (bot.table): plans, deploy locks, the audit trail and the status cache.

    plan#<id>                      plan                   a plan until it is confirmed, cancelled or expires
    lock#<env>#<service>           lock                   deploy lock (conditional writes)
    audit#<env>#<service|*>        <iso time>#<id>        audit trail, per service and per environment
    change#<env>#<service>         last                   who made the last change, and what
    image#<task definition arn>    image                  image of a revision (immutable, so cached forever)

The layout (keys, attributes, the JSON in `data`) is what the deployed table holds: items written by
earlier versions of the bot load as they are. Time is the Table's clock: a plan's expiry, a lock's and
an audit entry's time are computed on the clock that reads them.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from bot.errors import BotError
from bot.model import Plan, PlanStatus
from bot.slack_text import escape
from bot.table import EXISTING_KEY, NEW_KEY, Codec, Condition, Table, item_of

# A child of "bot": the Lambda handlers hand Powertools' configuration to the "bot" loggers
# (handlers.runtime.share_logging), so this line reaches the function's log. Its own level keeps it there
# when the functions' LogLevel is raised above INFO: the audit trail is a record, not diagnostics.
AUDIT_LOG = logging.getLogger("bot.audit")
AUDIT_LOG.setLevel(logging.INFO)
AUDIT_RETENTION_SECONDS = 400 * 24 * 3600
PLAN_KEPT_SECONDS = 86400  # past its expiry, so that a late Confirm is told "expired", not "unknown"

log = logging.getLogger(__name__)


# --- plans -------------------------------------------------------------------------------------------

# A plan is stored as {"plan": "<the plan's JSON, keys sorted>"} in `data`, with its status as an
# attribute of its own (the compare-and-set of move() reads it).
PLAN = Codec(Plan)


def plan_json(plan: Plan) -> str:
    return json.dumps(PLAN.dump(plan), sort_keys=True)


def plan_of_json(raw: str) -> Plan:
    return PLAN.load(json.loads(raw))


class PlanStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def create(self, plan: Plan) -> bool:
        """Store a new plan; False if a plan with this id exists (the same Slack request, retried)."""
        return self.table.put_item(self._item(plan), NEW_KEY, what="Save plan").ok

    def save(self, plan: Plan) -> None:
        """Store the plan whatever is stored (no compare-and-set)."""
        self.table.put_item(self._item(plan), what="Save plan")

    def load(self, plan_id: str) -> Plan | None:
        data = self.table.get(f"plan#{plan_id}", "plan")
        return plan_of_json(data["plan"]) if data else None

    def move(self, plan: Plan, expected: PlanStatus) -> bool:
        """Store `plan` only if the stored one is still in `expected` status (compare-and-set)."""
        moved = Condition(
            "attribute_not_exists(#s) OR #s = :expected", {":expected": {"S": expected.value}}, {"#s": "status"}
        )
        return self.table.put_item(self._item(plan), moved, what="Save plan").ok

    @staticmethod
    def _item(plan: Plan) -> dict[str, Any]:
        return item_of(
            f"plan#{plan.id}",
            "plan",
            {"plan": plan_json(plan)},
            plan.expires_at + PLAN_KEPT_SECONDS,
            status={"S": plan.status.value},
        )


# --- locks -------------------------------------------------------------------------------------------


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


LOCK = Codec(Lock)


class LockedError(BotError):
    def __init__(self, lock: Lock) -> None:
        reason = f": {escape(lock.reason)}" if lock.reason else ""
        super().__init__(
            f"{lock.service} ({lock.env}) is locked by <@{lock.holder}> since {lock.since_text}{reason}.",
            "Ask them to finish or `/ops unlock` it, or wait until the lock expires.",
        )
        self.lock = lock


class LockStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def acquire(self, env: str, service: str, holder: str, reason: str, ttl_seconds: int, plan: str = "") -> Lock:
        """Take the lock, or extend it if `holder` has it; raise LockedError if someone else does. `plan`: the
        change that holds it until its rollout ends (bot.operations), which gives back only that hold: the same
        holder's /ops lock meanwhile replaces it, and is kept."""
        now = self.table.clock()
        lock = Lock(env, service, holder, now, reason, now + ttl_seconds)
        held_for = {"plan": {"S": plan}} if plan else {}
        item = item_of(
            f"lock#{env}#{service}", "lock", LOCK.dump(lock), lock.expires_at, holder={"S": holder}, **held_for
        )
        free = Condition(
            "attribute_not_exists(pk) OR expires_at < :now OR holder = :holder",
            {":now": {"N": str(int(now))}, ":holder": {"S": holder}},
        )
        written = self.table.put_item(item, free, what="Take deploy lock")
        if written.ok:
            return lock
        # The lock that refused it, as stored (not checked for expiry: DynamoDB found it unexpired).
        current = self.get(env, service) if written.old is None else LOCK.load(json.loads(written.old["data"]["S"]))
        if current is None:  # released in between: try once more
            return self.acquire(env, service, holder, reason, ttl_seconds, plan)
        raise LockedError(current)

    def get(self, env: str, service: str) -> Lock | None:
        data = self.table.get(f"lock#{env}#{service}", "lock")
        return LOCK.load(data) if data else None

    def many(self, env: str, services: list[str]) -> dict[str, Lock]:
        """The unexpired locks of these services, in one BatchGetItem (per 100), by service (the App Home)."""
        found = self.table.get_many([(f"lock#{env}#{service}", "lock") for service in services])
        return {pk.rpartition("#")[2]: LOCK.load(data) for (pk, _), data in found.items()}

    def release(self, env: str, service: str, holder: str | None = None, plan: str = "") -> bool:
        """Release the lock (only `holder`'s, when given; only the hold of `plan`, when given). Returns whether a
        lock was removed."""
        held = EXISTING_KEY if holder is None else Condition("holder = :holder", {":holder": {"S": holder}})
        if plan:
            held = Condition(
                f"{held.expression} AND #plan = :plan",
                {**held.values, ":plan": {"S": plan}},
                {**held.names, "#plan": "plan"},
            )
        return self.table.delete_item(f"lock#{env}#{service}", "lock", held, what="Release deploy lock").ok


# --- audit -------------------------------------------------------------------------------------------

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

    @property
    def command(self) -> str:
        """The request as it would be typed: a confirmed plan's "/scale confirm scale service-b 4 (production)"
        is "/scale service-b 4"; a typed command or a card button's words lose only a trailing "(...)"."""
        request = re.sub(r"\s+\([^()]*\)$", "", self.request.strip())
        match = re.match(r"^/\w+ confirm (\w+) (.+)$", request)
        return f"/{match.group(1)} {match.group(2)}" if match else request

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


AUDIT = Codec(AuditEntry)


class AuditLog:
    def __init__(self, table: Table) -> None:
        self.table = table

    def record(self, entry: AuditEntry) -> AuditEntry:
        """Record one request, decision or outcome: two items (per service, per environment) and a log line."""
        at = entry.at or self.table.clock()
        stored = replace(entry, at=at, id=entry.id or uuid.uuid4().hex[:12])
        data = AUDIT.dump(stored)
        AUDIT_LOG.info(json.dumps({"audit": data}, sort_keys=True))
        sk = f"{datetime.fromtimestamp(at, UTC).isoformat()}#{stored.id}"
        for scope in (stored.service or "-", "*"):
            self.table.put(f"audit#{stored.env}#{scope}", sk, data, at + AUDIT_RETENTION_SECONDS)
        return stored

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
        """Audit without letting a failed write hide the result from the person (the log line stays).
        `request` is plain text; `outcome` is the bot's mrkdwn, outside text in it escaped (AuditEntry)."""
        try:
            self.record(
                AuditEntry(env, service, actor, request, decision, outcome, plan_id, outcome_format=AUDIT_MRKDWN)
            )
        except BotError:
            log.exception("audit write failed")

    def bound(self, env: str, service: str, actor: str, request: str, plan_id: str = "") -> Audit:
        """The audit of one request by one person: `audit("denied", reason)` records a decision of it."""
        return Audit(self, env, service, actor, request, plan_id)

    def trail(
        self,
        env: str,
        service: str | None = None,
        limit: int = 10,
        between: tuple[datetime, datetime] | None = None,
    ) -> list[AuditEntry]:
        bounds = None
        if between is not None:
            bounds = (between[0].astimezone(UTC).isoformat(), between[1].astimezone(UTC).isoformat() + "~")
        items = self.table.query(f"audit#{env}#{service or '*'}", limit=limit, sk_between=bounds)
        return [AUDIT.load(item) for item in items]


@dataclass(frozen=True, slots=True)
class Audit:
    """An AuditLog bound to one request of one person (and its plan): each call records a decision."""

    log: AuditLog
    env: str
    service: str
    actor: str
    request: str
    plan_id: str = ""

    def __call__(self, decision: str, outcome: str = "") -> None:
        self.log.record_safe(self.env, self.service, self.actor, self.request, decision, outcome, self.plan_id)

    def of_plan(self, plan_id: str) -> Audit:
        """The same request's audit once it made a plan: its later decisions name the plan."""
        return replace(self, plan_id=plan_id)


# --- last change, image cache ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LastChange:
    actor: str
    summary: str
    at: float


LAST_CHANGE = Codec(LastChange)


def change_key(env: str, service: str) -> tuple[str, str]:
    return (f"change#{env}#{service}", "last")


def image_key(task_definition: str) -> tuple[str, str]:
    return (f"image#{task_definition}", "image")


class StatusCache:
    """What /status shows beside ECS: who made each service's last change, and each revision's image."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def set_last_change(self, env: str, service: str, change: LastChange) -> None:
        self.table.put(*change_key(env, service), LAST_CHANGE.dump(change))

    def last_change(self, env: str, service: str) -> LastChange | None:
        data = self.table.get(*change_key(env, service))
        return LAST_CHANGE.load(data) if data else None

    def cache_image(self, task_definition: str, image: str) -> None:
        self.table.put(*image_key(task_definition), {"image": image})

    def image(self, task_definition: str) -> str | None:
        data = self.table.get(*image_key(task_definition))
        return str(data["image"]) if data else None

    def read(
        self, env: str, services: list[str], task_definitions: list[str]
    ) -> tuple[dict[str, LastChange], dict[str, str]]:
        """Each service's last change and each task definition's cached image, in one BatchGetItem (per 100)."""
        keys = [change_key(env, s) for s in services] + [image_key(t) for t in task_definitions]
        found = self.table.get_many(keys)
        changes = {s: LAST_CHANGE.load(found[change_key(env, s)]) for s in services if change_key(env, s) in found}
        images = {t: str(found[image_key(t)]["image"]) for t in task_definitions if image_key(t) in found}
        return changes, images
