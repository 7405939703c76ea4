"""Rules in order, first match wins, the defaults behind them, and rules that cannot work refused at start-up."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import ConfigError, load_config, parse_config
from bot.routing import Kind, Router, severity_of

from .support import CRITICAL, DEPLOYS, FINOPS, LEADS, PERF, TEAM_A, routed_config

ALARMS_HOME = "C0ALARMS"


def router(**routing: Any) -> Router:
    return Router(parse_config(routed_config(**routing)))


def test_the_first_matching_rule_decides_even_when_a_later_one_matches_too() -> None:
    route = router().resolve(Kind.ALARM, "production", "service-a", "x-cpu-critical", "critical")
    assert route.channels == (CRITICAL, TEAM_A)
    assert route.decided_by == "routing.rules[0] 'prod-critical'"


def test_a_rule_that_does_not_match_is_skipped_for_the_next() -> None:
    routes = router()
    assert routes.route(Kind.ALARM, "production", "service-a", "x-cpu-high", "warning") == [TEAM_A]
    assert routes.route(Kind.ALARM, "staging", "service-a", "x-cpu-critical", "critical") == [TEAM_A]
    assert routes.route(Kind.ALARM, "production", "service-b", "service-b-latency-p99", None) == [PERF]


def test_without_a_matching_rule_each_kind_has_its_default() -> None:
    routes = router()
    alarm = routes.resolve(Kind.ALARM, "production", "service-b", "service-b-cpu-high", None)
    assert (alarm.channels, alarm.decided_by) == ((ALARMS_HOME,), "alarms.channel")
    assert routes.route(Kind.DEPLOY, "staging", "service-a") == []  # stays where it was typed
    assert routes.route(Kind.COST, "production") == [FINOPS, LEADS]
    assert routes.route(Kind.DEPLOY, "production", "service-b") == [DEPLOYS]


def test_routing_default_channel_is_the_last_resort() -> None:
    data = routed_config(default_channel="C0DEFAULT", rules=[])
    del data["alarms"]["channel"], data["cost"]["weekly_channel"]
    routes = Router(parse_config(data))
    assert routes.route(Kind.ALARM, "production", "service-a", "a", None) == ["C0DEFAULT"]
    assert routes.route(Kind.COST, "production") == ["C0DEFAULT"]
    assert routes.route(Kind.DEPLOY, "production", "service-a") == ["C0DEFAULT"]


def test_without_routing_the_old_settings_still_choose() -> None:
    data = routed_config()
    del data["routing"]
    routes = Router(parse_config(data))
    assert routes.route(Kind.ALARM, "production", "service-a", "a-critical", "critical") == [ALARMS_HOME]
    assert routes.route(Kind.COST, "production") == ["C0COSTS"]
    assert routes.route(Kind.DEPLOY, "production", "service-a") == []


def test_a_criterion_the_message_lacks_does_not_match() -> None:
    rules = [{"name": "svc", "services": ["service-a"], "channels": ["C0SVC"]}]
    routes = router(rules=rules)
    assert routes.route(Kind.COST, "production") == ["C0COSTS"]  # a cost post has no service: the default
    assert routes.route(Kind.DEPLOY, "production", "service-a") == ["C0SVC"]
    patterned = router(rules=[{"name": "p", "alarm_pattern": "cpu", "channels": ["C0P"]}])
    assert patterned.route(Kind.DEPLOY, "production", "service-a") == []


def test_a_rule_names_each_channel_once_and_keeps_their_order() -> None:
    routes = router(rules=[{"name": "twice", "channels": ["C0B", "C0A", "C0B"]}])
    assert routes.route(Kind.DEPLOY, "production", "service-a") == ["C0B", "C0A"]


@pytest.mark.parametrize(
    ("name", "tags", "expected"),
    [
        ("svc-cpu-critical", None, "critical"),
        ("svc-cpu_WARNING", None, "warning"),
        ("svc-cpu.info", None, "info"),
        ("svc-critical-cpu", None, None),  # a suffix, not anywhere in the name
        ("svc-cpu-critical", {"Severity": "warning"}, "warning"),  # the tag wins
        ("svc-cpu-critical", {"Severity": "sev1"}, "critical"),  # a tag value that is no severity is ignored
    ],
)
def test_severity_comes_from_the_tag_or_the_name_suffix(name: str, tags: dict[str, str] | None, expected: str) -> None:
    assert severity_of(name, tags, "Severity") == expected


def test_the_rules_escalation_overrides_the_default() -> None:
    routes = router()
    assert [lv.after_minutes for lv in routes.resolve(Kind.ALARM, "production", "service-a", "a", None).escalation] == [
        5,
        15,
    ]
    assert routes.resolve(Kind.ALARM, "production", "service-b", "b-latency", None).escalation == ()
    assert routes.resolve(Kind.DEPLOY, "production", "service-a").escalation == ()


# --- invalid rules fail at start-up, naming the rule ----------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"services": ["svc-x"]}, "routing.rules[0] 'prod-critical': unknown service 'svc-x'"),
        ({"environments": ["qa"]}, "routing.rules[0] 'prod-critical': unknown environment 'qa'"),
        ({"alarm_pattern": "(unclosed"}, "routing.rules[0] 'prod-critical': alarm_pattern '(unclosed' is not a"),
        ({"channels": []}, "routing.rules[0] 'prod-critical': no channel"),
        ({"channels": ["#ops"]}, "routing.rules[0] 'prod-critical': '#ops' is not a Slack channel ID"),
        ({"kinds": ["page"]}, "routing.rules[0] 'prod-critical': unknown kind 'page'"),
        ({"severities": ["sev1"]}, "routing.rules[0] 'prod-critical': unknown severity 'sev1'"),
    ],
)
def test_an_invalid_rule_is_refused_naming_it(change: dict[str, Any], message: str) -> None:
    data = routed_config()
    data["routing"]["rules"][0].update(change)
    with pytest.raises(ConfigError) as raised:
        parse_config(data)
    assert message in str(raised.value)


def test_every_invalid_rule_is_reported_at_once() -> None:
    data = routed_config()
    data["routing"]["rules"][2]["alarm_pattern"] = "["
    data["routing"]["rules"][4]["channels"] = []
    with pytest.raises(ConfigError) as raised:
        parse_config(data)
    assert "routing.rules[2] 'latency': alarm_pattern '['" in str(raised.value)
    assert "routing.rules[4] 'cost': no channel" in str(raised.value)


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ([{"after_minutes": 15}, {"after_minutes": 5}], "after_minutes must increase"),
        ([{"after_minutes": 5, "mention": "oncall"}], "'oncall' is not @here, @channel, a user-group ID"),
        ([{"after_minutes": 0}], "routing.escalation.levels.0.after_minutes"),
    ],
)
def test_invalid_escalation_levels_are_refused(levels: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(routed_config(escalation={"levels": levels}))
    assert message in str(raised.value)


def test_the_bot_refuses_to_start_with_an_invalid_rule(tmp_path: Path) -> None:
    data = copy.deepcopy(routed_config())
    data["routing"]["rules"][1]["services"] = ["svc-x"]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"routing\.rules\[1\] 'service-a': unknown service 'svc-x'"):
        load_config({"OPSBOT_CONFIG_FILE": str(path)})


def test_the_example_config_loads() -> None:
    config = load_config({"OPSBOT_CONFIG_FILE": str(Path(__file__).parents[2] / "config" / "example.yaml")})
    assert config.routing.escalation.levels
