"""`make bench` (`python -m bench`): run every benchmark in BENCHMARKS and write docs/BENCHMARKS.md.

A benchmark is a module whose `main()` prints its figures and returns a dict with `title` and `markdown`
(its section's text). Add a module to BENCHMARKS to run it; one that is missing or fails gets a note in
its section instead, and the others still run. `python -m bench bench.alarm_storm` runs only the named
ones and replaces just their sections.
"""

from __future__ import annotations

import importlib
import re
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench.support import machine

BENCHMARKS = [
    "bench.ack_latency",
    "bench.cold_start",
    "bench.aws_calls",
    "bench.alarm_storm",
    "bench.services",
    "bench.suite",  # reads what the last `make test` wrote in .run/; does not run the suite
]
DOC = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"
INTRO = (
    "Written by `make bench` (`python -m bench`); do not edit by hand. Absolute times depend on the machine "
    "and on what else runs on it, so every timing stands next to a baseline measured in the same run."
)


def run(name: str) -> str:
    """One benchmark's section: its heading, its markdown and how long it took."""
    started = time.perf_counter()
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name:
            raise
        title, body = name, f"Not run: `{name}` does not exist yet."
    else:
        try:
            figures = module.main()
            title, body = str(figures["title"]), str(figures["markdown"]).rstrip()
        except Exception as error:
            traceback.print_exc()
            title, body = name, f"Failed: {type(error).__name__}: {error}"
    return f"## {title}\n\n{body}\n\n_`{name}`, {time.perf_counter() - started:.0f} s._\n"


def _section_of(text: str, name: str) -> re.Match[str] | None:
    """An existing section, found by its footer line naming the module."""
    return re.search(r"^## [^\n]*\n(?:(?!^## ).)*?^_`" + re.escape(name) + r"`, \d+ s\._\n", text, re.M | re.S)


def main(names: list[str]) -> None:
    started = time.perf_counter()
    sections = {name: run(name) for name in names}
    about = machine()
    header = (
        f"# Benchmarks\n\n{INTRO}\n\n- Machine: {about['cpus']} CPUs, {about['implementation']} {about['python']}, "
        f"{about['platform']}\n- Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{time.perf_counter() - started:.0f} s in all\n"
    )
    if names == BENCHMARKS or not DOC.exists():
        text = header + "".join(f"\n{sections[n]}" for n in names)
    else:
        text = DOC.read_text()
        for name, section in sections.items():
            found = _section_of(text, name)
            text = text[: found.start()] + section + text[found.end() :] if found else f"{text.rstrip()}\n\n{section}"
    DOC.write_text(text)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main(sys.argv[1:] or BENCHMARKS)
