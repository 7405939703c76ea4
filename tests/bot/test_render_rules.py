"""Issue 17.4: one text chunking and one duration format in bot/render.py, for every message that needs them."""

from __future__ import annotations

import pytest

from bot import render


def test_chunks_keep_the_order_in_the_fewest_texts_filled_evenly() -> None:
    lines = [f"line {i:02d} " + "x" * 40 for i in range(9)]  # 48 characters each; 4 fit in 200
    chunks = render.chunks(lines, 200)
    assert "\n".join(chunks) == "\n".join(lines)
    assert [chunk.count("\n") + 1 for chunk in chunks] == [3, 3, 3]  # not 4, 4 and 1 alone


def test_chunks_of_nothing_and_of_a_line_longer_than_the_limit() -> None:
    assert render.chunks([], 100) == []
    assert render.chunks(["a" * 150, "b", "c"], 100) == ["a" * 150, "b\nc"]


@pytest.mark.parametrize(
    ("seconds", "prose", "compact"),
    [
        (0, "0 s", "0s"),
        (45, "45 s", "45s"),
        (185, "3 min", "3m 05s"),
        (720, "12 min", "12m 00s"),
        (7500, "2 h 5 min", "125m 00s"),  # a deploy's time, as deploy cards always wrote it
        (7200, "2 h", "120m 00s"),
        (3 * 86400 + 4 * 3600 + 59, "3 d 4 h", "4560m 59s"),
        (-3, "0 s", "0s"),
    ],
)
def test_span_in_prose_and_compact(seconds: float, prose: str, compact: str) -> None:
    assert render.span(seconds) == prose
    assert render.span(seconds, compact=True) == compact
