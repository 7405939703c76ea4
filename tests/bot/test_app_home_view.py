"""The App Home's view (bot.home_view), pure: within Slack's 100 blocks with a visible cut, outside text escaped."""

from __future__ import annotations

import json

from bot.home_view import (
    DEPLOY_ACTION,
    HOME_BLOCKS,
    LOCK_ACTION,
    UNLOCK_ACTION,
    EnvironmentHome,
    Rollout,
    ServiceLine,
    home_view,
    parse_value,
)
from bot.model import ServiceState
from bot.stores import AuditEntry, Lock

NOW = 1_800_000_000.0
TD = "arn:aws:ecs:us-east-1:123456789012:task-definition/p-production-{}:{}"
HOSTILE = "<!channel> <https://evil.example|click> <@U0ADMIN>"


def state(name: str, revision: int = 3) -> ServiceState:
    return ServiceState(name, "production", True, "ACTIVE", 2, 2, 0, TD.format(name, revision), "COMPLETED")


def texts(view: dict[str, object]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def test_a_service_shows_revision_tag_counts_alarms_lock_rollout_and_buttons() -> None:
    lock = Lock("production", "service-a", "U0OPERATOR", NOW - 60, "db migration", NOW + 3600)
    line = ServiceLine(
        state("service-a", 4),
        "v1.3.0",
        ("p-production-service-a-cpu-high",),
        lock,
        Rollout(5, NOW - 30, "deploy service-a v1.4.0 (production)", "U0DEPLOYER"),
    )
    change = AuditEntry("production", "service-a", "U0DEPLOYER", "/deploy service-a v1.3.0", "executed", at=NOW - 600)
    env = EnvironmentHome("production", "deployer", (line,), (change,))
    view = home_view([env], NOW)
    shown = texts(view)
    assert view["type"] == "home"
    assert "revision 4, image `v1.3.0`" in shown
    assert "tasks: 2 running / 2 desired" in shown
    assert "rolling out revision 5" in shown
    assert "<@U0DEPLOYER>" in shown
    assert "`p-production-service-a-cpu-high`" in shown
    assert "locked by <@U0OPERATOR>" in shown
    assert "db migration" in shown
    assert "`/deploy service-a v1.3.0`" in shown
    buttons = [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]  # type: ignore[index,union-attr]
    ids = [b["action_id"] for b in buttons]
    assert ids == [DEPLOY_ACTION, "home_scale", "home_rollback", UNLOCK_ACTION]  # locked: Unlock, not Lock
    assert buttons[0]["value"] == "production:service-a"  # no channel: the bot works it out (plan_channel)
    assert parse_value(buttons[0]["value"]) == ("production", "service-a")
    assert parse_value("production:service-a:C0ELSEWHERE") == ("production", "service-a")  # a home published before


def test_an_unlocked_service_offers_lock() -> None:
    view = home_view([EnvironmentHome("staging", "deployer", (ServiceLine(state("service-b")),))], NOW)
    ids = [e["action_id"] for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]  # type: ignore[index,union-attr]
    assert LOCK_ACTION in ids
    assert UNLOCK_ACTION not in ids


def test_outside_text_is_escaped() -> None:
    lock = Lock("production", "service-a", "U0OPERATOR", NOW - 60, HOSTILE, NOW + 3600)
    line = ServiceLine(state("service-a"), HOSTILE, (HOSTILE,), lock, Rollout(4, NOW, HOSTILE, "U0DEPLOYER"))
    change = AuditEntry("production", "service-a", "U0DEPLOYER", f"/deploy service-a {HOSTILE}", "executed", at=NOW)
    view = home_view([EnvironmentHome("production", "admin", (line,), (change,), (HOSTILE,))], NOW)
    shown = texts(view)
    assert "<!channel>" not in shown
    assert "<https://evil" not in shown
    assert "<@U0ADMIN>" not in shown  # a mention someone typed is shown, never made
    assert "&lt;!channel&gt;" in shown


def test_many_services_are_cut_evenly_with_a_visible_line_per_environment() -> None:
    services = tuple(ServiceLine(state(f"service-{i:02d}")) for i in range(40))
    envs = [EnvironmentHome(name, "viewer", services) for name in ("production", "staging", "dev")]
    blocks = home_view(envs, NOW)["blocks"]
    assert len(blocks) <= HOME_BLOCKS  # type: ignore[arg-type]
    shown = texts({"blocks": blocks})
    for name in ("production", "staging", "dev"):
        assert f"{name} · you are viewer" in shown
        assert f"more services of {name} not shown" in shown
    buttons = sum(1 for b in blocks if b["type"] == "actions")  # type: ignore[union-attr,index]
    assert buttons == 3 * 14  # an even share: 32 blocks each, 4 of them the header, the cut line and the changes
    assert "26 more services of dev" in shown


def test_many_environments_are_cut_with_a_line_counting_those_left_out() -> None:
    envs = [EnvironmentHome(f"env-{i:02d}", "viewer", (ServiceLine(state("service-a")),)) for i in range(40)]
    blocks = home_view(envs, NOW)["blocks"]
    assert len(blocks) <= HOME_BLOCKS  # type: ignore[arg-type]
    shown = texts({"blocks": blocks})
    assert "env-00 · you are viewer" in shown
    last = json.dumps(blocks[-1], ensure_ascii=False)  # type: ignore[index]
    assert "more environments not shown" in last
    listed = sum(1 for b in blocks if b["type"] == "header") - 1  # type: ignore[union-attr,index]
    assert f"{40 - listed} more environments" in last


def test_a_view_that_fits_is_not_cut() -> None:
    services = tuple(ServiceLine(state(f"service-{i:02d}")) for i in range(10))
    view = home_view([EnvironmentHome("production", "viewer", services)], NOW)
    assert "not shown" not in texts(view)
    assert sum(1 for b in view["blocks"] if b["type"] == "actions") == 10  # type: ignore[union-attr,index]


def test_no_role_anywhere_says_so() -> None:
    assert "no role in any environment" in texts(home_view([], NOW))
