"""bot.alarms.graph and the change markers, without AWS: the window, the statistic's spelling, the labels."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.alarms import graph
from bot.alarms.context import _marker
from bot.alarms.graph import Marker
from bot.alarms.model import parse_message
from bot.stores import AuditEntry

from .support import T0, composite_alarm, metric_alarm


def alarm(**trigger: object) -> object:
    message = metric_alarm()
    message["Trigger"] = {**message["Trigger"], **trigger}
    return parse_message(message)


def test_the_window_is_ten_evaluation_windows_when_that_is_longer_than_three_hours() -> None:
    slow = alarm(Period=300, EvaluationPeriods=10)  # 50 min evaluation window: 500 min drawn
    start, end = graph.window(slow)  # type: ignore[arg-type]
    assert (end, end - start) == (T0.timestamp(), 10 * 300 * 10)
    fast = alarm(Period=60, EvaluationPeriods=1)
    start, end = graph.window(fast)  # type: ignore[arg-type]
    assert end - start == 3 * 3600


@pytest.mark.parametrize(
    ("notified", "drawn"), [("AVERAGE", "Average"), ("SAMPLE_COUNT", "SampleCount"), ("p99", "p99")]
)
def test_the_statistic_is_drawn_in_the_api_spelling(notified: str, drawn: str) -> None:
    widget = graph.widget(alarm(Statistic=notified))  # type: ignore[arg-type]
    assert widget is not None
    assert widget["metrics"][0][-1]["stat"] == drawn


def test_markers_outside_the_window_are_left_out_and_a_composite_alarm_has_no_widget() -> None:
    inside = Marker(T0.timestamp() - 600, "deploy v2")
    outside = Marker(T0.timestamp() + 60, "deploy v3")
    widget = graph.widget(alarm(), [outside, inside])  # type: ignore[arg-type]
    assert widget is not None
    assert [m["label"] for m in widget["annotations"]["vertical"]] == ["deploy v2"]
    assert graph.widget(parse_message(composite_alarm())) is None


@pytest.mark.parametrize(
    ("request_text", "label"),
    [
        ("/deploy confirm deploy service-a v1.4.2 (production)", "deploy v1.4.2"),
        ("/deploy service-a v1.4.2", "deploy v1.4.2"),
        ("/rollback confirm rollback service-a revision 3 (production)", "rollback revision 3"),
        ("/rollback service-a 3 production (alarm ecs-x-cpu)", "rollback revision 3"),
        ("/rollback service-a production (button)", "rollback"),
        ("/scale confirm scale service-a 4 (production)", "scale 4"),
        ("/scale service-a auto", "scale auto"),
        ("/lock service-a", None),
    ],
)
def test_an_executed_change_is_labelled_with_what_it_did(request_text: str, label: str | None) -> None:
    at = (T0 - timedelta(hours=1)).timestamp()
    entry = AuditEntry("production", "service-a", "U1", request_text, "executed", at=at)
    marker = _marker(entry)
    assert (marker.label if marker else None) == label


def test_a_composite_rule_names_its_children_by_name_once_each() -> None:
    rule = "ALARM(\"a-b\") AND (OK(arn:aws:cloudwatch:us-east-1:123456789012:alarm:c) OR INSUFFICIENT_DATA('d'))"
    assert graph.children(rule + ' AND ALARM("a-b")') == ["a-b", "c", "d"]
