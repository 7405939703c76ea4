"""AWS API calls per command, for 2, 10 and 50 configured services.

Each command goes through handlers.slack.handler (signed event, lazy work in a thread) against moto,
seeded as infra/ would leave the platform; bot.aws.recorded_calls() counts every call the bot's clients
make (a botocore before-call event), including those to its own state table. Baseline, the same run:
the same command with 2 services.
"""

from __future__ import annotations

import math
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.support import running_bot, table

SIZES = (2, 10, 50)
ADMIN = "U0ADMIN"


def services(count: int) -> list[str]:
    return [f"svc-{i:02d}" for i in range(count)]


def _summary(calls: list[str]) -> str:
    counts = Counter(calls)
    return ", ".join(f"{action.partition(':')[2]} {n}" for action, n in sorted(counts.items()))


def queue_cost_explorer_answers(names: list[str]) -> None:
    """Two weeks of daily costs for moto to hand out (by AWS service, then by service tag), as in tests/cost."""
    import time

    from cost.support import ECS, ce_answer, queue_ce_answers, tag_key

    from bot.cost import Window

    window = Window.ending_yesterday(7, time.time())
    assert window.previous_start is not None
    queue_ce_answers(
        ce_answer(window.previous_start, 14, lambda _day: {ECS: 10.0 * len(names), "AWS Lambda": 1.0}),
        ce_answer(window.previous_start, 14, lambda _day: dict.fromkeys(names, 10.0), key=tag_key),
    )


def measure(count: int) -> dict[str, list[str]]:
    from harness import config_data

    from bot.aws import recorded_calls

    results: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp, running_bot(config_data(services=services(count)), Path(tmp)) as bot:

        def run(name: str, text: str) -> None:
            with recorded_calls() as calls:
                reply = bot.command(text, user=ADMIN)
            if reply.status != 200:
                raise RuntimeError(f"{text}: the ack answered {reply.status}")
            results[name] = list(calls)

        def plan_then_confirm(name: str, text: str) -> None:
            run(f"{name} plan", text)
            card = bot.last_card()
            value = bot.button(card, "plan_confirm")["value"]
            with recorded_calls() as calls:
                bot.click("plan_confirm", value, card.ts, user=ADMIN)
            results[f"{name} execution"] = list(calls)

        run("/status (first sight of each revision)", "/status")
        run("/status", "/status")
        run("/alarms", "/alarms")
        plan_then_confirm("/deploy", "/deploy svc-00 v1.3.0")
        plan_then_confirm("/rollback", "/rollback svc-01")
        plan_then_confirm("/scale", "/scale svc-01 3")
        run("/logs", "/logs svc-00 1h")
        queue_cost_explorer_answers(services(count))
        run("/cost (cold)", "/cost week")
        run("/cost (cached)", "/cost week")
    return results


def main() -> dict[str, Any]:
    by_size = {count: measure(count) for count in SIZES}
    names = list(by_size[SIZES[0]])
    rows = []
    for name in names:
        counts = [len(by_size[count][name]) for count in SIZES]
        growth = f"{counts[-1] / counts[0]:.1f}x" if counts[0] else "-"
        rows.append([name, *counts, growth, _summary(by_size[SIZES[-1]][name])])
    status = [len(by_size[count]["/status"]) for count in SIZES]
    # Everything but DescribeServices is constant; DescribeServices takes 10 services a call.
    status_ok = all(
        by_size[count]["/status"].count("ecs:DescribeServices") == math.ceil(count / 10)
        and len(by_size[count]["/status"]) - math.ceil(count / 10) == status[0] - 1
        for count in SIZES
    )
    cached_ce = [by_size[count]["/cost (cached)"].count("ce:GetCostAndUsage") for count in SIZES]
    cost_ok = not any(cached_ce)
    header = ["command", *[f"{count} services" for count in SIZES], "50 / 2 (baseline)", "calls with 50 services"]
    markdown = "\n\n".join(
        [
            "Calls counted with botocore `before-call` events (`bot.aws.recorded_calls()`), state-table calls "
            "included; each command through `handlers.slack.handler` against moto, as the admin. Baseline: "
            "the same command with 2 services.",
            table(header, rows),
            "Targets: /status grows with ceil(services/10) -> "
            + ("**met**" if status_ok else "**missed**")
            + f" ({' / '.join(map(str, status))} calls; DescribeServices "
            + " / ".join(str(by_size[c]["/status"].count("ecs:DescribeServices")) for c in SIZES)
            + "); /cost cached makes 0 Cost Explorer calls -> "
            + ("**met**" if cost_ok else f"**missed** ({cached_ce})")
            + ".",
        ]
    )
    print(markdown)
    return {
        "title": "AWS API calls per command",
        "markdown": markdown,
        "calls": {str(count): {name: len(calls) for name, calls in by_size[count].items()} for count in SIZES},
        "target_met": status_ok and cost_ok,
    }


if __name__ == "__main__":
    main()
