"""The relay's own alarms (its DLQ, its queue's age, its errors) reach Slack without the queue they watch
(issue 16, item 4): template.yaml sends them to OwnAlarmTopic too, which invokes AlarmsFunction directly (an SNS
event, no SQS) and mails OwnAlarmEmail. tests/alarms/test_relay_template.py checks the template's side."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from .support import ACCOUNT, REGION, TOPIC_ARN, AlarmsLambda, alarm_config, metric_alarm

OWN_TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:ecs-microservices-production-opsbot-own-alarms"
DLQ_ALARM = "ecs-microservices-production-opsbot-alarms-dlq"


def sns_event(message: dict[str, Any], topic: str = OWN_TOPIC) -> dict[str, Any]:
    """What SNS gives a Lambda function it invokes (a subscription of protocol lambda)."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic}:{uuid.uuid4()}",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": str(uuid.uuid4()),
                    "TopicArn": topic,
                    "Subject": f'ALARM: "{message["AlarmName"]}"'[:100],
                    "Message": json.dumps(message),
                    "Timestamp": "2026-11-26T10:00:00.000Z",
                    "MessageAttributes": {},
                },
            }
        ]
    }


@pytest.fixture
def own_topic(alarms: AlarmsLambda, monkeypatch: pytest.MonkeyPatch) -> Iterator[AlarmsLambda]:
    """The relay as the template configures it: it knows the stack's own alarm topic."""
    monkeypatch.setenv("OPSBOT_OWN_ALARM_TOPIC_ARN", OWN_TOPIC)
    alarms.module.reset()
    yield alarms
    alarms.module.reset()


def _platform_topic_only() -> dict[str, Any]:
    """The environment lists only the platform's alarm topic: anything through another topic is not its alarm."""
    data = alarm_config()
    data["environments"][0]["alarm_topic_arns"] = [TOPIC_ARN]
    return data


@pytest.mark.parametrize("config_dict", [_platform_topic_only()])
def test_a_dlq_alarm_from_the_own_topic_gets_its_card_without_the_queue(own_topic: AlarmsLambda) -> None:
    response = own_topic.invoke(sns_event(metric_alarm(name=DLQ_ALARM, dimensions={"QueueName": "x-dlq"})))
    assert response == {"shown": 1, "dropped": 0}
    assert f"ALARM: {DLQ_ALARM}" in own_topic.text(own_topic.card())


@pytest.mark.parametrize("config_dict", [_platform_topic_only()])
def test_accepting_the_own_topic_opens_no_other(own_topic: AlarmsLambda) -> None:
    forged = OWN_TOPIC.replace("opsbot-own-alarms", "someone-elses-topic")
    response = own_topic.invoke(sns_event(metric_alarm(name=DLQ_ALARM), topic=forged))
    assert response == {"shown": 0, "dropped": 1}
    assert own_topic.cards() == []


def test_the_same_alarm_through_the_queue_as_well_writes_nothing_more(own_topic: AlarmsLambda) -> None:
    message = metric_alarm(name=DLQ_ALARM, dimensions={"QueueName": "x-dlq"})
    own_topic.invoke(sns_event(message))
    writes = own_topic.writes()
    assert own_topic.deliver(message) == {"batchItemFailures": []}
    assert own_topic.writes() == writes
    assert len(own_topic.cards()) == 1


def test_a_direct_alarm_slack_refused_fails_the_invocation_so_lambda_retries_it(own_topic: AlarmsLambda) -> None:
    own_topic.slack.inject("chat.postMessage", 500, times=1000)
    with pytest.raises(own_topic.module.AlarmNotShown):
        own_topic.invoke(sns_event(metric_alarm(name=DLQ_ALARM)))
    assert own_topic.cards() == []
