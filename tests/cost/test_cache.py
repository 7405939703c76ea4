"""Cost Explorer charges per request: a report makes at most two, none while cached; pages are counted."""

from __future__ import annotations

from datetime import date

import pytest

from bot.aws import ClientFactory, recorded_calls
from bot.config import parse_config
from bot.cost import MAX_PAGES, CostReporter, Series
from bot.table import Table
from sandbox.clock import SimulatedClock

from .conftest import config_data
from .support import (
    ECS,
    PREVIOUS_START,
    RDS,
    ce_answer,
    known_services,
    known_tags,
    message_text,
    queue_ce_answers,
    queue_known_week,
    tag_key,
)

GET = "ce:GetCostAndUsage"


def test_a_report_makes_two_requests_and_a_repeat_within_the_cache_time_none(reporter: CostReporter) -> None:
    queue_known_week()
    with recorded_calls() as calls:
        first = reporter.summary(7, "week", None)
    assert calls.count(GET) == 2
    with recorded_calls() as calls:
        second = reporter.summary(7, "week", None)
    assert calls.count(GET) == 0
    assert second["text"] == first["text"]
    assert "From the bot's cache" in message_text(second)
    assert "no new request" in message_text(second)


def test_the_cache_expires_after_six_hours(reporter: CostReporter, clock: SimulatedClock) -> None:
    queue_known_week()
    reporter.summary(7, "week", None)
    clock.at += 6 * 3600 - 60
    with recorded_calls() as calls:
        reporter.summary(7, "week", None)
    assert calls.count(GET) == 0
    clock.at += 120
    with recorded_calls() as calls:
        reporter.summary(7, "week", None)
    assert calls.count(GET) == 2


def test_the_cache_time_comes_from_the_config(clients: ClientFactory, table: Table, clock: SimulatedClock) -> None:
    reporter = CostReporter(parse_config(config_data(cache_hours=1)), clients, table, clock)
    queue_known_week()
    reporter.summary(7, "week", None)
    clock.at += 3601
    with recorded_calls() as calls:
        reporter.summary(7, "week", None)
    assert calls.count(GET) == 2


def test_another_period_is_another_question(reporter: CostReporter) -> None:
    queue_known_week()
    reporter.summary(7, "week", None)
    queue_ce_answers(
        ce_answer(date(2025, 11, 18), 6, known_services), ce_answer(date(2025, 11, 18), 6, known_tags, key=tag_key)
    )
    with recorded_calls() as calls:
        text = message_text(reporter.summary(3, "3 days", None))
    assert calls.count(GET) == 2
    assert "21 Nov - 23 Nov 2025" in text


def test_a_continuation_page_is_one_more_request_and_its_groups_are_merged(reporter: CostReporter) -> None:
    def first_page(day: date) -> dict[str, float]:
        return {k: v for k, v in known_services(day).items() if k == ECS}

    def second_page(day: date) -> dict[str, float]:
        return {k: v for k, v in known_services(day).items() if k != ECS}

    queue_ce_answers(
        ce_answer(PREVIOUS_START, 14, first_page, next_token="page-2"),
        ce_answer(PREVIOUS_START, 14, second_page),
        ce_answer(PREVIOUS_START, 14, known_tags, key=tag_key),
    )
    with recorded_calls() as calls:
        text = message_text(reporter.summary(7, "week", None))
    assert calls.count(GET) == 3
    assert "$288.50, +$36.50 (+14%)" in text
    assert f"• {ECS}: $90.00" in text
    assert f"• {RDS}: $140.00" in text
    assert "Cost Explorer: 3 requests ($0.03)." in text


def test_pages_stop_at_the_limit_and_the_message_says_so(reporter: CostReporter) -> None:
    pages = [ce_answer(PREVIOUS_START, 14, known_services, next_token=f"page-{i + 2}") for i in range(2 * MAX_PAGES)]
    queue_ce_answers(*pages)
    with recorded_calls() as calls:
        text = message_text(reporter.summary(7, "week", None))
    # Every queued page points to another: each query stops after MAX_PAGES.
    assert calls.count(GET) == 2 * MAX_PAGES
    assert f"more than {MAX_PAGES} pages" in text


@pytest.mark.parametrize("services", [40])
def test_a_year_of_daily_costs_fits_one_cache_item(services: int) -> None:
    days = 730
    series = Series(date(2024, 1, 1), days)
    series.groups = {f"AWS Service number {i}": [i * 1.2345678 + d / 7 for d in range(days)] for i in range(services)}
    series.seen = [True] * days
    cached = series.to_cache()
    assert len(cached["zlib"]) < 350_000  # DynamoDB's item limit is 400 KB
    restored = Series.from_cache(cached)
    assert restored.total(date(2024, 1, 1), date(2025, 12, 31)) == pytest.approx(
        series.total(date(2024, 1, 1), date(2025, 12, 31)), rel=1e-9
    )
