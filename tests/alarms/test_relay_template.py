"""The alarm relay's Lambda settings in template.yaml, as AWS documents them (issue 16, item 4).

- Reserved concurrency 1 failed stack creation on accounts with the default quota (10: unreserved concurrency
  must stay at 10 or more) and did not bound the SQS pollers (they start 5 concurrent batches; throttled ones
  come back after the visibility timeout as receives). The event source's ScalingConfig bounds them instead,
  and a per-channel lease in the state table keeps the Slack pacing across concurrent batches.
- The bot's alarms about the relay itself must reach someone by a path that does not go through the relay.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from deploy.checks import TEMPLATE, functions, load_template

RELAY_QUEUE = "AlarmQueue"
RELAY_DLQ = "AlarmDeadLetterQueue"
RELAY_FUNCTION = "AlarmsFunction"
PLATFORM_TOPIC = {"Ref": "AlarmTopicArn"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE.read_text())


def _relay_source(template: dict[str, Any]) -> dict[str, Any]:
    events = functions(template)[RELAY_FUNCTION].get("Events", {})
    sources = [
        e["Properties"]
        for e in events.values()
        if e.get("Type") == "SQS" and e["Properties"].get("Queue") == {"Fn::GetAtt": [RELAY_QUEUE, "Arn"]}
    ]
    assert len(sources) == 1, f"{RELAY_FUNCTION} needs exactly one SQS event source on {RELAY_QUEUE}"
    return sources[0]


def test_no_function_reserves_concurrency(template: dict[str, Any]) -> None:
    """A reservation fails stack creation on an account with the default 10 concurrent executions."""
    reserving = sorted(name for name, p in functions(template).items() if "ReservedConcurrentExecutions" in p)
    assert reserving == [], f"{reserving}: reserved concurrency; bound SQS consumers with ScalingConfig instead"


def test_the_relay_event_source_is_bounded_by_its_scaling_config(template: dict[str, Any]) -> None:
    source = _relay_source(template)
    # 2 is the least AWS accepts; the lease in the state table keeps Slack's pace across the two.
    assert source.get("ScalingConfig", {}).get("MaximumConcurrency") == 2
    assert source.get("FunctionResponseTypes") == ["ReportBatchItemFailures"]


def test_the_relay_queue_redelivers_enough_times_and_not_while_a_batch_runs(template: dict[str, Any]) -> None:
    queue = template["Resources"][RELAY_QUEUE]["Properties"]
    timeout = functions(template)[RELAY_FUNCTION]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * timeout, "AWS: visibility timeout at least six times the function's"
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [RELAY_DLQ, "Arn"]}
    assert redrive["maxReceiveCount"] >= 10, "a throttled or lease-waiting batch counts as a receive"


def test_the_dlq_alarm_says_the_queue_s_receive_count(template: dict[str, Any]) -> None:
    """The operator reading the alarm learns how many deliveries were tried: the number the queue uses."""
    receives = template["Resources"][RELAY_QUEUE]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    [description] = [
        r["Properties"]["AlarmDescription"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and {"Name": "QueueName", "Value": {"Fn::GetAtt": [RELAY_DLQ, "QueueName"]}} in r["Properties"]["Dimensions"]
    ]
    assert re.findall(r"after (\d+) deliveries", description) == [str(receives)]


def _watches_the_relay(properties: dict[str, Any]) -> bool:
    watched = {
        ("QueueName", RELAY_QUEUE): {"Fn::GetAtt": [RELAY_QUEUE, "QueueName"]},
        ("QueueName", RELAY_DLQ): {"Fn::GetAtt": [RELAY_DLQ, "QueueName"]},
        ("FunctionName", RELAY_FUNCTION): {"Ref": RELAY_FUNCTION},
    }
    return any(
        {"Name": name, "Value": value} in properties.get("Dimensions", []) for (name, _), value in watched.items()
    )


def _relay_alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: r["Properties"]
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::CloudWatch::Alarm" and _watches_the_relay(r["Properties"])
    }


def test_the_relay_s_own_alarms_cover_dlq_depth_queue_age_and_function_errors(template: dict[str, Any]) -> None:
    metrics = {(p["Namespace"], p["MetricName"]) for p in _relay_alarms(template).values()}
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in metrics  # the DLQ's depth
    assert ("AWS/SQS", "ApproximateAgeOfOldestMessage") in metrics  # the queue is behind
    assert ("AWS/Lambda", "Errors") in metrics  # the function fails


def _direct_paths(template: dict[str, Any], topic: str) -> list[str]:
    """How a topic of the template reaches people without the relay queue: its subscriptions other than
    AlarmQueue, and functions it invokes directly (SAM SNS events)."""
    paths = []
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        subscribed = resource["Type"] == "AWS::SNS::Subscription" and properties.get("TopicArn") == {"Ref": topic}
        if subscribed and properties.get("Endpoint") != {"Fn::GetAtt": [RELAY_QUEUE, "Arn"]}:
            paths.append(f"{name}: {properties['Protocol']}")
        chatbot = resource["Type"] == "AWS::Chatbot::SlackChannelConfiguration"
        if chatbot and {"Ref": topic} in properties.get("SnsTopicArns", []):
            paths.append(f"{name}: AWS Chatbot")
    for name, properties in functions(template).items():
        for event in properties.get("Events", {}).values():
            if event.get("Type") == "SNS" and event["Properties"].get("Topic") == {"Ref": topic}:
                paths.append(f"{name}: invoked by SNS")
    return paths


def test_the_relay_s_alarms_do_not_travel_only_through_the_queue_they_watch(template: dict[str, Any]) -> None:
    """Defect: the DLQ, queue-age and errors alarms went only to the platform topic, which feeds AlarmQueue: when
    the relay is what fails, its alarms wait in the very queue that is stuck."""
    alarms = _relay_alarms(template)
    assert alarms
    for name, properties in alarms.items():
        for actions in ("AlarmActions", "OKActions"):
            targets = properties[actions]
            assert PLATFORM_TOPIC in targets, f"{name}: the card in Slack still comes through the relay"
            others = [t for t in targets if t != PLATFORM_TOPIC]
            assert others, f"{name}.{actions}: only the platform topic, which feeds the queue this alarm watches"
            for target in others:
                assert set(target) == {"Ref"}, target
                assert target["Ref"] in template["Resources"], target
                topic = target["Ref"]
                assert template["Resources"][topic]["Type"] == "AWS::SNS::Topic"
                paths = _direct_paths(template, topic)
                assert any("invoked by SNS" in p for p in paths), f"{topic}: no path to Slack without the queue"
                assert any(": email" in p for p in paths), f"{topic}: no path that needs none of the bot's code"
