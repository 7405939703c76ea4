"""The figures the bot writes in production (bot.metrics, docs/observability.md), read as CloudWatch reads them:
the EMF lines Powertools prints on stdout at the end of each invocation, from real flows of the Slack function
and the alarm relay."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from alarms.support import AlarmsLambda, alarm_config, body, metric_alarm, sqs_record
from deploy.checks import TEMPLATE, load_template
from harness import VIEWER, Bot

from bot import metrics as m


@pytest.fixture
def config_dict() -> dict[str, Any]:
    return alarm_config()


class Emitted:
    """The EMF lines written to stdout so far, one metric value per entry."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.lines: list[dict[str, Any]] = []

    def read(self) -> list[dict[str, Any]]:
        for line in self.capsys.readouterr().out.splitlines():
            if line.startswith('{"_aws"'):
                self.lines.append(json.loads(line))
        return self.lines

    def values(self, name: str, **dimensions: str) -> list[float]:
        """The values of `name` whose EMF object has exactly the standard dimensions plus `dimensions`."""
        found: list[float] = []
        for line in self.read():
            (directive,) = line["_aws"]["CloudWatchMetrics"]
            if name not in {metric["Name"] for metric in directive["Metrics"]}:
                continue
            keys = set(directive["Dimensions"][0])
            if keys != {"service", "function", *dimensions}:
                continue
            if any(line[key] != value for key, value in dimensions.items()):
                continue
            assert directive["Namespace"] == NAMESPACE
            found += line[name] if isinstance(line[name], list) else [line[name]]
        return found


VARIABLES = load_template(TEMPLATE.read_text())["Globals"]["Function"]["Environment"]["Variables"]
NAMESPACE = VARIABLES["POWERTOOLS_METRICS_NAMESPACE"]


@pytest.fixture
def emitted(capsys: pytest.CaptureFixture[str]) -> Emitted:
    return Emitted(capsys)


def plan_and_confirm(bot: Bot, text: str) -> None:
    assert bot.command(text).text == ""
    card = bot.last_card()
    bot.click("plan_confirm", bot.button(card, "plan_confirm")["value"], card.ts)


def end_of_lazy_invocation() -> None:
    """In Lambda the lazy work runs in an invocation of its own, whose log_metrics writes its figures; the
    tests run it in threads, so its figures are written here."""
    import handlers.slack

    handlers.slack.metrics.flush()


def test_each_ack_writes_its_latency_for_the_slack_function(bot: Bot, emitted: Emitted) -> None:
    bot.command("/status")
    bot.command("/deploy service-a latest")  # refused in the ack: still an ack Slack waited for
    latencies = emitted.values(m.ACK_LATENCY, function="slack")
    assert len(latencies) == 2
    # milliseconds: a first ack on a loaded machine may take seconds (bench.ack_latency measures them); a figure
    # in seconds or microseconds would be off by a thousand
    assert all(0 < value < 60_000 for value in latencies)


def test_lazy_work_writes_its_duration_per_command_and_button(bot: Bot, emitted: Emitted) -> None:
    bot.command("/status")
    plan_and_confirm(bot, "/scale service-a 3")
    end_of_lazy_invocation()
    assert len(emitted.values(m.LAZY_WORK_DURATION, function="slack", command="status")) == 1
    assert len(emitted.values(m.LAZY_WORK_DURATION, function="slack", command="scale")) == 1
    assert len(emitted.values(m.LAZY_WORK_DURATION, function="slack", command="plan_confirm")) == 1


def test_plans_executions_and_refusals_are_counted_by_action(bot: Bot, emitted: Emitted) -> None:
    plan_and_confirm(bot, "/deploy service-a v1.3.0")
    bot.command("/deploy service-a v1.3.0", user=VIEWER)
    end_of_lazy_invocation()
    assert emitted.values(m.PLANS, function="slack", action="deploy") == [1]
    assert emitted.values(m.EXECUTIONS, function="slack", action="deploy", outcome="executed") == [1]
    assert emitted.values(m.REFUSALS, function="slack", action="deploy", reason="denied") == [1]


def test_slack_rate_limits_and_retries_are_counted(bot: Bot, emitted: Emitted) -> None:
    bot.slack.inject("chat.postMessage", 429, retry_after=0)
    bot.slack.inject("chat.postMessage", 503)
    reply = bot.command("/deploy service-a v1.3.0")
    assert reply.text == ""  # the plan card went through on the third attempt
    end_of_lazy_invocation()
    assert emitted.values(m.SLACK_RATE_LIMITED, function="slack") == [1]
    assert emitted.values(m.SLACK_RETRIES, function="slack", reason="rate_limited") == [1]
    assert emitted.values(m.SLACK_RETRIES, function="slack", reason="server_error") == [1]


def test_the_relay_writes_each_alarm_s_time_from_the_queue_to_its_card(alarms: AlarmsLambda, emitted: Emitted) -> None:
    record = sqs_record(body(metric_alarm()))
    record["attributes"]["SentTimestamp"] = str(int((time.time() - 2.0) * 1000))
    alarms.invoke({"Records": [record]})
    alarms.card()
    (latency,) = emitted.values(m.ALARM_TO_CARD_LATENCY, function="alarms")
    assert 2000 <= latency < 60_000
    assert emitted.values(m.ACK_LATENCY, function="alarms") == []


def test_nothing_emitted_writes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = m.Emf("slack")
    metrics.log_metrics(lambda: None)()
    assert capsys.readouterr().out == ""


def test_the_template_alarms_on_ack_p99_and_charts_every_metric() -> None:
    template = load_template(TEMPLATE.read_text())
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    resources = template["Resources"]
    alarm = resources["SlackAckLatencyAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (variables["POWERTOOLS_METRICS_NAMESPACE"], m.ACK_LATENCY)
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
        "service": variables["POWERTOOLS_SERVICE_NAME"],
        "function": "slack",
    }
    assert (alarm["ExtendedStatistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "p99",
        1000,
        "GreaterThanThreshold",
    )
    own = resources["SlackFunctionErrorsAlarm"]["Properties"]
    assert (alarm["AlarmActions"], alarm["OKActions"]) == (own["AlarmActions"], own["OKActions"])
    body = resources["BotDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = [m.ACK_LATENCY, m.LAZY_WORK_DURATION, m.ALARM_TO_CARD_LATENCY, m.SLACK_RATE_LIMITED, m.SLACK_RETRIES]
    for name in [*names, m.PLANS, m.EXECUTIONS, m.REFUSALS]:
        assert f'"{name}"' in body or f'\\"{name}\\"' in body, name
    for function in ("Slack", "LazyFailures", "Deployments", "Costs", "Alarms", "Escalation"):
        assert "${" + function + "Function}" in body
    assert '"Errors"' in body
    assert '"Throttles"' in body
