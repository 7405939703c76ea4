"""A plan's expiry is computed on the clock that checks it: the planner and Operations share the injected clock,
and so does the table that keeps the plan."""

from __future__ import annotations

import json

import pytest
from harness import ADMIN, CHANNEL

from bot.access import AccessPolicy
from bot.aws import ClientFactory
from bot.commands import Scale
from bot.config import Config
from bot.deployments import DeployCards, DeploymentTracker
from bot.history import RevisionHistory
from bot.operations import Operations
from bot.plans import Requester, plan_id
from bot.platform import Platform
from bot.slack import Message
from bot.stores import AuditLog, LockStore, PlanStore, StatusCache
from bot.table import Table
from sandbox.seed import Seeded


class Cards:
    """SlackPort: the cards posted and updated, by ts."""

    def __init__(self) -> None:
        self.cards: dict[str, Message] = {}

    def post(self, channel: str, msg: Message, thread_ts: str | None = None, broadcast: bool = False) -> str:
        ts = f"{len(self.cards) + 1}.000"
        self.cards[ts] = msg
        return ts

    def update(self, channel: str, ts: str, msg: Message) -> None:
        self.cards[ts] = msg


def operations(config: Config, clock: list[float], slack: Cards) -> Operations:
    clients = ClientFactory()
    table = Table(clients, config.state_table, "us-east-1", lambda: clock[0])
    tracker = DeploymentTracker(
        DeployCards(table), LockStore(table), AuditLog(table), PlanStore(table), RevisionHistory(table), slack
    )
    return Operations(
        config,
        Platform(config, clients),
        AccessPolicy(config, lambda group: []),
        slack,
        plans=PlanStore(table),
        locks=LockStore(table),
        audit=AuditLog(table),
        status=StatusCache(table),
        cards=DeployCards(table),
        history=RevisionHistory(table),
        supersede=tracker.superseded,
        clock=lambda: clock[0],
    )


@pytest.mark.parametrize("offset", [-7200.0, 7200.0], ids=["clock-behind", "clock-ahead"])
def test_a_plan_expires_on_the_clock_that_checks_it(config: Config, aws: Seeded, offset: float) -> None:
    """Defect: the planner dated plans by the system time while Operations checked them on its injected clock,
    so with a clock ahead of the real time every plan was already expired, and behind it none ever expired."""
    import time

    clock = [time.time() + offset]
    made = clock[0]
    slack, answers = Cards(), []
    ops = operations(config, clock, slack)
    for key in ("trigger-a", "trigger-b"):
        ops.request(Scale("service-a", 3, "production"), Requester(ADMIN, CHANNEL, key), "/scale", answers.append)
    assert answers == []
    assert len(slack.cards) == 2
    plans = PlanStore(Table(ClientFactory(), config.state_table, "us-east-1", lambda: made))
    first, second = plans.load(plan_id("trigger-a")), plans.load(plan_id("trigger-b"))
    assert first is not None
    assert second is not None
    assert (first.created_at, first.expires_at) == (made, made + 15 * 60)

    clock[0] = made + 15 * 60 - 1  # just before its expiry, on the same clock: it runs
    ops.confirm(first.id, Requester(ADMIN, CHANNEL, "click-a", message_ts="1.000"), answers.append)
    assert answers == []
    assert "Done: desired 3" in json.dumps(slack.cards["1.000"])

    clock[0] = made + 15 * 60 + 1  # just past its expiry: refused as expired
    ops.confirm(second.id, Requester(ADMIN, CHANNEL, "click-b", message_ts="2.000"), answers.append)
    [refusal] = answers
    assert "expired" in json.dumps(refusal)
