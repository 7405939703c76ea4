"""What the bot's benchmarks share: the machine, percentiles, and the bot in-process against moto.

The bot is driven as in tests/bot: signed API Gateway v2 events into handlers.slack.handler, moto
in-process for AWS, the sandbox's Slack stand-in on a loopback port (tests/harness.py).
"""

from __future__ import annotations

import math
import os
import platform
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))  # tests/harness.py: signed events, the Bot driver

from harness import AWS_TEST_ENVIRONMENT, AWS_UNSET, COLD_CHILD  # noqa: E402, F401 - tests/ is on the path from here

# The bot's warnings at start-up are expected here; keep the figures readable.
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
UNSET = (*AWS_UNSET, "OPSBOT_LAZY", "OPSBOT_CONFIG_FILE")


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count() or 1,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
    }


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank), p in 0..100."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (also readable as printed text)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


@contextmanager
def environment(values: Mapping[str, str], unset: Sequence[str] = UNSET) -> Iterator[None]:
    """Set (and unset) environment variables for the block, then put everything back."""
    saved = {name: os.environ.get(name) for name in [*values, *unset]}
    for name in unset:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def running_bot(config_dict: dict[str, Any], tmp_dir: Path, lazy: str = "thread") -> Iterator[Any]:
    """The Slack function in-process against a seeded moto and the Slack stand-in; yields tests' Bot driver.

    lazy="thread" runs lazy listeners in threads (harness.Bot.drain waits for them); lazy="none" leaves
    the default Lambda runner in place for the caller to replace.
    """
    import yaml
    from harness import BOT_TOKEN, SIGNING_SECRET, Bot
    from moto import mock_aws

    import handlers.slack
    from bot.config import parse_config
    from sandbox.seed import seed
    from sandbox.slack_api import SlackStandIn

    slack = SlackStandIn().start()
    path = tmp_dir / "config.yaml"
    path.write_text(yaml.safe_dump(config_dict))
    values = {
        **AWS_TEST_ENVIRONMENT,
        "OPSBOT_CONFIG_FILE": str(path),
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": slack.api_url,
    }
    if lazy == "thread":
        values["OPSBOT_LAZY"] = "thread"
    try:
        with environment(values), mock_aws():
            seed(parse_config(config_dict))
            handlers.slack.reset()
            driver = Bot(slack)
            try:
                yield driver
            finally:
                if lazy == "thread":
                    driver.drain()
                handlers.slack.reset()
    finally:
        slack.stop()
