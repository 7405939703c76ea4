"""CloudWatch GetMetricWidgetImage for moto, which has none: a PNG drawn from the metric data moto holds.

`install()` adds the operation to moto's CloudWatch (a `get_metric_widget_image` method on
`moto.cloudwatch.responses.CloudWatchResponse`, which moto dispatches the action to). It is idempotent,
and it serves both moto's in-process `mock_aws` and the sandbox's ThreadedMotoServer, which runs moto in
this same process (sandbox.aws calls it before the server starts).

What is drawn, as AWS draws it from the widget JSON (the MetricWidget parameter):

* `metrics`: each plain metric ([namespace, name, dim, value, ..., {options}], "." repeating the row
  above) through moto's own get_metric_data with the widget's `stat` and `period` (or the row's);
  expressions ([{"expression": ..., "id": ...}]) over the other rows' ids: + - * / and numbers, and
  ANOMALY_DETECTION_BAND(m, k), drawn as a band of k standard deviations around the metric's values;
  a row with `"visible": false` feeds expressions without being drawn;
* `annotations.horizontal` (threshold lines, labelled) and `annotations.vertical` (markers such as
  deploys, labelled with their `label`, e.g. the version);
* `title`, `width` x `height` pixels (default 600 x 400), the time axis from `start` (ISO time or
  "-PT3H") to `end` (default now), `yAxis.left.min/max`.

Invalid widget JSON answers 400 ValidationError as AWS does. matplotlib (the sandbox's dev dependency,
never the Lambda bundle's) is imported inside the render, with the Agg backend, so the sandbox starts
no slower for it.
"""

from __future__ import annotations

import ast
import io
import json
import math
import operator
import re
import statistics
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

DEFAULT_WIDTH, DEFAULT_HEIGHT = 600, 400
MAX_SIDE = 2000  # AWS: width and height 1..2000
DEFAULT_WINDOW = timedelta(hours=3)  # AWS's default start, -PT3H
_DURATION = re.compile(r"^-P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_installed = threading.Lock()
_render_lock = threading.Lock()  # pyplot's state is global: one render at a time

Series = tuple[list[datetime], list[float]]


class WidgetError(ValueError):
    """The widget JSON is not one AWS would draw: the ValidationError's message."""


def install() -> None:
    """Give moto's CloudWatch the GetMetricWidgetImage action (again is harmless)."""
    from moto.cloudwatch.responses import CloudWatchResponse

    with _installed:
        if getattr(CloudWatchResponse, "get_metric_widget_image", None) is _get_metric_widget_image:
            return
        CloudWatchResponse.get_metric_widget_image = _get_metric_widget_image  # type: ignore[attr-defined]


def _get_metric_widget_image(self: Any) -> Any:
    """The moto response method: MetricWidget (JSON) and OutputFormat ("png") in, MetricWidgetImage out."""
    from moto.cloudwatch.exceptions import ValidationError
    from moto.core.responses import ActionResult

    output_format = self._get_param("OutputFormat") or "png"
    if str(output_format).lower() != "png":
        raise ValidationError(f"The OutputFormat {output_format} is not supported; use png.")
    backend = self.cloudwatch_backend
    try:
        image = render(str(self._get_param("MetricWidget") or ""), backend.get_metric_data)
    except WidgetError as error:
        raise ValidationError(str(error)) from error
    return ActionResult({"MetricWidgetImage": image})


# --- the widget ---------------------------------------------------------------------------------------------


def _parse_time(value: Any, now: datetime, what: str) -> datetime:
    if value is None:
        return now
    text = str(value)
    duration = _DURATION.match(text)
    if duration and any(duration.groups()):
        weeks, days, hours, minutes, seconds = (int(g or 0) for g in duration.groups())
        return now - timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise WidgetError(f"The {what} time {text!r} is neither an ISO 8601 time nor a duration like -PT3H.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _side(widget: dict[str, Any], key: str, default: int) -> int:
    value = widget.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_SIDE:
        raise WidgetError(f"The widget's {key} must be a whole number of pixels from 1 to {MAX_SIDE}.")
    return value


def _rows(widget: dict[str, Any]) -> list[tuple[list[Any], dict[str, Any]]]:
    """Each metrics row as (its metric parts with "." filled in from the row above, its options)."""
    metrics = widget.get("metrics", [])
    if not isinstance(metrics, list):
        raise WidgetError("The widget's metrics must be a list of metric arrays.")
    rows: list[tuple[list[Any], dict[str, Any]]] = []
    previous: list[Any] = []
    for index, row in enumerate(metrics):
        if not isinstance(row, list) or not row:
            raise WidgetError(f"metrics[{index}] must be a non-empty array.")
        options = row[-1] if isinstance(row[-1], dict) else {}
        parts = row[:-1] if isinstance(row[-1], dict) else list(row)
        filled = [previous[i] if part == "." and i < len(previous) else part for i, part in enumerate(parts)]
        if not options.get("expression") and (
            len(filled) < 2 or len(filled) % 2 or not all(isinstance(p, str) for p in filled)
        ):
            raise WidgetError(
                f"metrics[{index}] must be [namespace, metric name, dimension name, value, ...] or hold an expression."
            )
        rows.append((filled, options))
        if filled:
            previous = filled
    return rows


def _query(index: int, parts: list[Any], options: dict[str, Any], widget: dict[str, Any]) -> dict[str, Any]:
    period = options.get("period", widget.get("period", 300))
    if not isinstance(period, int) or period < 1:
        raise WidgetError(f"metrics[{index}]'s period must be a whole number of seconds.")
    dimensions = [{"Name": parts[i], "Value": parts[i + 1]} for i in range(2, len(parts), 2)]
    return {
        "Id": str(options.get("id") or f"m{index + 1}"),
        "MetricStat": {
            "Metric": {"Namespace": parts[0], "MetricName": parts[1], "Dimensions": dimensions},
            "Period": period,
            "Stat": str(options.get("stat", widget.get("stat", "Average"))),
        },
    }


_OPERATORS: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: lambda a, b: a / b if b else math.nan,
}


def _evaluate(expression: str, known: dict[str, Series]) -> tuple[Series, Series | None]:
    """An expression's series and, for ANOMALY_DETECTION_BAND, the band's half-width at each point."""
    try:
        tree = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError:
        raise WidgetError(f"The expression {expression!r} is not metric math the sandbox can draw.") from None
    if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "ANOMALY_DETECTION_BAND":
        if not tree.args or len(tree.args) > 2:
            raise WidgetError("ANOMALY_DETECTION_BAND takes a metric id and an optional width.")
        times, values = _series(tree.args[0], known, expression)
        try:
            width = float(ast.literal_eval(tree.args[1])) if len(tree.args) == 2 else 2.0
        except ValueError:
            raise WidgetError("ANOMALY_DETECTION_BAND's width must be a number.") from None
        # The model CloudWatch trains is not moto's: a band of `width` standard deviations of the values
        # (at least 5 % of their mean, so a flat line still gets a band).
        spread = statistics.pstdev(values) if len(values) > 1 else 0.0
        spread = max(spread, abs(statistics.fmean(values)) * 0.05 if values else 0.0, 1e-9)
        return (times, values), (times, [width * spread] * len(values))
    return _series(tree, known, expression), None


def _series(node: ast.expr, known: dict[str, Series], expression: str) -> Series:
    if isinstance(node, ast.Name):
        if node.id not in known:
            raise WidgetError(f"The expression {expression!r} uses {node.id}, which no metric of the widget has as id.")
        return known[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        op = _OPERATORS[type(node.op)]
        left, right = node.left, node.right
        if isinstance(right, ast.Constant) and isinstance(right.value, int | float):
            times, values = _series(left, known, expression)
            return times, [op(v, float(right.value)) for v in values]
        if isinstance(left, ast.Constant) and isinstance(left.value, int | float):
            times, values = _series(right, known, expression)
            return times, [op(float(left.value), v) for v in values]
        (lt, lv), (rt, rv) = _series(left, known, expression), _series(right, known, expression)
        right_at = dict(zip(rt, rv, strict=True))
        pairs = [(t, op(v, right_at[t])) for t, v in zip(lt, lv, strict=True) if t in right_at]
        return [t for t, _ in pairs], [v for _, v in pairs]
    raise WidgetError(f"The expression {expression!r} is not metric math the sandbox can draw.")


def render(
    metric_widget: str,
    get_metric_data: Callable[..., list[dict[str, Any]]],
    now: datetime | None = None,
) -> bytes:
    """The PNG of `metric_widget` (the widget JSON), with data from moto's `get_metric_data`."""
    try:
        widget = json.loads(metric_widget)
    except ValueError:
        raise WidgetError("The MetricWidget parameter is not valid JSON.") from None
    if not isinstance(widget, dict):
        raise WidgetError("The MetricWidget parameter must be a JSON object.")
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    end = _parse_time(widget.get("end"), now, "end")
    start = _parse_time(widget.get("start", "-PT3H"), end if "end" in widget else now, "start")
    if start >= end:
        raise WidgetError("The widget's start must be before its end.")
    width, height = _side(widget, "width", DEFAULT_WIDTH), _side(widget, "height", DEFAULT_HEIGHT)
    annotations = widget.get("annotations", {})
    if not isinstance(annotations, dict):
        raise WidgetError("The widget's annotations must be an object with horizontal and vertical lists.")
    horizontal, vertical = annotations.get("horizontal", []), annotations.get("vertical", [])
    if not isinstance(horizontal, list) or not isinstance(vertical, list):
        raise WidgetError("annotations.horizontal and annotations.vertical must be lists.")
    for index, line in enumerate(horizontal):
        if not isinstance(line, dict) or not isinstance(line.get("value"), int | float):
            raise WidgetError(f"annotations.horizontal[{index}] needs a numeric value.")
    marks: list[tuple[datetime, dict[str, Any]]] = []
    for index, mark in enumerate(vertical):
        if not isinstance(mark, dict) or "value" not in mark:
            raise WidgetError(f"annotations.vertical[{index}] needs a value (an ISO 8601 time).")
        marks.append((_parse_time(mark["value"], now, f"annotations.vertical[{index}]"), mark))

    rows = _rows(widget)
    drawn: list[tuple[str, Series, Series | None, dict[str, Any]]] = []
    known: dict[str, Series] = {}
    stat_queries = [
        (i, _query(i, parts, options, widget), options)
        for i, (parts, options) in enumerate(rows)
        if not options.get("expression")
    ]
    if stat_queries:
        results = get_metric_data(
            queries=[q for _, q, _ in stat_queries],
            start_time=_naive(start),  # moto keeps metric data in naive UTC
            end_time=_naive(end),
            scan_by="TimestampAscending",
        )
        by_id = {r["id"]: r for r in results}
        for index, query, options in stat_queries:
            result = by_id.get(query["Id"], {"values": [], "timestamps": []})
            series = ([_aware(t) for t in result["timestamps"]], [float(v) for v in result["values"]])
            known[query["Id"]] = series
            parts = rows[index][0]
            label = str(options.get("label") or f"{parts[1]} {' '.join(parts[3::2])}".strip())
            drawn.append((label, series, None, options))
    for index, (_, options) in enumerate(rows):
        if options.get("expression"):
            series, band = _evaluate(str(options["expression"]), known)
            known[str(options.get("id") or f"e{index + 1}")] = series
            drawn.append((str(options.get("label") or options["expression"]), series, band, options))
    return _draw(widget, drawn, horizontal, marks, (start, end), (width, height))


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _draw(
    widget: dict[str, Any],
    drawn: list[tuple[str, Series, Series | None, dict[str, Any]]],
    horizontal: list[dict[str, Any]],
    marks: list[tuple[datetime, dict[str, Any]]],
    window: tuple[datetime, datetime],
    size: tuple[int, int],
) -> bytes:
    import matplotlib.dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    with _render_lock:
        figure = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
        FigureCanvasAgg(figure)  # Agg, whatever pyplot's backend is: no global state, no display
        axes = figure.add_subplot()

        def at(moment: datetime) -> float:  # matplotlib's date number
            return float(mdates.date2num(moment))  # type: ignore[no-untyped-call]

        for label, (moments, values), band, options in drawn:
            times = [at(m) for m in moments]
            if options.get("visible") is False:
                continue
            if band is not None:
                lower = [v - half for v, half in zip(values, band[1], strict=True)]
                upper = [v + half for v, half in zip(values, band[1], strict=True)]
                axes.fill_between(times, lower, upper, color="#9e9e9e", alpha=0.35, label=label)
                axes.plot(times, values, color=options.get("color", "#1f77b4"), linewidth=1.2)
                continue
            axes.plot(
                times,
                values,
                label=label,
                color=options.get("color"),
                linewidth=1.4,
                marker="." if len(times) < 3 else None,
            )
        for line in horizontal:
            axes.axhline(float(line["value"]), color=line.get("color", "#d62728"), linestyle="--", linewidth=1)
            if line.get("label"):
                axes.annotate(
                    str(line["label"]),
                    (0.99, float(line["value"])),
                    xycoords=("axes fraction", "data"),
                    color=line.get("color", "#d62728"),
                    fontsize=8,
                    ha="right",
                    va="bottom",
                )
        for moment, mark in marks:
            if not window[0] <= moment <= window[1]:
                continue
            axes.axvline(at(moment), color=mark.get("color", "#2ca02c"), linewidth=1)
            if mark.get("label"):
                axes.annotate(
                    str(mark["label"]),
                    (at(moment), 0.98),
                    xycoords=("data", "axes fraction"),
                    rotation=90,
                    color=mark.get("color", "#2ca02c"),
                    fontsize=8,
                    ha="right",
                    va="top",
                )
        axes.set_xlim(at(window[0]), at(window[1]))
        y_axis = widget.get("yAxis")
        left = (y_axis.get("left") if isinstance(y_axis, dict) else None) or {}
        if isinstance(left, dict) and ("min" in left or "max" in left):
            axes.set_ylim(bottom=left.get("min"), top=left.get("max"))
        elif not any(values for _, (_, values), _, _ in drawn) and not horizontal:
            axes.set_ylim(0, 1)
        else:  # room above the highest line for its label, and 0 at the bottom for what cannot go below
            axes.margins(y=0.12)
            everything = [v for _, (_, values), _, _ in drawn for v in values] + [float(h["value"]) for h in horizontal]
            if everything and min(everything) >= 0:
                axes.set_ylim(bottom=0)
        axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=UTC))  # type: ignore[no-untyped-call]
        axes.grid(alpha=0.3)
        if widget.get("title"):
            axes.set_title(str(widget["title"]), fontsize=10)
        legend = widget["legend"] if isinstance(widget.get("legend"), dict) else {}
        if any(options.get("visible") is not False for *_, options in drawn) and legend.get("position") != "hidden":
            axes.legend(fontsize=7, loc="best")
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png", dpi=dpi)
    return out.getvalue()
