"""bot/stores.py over moto: the items the deployed table already holds load as they are, new ones are written in
the same layout, and time is the injected clock's (a plan's expiry is computed and checked on one clock)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from harness import ADMIN, CHANNEL, DEPLOYER

from bot.aws import ClientFactory, recorded_calls
from bot.config import Config
from bot.model import Action, PlanStatus
from bot.stores import AuditEntry, AuditLog, LastChange, LockedError, LockStore, PlanStore, StatusCache
from bot.table import Table
from sandbox.seed import Seeded

NOW = 1_790_000_000.0  # a pinned clock, far from the real time

# A plan item exactly as the version before bot/stores.py wrote it (StateStore.create_plan: Plan.to_json, keys
# sorted, in `data` under "plan"), and one written before rollbacks recorded `via` and `from_alarm`.
OLD_PLAN = {
    "action": "rollback",
    "alarms": ["service-a-5xx"],
    "changes": [
        {"label": "image", "new": "v1.1.0", "old": "v1.2.0"},
        {"label": "task definition", "new": "svc:2", "old": "svc:3"},
    ],
    "channel": CHANNEL,
    "confirmed_by": None,
    "created_at": 1733000000.25,
    "desired_count": None,
    "env": "production",
    "expires_at": 1733000900.25,
    "from_alarm": None,
    "from_desired": 2,
    "from_scaling": {"max_capacity": 4, "min_capacity": 1},
    "from_task_definition": "arn:aws:ecs:us-east-1:123456789012:task-definition/svc:3",
    "id": "0123456789abcdef",
    "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/svc:v1.1.0",
    "lock_holder": None,
    "lock_reason": None,
    "message_ts": "1733000000.000100",
    "note": None,
    "requested_by": DEPLOYER,
    "scaling": None,
    "service": "service-a",
    "status": "pending",
    "to_task_definition": "arn:aws:ecs:us-east-1:123456789012:task-definition/svc:2",
    "via": "/rollback",
}


def ddb() -> Any:
    return boto3.client("dynamodb", region_name="us-east-1")


def table(config: Config, now: float = NOW) -> Table:
    return Table(ClientFactory(), config.state_table, "us-east-1", lambda: now)


def raw(config: Config, pk: str, sk: str) -> dict[str, Any]:
    item: dict[str, Any] = ddb().get_item(TableName=config.state_table, Key={"pk": {"S": pk}, "sk": {"S": sk}})["Item"]
    return item


def put_old_plan(config: Config, plan: dict[str, Any]) -> None:
    ddb().put_item(
        TableName=config.state_table,
        Item={
            "pk": {"S": f"plan#{plan['id']}"},
            "sk": {"S": "plan"},
            "data": {"S": json.dumps({"plan": json.dumps(plan, sort_keys=True)})},
            "status": {"S": plan["status"]},
            "expires_at": {"N": str(int(plan["expires_at"] + 86400))},
        },
    )


def test_a_plan_stored_by_the_previous_version_still_loads(config: Config, aws: Seeded) -> None:
    put_old_plan(config, OLD_PLAN)
    older = {k: v for k, v in OLD_PLAN.items() if k not in ("via", "from_alarm")} | {"id": "00000000000000aa"}
    put_old_plan(config, older)
    plans = PlanStore(table(config, now=1733000000.0))

    plan = plans.load(OLD_PLAN["id"])
    assert plan is not None
    assert (plan.action, plan.status, plan.via, plan.created_at) == (
        Action.ROLLBACK,
        PlanStatus.PENDING,
        "/rollback",
        1733000000.25,
    )
    assert [c.new for c in plan.changes] == ["v1.1.0", "svc:2"]
    assert plan.from_scaling is not None
    assert plan.from_scaling.max_capacity == 4
    assert plan.summary == "rollback service-a revision 2 (production)"
    old = plans.load("00000000000000aa")
    assert old is not None
    assert (old.via, old.from_alarm) == (None, None)

    # It moves on (compare-and-set on its status attribute) like a plan this version made.
    plan.status = PlanStatus.EXECUTING
    assert plans.move(plan, PlanStatus.PENDING)
    assert not plans.move(plan, PlanStatus.PENDING)


def test_a_plan_is_stored_in_the_layout_of_the_deployed_table(config: Config, aws: Seeded) -> None:
    put_old_plan(config, OLD_PLAN)
    before = raw(config, f"plan#{OLD_PLAN['id']}", "plan")
    plans = PlanStore(table(config, now=1733000000.0))
    plan = plans.load(OLD_PLAN["id"])
    assert plan is not None
    ddb().delete_item(TableName=config.state_table, Key={"pk": before["pk"], "sk": before["sk"]})

    assert plans.create(plan)
    assert not plans.create(plan)  # the same request again
    assert raw(config, f"plan#{OLD_PLAN['id']}", "plan") == before


def test_a_lock_is_taken_on_the_tables_clock(config: Config, aws: Seeded) -> None:
    locks = LockStore(table(config))
    lock = locks.acquire("production", "service-a", DEPLOYER, "db migration", 600)
    assert (lock.since, lock.expires_at) == (NOW, NOW + 600)
    item = raw(config, "lock#production#service-a", "lock")
    assert item["holder"] == {"S": DEPLOYER}
    assert item["expires_at"] == {"N": str(int(NOW + 600))}
    assert json.loads(item["data"]["S"]) == {
        "env": "production",
        "service": "service-a",
        "holder": DEPLOYER,
        "since": NOW,
        "reason": "db migration",
        "expires_at": NOW + 600,
    }
    with pytest.raises(LockedError) as refused:
        locks.acquire("production", "service-a", ADMIN, "mine", 600)
    assert refused.value.lock == lock
    # Ten minutes on, on the same clock, it has expired: anyone may take it.
    later = LockStore(table(config, now=NOW + 601))
    assert later.get("production", "service-a") is None
    assert later.acquire("production", "service-a", ADMIN, "mine", 600).holder == ADMIN
    assert not later.release("production", "service-a", DEPLOYER)
    assert later.release("production", "service-a", ADMIN)
    assert not later.release("production", "service-a")


def test_the_audit_is_dated_by_the_tables_clock_and_bound_once_per_request(config: Config, aws: Seeded) -> None:
    audit = AuditLog(table(config))
    bound = audit.bound("production", "service-a", DEPLOYER, "/deploy service-a v1.3.0", "p1")
    bound("planned", "deploy service-a v1.3.0 (production)")
    bound("denied", "Four-eyes")
    audit.record(AuditEntry("production", "", ADMIN, "/ops unlock", "unlocked", at=NOW - 60))
    trail = audit.trail("production", "service-a")
    assert sorted((e.decision, e.at, e.plan_id, e.actor, e.outcome_format) for e in trail) == [
        ("denied", NOW, "p1", DEPLOYER, "mrkdwn"),
        ("planned", NOW, "p1", DEPLOYER, "mrkdwn"),
    ]
    assert {e.decision for e in audit.trail("production")} == {"planned", "denied", "unlocked"}


def test_the_status_cache_is_read_in_one_batch(config: Config, aws: Seeded) -> None:
    cache = StatusCache(table(config))
    cache.set_last_change("production", "service-a", LastChange(DEPLOYER, "deploy service-a v1.3.0 (production)", NOW))
    cache.cache_image("arn:td/svc:4", "repo/svc:v1.3.0")
    with recorded_calls() as calls:
        changes, images = cache.read("production", ["service-a", "service-b"], ["arn:td/svc:4", "arn:td/svc:3"])
    assert calls.count("dynamodb:BatchGetItem") == 1
    assert changes == {"service-a": LastChange(DEPLOYER, "deploy service-a v1.3.0 (production)", NOW)}
    assert images == {"arn:td/svc:4": "repo/svc:v1.3.0"}
    assert cache.last_change("production", "service-b") is None
