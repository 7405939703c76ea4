"""/cost week on a known week: totals, deltas, movers, the chart and the bot's own changes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.cost import CostReporter, Line, money
from bot.stores import AuditEntry, AuditLog
from bot.table import Table

from .support import (
    CLOUDWATCH,
    EC2_OTHER,
    ECS,
    LAMBDA,
    RDS,
    SUPPORT,
    bar_eighths,
    chart_rows,
    message_text,
    queue_known_week,
)


def executed(table: Table, service: str, request: str, at: datetime, decision: str = "executed") -> None:
    AuditLog(table).record(
        AuditEntry("production", service, "U0DEPLOYER", request, decision, "done", "p1", at.timestamp())
    )


@pytest.fixture
def week(reporter: CostReporter, table: Table) -> str:
    queue_known_week()
    executed(
        table, "service-b", "/scale confirm scale service-b 4 (production)", datetime(2025, 11, 18, 14, tzinfo=UTC)
    )
    # Not shown: only planned, and executed before the period.
    executed(table, "service-b", "/scale service-b 6", datetime(2025, 11, 19, 9, tzinfo=UTC), decision="planned")
    executed(
        table, "service-a", "/deploy confirm deploy service-a v1 (production)", datetime(2025, 11, 16, 23, tzinfo=UTC)
    )
    return message_text(reporter.summary(7, "week", None))


def test_the_total_is_compared_with_the_week_before(week: str) -> None:
    # 288.50 this week against 252.00: +36.50, +14.5%.
    assert "Cost of production, 17 Nov - 23 Nov 2025: $288.50, +$36.50 (+14%)" in week
    assert "against $252.00 the 7 days before (10 Nov - 16 Nov 2025)" in week


def test_each_aws_service_has_its_amount_and_change(week: str) -> None:
    assert f"• {RDS}: $140.00, no change" in week
    assert f"• {ECS}: $90.00, +$20.00 (+29%)" in week
    assert f"• {EC2_OTHER}: $56.00, +$21.00 (+60%)" in week
    assert f"• {CLOUDWATCH}: $3.50, -$3.50 (-50%)" in week
    assert f"• {LAMBDA}: $14.00, +$14.00 (new)" in week


def test_a_refund_is_shown_as_a_credit(week: str) -> None:
    assert f"• {SUPPORT}: -$15.00 credit/refund, -$15.00" in week
    assert "inf" not in week


def test_the_top_five_movers_are_the_largest_changes_in_either_direction(week: str) -> None:
    movers = week.split("*Top movers*\n")[1].split("\n*")[0].splitlines()
    assert movers == [
        f"• +$21.00 (+60%) {EC2_OTHER}: $35.00 → $56.00",
        f"• +$20.00 (+29%) {ECS}: $70.00 → $90.00",
        f"• -$15.00 (new credit) {SUPPORT}: $0.00 → -$15.00",
        f"• +$14.00 (new) {LAMBDA}: $0.00 → $14.00",
        f"• -$3.50 (-50%) {CLOUDWATCH}: $7.00 → $3.50",
    ]


def test_platform_services_come_from_the_service_tag(week: str) -> None:
    platform = week.split("*By platform service* (tag `Service`)\n")[1].split("\n*")[0]
    assert "• service-a: $140.00, no change" in platform
    assert "• service-b: $90.00, +$20.00 (+29%)" in platform
    assert "• (untagged): $58.50, +$16.50 (+39%)" in platform


def test_the_bots_change_sits_under_the_service_it_touched_with_its_effect(week: str) -> None:
    platform = week.split("*By platform service*")[1]
    lines = platform.splitlines()
    service_b = lines.index("• service-b: $90.00, +$20.00 (+29%)")
    assert lines[service_b + 1] == (
        "    ↳ `/scale service-b 4` by <@U0DEPLOYER> on Tue 18 Nov: $10.00/day before, $14.00/day after"
    )
    assert "service-b 6" not in week
    assert "/deploy" not in week


def test_the_daily_chart_has_a_row_per_day_scaled_to_the_largest(reporter: CostReporter, table: Table) -> None:
    queue_known_week()
    rows = chart_rows(reporter.summary(7, "week", None))
    assert [r[:10] for r in rows] == [
        "Mon 17 Nov",
        "Tue 18 Nov",
        "Wed 19 Nov",
        "Thu 20 Nov",
        "Fri 21 Nov",
        "Sat 22 Nov",
        "Sun 23 Nov",
    ]
    bars = [bar_eighths(r) for r in rows]
    assert bars[2] == 24 * 8  # 44.50, the largest day, fills the width
    assert bars[0] == round(40.5 / 44.5 * 24 * 8)
    assert bars[3] == round(29.5 / 44.5 * 24 * 8)  # the refund day
    assert rows[3].endswith("$29.50")


def test_the_message_fits_slack(reporter: CostReporter) -> None:
    queue_known_week()
    message = reporter.summary(7, "week", None)
    assert len(message["blocks"]) <= 50
    assert all(len((b.get("text") or {}).get("text", "")) <= 3000 for b in message["blocks"])
    assert len(json.dumps(message["blocks"])) < 12_000


def test_the_footer_says_what_the_report_cost(reporter: CostReporter) -> None:
    queue_known_week()
    text = message_text(reporter.summary(7, "week", None))
    assert "Cost Explorer: 2 requests ($0.02)." in text
    assert "recent days are estimates" in text


@pytest.mark.parametrize(
    ("amount", "unit", "signed", "shown"),
    [
        (1234.567, "USD", False, "$1,235"),
        (12.345, "USD", False, "$12.35"),
        (0.004, "USD", False, "<$0.01"),
        (0.0, "USD", False, "$0.00"),
        (-3.1, "USD", False, "-$3.10"),
        (3.1, "USD", True, "+$3.10"),
        (-0.001, "USD", True, "-<$0.01"),
        (12.5, "EUR", False, "€12.50"),
        (1500.4, "JPY", False, "¥1,500"),
        (42.0, "CHF", True, "+42.00 CHF"),
    ],
)
def test_amounts_are_rounded_with_the_currency_of_the_answer(
    amount: float, unit: str, signed: bool, shown: str
) -> None:
    assert money(amount, unit, signed) == shown


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (Line("x", 110.0, 100.0), "+$10.00 (+10%)"),
        (Line("x", 100.5, 100.0), "+$0.50 (+0.5%)"),
        (Line("x", 5.0, 0.0), "+$5.00 (new)"),
        (Line("x", -5.0, 0.0), "-$5.00 (new credit)"),
        (Line("x", 0.0, 5.0), "-$5.00 (-100%)"),
        (Line("x", 5.0, -2.0), "+$7.00"),  # against a credit: no percentage of a negative base
        (Line("x", 5.0, None), ""),
        (Line("x", 5.0, 5.0), "no change"),
    ],
)
def test_changes_never_divide_by_nothing(line: Line, shown: str) -> None:
    assert line.change("USD") == shown
