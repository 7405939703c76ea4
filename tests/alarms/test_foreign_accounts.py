"""Security finding 7 (issue 14): the alarm relay shows only its own environments' alarms.

Each environment names its AWS account (`account_id`) and, optionally, the SNS topics its alarms come
through (`alarm_topic_arns`). A notification from another account, or through another topic, is dropped
with a warning (its SQS record counts as processed), or shown without buttons when
`alarms.foreign_alarms: show`. Everything goes through handlers.alarms.handler with SQS events.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from harness import config_data, state_table

from bot.config import ConfigError, load_config, parse_config

from .support import (
    ACCOUNT,
    T0,
    TOPIC_ARN,
    AlarmsLambda,
    alarm_config,
    body,
    failed_ids,
    metric_alarm,
    sns_envelope,
    sqs_event,
)

FOREIGN = "999999999999"
SERVICE_BUTTONS = {"alarm_scale_up", "alarm_logs", "alarm_ack", "alarm_mute"}


def from_account(message: dict[str, Any], aws_account_id: str = FOREIGN, arn_account: str = FOREIGN) -> dict[str, Any]:
    """The same alarm as another account would send it (or as someone forging one writes it)."""
    return {
        **message,
        "AWSAccountId": aws_account_id,
        "AlarmArn": message["AlarmArn"].replace(f":{ACCOUNT}:", f":{arn_account}:"),
    }


def escalations_due(env: str = "production") -> list[dict[str, Any]]:
    return state_table().query(f"escalate#{env}", limit=50)


# --- dropped ------------------------------------------------------------------------------------------


def test_finding_7_an_alarm_from_another_account_posts_nothing(alarms: AlarmsLambda, relay_warnings: list[str]) -> None:
    """Exploit: a notification whose AWSAccountId and AlarmArn name account 999999999999 (another account's
    alarm reaching the topic, or a message put on the queue) got a card for this platform's service-a with
    Scale up, Show logs, Acknowledge and Mute buttons, and an escalation mention."""
    response = alarms.deliver(from_account(metric_alarm()))
    assert failed_ids(response) == []  # processed: never retried, never in the DLQ
    assert alarms.cards() == []
    assert alarms.slack.calls("chat.postMessage") == []
    result = alarms.module.last_result
    assert len(result.dropped) == 1
    assert FOREIGN in next(iter(result.dropped.values()))
    assert any(FOREIGN in message for message in relay_warnings), relay_warnings
    assert escalations_due() == []


@pytest.mark.parametrize(
    ("aws_account_id", "arn_account"),
    [(ACCOUNT, FOREIGN), (FOREIGN, ACCOUNT)],
    ids=["own AWSAccountId, foreign AlarmArn", "foreign AWSAccountId, own AlarmArn"],
)
def test_finding_7_one_field_naming_the_own_account_does_not_make_a_foreign_alarm_own(
    alarms: AlarmsLambda, relay_warnings: list[str], aws_account_id: str, arn_account: str
) -> None:
    """Exploit: the relay read the account from AWSAccountId (else AlarmArn), so a forged notification could
    name the platform's account in one field while its alarm lives in another."""
    response = alarms.deliver(from_account(metric_alarm(), aws_account_id, arn_account))
    assert failed_ids(response) == []
    assert alarms.cards() == []
    assert any(FOREIGN in message for message in relay_warnings), relay_warnings


def test_finding_7_a_notification_that_names_no_account_is_dropped(alarms: AlarmsLambda) -> None:
    """Exploit: without AWSAccountId and AlarmArn there was nothing to check, and the card was shown."""
    message = {k: v for k, v in metric_alarm().items() if k not in {"AWSAccountId", "AlarmArn"}}
    assert failed_ids(alarms.deliver(message)) == []
    assert alarms.cards() == []


def test_finding_7_the_own_account_still_gets_its_card_with_buttons(alarms: AlarmsLambda) -> None:
    """The check must not cost the platform its own alarms: same notification, own account, full card."""
    assert failed_ids(alarms.deliver(from_account(metric_alarm()), metric_alarm())) == []
    card = alarms.card()
    assert set(alarms.buttons(card)) == SERVICE_BUTTONS
    assert "service-a" in alarms.text(card)
    assert len(alarms.module.last_result.dropped) == 1


# --- shown without buttons, when configured ------------------------------------------------------------


@pytest.mark.parametrize("config_dict", [alarm_config(foreign_alarms="show")])
def test_finding_7_a_foreign_alarm_shown_when_configured_has_no_buttons_and_does_not_escalate(
    alarms: AlarmsLambda,
) -> None:
    """Exploit (with foreign_alarms: show): the foreign alarm must not borrow this platform's service, its
    buttons or its escalation mentions; it is shown as what it is."""
    assert failed_ids(alarms.deliver(from_account(metric_alarm()))) == []
    card = alarms.card()
    assert alarms.buttons(card) == {}
    text = alarms.text(card)
    assert FOREIGN in text
    assert "no known service" in text
    assert escalations_due() == []
    resolved = from_account(metric_alarm(state="OK", old="ALARM", at=T0 + timedelta(minutes=5)))
    assert failed_ids(alarms.deliver(resolved)) == []
    card = alarms.card()
    assert "RESOLVED" in alarms.text(card)
    assert alarms.buttons(card) == {}


# --- the topic it came through -------------------------------------------------------------------------


def _with_topics(*topics: str) -> dict[str, Any]:
    data = alarm_config()
    data["environments"][0]["alarm_topic_arns"] = list(topics)
    return data


FORGED_TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:someone-elses-topic"


@pytest.mark.parametrize("config_dict", [_with_topics(TOPIC_ARN)])
def test_finding_7_a_forged_topic_arn_is_dropped_when_the_alarm_topics_are_configured(
    alarms: AlarmsLambda, relay_warnings: list[str]
) -> None:
    """Exploit: with the environment's alarm topic configured, a notification that came through another
    topic (or was put on the queue with a made-up envelope) still got its card."""
    envelope = sns_envelope(metric_alarm())
    envelope["TopicArn"] = FORGED_TOPIC
    raw = body(metric_alarm(name="ecs-microservices-production-service-b-cpu-high"), raw=True)  # no TopicArn
    response = alarms.invoke(sqs_event(json.dumps(envelope), raw))
    assert failed_ids(response) == []
    assert alarms.cards() == []
    assert len(alarms.module.last_result.dropped) == 2
    assert any("someone-elses-topic" in message for message in relay_warnings), relay_warnings
    assert failed_ids(alarms.deliver(metric_alarm())) == []  # through the configured topic
    assert set(alarms.buttons(alarms.card())) == SERVICE_BUTTONS


# --- the configuration ---------------------------------------------------------------------------------


def _without_account(data: dict[str, Any]) -> dict[str, Any]:
    for env in data["environments"]:
        env.pop("account_id", None)
    return data


def test_finding_7_an_environment_without_its_account_id_does_not_start() -> None:
    """Default deny: an environment whose account is not known would have no alarm to trust."""
    with pytest.raises(ConfigError) as raised:
        parse_config(_without_account(config_data()))
    message = str(raised.value)
    assert "environments.0" in message
    assert "account_id" in message
    assert "OPSBOT_ACCOUNT_ID" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12345", "12 digits"), ("12345678901a", "12 digits"), (123456789012, "quote")],
)
def test_finding_7_an_account_id_must_be_twelve_digits_in_quotes(value: Any, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_config(config_data(account_id=value))


def test_finding_7_an_environment_with_a_role_is_in_the_role_s_account() -> None:
    role = "arn:aws:iam::111122223333:role/fargate-chatops"
    data = _without_account(config_data(role_arn=role))
    data["environments"][1]["account_id"] = ACCOUNT
    assert parse_config(data).environment("production").account_id == "111122223333"
    with pytest.raises(ConfigError, match="role_arn"):
        parse_config(config_data(role_arn=role))  # account_id 123456789012, role in 111122223333


def test_finding_7_opsbot_account_id_is_the_account_of_the_environments_without_a_role(
    tmp_path: Any,
) -> None:
    import yaml

    role = "arn:aws:iam::111122223333:role/fargate-chatops"
    data = _without_account(config_data())
    data["environments"][1]["role_arn"] = role
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config({"OPSBOT_CONFIG_FILE": str(path), "OPSBOT_ACCOUNT_ID": "444455556666"})
    assert config.environment("production").account_id == "444455556666"
    assert config.environment("staging").account_id == "111122223333"
    # The template's value replaces the file's: without a role, the bot's own account is the environment's.
    path.write_text(yaml.safe_dump(config_data()))
    config = load_config({"OPSBOT_CONFIG_FILE": str(path), "OPSBOT_ACCOUNT_ID": "444455556666"})
    assert config.environment("production").account_id == "444455556666"
    # An environment made from the variables alone gets it too.
    config = load_config(
        {
            "OPSBOT_PROJECT": "shop",
            "OPSBOT_ENVIRONMENT": "prod",
            "OPSBOT_SERVICES": "api",
            "AWS_REGION": "eu-west-1",
            "OPSBOT_ACCOUNT_ID": "444455556666",
        }
    )
    assert config.environment().account_id == "444455556666"


@pytest.mark.parametrize(
    ("alarms_settings", "environment", "expected"),
    [
        ({"foreign_alarms": "post"}, {}, "foreign_alarms"),
        ({}, {"alarm_topic_arns": ["arn:aws:sqs:us-east-1:123456789012:q"]}, "alarm_topic_arns"),
        ({}, {"alarm_topic_arns": ["not an arn"]}, "alarm_topic_arns"),
    ],
)
def test_finding_7_foreign_alarms_and_alarm_topic_arns_are_validated(
    alarms_settings: dict[str, Any], environment: dict[str, Any], expected: str
) -> None:
    data = config_data(**environment)
    data["alarms"] = alarms_settings
    with pytest.raises(ConfigError, match=expected):
        parse_config(data)
