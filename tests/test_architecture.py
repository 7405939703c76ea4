"""The shape of bot/ that docs/architecture.md describes, held by tests:

* bot/'s modules import only their own layer or the layers below it (imports inside functions and under
  TYPE_CHECKING count: a deferred import is still a dependency), so there is no import circle;
* the Lambda functions other than the Slack one never load slack_bolt, even when they build what they run;
* only bot/clock.py reads the system time: everything else gets the injected clock.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "bot"

# docs/architecture.md, "Layers", lists these in the same order; a new module must be given its layer.
LAYERS: list[tuple[str, set[str]]] = [
    (
        "foundation",
        {
            "bot.clock",
            "bot.errors",
            "bot.slack_text",
            "bot.config",
            "bot.config_source",
            "bot.model",
            "bot.permissions",
            "bot.command_names",
            "bot.commands",
            "bot.alarm_services",
            "bot.metrics",
        },
    ),
    (
        "adapters",
        {
            "bot.aws",
            "bot.slack",
            "bot.table",
            "bot.idempotency",
            "bot.replay",
            "bot.platform",
            "bot.routing",
            "bot.access",
        },
    ),
    ("records", {"bot.stores", "bot.history", "bot.alarms.store"}),
    (
        "presentation",
        {"bot.render", "bot.alarms.model", "bot.alarms.cards", "bot.alarms.graph", "bot.modals", "bot.home_view"},
    ),
    (
        "features",
        {
            "bot.plans",
            "bot.home",
            "bot.pickers",
            "bot.alarms.context",
            "bot.deployments",
            "bot.cost",
            "bot.alarms.lease",
            "bot.alarms.pacing",
            "bot.alarms.escalation",
            "bot.alarms.routes",
            "bot.alarms.changed",
            "bot.timeline",
        },
    ),
    ("changes", {"bot.operations", "bot.alarms.relay"}),
    ("answers", {"bot.reads", "bot.alarms.actions"}),
    ("dispatch", {"bot.dispatch"}),
    ("app", {"bot.app"}),
]
PACKAGES = {"bot", "bot.alarms"}


def bot_modules() -> dict[str, Path]:
    found = {}
    for path in sorted(BOT.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found[name] = path
    return found


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every bot module `path` imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}  # `from bot import render`
    return {name for name in found if name in modules and name not in PACKAGES}


def layer_of() -> dict[str, int]:
    return {module: index for index, (_, members) in enumerate(LAYERS) for module in members}


def test_every_bot_module_has_a_layer() -> None:
    modules = set(bot_modules()) - PACKAGES
    layers = layer_of()
    assert sorted(modules - set(layers)) == [], "give each new module its layer here and in docs/architecture.md"
    assert sorted(set(layers) - modules) == [], "a module named here no longer exists"


def test_no_bot_module_imports_a_layer_above_its_own() -> None:
    modules, layers = bot_modules(), layer_of()
    upward = [
        f"{name} ({LAYERS[layers[name]][0]}) imports {used} ({LAYERS[layers[used]][0]})"
        for name, path in modules.items()
        if name in layers
        for used in sorted(imports_of(path, modules))
        if used in layers and layers[used] > layers[name]
    ]
    assert upward == []


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of `graph` (a -> b -> ... -> a), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for used in sorted(graph.get(node, ())):
            if state.get(used) == 1:
                return [*path[path.index(used) :], used]
            if used not in state and (circle := visit(used)) is not None:
                return circle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (circle := visit(node)) is not None:
            return circle
    return None


def test_find_circle_finds_one() -> None:
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_bot_has_no_import_circle() -> None:
    modules = bot_modules()
    graph = {name: imports_of(path, modules) for name, path in modules.items()}
    assert find_circle(graph) is None


# --- the functions that are not the Slack one ------------------------------------------------------------

PROBE = """
import json, sys
from types import SimpleNamespace
context = SimpleNamespace(
    function_name="probe", memory_limit_in_mb=256, invoked_function_arn="arn:aws:lambda:us-east-1:1:function:probe",
    aws_request_id="probe", get_remaining_time_in_millis=lambda: 60_000,
)
loaded = {}
def note(step):
    loaded[step] = sorted(m for m in sys.modules if m == "slack_bolt" or m.startswith("slack_bolt."))[:3]

import handlers.lazy_failures
note("handlers.lazy_failures: import")
import handlers.alarms
handlers.alarms.get_relay()
record = {"messageId": "1", "receiptHandle": "r", "body": "not an alarm", "attributes": {}, "messageAttributes": {},
          "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:1:q", "awsRegion": "us-east-1"}
handlers.alarms.handler({"Records": [record]}, context)
note("handlers.alarms: build and a record that is not an alarm")
import handlers.deployments
handlers.deployments.get_tracker()
handlers.deployments.handler({"detail-type": "something else"}, context)
note("handlers.deployments: build and an ignored event")
import handlers.escalation
handlers.escalation.build_scheduled()
note("handlers.escalation: build")
import handlers.costs
handlers.costs.reset()
handlers.costs._runtime.get().cost_reporter()
note("handlers.costs: build")
print(json.dumps(loaded))
"""


def test_the_functions_other_than_slack_never_load_slack_bolt(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text((ROOT / "config" / "example.yaml").read_text())
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OPSBOT_", "SLACK_", "AWS_"))} | {
        "OPSBOT_CONFIG_FILE": str(config),
        "SLACK_BOT_TOKEN": "xoxb-probe",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "probe",
        "AWS_SECRET_ACCESS_KEY": "probe",
        "PYTHONPATH": str(ROOT),
    }
    run = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    loaded = json.loads(run.stdout.strip().splitlines()[-1])
    assert loaded == {step: [] for step in loaded}
    assert len(loaded) == 5


# --- time -------------------------------------------------------------------------------------------------

SYSTEM_TIME = {("time", "time"), ("time", "time_ns"), ("datetime", "now"), ("datetime", "utcnow"), ("date", "today")}


def system_time_reads(path: Path) -> list[int]:
    """The lines of `path` that name a reader of the system time: time.time (called or passed as a
    default), datetime.now, or one of them imported by name."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in SYSTEM_TIME:
                lines.append(node.lineno)
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module in {"time", "datetime"}
            and any((node.module, alias.name) in SYSTEM_TIME for alias in node.names)
        ):
            lines.append(node.lineno)
    return sorted(lines)


def test_system_time_reads_are_found() -> None:
    assert system_time_reads(BOT / "clock.py") != []


def test_only_the_clock_reads_the_system_time() -> None:
    readers = [
        f"{path.relative_to(ROOT)}:{line}"
        for name, path in bot_modules().items()
        if name != "bot.clock"
        for line in system_time_reads(path)
    ]
    assert readers == [], "take a Clock (bot.clock) instead of reading the system time"


@pytest.mark.parametrize("name", ["docs/architecture.md"])
def test_the_architecture_page_lists_the_layers_as_the_test_does(name: str) -> None:
    text = (ROOT / name).read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\d+\. \*\*(\w+)\*\*", section, re.MULTILINE)
    assert documented == [layer for layer, _ in LAYERS]
    for layer, members in LAYERS:
        line = next(line for line in section.splitlines() if f"**{layer}**" in line)
        for module in members:
            assert module.removeprefix("bot.").replace(".", "/") in line, f"{module} is not listed under {layer}"
