"""Issue 18, goal 1: SnapStart's priming and its after-restore hook (handlers.slack.prime, after_restore).

Nothing restores a snapshot here, so the hooks are called as Lambda's runtime would call them: priming
must build what an ack uses without touching AWS or Slack and leave the function answering as before;
after a restore the AWS clients are new ones and randomness is re-seeded.
"""

from __future__ import annotations

import random
import sys
from types import ModuleType
from typing import Any

import boto3
import pytest
from harness import STATE_TABLE, Bot

from bot.aws import recorded_calls
from sandbox.slack_api import SlackStandIn


def test_priming_builds_the_ack_path_and_calls_nothing(bot: Bot, slack: SlackStandIn) -> None:
    import handlers.slack

    with recorded_calls() as calls:
        handlers.slack.reset()  # the `bot` fixture primed it: prime a fresh container
        handlers.slack.prime()
    assert calls == ["dynamodb:PutItem"]  # the replay record, through botocore, answered by a stand-in
    # In-process moto answers every before-send too (AWS has no such handler), so the record may exist here:
    # the priming's own signature of zeros, which no Slack request can carry.
    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=STATE_TABLE)["Items"]
    replays = {item["pk"]["S"] for item in items if item["pk"]["S"].startswith("replay#")}
    assert replays <= {"replay#v0=" + "0" * 64}
    assert slack.calls() == []  # no ack reached Slack
    assert slack.responses() == []  # no lazy work ran
    lazy = handlers.slack.get_handler().app.listener_runner.lazy_listener_runner
    assert type(lazy).__name__ != "_NoLazyWork"  # the real runner is back

    reply = bot.command("/status")
    assert reply.status == 200
    assert reply.responses  # acked, and the lazy work ran as before


def test_after_restore_makes_the_aws_clients_afresh_and_reseeds(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    import handlers.slack

    handlers.slack.reset()  # the `bot` fixture primed it: prime a fresh container
    handlers.slack.prime()
    gate = handlers.slack.current_gate()
    before = gate.replays.ddb
    reseeded: list[Any] = []
    monkeypatch.setattr(random, "seed", lambda *args: reseeded.append(args))
    handlers.slack.after_restore()
    assert reseeded == [()]  # from the system's entropy, not the snapshot's state
    assert gate.replays.ddb is not before
    assert bot.command("/status").status == 200


def test_hooks_are_registered_with_the_runtime_when_it_offers_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers.runtime import snapstart_hooks

    registered: dict[str, Any] = {}
    module = ModuleType("snapshot_restore_py")
    module.register_before_snapshot = lambda hook: registered.setdefault("before", hook)  # type: ignore[attr-defined]
    module.register_after_restore = lambda hook: registered.setdefault("after", hook)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)

    def before() -> None: ...
    def after() -> None: ...

    assert snapstart_hooks(before, after) is True
    assert registered == {"before": before, "after": after}
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # absent, as outside Lambda
    assert snapstart_hooks(before, after) is False


def _named(**commands: Any) -> dict[str, Any]:
    from harness import config_data

    data = config_data()
    data["slack"] = {**data.get("slack", {}), "commands": commands}
    return data


@pytest.mark.parametrize(
    ("config_dict", "status"), [(_named(prefix="ops-"), "/ops-status"), (_named(style="single"), "/ops")]
)
def test_priming_warms_the_commands_as_the_workspace_names_them(bot: Bot, slack: SlackStandIn, status: str) -> None:
    """With a prefix or only /ops, /status is not a command of the app: the warm-up asks for the one that is
    (an unmatched warm-up would be answered 404 and fail the init)."""
    import handlers.slack

    handlers.slack.reset()  # the `bot` fixture primed it: prime a fresh container
    handlers.slack.prime()
    assert slack.calls() == []
    reply = bot.command(status, "status" if status == "/ops" else "")
    assert reply.status == 200
    assert reply.responses


def test_after_restore_reads_no_service_model_from_disk_again(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    """The clients made afresh after a restore reuse the service models and endpoints that init parsed into the
    snapshot: re-reading them (botocore keeps them per session) cost the restore ~25 ms a client."""
    import botocore.loaders

    import handlers.slack

    handlers.slack.reset()
    handlers.slack.prime()
    read: list[str] = []
    load_file = botocore.loaders.JSONFileLoader.load_file
    monkeypatch.setattr(
        botocore.loaders.JSONFileLoader,
        "load_file",
        lambda self, path: read.append(path) or load_file(self, path),
    )
    handlers.slack.after_restore()
    assert handlers.slack.current_gate().replays.ddb is not None
    assert read == []
    assert bot.command("/status").status == 200
