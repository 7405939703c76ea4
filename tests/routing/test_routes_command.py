"""/ops routes and /ops routes test, typed in Slack (handlers.slack): what the rules are, where messages would
go, and nothing sent anywhere."""

from __future__ import annotations

from alarms.support import PREFIX
from harness import VIEWER, Bot

from .support import CRITICAL, DEPLOYS, FINOPS, LEADS, PERF, TEAM_A


def ops(bot: Bot, text: str) -> str:
    reply = bot.command(text, user=VIEWER, command="/ops")
    assert reply.status == 200
    assert bot.slack.calls("chat.postMessage") == []  # only the person's own answer, through response_url
    return "\n".join(str(r.get("blocks")) for r in reply.responses) + reply.text


def test_routes_lists_the_rules_in_order_and_the_defaults(bot: Bot) -> None:
    text = ops(bot, "routes")
    order = [text.index(f"{n}. *{name}*") for n, name in enumerate(["prod-critical", "service-a", "latency"], 1)]
    assert order == sorted(order)
    assert f"kind alarm, env production, severity critical → <#{CRITICAL}>, <#{TEAM_A}>" in text
    assert f"alarm name ~ `latency` → <#{PERF}> (no escalation)" in text
    assert "alarm cards: <#C0ALARMS> (alarms.channel)" in text
    assert "@here after 5 min, then S0ONCALL after 15 min" in text


def test_routes_test_of_a_service_shows_each_kind_of_message(bot: Bot) -> None:
    text = ops(bot, "routes test service-a")
    assert f"alarm cards: <#{TEAM_A}> (routing.rules[1] 'service-a')" in text
    assert f"alarm cards (critical): <#{CRITICAL}>, <#{TEAM_A}> (routing.rules[0] 'prod-critical')" in text
    assert f"deploy cards: <#{DEPLOYS}> (routing.rules[3] 'prod-deploys')" in text
    assert f"weekly cost post: <#{FINOPS}>, <#{LEADS}> (routing.rules[4] 'cost')" in text
    assert "Nothing was sent." in text


def test_routes_test_of_an_alarm_name_finds_its_service_environment_and_severity(bot: Bot) -> None:
    text = ops(bot, f"routes test {PREFIX}service-a-cpu-critical")
    assert f"alarm card: <#{CRITICAL}>, <#{TEAM_A}> (routing.rules[0] 'prod-critical')" in text
    assert "service: service-a · environment: production · severity: critical" in text
    text = ops(bot, "routes test checkout-latency-warning staging")
    assert f"alarm card: <#{PERF}> (routing.rules[2] 'latency')" in text
    assert "escalates" not in text  # the rule turns escalation off
    assert "environment: staging · severity: warning" in text


def test_routes_test_in_another_environment(bot: Bot) -> None:
    text = ops(bot, "routes test service-b staging")
    assert "alarm cards: <#C0ALARMS> (alarms.channel)" in text
    assert "deploy cards: no channel (no route)" in text
    assert "weekly cost post" not in text  # it is made for the default environment only


def test_a_wrong_routes_call_gets_its_usage_line(bot: Bot) -> None:
    reply = bot.command("routes list", user=VIEWER, command="/ops")
    assert "Unexpected argument `list`" in reply.text
    assert "/ops routes [test &lt;alarm-name|service&gt; [env]]" in reply.text  # placeholders shown, not a link
    assert "Name the service or the alarm" in bot.command("routes test", user=VIEWER, command="/ops").text
