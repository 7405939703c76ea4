"""Issue 16, item 9: /logs and the alarm card's Show logs show the NEWEST lines of a busy service.

FilterLogEvents returns the oldest events of its time range first, a page at a time (real AWS: at most
1 MB or 10,000 events a page; a page may even be empty while more events remain). A reader that stops
after a few pages and keeps the last 50 lines shows the start of the window on a busy service. moto pages
at 10,000 events, so a log group of 20,000 events is enough to show the defect here.

The bot now reads backwards in time windows (bot/platform.py, Platform.read_logs); these tests hold it to
the user's view: the 50 newest lines of the window, shown oldest first (newest at the bottom, as in a
terminal's tail), in a bounded number of calls, also when the pages are shaped like real AWS's.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from harness import VIEWER, Bot, Reply, config_data
from moto import mock_aws
from moto.logs.models import LogsBackend

from bot import render
from bot.aws import ClientFactory, recorded_calls
from bot.config import Config, parse_config
from bot.model import LogLine
from bot.platform import MAX_LOG_CALLS, Platform

EVENTS = 20_000
STREAMS = 3  # one per ECS task, as the awslogs driver writes them
STEP_MS = 42  # 20,000 events 42 ms apart: 14 minutes of a busy service
ERROR_EVERY = 125  # every 125th line is an error: 160 of them, spread over the whole window
REGION = "us-east-1"


def busy_events(end_ms: int, count: int = EVENTS) -> list[list[dict[str, Any]]]:
    """`count` events ending 1 s before `end_ms`, dealt to STREAMS streams; event n says `n=<n>`."""
    first = end_ms - 1000 - (count - 1) * STEP_MS
    streams: list[list[dict[str, Any]]] = [[] for _ in range(STREAMS)]
    for n in range(count):
        level = "ERROR" if n % ERROR_EVERY == 0 else "INFO"
        message = json.dumps({"level": level, "message": "upstream timeout" if level == "ERROR" else "ok", "n": n})
        streams[n % STREAMS].append({"timestamp": first + n * STEP_MS, "message": message})
    return streams


def put_busy_log(log_group: str, end_ms: int) -> None:
    logs = boto3.client("logs", region_name=REGION)
    for index, events in enumerate(busy_events(end_ms)):
        stream = f"ecs/app/task{index}"
        logs.create_log_stream(logGroupName=log_group, logStreamName=stream)
        for start in range(0, len(events), 10_000):  # PutLogEvents takes at most 10,000 events
            logs.put_log_events(logGroupName=log_group, logStreamName=stream, logEvents=events[start : start + 10_000])


def numbers(lines: list[LogLine]) -> list[int]:
    return [int(json.loads(line.message)["n"]) for line in lines]


@pytest.fixture(scope="class")  # ends before the Slack tests below, whose `bot` starts its own moto
def busy() -> Iterator[tuple[Platform, Config, datetime]]:
    """Production's service-a with 20,000 log lines, service-b with two; the windows end at the returned time.
    Only the log groups are made (the reader needs nothing else): the set-up is the 20,000 puts."""
    config = parse_config(config_data())
    with mock_aws():
        logs = boto3.client("logs", region_name=REGION)
        for target in config.targets():
            logs.create_log_group(logGroupName=target.log_group)
        end = datetime.now(UTC).replace(microsecond=0)
        started = time.perf_counter()
        put_busy_log(config.target("service-a").log_group, int(end.timestamp() * 1000))
        print(f"\n20,000 events put in {time.perf_counter() - started:.2f} s")
        quiet = config.target("service-b").log_group
        logs.create_log_stream(logGroupName=quiet, logStreamName="ecs/app/task0")
        at = int(end.timestamp() * 1000) - 3_600_000
        logs.put_log_events(
            logGroupName=quiet,
            logStreamName="ecs/app/task0",
            logEvents=[{"timestamp": at, "message": "started"}, {"timestamp": at + 5, "message": "ERROR upstream"}],
        )
        yield Platform(config, ClientFactory()), config, end


@pytest.fixture
def real_pages(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], list[int]]:
    """Pages shaped like real AWS's, which moto does not do: the first page of every search comes back
    EMPTY with a token (AWS: "This operation can return empty results while there are more log events
    available through the token"), no page holds more than `page` events (AWS: 1 MB a page, whatever
    the limit asked), and streams are interleaved by time (AWS always does; moto only when asked with the
    deprecated `interleaved`). Patched into moto's backend: the bot's client, parameters and tokens are real.
    Returns the list of events per page served, for the test to read."""
    original = LogsBackend.filter_log_events
    served: list[int] = []
    cap = {"page": 10_000}

    def paged(self: LogsBackend, log_group_name: str, *args: Any) -> Any:
        streams, start, end, limit, token, pattern, _interleaved = args
        if token is None:
            served.append(0)
            return [], f"{log_group_name}@first-page@empty", []
        if token.endswith("@first-page@empty"):
            token = None
        events, token, searched = original(
            self, log_group_name, streams, start, end, min(limit or 10_000, cap["page"]), token, pattern, True
        )
        served.append(len(events))
        return events, token, searched

    monkeypatch.setattr(LogsBackend, "filter_log_events", paged)

    def set_page(page: int) -> list[int]:
        cap["page"] = page
        return served

    return set_page


# --- the reader ----------------------------------------------------------------------------------------


class TestReader:
    """Platform.read_logs on a moto log group of 20,000 events (set up once for the class)."""

    def test_a_busy_window_shows_its_newest_50_lines_oldest_first(
        self, busy: tuple[Platform, Config, datetime]
    ) -> None:
        platform, config, end = busy
        with recorded_calls() as calls:
            lines = platform.log_lines(config.target("service-a"), timedelta(minutes=15), None, 50, until=end)
        assert numbers(lines) == list(range(EVENTS - 50, EVENTS))  # the newest 50, the newest at the bottom
        assert len({line.stream for line in lines}) == STREAMS  # every task's stream, interleaved by time
        assert 1 < calls.count("logs:FilterLogEvents") <= 4, calls  # measured 3 (before: 1, the wrong lines)

    def test_a_filter_shows_the_newest_matching_lines(self, busy: tuple[Platform, Config, datetime]) -> None:
        platform, config, end = busy
        with recorded_calls() as calls:
            lines = platform.log_lines(config.target("service-a"), timedelta(minutes=15), "ERROR", 50, until=end)
        errors = [n for n in range(EVENTS) if n % ERROR_EVERY == 0]
        assert numbers(lines) == errors[-50:]
        assert calls.count("logs:FilterLogEvents") == 1  # 160 matches fit one call: a sparse search costs one

    def test_a_window_that_ends_earlier_shows_the_newest_lines_before_its_end(
        self,
        busy: tuple[Platform, Config, datetime],
    ) -> None:
        """Show logs: the lines around an alarm's time, which is before the newest line."""
        platform, config, end = busy
        last = EVENTS - 1 - 10_000  # the window ends at the timestamp of event `last`
        until = end - timedelta(milliseconds=1000 + (EVENTS - 1 - last) * STEP_MS)
        lines = platform.log_lines(config.target("service-a"), timedelta(minutes=4), None, 50, until=until)
        assert numbers(lines) == list(range(last - 49, last + 1))

    def test_a_quiet_window_costs_one_call(self, busy: tuple[Platform, Config, datetime]) -> None:
        platform, config, end = busy
        with recorded_calls() as calls:
            lines = platform.log_lines(config.target("service-b"), timedelta(hours=2), None, 50, until=end)
        assert [line.message for line in lines] == ["started", "ERROR upstream"]
        assert calls == ["logs:FilterLogEvents"]

    def test_pages_shaped_like_real_aws_still_give_the_newest_lines(
        self, busy: tuple[Platform, Config, datetime], real_pages: Callable[[int], list[int]]
    ) -> None:
        platform, config, end = busy
        served = real_pages(137)
        with recorded_calls() as calls:
            lines = platform.log_lines(config.target("service-a"), timedelta(minutes=15), None, 50, until=end)
        assert numbers(lines) == list(range(EVENTS - 50, EVENTS))
        assert 0 in served  # empty first pages were served
        assert max(served) <= 137  # and small pages
        # Measured 5: the whole window (an empty page, two small ones: too many), then the last 4 s (an
        # empty page, then 76 events): the rate of the oldest events sizes the narrowed window.
        assert calls.count("logs:FilterLogEvents") <= 6, calls

    def test_a_search_slow_on_wide_ranges_shows_the_newest_matches_it_reached(
        self, busy: tuple[Platform, Config, datetime], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A filter over a large log group: CloudWatch answers a wide range with empty pages while it scans.
        Emulated in moto's backend: a range wider than a minute only ever answers empty pages with a token."""
        original = LogsBackend.filter_log_events

        def slow_when_wide(self: LogsBackend, log_group_name: str, *args: Any) -> Any:
            start, end = args[1], args[2]
            if end - start > 60_000:
                return [], f"{log_group_name}@still@scanning", []
            return original(self, log_group_name, *args)

        monkeypatch.setattr(LogsBackend, "filter_log_events", slow_when_wide)
        platform, config, end = busy
        with recorded_calls() as calls:
            read = platform.read_logs(config.target("service-a"), timedelta(minutes=15), "ERROR", 50, until=end)
        errors = [n for n in range(EVENTS) if n % ERROR_EVERY == 0]
        assert numbers(read.lines) == errors[-50:]  # narrowed to ranges it could finish, newest first
        assert read.searched_from is None
        assert calls.count("logs:FilterLogEvents") <= MAX_LOG_CALLS


# --- /logs in Slack --------------------------------------------------------------------------------------


def shown_numbers(reply: Reply) -> list[int]:
    """The `n` of each log line shown, top to bottom."""
    code = [b["text"]["text"] for r in reply.responses for b in r.get("blocks", []) if "```" in str(b.get("text"))]
    return [int(n) for n in re.findall(r'"n": (\d+)', "\n".join(code))]


def test_logs_in_slack_shows_the_newest_lines_of_a_busy_service_oldest_first(bot: Bot) -> None:
    put_busy_log("/ecs/ecs-microservices-production-service-a", int(time.time() * 1000))
    with recorded_calls() as calls:
        reply = bot.command("/logs service-a", user=VIEWER)
    assert shown_numbers(reply) == list(range(EVENTS - 50, EVENTS))
    assert "50 lines (at most 50)" in str(reply.responses)
    assert "where the search stopped" not in str(reply.responses)
    # Before: 1 call, whose first page (moto: 10,000 events) gave lines of the first minutes.
    assert 1 < calls.count("logs:FilterLogEvents") <= MAX_LOG_CALLS, calls


def test_a_search_that_does_not_finish_says_how_far_it_got_and_what_to_do(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CloudWatch may answer a search with empty pages and a token for a long time (a large log group):
    the read stops at its budget and says so, rather than hanging or claiming there are no lines."""

    def never_done(self: LogsBackend, log_group_name: str, *args: Any) -> Any:
        return [], f"{log_group_name}@still@searching", []

    monkeypatch.setattr(LogsBackend, "filter_log_events", never_done)
    with recorded_calls() as calls:
        reply = bot.command("/logs service-a 2h", user=VIEWER)
    text = str(reply.responses)
    assert "No log lines found since" in text
    assert "where the search stopped" in text
    assert "Give a shorter window or a filter, or open CloudWatch" in text
    assert "Open in CloudWatch" in text
    assert "No log lines in that window" not in text
    assert calls.count("logs:FilterLogEvents") == MAX_LOG_CALLS


# --- /logs <service> [env] ---------------------------------------------------------------------------------


@pytest.fixture
def staging_log(bot: Bot) -> None:
    logs = boto3.client("logs", region_name=REGION)
    group = "/ecs/ecs-microservices-staging-service-a"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="ecs/app/task0")
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="ecs/app/task0",
        logEvents=[{"timestamp": now - 1000, "message": "on staging"}],
    )


def test_logs_reads_the_environment_named_after_the_service_or_the_window(bot: Bot, staging_log: None) -> None:
    for text in ("service-a staging", "service-a staging 1h", "service-a 1h staging"):
        reply = bot.command(f"/logs {text}", user=VIEWER)
        assert "Logs: service-a (staging)" in reply.text, text
        assert "on staging" in str(reply.responses), text
        assert "upstream timeout" not in str(reply.responses), text  # production's seeded line


def test_an_environment_and_a_filter(bot: Bot, staging_log: None) -> None:
    reply = bot.command('/logs service-a staging "on staging"', user=VIEWER)
    assert 'Logs: service-a (staging), last 15m, filter `"on staging"`' in reply.text
    assert "on staging" in str(reply.responses)
    with recorded_calls() as calls:
        refused = bot.command("/logs service-a 30m ERROR staging", user=VIEWER).text
        twice = bot.command("/logs service-a staging 1h staging", user=VIEWER).text
    assert (
        "`staging` after the filter is an environment: give it before the filter (`/logs service-a staging 30m ERROR`)."
        ' To search the logs for `staging`, quote it: `"staging"`.' in refused
    )
    assert 'Two environments, `staging` and `staging`. To search the logs for `staging`, quote it: `"staging"`' in twice
    assert "logs:FilterLogEvents" not in calls
    reply = bot.command('/logs service-a ERROR "staging"', user=VIEWER)  # quoted: a term of the filter
    assert 'Logs: service-a (production), last 15m, filter `ERROR "staging"`' in reply.text


def test_lines_found_before_the_search_stopped_are_shown_with_where_it_stopped() -> None:
    line = LogLine(datetime(2026, 1, 5, 12, 0, 3, tzinfo=UTC), '{"n": 7}', "ecs/app/task0")
    message = render.logs_message(
        "service-a",
        "production",
        [line],
        "7d",
        "ERROR",
        None,
        50,
        searched_from=datetime(2026, 1, 5, 12, 0, tzinfo=UTC),
    )
    note = message["blocks"][-1]["elements"][0]["text"]
    assert note.startswith("1 line (at most 50); only lines since 12:00:00 UTC, where the search stopped")
    assert note.endswith("Give a shorter window or a filter, or open CloudWatch")
