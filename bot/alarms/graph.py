"""The graph on an alarm card: the CloudWatch metric widget (GetMetricWidgetImage's MetricWidget JSON) for an
alarm, with its threshold and the changes the bot made to its service in the window. Pure: no AWS, no Slack.

    metric             the alarm's metric with its statistic and period, the threshold as a horizontal line
    metric math        the alarm's expression (the one with ReturnData) drawn; the metrics it references are
                       in the widget, hidden (`visible: false`), as the expression needs them
    anomaly detection  the metric and its ANOMALY_DETECTION_BAND expression: the band is the threshold, no line
    composite          no graph (None): it has no metric of its own; the card shows its children instead

The window ends at the state change and spans max(3 h, 10 x the evaluation window, period x evaluation
periods), so a slow alarm's history is as visible as a fast one's. Each deploy, rollback and scale of the
service in the window is a vertical line labelled with what it did ("deploy v1.4.2", "rollback revision 3").
The times are UTC (CloudWatch draws them as the widget's `timezone` says).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.alarms.model import AlarmKind, AlarmNotification, MetricQuery

MIN_WINDOW_SECONDS = 3 * 3600
EVALUATION_WINDOWS = 10  # the window is at least this many evaluation windows
WIDTH, HEIGHT = 800, 360  # pixels: legible in Slack's image block on a laptop and a phone
MAX_MARKERS = 20  # CloudWatch draws every annotation; more than this are unreadable on 800 px
LABEL_LIMIT = 60

_FILL = {  # which side of the threshold line is the bad one (CloudWatch's horizontal annotation `fill`)
    "GreaterThanThreshold": "above",
    "GreaterThanOrEqualToThreshold": "above",
    "LessThanThreshold": "below",
    "LessThanOrEqualToThreshold": "below",
}
# The notification spells a metric alarm's statistic as CloudWatch's SNS message does ("AVERAGE",
# "SAMPLE_COUNT"); the widget takes the API's spelling. Extended statistics (p99, tm90) pass as they are.
_STATISTIC = {
    "AVERAGE": "Average",
    "SUM": "Sum",
    "MINIMUM": "Minimum",
    "MAXIMUM": "Maximum",
    "SAMPLE_COUNT": "SampleCount",
}
_OPERATOR = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


@dataclass(frozen=True, slots=True)
class Marker:
    """A change of the alarm's service, drawn as a vertical line at `at` (epoch seconds)."""

    at: float
    label: str


def window(alarm: AlarmNotification) -> tuple[float, float]:
    """(start, end) in epoch seconds: max(3 h, 10 evaluation windows), ending at the state change."""
    evaluation = (alarm.period or 0) * (alarm.evaluation_periods or 0)
    span = max(MIN_WINDOW_SECONDS, EVALUATION_WINDOWS * evaluation)
    return alarm.changed_at - span, alarm.changed_at


def caption(start: float, end: float, markers: Sequence[Marker]) -> str:
    """The graph's window and the changes it marks, in words (the image block's title): "The last 3 h to
    14:05 UTC. Changes: deploy v1.4.2 at 13:15, scale 6 at 13:55". Dates are added when the window spans days."""
    hours = (end - start) / 3600
    span = f"{hours:.0f} h" if hours == int(hours) else f"{hours:.1f} h"
    shape = "%d %b %H:%M" if hours > 24 else "%H:%M"

    def at(moment: float) -> str:
        return datetime.fromtimestamp(moment, UTC).strftime(shape)

    head = f"The last {span} to {at(end)} UTC."
    if not markers:
        return f"{head} No deploy, rollback or scale by the bot in it"
    return f"{head} Changes: " + ", ".join(f"{marker.label} at {at(marker.at)}" for marker in markers)


def has_graph(alarm: AlarmNotification) -> bool:
    """A composite alarm has no metric of its own to draw."""
    return alarm.kind is not AlarmKind.COMPOSITE and (bool(alarm.metric_name) or bool(alarm.metrics))


_CHILD = re.compile(r"\b(?:ALARM|OK|INSUFFICIENT_DATA)\(\s*(?:\"([^\"]+)\"|'([^']+)'|([^\s()]+))\s*\)")


def children(rule: str) -> list[str]:
    """The alarms a composite alarm's rule names (ALARM("name"), OK(arn), ...), by name, once each."""
    found = []
    for match in _CHILD.finditer(rule):
        named = next(group for group in match.groups() if group)
        found.append(named.split(":alarm:", 1)[1] if ":alarm:" in named else named)
    return list(dict.fromkeys(found))


def widget(alarm: AlarmNotification, markers: Sequence[Marker] = ()) -> dict[str, Any] | None:
    """The MetricWidget JSON (as a dict) of the alarm's graph; None for an alarm without one (composite)."""
    if not has_graph(alarm):
        return None
    start, end = window(alarm)
    if alarm.kind is AlarmKind.METRIC:
        metrics = [_metric_row(alarm.namespace, alarm.metric_name, alarm.dimensions, alarm.statistic, alarm.period)]
    else:
        metrics = [_query_row(query, alarm) for query in alarm.metrics]
    data: dict[str, Any] = {
        "title": alarm.name[: LABEL_LIMIT * 2],
        "view": "timeSeries",
        "stacked": False,
        "metrics": metrics,
        "start": _iso(start),
        "end": _iso(end),
        "timezone": "+0000",
        "width": WIDTH,
        "height": HEIGHT,
        "legend": {"position": "bottom"},
    }
    if alarm.period:
        data["period"] = alarm.period
    annotations: dict[str, Any] = {}
    if alarm.kind is not AlarmKind.ANOMALY and alarm.threshold is not None:
        line: dict[str, Any] = {"label": _threshold_label(alarm), "value": alarm.threshold}
        if alarm.comparison in _FILL:
            line["fill"] = _FILL[alarm.comparison]
        annotations["horizontal"] = [line]
    shown = sorted((m for m in markers if start <= m.at <= end), key=lambda m: m.at)[-MAX_MARKERS:]
    if shown:
        annotations["vertical"] = [{"label": m.label[:LABEL_LIMIT], "value": _iso(m.at)} for m in shown]
    if annotations:
        data["annotations"] = annotations
    return data


def _threshold_label(alarm: AlarmNotification) -> str:
    value = alarm.threshold if alarm.threshold is not None else 0.0
    number = str(int(value)) if float(value).is_integer() else f"{value:g}"
    operator = _OPERATOR.get(alarm.comparison or "", "")
    return f"threshold {operator} {number}".replace("  ", " ")


def _metric_row(
    namespace: str | None,
    metric_name: str | None,
    dimensions: Sequence[Any],
    stat: str | None,
    period: int | None,
    **options: Any,
) -> list[Any]:
    """["Namespace", "MetricName", "DimName", "DimValue", ..., {options}]: CloudWatch's metric array."""
    row: list[Any] = [namespace or "", metric_name or ""]
    for dimension in dimensions:
        row += [dimension.name, dimension.value]
    rendering: dict[str, Any] = {**options}
    if stat:
        rendering["stat"] = _STATISTIC.get(stat.upper(), stat)
    if period:
        rendering["period"] = period
    row.append(rendering)
    return row


def _query_row(query: MetricQuery, alarm: AlarmNotification) -> Any:
    """One entry of a math or anomaly alarm's Metrics: an expression object, or a metric array with its id.
    A math alarm shows only what it returns (its expression); an anomaly alarm shows the metric and its band."""
    visible = query.return_data or alarm.kind is AlarmKind.ANOMALY
    if query.expression:
        entry: dict[str, Any] = {"expression": query.expression, "id": query.id}
        if query.label:
            entry["label"] = query.label
        if not visible:
            entry["visible"] = False
        return [entry]
    options: dict[str, Any] = {"id": query.id}
    if query.label:
        options["label"] = query.label
    if not visible:
        options["visible"] = False
    return _metric_row(query.namespace, query.metric_name, query.dimensions, query.stat, alarm.period, **options)


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
