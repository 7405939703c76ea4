"""`make bench`: run each benchmark, print its figures, and update its section of docs/BENCHMARKS.md.

A benchmark is a module whose `main()` prints its figures and returns a dict with at least `title` and
`markdown` (its section's text). Add a module to BENCHMARKS to run it here.
"""

from __future__ import annotations

import importlib
import re
import sys
import traceback
from pathlib import Path

from bench.support import machine

BENCHMARKS = [
    "bench.ack_latency",
    "bench.cold_start",
    "bench.aws_calls",
    "bench.services",
    "bench.alarm_storm",
]
DOC = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"
HEADER = (
    "# Benchmarks\n\nWritten by `make bench` (`python -m bench`); each section is replaced when its benchmark runs.\n"
)


def update_section(text: str, name: str, body: str) -> str:
    """Replace the section between the benchmark's markers, or append it."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    section = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _: section, text)
    return text.rstrip() + "\n\n" + section + "\n"


def main(names: list[str]) -> int:
    about = machine()
    failed = []
    for name in names:
        print(f"--- {name}", flush=True)
        try:
            figures = importlib.import_module(name).main()
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        body = (
            f"## {figures['title']}\n\n{figures['markdown'].rstrip()}\n\n"
            f"Machine: {about['cpus']} CPUs, {about['implementation']} {about['python']} ({about['platform']}).\n"
        )
        text = DOC.read_text() if DOC.exists() else HEADER
        DOC.write_text(update_section(text, name.rpartition(".")[2], body).rstrip() + "\n")
    print(f"wrote {DOC}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    # `python -m bench` runs them all; `python -m bench bench.alarm_storm` runs the ones named.
    sys.exit(main(sys.argv[1:] or BENCHMARKS))
