"""CloudWatch DescribeAlarmHistory for moto, which does not implement it (moto 5.2.5).

moto keeps, on each alarm, the state it left at every SetAlarmState (`Alarm.history`: the old state, its
reason and when it began). That is enough to answer `HistoryItemType=StateUpdate` as CloudWatch does: one
item per change, at the moment of the change, with `HistoryData` holding the old and the new state. Other
item types are answered empty. Installed once per process (`install()`), in-process (tests) and in the
sandbox's moto server alike, since both run moto's response classes in this process.
"""

from __future__ import annotations

import itertools
import json
import threading
from datetime import UTC, datetime
from typing import Any

_installed = False
_lock = threading.Lock()


def _moment(value: Any) -> datetime | None:
    """A request's StartDate/EndDate as moto hands it over (a datetime, an ISO string or epoch seconds)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    text = str(value)
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def state_updates(alarm: Any) -> list[dict[str, Any]]:
    """Every state change moto recorded on `alarm`, as DescribeAlarmHistory's items, newest first."""
    # history[i] is the state before change i; the state after it is history[i + 1], or the current one.
    states = [(h[3], h[1], _aware(h[4])) for h in alarm.history if h[0] == "StateUpdate"]
    states.append((alarm.state_value, alarm.state_reason, _aware(alarm.state_updated_timestamp)))
    kind = "CompositeAlarm" if getattr(alarm, "rule", None) else "MetricAlarm"
    items = []
    for (old, old_reason, _), (new, new_reason, at) in itertools.pairwise(states):
        data = {
            "version": "1.0",
            "oldState": {"stateValue": old, "stateReason": old_reason},
            "newState": {"stateValue": new, "stateReason": new_reason},
        }
        items.append(
            {
                "AlarmName": alarm.name,
                "AlarmType": kind,
                "Timestamp": at,
                "HistoryItemType": "StateUpdate",
                "HistorySummary": f"Alarm updated from {old} to {new}",
                "HistoryData": json.dumps(data),
            }
        )
    return items[::-1]


def install() -> None:
    """Teach moto's CloudWatch DescribeAlarmHistory (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        from moto.cloudwatch.responses import CloudWatchResponse
        from moto.core.responses import ActionResult

        def describe_alarm_history(self: Any) -> ActionResult:
            name = self._get_param("AlarmName")
            kind = self._get_param("HistoryItemType")
            types = self._get_param("AlarmTypes") or ["MetricAlarm"]
            start, end = _moment(self._get_param("StartDate")), _moment(self._get_param("EndDate"))
            oldest_first = self._get_param("ScanBy") == "TimestampAscending"
            limit = int(self._get_param("MaxRecords") or 100)
            offset = int(self._get_param("NextToken") or 0)
            alarms = self.cloudwatch_backend.alarms
            chosen = [alarms[name]] if name in alarms else [] if name else list(alarms.values())
            items = [item for alarm in chosen for item in state_updates(alarm)] if kind in (None, "StateUpdate") else []
            items = [
                item
                for item in items
                if item["AlarmType"] in types
                and (start is None or item["Timestamp"] >= start)
                and (end is None or item["Timestamp"] <= end)
            ]
            items.sort(key=lambda item: item["Timestamp"], reverse=not oldest_first)
            page = items[offset : offset + limit]
            result: dict[str, Any] = {"AlarmHistoryItems": page}
            if offset + limit < len(items):
                result["NextToken"] = str(offset + limit)
            return ActionResult(result)

        CloudWatchResponse.describe_alarm_history = describe_alarm_history  # type: ignore[attr-defined]
        _installed = True
