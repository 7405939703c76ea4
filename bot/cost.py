"""/cost and the weekly cost post: a period's spend against the period before, what moved, and why.

What one report asks Cost Explorer (GetCostAndUsage, $0.01 per request), over the previous and the
current period together, daily, UnblendedCost:
    1. grouped by AWS service (dimension SERVICE)
    2. grouped by the cost allocation tag cost.tag_key (the platform service, e.g. Service=service-a)
A cold report makes 2 requests; one with no cost data at all stops after the first. An answer that
Cost Explorer splits into pages (NextPageToken: long periods with many services) costs one request
per page, at most MAX_PAGES per query; the message's footer says how many requests it made.

Each query's answer is cached in the state table for cost.cache_hours (default 6):
    cost#<env>    <group>#<first day>#<end day>#<environment filter>    zlib-compressed JSON
so a repeat within that time makes no request. Days are UTC; a period ends with yesterday, the last
complete day. The bot's own executed changes in the period (the audit trail) are shown next to the
platform service they touched, with that service's daily cost before and after.
"""

from __future__ import annotations

import base64
import json
import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import Block

from bot import render
from bot.aws import ClientFactory
from bot.clock import Clock
from bot.config import Config, EnvironmentConfig
from bot.errors import BotError, aws_errors, aws_operation, describe_client_error
from bot.stores import AuditEntry, AuditLog
from bot.table import Table

log = logging.getLogger(__name__)

METRIC = "UnblendedCost"
COST_EXPLORER_REGION = "us-east-1"  # a global API served from us-east-1 only
PRICE_PER_REQUEST = 0.01
MAX_PAGES = 5
HISTORY_MONTHS = 13  # Cost Explorer's daily history: this month and the 12 before it
WEEKLY_ROWS_AFTER_DAYS = 31  # longer periods are charted a week per row to fit one Slack section
BAR_WIDTH = 24
BAR_EIGHTHS = " ▏▎▍▌▋▊▉█"
TOP_MOVERS = 5
MAX_SERVICE_LINES = 12
MAX_ACTIONS_PER_SERVICE = 3
ACTION_DAYS_AROUND = 7  # days of cost before and after a change that are compared
UNTAGGED = "(untagged)"
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}
NO_DECIMALS = {"JPY", "KRW"}


# --- money -----------------------------------------------------------------------------------------


def money(amount: float, unit: str | None, signed: bool = False) -> str:
    """`$1,234.56`, `-$3.10` (a credit), `+$12`, `<$0.01`; whole units from 1,000 on."""
    unit = unit or ""
    symbol = CURRENCY_SYMBOLS.get(unit)
    sign = "-" if amount < 0 else ("+" if signed and amount > 0 else "")
    size = abs(amount)
    if size == 0:
        number = "0" if unit in NO_DECIMALS else "0.00"
    elif unit in NO_DECIMALS or size >= 1000:
        number = f"{size:,.0f}"
    elif size < 0.005:
        number, sign = "0.01", sign + "<"
    else:
        number = f"{size:,.2f}"
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {unit}".rstrip()


def format_percent(value: float) -> str:
    digits = 1 if abs(value) < 10 else 0
    return f"{value:+.{digits}f}%"


@dataclass(frozen=True, slots=True)
class Line:
    """One thing that costs money, this period and (when there is one to compare with) the one before."""

    name: str
    current: float
    previous: float | None

    @property
    def delta(self) -> float | None:
        return None if self.previous is None else self.current - self.previous

    @property
    def percent(self) -> float | None:
        """Change against the previous period; None where that has no positive base to divide by."""
        if self.previous is None or self.previous <= 0:
            return None
        return (self.current - self.previous) / self.previous * 100

    def change(self, unit: str | None) -> str:
        """`+$12.30 (+4.2%)`, `+$5.00 (new)`, `no change`, or '' when there is nothing to compare with."""
        if self.delta is None:
            return ""
        if abs(self.delta) < 0.005:
            return "no change"
        if self.percent is not None:
            return f"{money(self.delta, unit, signed=True)} ({format_percent(self.percent)})"
        if self.previous == 0 and self.current != 0:
            return f"{money(self.delta, unit, signed=True)} ({'new' if self.current > 0 else 'new credit'})"
        return money(self.delta, unit, signed=True)


# --- periods ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """The current period [start, end) and the one of the same length before it (None: beyond history)."""

    start: date
    end: date
    previous_start: date | None

    @classmethod
    def ending_yesterday(cls, days: int, now: float) -> Window:
        today = datetime.fromtimestamp(now, UTC).date()
        earliest = _months_before(today.replace(day=1), HISTORY_MONTHS - 1)
        start = max(today - timedelta(days=days), earliest)
        previous = start - timedelta(days=days)
        return cls(start, today, previous if previous >= earliest else None)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def fetch_start(self) -> date:
        return self.previous_start or self.start

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]


def _months_before(first_of_month: date, months: int) -> date:
    index = first_of_month.year * 12 + first_of_month.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _span(first: date, last: date) -> str:
    if first == last:
        return f"{first:%a %d %b %Y}"
    left = f"{first:%d %b}" if first.year == last.year else f"{first:%d %b %Y}"
    return f"{left} - {last:%d %b %Y}"


# --- Cost Explorer answers, compact and cacheable --------------------------------------------------


@dataclass(slots=True)
class Series:
    """Daily amounts per group (AWS service or tag value) from `start`, one slot per day."""

    start: date
    days: int
    unit: str | None = None
    groups: dict[str, list[float]] = field(default_factory=dict)
    seen: list[bool] = field(default_factory=list)  # Cost Explorer had any data for the day
    estimated: list[bool] = field(default_factory=list)
    fetched_at: float = 0.0
    requests: int = 0  # made to build this object; 0 when it came from the cache
    complete: bool = True  # False: pages were left unread (MAX_PAGES)

    def __post_init__(self) -> None:
        self.seen = self.seen or [False] * self.days
        self.estimated = self.estimated or [False] * self.days

    def index(self, day: date) -> int:
        return (day - self.start).days

    def add(self, result: dict[str, Any], key_of: Callable[[str], str]) -> None:
        """Merge one ResultsByTime entry (a page may hold only some groups of a day)."""
        day = date.fromisoformat(result["TimePeriod"]["Start"][:10])
        i = self.index(day)
        if not 0 <= i < self.days:
            return
        self.estimated[i] = self.estimated[i] or bool(result.get("Estimated"))
        for group in result.get("Groups") or []:
            metric = (group.get("Metrics") or {}).get(METRIC)
            if metric is None:
                continue
            name = key_of(str((group.get("Keys") or [""])[0]))
            self.groups.setdefault(name, [0.0] * self.days)[i] += float(metric.get("Amount") or 0)
            self.unit = self.unit or metric.get("Unit")
            self.seen[i] = True
        total = (result.get("Total") or {}).get(METRIC)
        if not result.get("Groups") and total is not None:
            # An ungrouped total (no group answered for the day) still says there is data.
            self.unit = self.unit or total.get("Unit")
            self.seen[i] = self.seen[i] or float(total.get("Amount") or 0) != 0

    def total(self, first: date, end: date) -> float:
        lo, hi = self.index(first), self.index(end)
        return sum(sum(values[lo:hi]) for values in self.groups.values())

    def by_group(self, first: date, end: date) -> dict[str, float]:
        lo, hi = self.index(first), self.index(end)
        return {name: sum(values[lo:hi]) for name, values in self.groups.items()}

    def daily(self, first: date, end: date, group: str | None = None) -> list[float | None]:
        """Per day: the amount (of one group, or all), or None where Cost Explorer has no data."""
        out: list[float | None] = []
        for i in range(self.index(first), self.index(end)):
            if not 0 <= i < self.days or not self.seen[i]:
                out.append(None)
            elif group is None:
                out.append(sum(values[i] for values in self.groups.values()))
            else:
                out.append(self.groups.get(group, [0.0] * self.days)[i])
        return out

    def has_data(self, first: date, end: date) -> bool:
        return any(self.seen[self.index(first) : self.index(end)])

    def first_data_day(self) -> date | None:
        return next((self.start + timedelta(days=i) for i, seen in enumerate(self.seen) if seen), None)

    def to_cache(self) -> dict[str, Any]:
        plain = {
            "start": self.start.isoformat(),
            "days": self.days,
            "unit": self.unit,
            "groups": {name: [round(v, 6) for v in values] for name, values in self.groups.items()},
            "seen": "".join("1" if s else "0" for s in self.seen),
            "estimated": "".join("1" if e else "0" for e in self.estimated),
            "fetched_at": self.fetched_at,
            "complete": self.complete,
        }
        # A year of daily amounts for dozens of services is too big for a 400 KB item as plain JSON.
        packed = zlib.compress(json.dumps(plain, separators=(",", ":")).encode(), 9)
        return {"zlib": base64.b64encode(packed).decode()}

    @classmethod
    def from_cache(cls, data: dict[str, Any]) -> Series:
        plain = json.loads(zlib.decompress(base64.b64decode(data["zlib"])))
        return cls(
            start=date.fromisoformat(plain["start"]),
            days=int(plain["days"]),
            unit=plain["unit"],
            groups={name: [float(v) for v in values] for name, values in plain["groups"].items()},
            seen=[c == "1" for c in plain["seen"]],
            estimated=[c == "1" for c in plain["estimated"]],
            fetched_at=float(plain["fetched_at"]),
            complete=bool(plain["complete"]),
        )


def _service_name(key: str) -> str:
    return key or "(no service)"


def _tag_value(key: str) -> str:
    # Cost Explorer answers tag groups as "<key>$<value>", with an empty value for untagged cost.
    value = key.partition("$")[2] if "$" in key else key
    return value or UNTAGGED


@dataclass(frozen=True, slots=True)
class BotChange:
    """An executed change from the audit trail, for the report."""

    service: str
    actor: str
    text: str
    at: datetime

    @classmethod
    def from_audit(cls, entry: AuditEntry) -> BotChange:
        return cls(entry.service, entry.actor, entry.command, entry.when)


# --- the reporter ---------------------------------------------------------------------------------


@dataclass(eq=False)
class CostReporter:
    """`table` keeps Cost Explorer's answers (`cost#<env>`) and holds the audit trail of the bot's changes."""

    config: Config
    clients: ClientFactory
    table: Table
    clock: Clock

    def __post_init__(self) -> None:
        self.settings = self.config.cost
        self.audit = AuditLog(self.table)

    def summary(self, days: int, label: str, env: str | None) -> render.Message:
        """The report for the `days` days up to yesterday (`label` names the period: week, month, 10 days)."""
        environment = self.config.environment(env)
        window = Window.ending_yesterday(days, self.clock())
        services = self._series(environment, window, {"Type": "DIMENSION", "Key": "SERVICE"}, _service_name)
        if not services.has_data(window.start, window.end):
            return _no_data(environment.name, window, services)
        tags = self._series(environment, window, {"Type": "TAG", "Key": self.settings.tag_key}, _tag_value)
        changes = self._bot_changes(environment.name, window)
        return Report(self.config, environment, window, label, services, tags, changes).render()

    # --- Cost Explorer, through the cache ----------------------------------------------------------

    def _series(
        self,
        environment: EnvironmentConfig,
        window: Window,
        group_by: dict[str, str],
        key_of: Callable[[str], str],
    ) -> Series:
        cost_filter = self._environment_filter(environment)
        tag_key = self.settings.environment_tag_key
        filter_key = f"{environment.account_id}:{f'{tag_key}={environment.name}' if tag_key else '-'}"
        pk = f"cost#{environment.name}"
        sk = f"{group_by['Type']}:{group_by['Key']}#{window.fetch_start}#{window.end}#{filter_key}"
        now = self.clock()
        cached = self.table.get(pk, sk, now=now)
        if cached is not None:
            try:
                return Series.from_cache(cached)
            except (KeyError, ValueError, TypeError, zlib.error):
                log.warning("ignoring an unreadable cost cache item %s %s", pk, sk)
        series = self._fetch(environment, window, group_by, cost_filter, key_of)
        series.fetched_at = now
        try:
            self.table.put(pk, sk, series.to_cache(), expires_at=now + self.settings.cache_hours * 3600)
        except BotError:
            log.exception("could not cache a Cost Explorer answer; the next /cost will ask again")
        return series

    def _environment_filter(self, environment: EnvironmentConfig) -> dict[str, Any]:
        """The environment's own account always (in an organization's management account, Cost Explorer
        answers with every member account's bill), and its tag when cost.environment_tag_key is set."""
        account = {
            "Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [environment.account_id], "MatchOptions": ["EQUALS"]}
        }
        key = self.settings.environment_tag_key
        if key is None:
            return account
        return {"And": [account, {"Tags": {"Key": key, "Values": [environment.name], "MatchOptions": ["EQUALS"]}}]}

    def _fetch(
        self,
        environment: EnvironmentConfig,
        window: Window,
        group_by: dict[str, str],
        cost_filter: dict[str, Any] | None,
        key_of: Callable[[str], str],
    ) -> Series:
        series = Series(window.fetch_start, (window.end - window.fetch_start).days)
        params: dict[str, Any] = {
            "TimePeriod": {"Start": window.fetch_start.isoformat(), "End": window.end.isoformat()},
            "Granularity": "DAILY",
            "Metrics": [METRIC],
            "GroupBy": [group_by],
        }
        if cost_filter is not None:
            params["Filter"] = cost_filter
        with aws_operation(f"Assuming the role of {environment.name}"):
            ce = self.clients.for_environment("ce", environment, region=COST_EXPLORER_REGION)
        with aws_errors(lambda error: _explain(error, environment)):
            while True:
                response = ce.get_cost_and_usage(**params)
                series.requests += 1
                for result in response.get("ResultsByTime") or []:
                    series.add(result, key_of)
                token = response.get("NextPageToken")
                if not token:
                    break
                if series.requests >= MAX_PAGES:
                    series.complete = False
                    log.warning("Cost Explorer answer cut after %d pages (%s)", MAX_PAGES, group_by)
                    break
                params["NextPageToken"] = token
        return series

    def _bot_changes(self, env: str, window: Window) -> list[BotChange]:
        start = datetime.combine(window.start, datetime.min.time(), UTC)
        end = datetime.combine(window.end, datetime.min.time(), UTC)
        try:
            entries = self.audit.trail(env, None, limit=300, between=(start, end))
        except BotError:
            log.exception("could not read the audit trail for /cost")
            return []
        executed = [e for e in entries if e.decision == "executed" and start <= e.when < end]
        return sorted((BotChange.from_audit(e) for e in executed), key=lambda c: c.at)


def _explain(error: Exception, environment: EnvironmentConfig) -> BotError:
    code = str((getattr(error, "response", None) or {}).get("Error", {}).get("Code", ""))
    if code == "DataUnavailableException":
        return BotError(
            "Cost Explorer has no data for this account: it is not enabled yet.",
            "An admin enables it once in the AWS Billing and Cost Management console (Cost Explorer);"
            " the first data can take up to 24 hours to appear.",
        )
    if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}:
        role = f" and to the role {environment.role_arn}" if environment.role_arn else ""
        return BotError(
            "The bot is not allowed to read costs (ce:GetCostAndUsage was denied).",
            f"Ask an admin to grant ce:GetCostAndUsage to the bot's function role (template.yaml){role};"
            " in an AWS Organization, member accounts also need Cost Explorer access enabled.",
        )
    if code == "LimitExceededException":
        return BotError("Cost Explorer is limiting the bot's requests right now.", "Try again in a minute.")
    if code == "RequestChangedException":
        return BotError("Cost Explorer's data changed while the bot read it page by page.", "Run /cost again.")
    return describe_client_error("Reading costs from Cost Explorer", error)


def _no_data(env: str, window: Window, services: Series) -> render.Message:
    last = window.end - timedelta(days=1)
    text = (
        f"No cost data yet for this period ({_span(window.start, last)}) in {env}. "
        "Cost Explorer shows a day's costs within about 24 hours, and a new account's"
        " from the day after its first charges."
    )
    blocks: list[Block] = [render.section(text), render.context(_requests_note(services.requests, services))]
    return render.message(text, blocks)


def _requests_note(requests: int, newest: Series) -> str:
    if requests:
        return f"Cost Explorer: {requests} request{'s' if requests != 1 else ''} (${requests * PRICE_PER_REQUEST:.2f})"
    return f"From the bot's cache (Cost Explorer data as of {render.when(newest.fetched_at)}; no new request)"


# --- the report -------------------------------------------------------------------------------------


class Report:
    """Numbers for one period, rendered once into Block Kit."""

    def __init__(
        self,
        config: Config,
        environment: EnvironmentConfig,
        window: Window,
        label: str,
        services: Series,
        tags: Series,
        changes: Sequence[BotChange],
    ) -> None:
        self.config = config
        self.env = environment.name
        self.account_id = environment.account_id
        self.window = window
        self.label = label
        self.services = services
        self.tags = tags
        self.changes = changes
        self.unit = services.unit or tags.unit
        previous_start = window.previous_start
        self.compare = previous_start is not None and services.has_data(previous_start, window.start)
        self.total = self._line("Total", services.total(window.start, window.end), services.total)
        self.by_service = self._lines(services)
        self.by_tag = self._lines(tags, also=[*config.service_names, *(c.service for c in changes)])

    def _line(self, name: str, current: float, previous_of: Callable[[date, date], float]) -> Line:
        if not self.compare or self.window.previous_start is None:
            return Line(name, current, None)
        return Line(name, current, previous_of(self.window.previous_start, self.window.start))

    def _lines(self, series: Series, also: Sequence[str] = ()) -> list[Line]:
        current = series.by_group(self.window.start, self.window.end)
        previous_start = self.window.previous_start
        previous = series.by_group(previous_start, self.window.start) if self.compare and previous_start else {}
        names = dict.fromkeys([*current, *previous, *(n for n in also if n)])
        lines = [Line(n, current.get(n, 0.0), previous.get(n, 0.0) if self.compare else None) for n in names]
        lines = [ln for ln in lines if ln.current or ln.previous or ln.name in also]
        return sorted(lines, key=lambda ln: (ln.name == UNTAGGED, -ln.current, ln.name))

    @property
    def movers(self) -> list[Line]:
        moved = [ln for ln in self.by_service if ln.delta]
        return sorted(moved, key=lambda ln: (-abs(ln.delta or 0), ln.name))[:TOP_MOVERS]

    # --- rendering ---------------------------------------------------------------------------------

    def render(self) -> render.Message:
        last = self.window.end - timedelta(days=1)
        blocks: list[Block] = [
            render.header(f"Cost of {self.env}: last {self.label}"),
            render.section(self._total_text()),
        ]
        if self.compare:
            blocks.append(render.section(self._movers_text()))
        blocks.append(render.section(self._list("By AWS service", self.by_service, limit=MAX_SERVICE_LINES)))
        blocks.append(render.section(self._platform_text()))
        blocks.append(render.section(self._chart_text()))
        blocks.append(render.context(*self._notes()))
        change = self.total.change(self.unit)
        text = f"Cost of {self.env}, {_span(self.window.start, last)}: {money(self.total.current, self.unit)}"
        return render.message(text + (f", {change}" if change else ""), blocks)

    def _total_text(self) -> str:
        last = self.window.end - timedelta(days=1)
        text = f"*{_span(self.window.start, last)}*: *{money(self.total.current, self.unit)}*"
        if self.total.current < 0:
            text += " (credits and refunds exceed charges)"
        if self.compare and self.window.previous_start is not None:
            before = _span(self.window.previous_start, self.window.start - timedelta(days=1))
            text += (
                f"\n{self.total.change(self.unit)} against {money(self.total.previous or 0, self.unit)}"
                f" the {self.window.days} days before ({before})"
            )
        else:
            text += f"\n{self._no_comparison_reason()}"
        first = self.services.first_data_day()
        if first is not None and first > self.window.fetch_start:
            text += f"\nCost Explorer has data from {first:%a %d %b %Y} on."
        return text

    def _no_comparison_reason(self) -> str:
        days = self.window.days
        if self.window.previous_start is None:
            return (
                f"Nothing to compare with: Cost Explorer keeps {HISTORY_MONTHS} months of daily history,"
                f" which does not reach the {days} days before."
            )
        return f"Nothing to compare with: there is no cost data for the {days} days before."

    def _describe(self, line: Line) -> str:
        amount = money(line.current, self.unit)
        if line.current < 0:
            amount += " credit/refund"
        change = line.change(self.unit)
        return f"{amount}, {change}" if change else amount

    def _movers_text(self) -> str:
        rows = [
            f"• {line.change(self.unit)} {render.escape(line.name)}:"
            f" {money(line.previous or 0, self.unit)} → {money(line.current, self.unit)}"
            for line in self.movers
        ]
        return _fit("*Top movers*", rows or ["Nothing moved."])

    def _list(self, title: str, lines: Sequence[Line], limit: int) -> str:
        if not lines:
            return f"*{title}*\nNo cost."
        rows = [f"• {render.escape(ln.name)}: {self._describe(ln)}" for ln in lines[:limit]]
        rest = lines[limit:]
        if rest:
            current = sum(ln.current for ln in rest)
            rest_line = Line("rest", current, sum(ln.previous or 0 for ln in rest) if self.compare else None)
            rows.append(f"• {len(rest)} more: {self._describe(rest_line)}")
        return _fit(f"*{title}*", rows)

    def _platform_text(self) -> str:
        title = f"*By platform service* (tag `{render.escape(self.config.cost.tag_key)}`)"
        by_service: dict[str, list[BotChange]] = {}
        for change in self.changes:
            by_service.setdefault(change.service, []).append(change)
        rows = []
        for line in self.by_tag[:MAX_SERVICE_LINES]:
            rows.append(f"• {render.escape(line.name)}: {self._describe(line)}")
            changes = by_service.pop(line.name, [])
            rows.extend(self._change_row(c) for c in changes[-MAX_ACTIONS_PER_SERVICE:])
            if len(changes) > MAX_ACTIONS_PER_SERVICE:
                rows.append(f"    ↳ and {len(changes) - MAX_ACTIONS_PER_SERVICE} earlier changes (`/ops audit`)")
        if len(self.by_tag) > MAX_SERVICE_LINES:
            rows.append(f"• {len(self.by_tag) - MAX_SERVICE_LINES} more tag values")
        for changes in by_service.values():
            rows.extend(self._change_row(c) for c in changes[-MAX_ACTIONS_PER_SERVICE:])
        if self.tags.has_data(self.window.start, self.window.end) and all(
            ln.name == UNTAGGED for ln in self.by_tag if ln.current
        ):
            rows.append(
                f"_No cost carries the tag `{render.escape(self.config.cost.tag_key)}`: activate it as a cost"
                " allocation tag in the Billing console (it applies to costs from then on)._"
            )
        return _fit(title, rows)

    def _change_row(self, change: BotChange) -> str:
        row = f"    ↳ `{render.escape(change.text)}` by <@{change.actor}> on {change.at:%a %d %b}"
        effect = self._effect(change)
        return row + (f": {effect}" if effect else "")

    def _effect(self, change: BotChange) -> str:
        """The service's average daily cost in the days before the change against the days after it."""
        day = change.at.date()
        before = [
            v for v in self.tags.daily(day - timedelta(days=ACTION_DAYS_AROUND), day, change.service) if v is not None
        ]
        after_end = min(day + timedelta(days=1 + ACTION_DAYS_AROUND), self.window.end)
        after = [v for v in self.tags.daily(day + timedelta(days=1), after_end, change.service) if v is not None]
        if not before or not after:
            return ""
        return (
            f"{money(sum(before) / len(before), self.unit)}/day before,"
            f" {money(sum(after) / len(after), self.unit)}/day after"
        )

    def _chart_text(self) -> str:
        days = self.window.dates()
        amounts = self.services.daily(self.window.start, self.window.end)
        rows: list[tuple[str, float | None]]
        if len(days) > WEEKLY_ROWS_AFTER_DAYS:
            title = f"*Weekly cost* ({self.unit or 'no currency'}; a row per week, the period is longer than a month)"
            rows = _weeks(days, amounts)
        else:
            title = f"*Daily cost* ({self.unit or 'no currency'})"
            rows = [(f"{d:%a %d %b}", a) for d, a in zip(days, amounts, strict=True)]
        return f"{title}\n```\n{chart(rows, self.unit)}\n```"

    def _notes(self) -> list[str]:
        notes = [f"{METRIC} from Cost Explorer, UTC days up to yesterday"]
        if any(self.services.estimated[self.services.index(self.window.start) :]):
            notes[0] += "; recent days are estimates and may still change"
        sharing = [e.name for e in self.config.environments if e.account_id == self.account_id and e.name != self.env]
        if self.config.cost.environment_tag_key is None and sharing:
            share = "shares" if len(sharing) == 1 else "share"
            notes.append(
                f"the whole of AWS account {self.account_id}, which {', '.join(sharing)} {share} "
                "(set cost.environment_tag_key to split it by environment)"
            )
        if not (self.services.complete and self.tags.complete):
            notes.append(f"Cost Explorer's answer had more than {MAX_PAGES} pages; the rest is left out")
        notes.append(_requests_note(self.services.requests + self.tags.requests, self.services))
        return ["; ".join(notes[:-1]) + ".", notes[-1] + "."]


def _weeks(days: Sequence[date], amounts: Sequence[float | None]) -> list[tuple[str, float | None]]:
    """Seven-day rows ending with the last day; the oldest row holds what is left over."""
    rows: list[tuple[str, float | None]] = []
    end = len(days)
    while end > 0:
        start = max(0, end - 7)
        seen = [a for a in amounts[start:end] if a is not None]
        first, last = days[start], days[end - 1]
        label = f"{first:%d %b}-{last:%d %b}" + ("" if end - start == 7 else f" ({end - start}d)")
        rows.append((label, sum(seen) if seen else None))
        end = start
    return rows[::-1]


def chart(rows: Sequence[tuple[str, float | None]], unit: str | None) -> str:
    """Bars of block characters, scaled so the largest row fills BAR_WIDTH; credits show no bar."""
    largest = max((a for _, a in rows if a is not None and a > 0), default=0.0)
    width = max((len(label) for label, _ in rows), default=0)
    lines = []
    for label, amount in rows:
        if amount is None:
            lines.append(f"{label:<{width}} {'':<{BAR_WIDTH}} no data")
            continue
        eighths = round(amount / largest * BAR_WIDTH * 8) if largest > 0 and amount > 0 else 0
        bar = "█" * (eighths // 8) + (BAR_EIGHTHS[eighths % 8] if eighths % 8 else "")
        lines.append(f"{label:<{width}} {bar:<{BAR_WIDTH}} {money(amount, unit):>10}")
    return "\n".join(lines)


def _fit(title: str, rows: Sequence[str], limit: int = render.SECTION_LIMIT - 100) -> str:
    """Title and as many rows as fit in one section, saying how many were left out."""
    text = title
    for i, row in enumerate(rows):
        if len(text) + len(row) + 1 > limit:
            return f"{text}\n… {len(rows) - i} more lines left out"
        text += f"\n{row}"
    return text
