"""Every way a report can come out thin or fail: a clear message, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from bot import render
from bot.aws import ClientFactory, recorded_calls
from bot.config import parse_config
from bot.cost import HISTORY_MONTHS, CostReporter
from bot.errors import BotError
from bot.table import Table
from sandbox.clock import SimulatedClock

from .conftest import config_data
from .support import (
    NOW,
    PREVIOUS_START,
    WEEK_START,
    ce_answer,
    chart_rows,
    known_services,
    known_tags,
    message_text,
    queue_ce_answers,
    tag_key,
)

GET = "ce:GetCostAndUsage"


@pytest.fixture
def ce_stub(clients: ClientFactory) -> Iterator[Stubber]:
    """Cost Explorer errors moto cannot produce, on the very client the factory hands the reporter."""
    with Stubber(clients.client("ce", "us-east-1")) as stubber:
        yield stubber


def requested_periods(clients: ClientFactory) -> list[dict[str, str]]:
    periods: list[dict[str, str]] = []

    def remember(params: dict[str, Any], **_: Any) -> None:
        periods.append(dict(params["TimePeriod"]))

    clients.client("ce", "us-east-1").meta.events.register(
        "before-parameter-build.cost-explorer.GetCostAndUsage", remember
    )
    return periods


def test_no_data_at_all_says_so_and_asks_once(reporter: CostReporter) -> None:
    with recorded_calls() as calls:
        message = reporter.summary(7, "week", None)
    assert calls.count(GET) == 1  # the tag query would add nothing to "no data"
    assert "No cost data yet for this period (17 Nov - 23 Nov 2025) in production" in message["text"]


def test_days_that_cost_explorer_lists_without_any_cost_are_no_data(reporter: CostReporter) -> None:
    queue_ce_answers(ce_answer(PREVIOUS_START, 14, lambda _day: {}))
    assert "No cost data yet for this period" in reporter.summary(7, "week", None)["text"]


def test_a_brand_new_account_shows_its_first_days_with_nothing_to_compare(reporter: CostReporter) -> None:
    first_day = date(2025, 11, 21)

    def services(day: date) -> dict[str, float]:
        return known_services(day) if day >= first_day else {}

    def tags(day: date) -> dict[str, float]:
        return known_tags(day) if day >= first_day else {}

    queue_ce_answers(ce_answer(PREVIOUS_START, 14, services), ce_answer(PREVIOUS_START, 14, tags, key=tag_key))
    message = reporter.summary(7, "week", None)
    text = message_text(message)
    assert "Cost of production, 17 Nov - 23 Nov 2025: $133.50" in text  # 3 x 44.50
    assert "Nothing to compare with: there is no cost data for the 7 days before." in text
    assert "Cost Explorer has data from Fri 21 Nov 2025 on." in text
    assert "Top movers" not in text
    assert "%" not in text.split("*Daily cost*")[0]
    assert "inf" not in text
    rows = chart_rows(message)
    assert [r.endswith("no data") for r in rows] == [True] * 4 + [False] * 3


def test_a_year_has_no_previous_year_in_cost_explorer_and_is_charted_by_week(
    reporter: CostReporter, clients: ClientFactory
) -> None:
    start = WEEK_START + timedelta(days=7) - timedelta(days=365)
    many = {f"AWS Service {i:02d} with a rather long product name": 1.0 + i for i in range(40)}
    queue_ce_answers(
        ce_answer(start, 365, lambda _d: many),
        ce_answer(start, 365, lambda _d: {"service-a": 10.0, "(untagged)": 810.0}, key=tag_key),
    )
    periods = requested_periods(clients)
    with recorded_calls() as calls:
        message = reporter.summary(365, "365 days", None)
    assert calls.count(GET) == 2
    assert periods == [{"Start": "2024-11-24", "End": "2025-11-24"}] * 2  # the current year only
    text = message_text(message)
    assert f"Cost Explorer keeps {HISTORY_MONTHS} months of daily history" in text
    assert "a row per week" in text
    rows = chart_rows(message)
    assert len(rows) == 53  # 52 full weeks and the 1 day left over, oldest first
    assert rows[0].startswith("24 Nov-24 Nov (1d)")
    assert rows[-1].startswith("17 Nov-23 Nov")
    assert "28 more: " in text  # 12 services listed, the rest summed
    assert all(len((b.get("text") or {}).get("text", "")) <= 3000 for b in message["blocks"])
    assert len(json.dumps(message["blocks"])) < 12_000


def test_cost_explorer_not_enabled_says_how_to_enable_it(reporter: CostReporter, ce_stub: Stubber) -> None:
    ce_stub.add_client_error("get_cost_and_usage", "DataUnavailableException", "Data is not available.", 400)
    with pytest.raises(BotError) as raised:
        reporter.summary(7, "week", None)
    shown = message_text(render.error(raised.value))
    assert "Cost Explorer has no data for this account: it is not enabled yet." in shown
    assert "Billing and Cost Management console" in shown
    assert "24 hours" in shown


@pytest.mark.parametrize("code", ["AccessDeniedException", "AccessDenied"])
def test_access_denied_names_the_permission(reporter: CostReporter, ce_stub: Stubber, code: str) -> None:
    ce_stub.add_client_error("get_cost_and_usage", code, "User is not authorized", 400)
    with pytest.raises(BotError) as raised:
        reporter.summary(7, "week", None)
    assert "ce:GetCostAndUsage" in raised.value.message
    assert "ce:GetCostAndUsage" in (raised.value.hint or "")


def test_access_denied_in_another_account_names_its_role(clients: ClientFactory, table: Table) -> None:
    role = "arn:aws:iam::111122223333:role/fargate-chatops"
    data = config_data()
    data["environments"][0]["role_arn"] = role
    data["environments"][0]["account_id"] = "111122223333"  # the role's account is the environment's
    reporter = CostReporter(parse_config(data), clients, table, SimulatedClock(NOW))
    client = clients.client("ce", "us-east-1", role)
    with Stubber(client) as stub:
        stub.add_client_error("get_cost_and_usage", "AccessDeniedException", "denied", 400)
        with pytest.raises(BotError) as raised:
            reporter.summary(7, "week", None)
    assert role in (raised.value.hint or "")


def test_throttling_says_to_wait(reporter: CostReporter, ce_stub: Stubber) -> None:
    ce_stub.add_client_error("get_cost_and_usage", "LimitExceededException", "slow down", 400)
    with pytest.raises(BotError, match="limiting"):
        reporter.summary(7, "week", None)


def test_an_unactivated_tag_key_is_pointed_out(reporter: CostReporter) -> None:
    queue_ce_answers(
        ce_answer(PREVIOUS_START, 14, known_services),
        ce_answer(PREVIOUS_START, 14, lambda d: {"(untagged)": sum(known_services(d).values())}, key=tag_key),
    )
    text = message_text(reporter.summary(7, "week", None))
    assert "No cost carries the tag `Service`: activate it as a cost allocation tag" in text
    assert "• service-a: $0.00" in text  # configured services are listed even without tagged cost


def test_an_environment_tag_filters_both_queries(clients: ClientFactory, table: Table) -> None:
    reporter = CostReporter(
        parse_config(config_data(environment_tag_key="Environment")), clients, table, SimulatedClock(NOW)
    )
    filters: list[Any] = []
    clients.client("ce", "us-east-1").meta.events.register(
        "before-parameter-build.cost-explorer.GetCostAndUsage",
        lambda params, **_: filters.append(params.get("Filter")),
    )
    queue_ce_answers(
        ce_answer(PREVIOUS_START, 14, known_services), ce_answer(PREVIOUS_START, 14, known_tags, key=tag_key)
    )
    reporter.summary(7, "week", None)
    expected = {
        "And": [
            {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": ["123456789012"], "MatchOptions": ["EQUALS"]}},
            {"Tags": {"Key": "Environment", "Values": ["production"], "MatchOptions": ["EQUALS"]}},
        ]
    }
    assert filters == [expected, expected]


def _two_environments(environment_tag_key: str | None = None) -> dict[str, Any]:
    data = config_data(environment_tag_key=environment_tag_key)
    data["environments"].append(
        {
            "name": "staging",
            "region": "us-east-1",
            "role_arn": "arn:aws:iam::210987654321:role/fargate-chatops-workload",
            "external_id": "opsbot-7f3a",
        }
    )
    return data


def test_each_environment_s_cost_is_its_own_account_s(clients: ClientFactory, table: Table) -> None:
    """Issue 21 review 1, finding 7: in an organization's management (payer) account, Cost Explorer answers with
    the consolidated bill of every member account: /cost production showed staging's costs, and everyone else's."""
    reporter = CostReporter(parse_config(_two_environments()), clients, table, SimulatedClock(NOW))
    filters: list[Any] = []
    clients.client("ce", "us-east-1").meta.events.register(
        "before-parameter-build.cost-explorer.GetCostAndUsage",
        lambda params, **_: filters.append(params.get("Filter")),
    )
    queue_ce_answers(
        ce_answer(PREVIOUS_START, 14, known_services), ce_answer(PREVIOUS_START, 14, known_tags, key=tag_key)
    )
    text = message_text(reporter.summary(7, "week", "production"))
    expected = {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": ["123456789012"], "MatchOptions": ["EQUALS"]}}
    assert filters == [expected, expected]
    assert "whole AWS account" not in text  # production is alone in its account: nothing to split


def test_an_account_shared_by_two_environments_is_said_to_be_shared(clients: ClientFactory, table: Table) -> None:
    data = config_data()
    data["environments"].append({"name": "staging", "region": "us-east-1", "account_id": "123456789012"})
    reporter = CostReporter(parse_config(data), clients, table, SimulatedClock(NOW))
    queue_ce_answers(
        ce_answer(PREVIOUS_START, 14, known_services), ce_answer(PREVIOUS_START, 14, known_tags, key=tag_key)
    )
    text = message_text(reporter.summary(7, "week", "production"))
    assert "the whole of AWS account 123456789012, which staging shares" in text
    assert "cost.environment_tag_key" in text
