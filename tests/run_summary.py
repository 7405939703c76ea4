"""pytest plugin: sections at the end of the run's output (what the reliability suite tried, checkov's counts)
that add up the same whether the run is one process or several pytest-xdist workers.

A conftest hands its figures over in its own `pytest_sessionfinish` with `counted()` or `lines()`. In a
worker they travel to the controller through `workeroutput` (at the worker's session end) and are merged
there as each worker goes down; the controller (or the single process) prints every section in the
terminal summary, counts added up, lines kept in order without repeats.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

KEY = "run_summary"
SECTIONS = pytest.StashKey[dict[str, dict[str, Any]]]()


def _sections(config: pytest.Config) -> dict[str, dict[str, Any]]:
    if SECTIONS not in config.stash:
        config.stash[SECTIONS] = {}
    return config.stash[SECTIONS]


def counted(config: pytest.Config, title: str, labels: dict[str, str], counts: Counter[str]) -> None:
    """A section of counts, printed one `N  label` line per label with a non-zero count, in `labels`' order."""
    section = _sections(config).setdefault(title, {"labels": dict(labels), "counts": {}, "lines": []})
    for key, n in counts.items():
        section["counts"][key] = section["counts"].get(key, 0) + n


def lines(config: pytest.Config, title: str, text: list[str]) -> None:
    section = _sections(config).setdefault(title, {"labels": {}, "counts": {}, "lines": []})
    section["lines"] += [line for line in text if line not in section["lines"]]


def _merge(config: pytest.Config, remote: dict[str, dict[str, Any]]) -> None:
    for title, section in remote.items():
        counted(config, title, section["labels"], Counter(section["counts"]))
        lines(config, title, section["lines"])


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: hand the figures to the controller
        workeroutput[KEY] = _sections(session.config)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist, on the controller: a worker finished; add its figures."""
    _merge(node.config, getattr(node, "workeroutput", {}).get(KEY, {}))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    for title, section in _sections(config).items():
        counts, labels = section["counts"], section["labels"]
        shown = [f"{counts[key]:>6}  {label}" for key, label in labels.items() if counts.get(key)]
        if not shown and not section["lines"]:
            continue
        terminalreporter.section(title)
        for line in [*shown, *section["lines"]]:
            terminalreporter.write_line(line)
