"""Finding 10 (issue 14): lazy work that Lambda drops is told to the person, in template.yaml.

Bolt runs a lazy listener in an asynchronous self-invocation of SlackFunction, which verifies the Slack
request again, timestamp included: one that starts more than 300 s after Slack sent the request is refused
and the person never hears back. Lambda must drop such an event itself before that (MaximumEventAgeInSeconds),
send the record of it to an on-failure destination, and something must read that destination and tell the
person; the queue is alarmed like the template's other queues.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .checks import functions

SLACK_TIMESTAMP_WINDOW = 300  # seconds: slack_sdk's SignatureVerifier refuses a request older than this
ACK_WINDOW = 3  # seconds: Bolt starts the lazy invocation inside Slack's ack time
MARGIN = 30  # seconds: a cold start of the lazy invocation, and clock skew between Slack and AWS
CONSUMER_HANDLER = "handlers.lazy_failures.handler"


def _invoke_config(template: Mapping[str, Any]) -> Mapping[str, Any]:
    config: Mapping[str, Any] = functions(template)["SlackFunction"]["EventInvokeConfig"]
    return config


def _queue_id(template: Mapping[str, Any]) -> str:
    on_failure = _invoke_config(template).get("DestinationConfig", {}).get("OnFailure", {})
    destination = on_failure.get("Destination")
    wanted = f"SlackFunction's on-failure destination must be !GetAtt <queue>.Arn of this template, not {destination!r}"
    assert isinstance(destination, Mapping), wanted
    assert "Fn::GetAtt" in destination, wanted
    queue, attribute = destination["Fn::GetAtt"]
    assert attribute == "Arn"
    assert template["Resources"][queue]["Type"] == "AWS::SQS::Queue", f"{queue} is not an SQS queue"
    return str(queue)


def test_finding_10_lazy_work_is_dropped_by_lambda_before_bolt_would_refuse_it(template: dict[str, Any]) -> None:
    """Defect: MaximumEventAgeInSeconds was 300, so an event that waited in Lambda's queue for 297-300 s still
    ran, was refused by Bolt's timestamp check (a 401 that Lambda counts as success) and nobody was told."""
    config = _invoke_config(template)
    age = config["MaximumEventAgeInSeconds"]
    assert 60 <= age <= SLACK_TIMESTAMP_WINDOW - ACK_WINDOW - MARGIN, (
        f"MaximumEventAgeInSeconds {age}: must leave {ACK_WINDOW + MARGIN} s before Bolt's {SLACK_TIMESTAMP_WINDOW} s"
    )
    assert config["MaximumRetryAttempts"] == 0, "a retry would repeat a mutating action"


def test_finding_10_dropped_lazy_work_goes_to_an_encrypted_queue_of_its_own(template: dict[str, Any]) -> None:
    """Defect: no on-failure destination, so Lambda discarded a dropped event without a trace."""
    on_failure = _invoke_config(template).get("DestinationConfig", {}).get("OnFailure", {})
    # Type SQS (a SAM property) is what makes SAM grant sqs:SendMessage on exactly this queue to the function's
    # role: tests/deploy/checks.py checks the Policies we write, not what SAM generates.
    assert on_failure.get("Type") == "SQS"
    queue = template["Resources"][_queue_id(template)]["Properties"]
    assert queue.get("SqsManagedSseEnabled") is True or queue.get("KmsMasterKeyId"), "the queue is not encrypted"
    retention = queue.get("MessageRetentionPeriod")
    assert isinstance(retention, int)
    assert 1800 <= retention <= 86400, (
        "retention: at least a response_url's 30 minutes, at most a day (the records are people's requests)"
    )


def test_finding_10_the_queue_has_a_consumer_that_tells_the_person(template: dict[str, Any]) -> None:
    """Defect: nothing read the dropped events, so the person who typed /deploy waited for an answer forever."""
    queue = _queue_id(template)
    consumers = {
        name: (properties, event["Properties"])
        for name, properties in functions(template).items()
        for event in properties.get("Events", {}).values()
        if event.get("Type") == "SQS" and event["Properties"].get("Queue") == {"Fn::GetAtt": [queue, "Arn"]}
    }
    assert len(consumers) == 1, f"{queue} needs exactly one consumer, found {sorted(consumers)}"
    [(name, (properties, source))] = consumers.items()
    assert properties["Handler"] == CONSUMER_HANDLER
    assert source.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], "only failed posts are retried"
    visibility = template["Resources"][queue]["Properties"].get("VisibilityTimeout", 30)
    assert visibility >= 6 * properties["Timeout"], f"{queue}: VisibilityTimeout under six times {name}'s Timeout"
    # The consumer must not take the concurrency the throttled Slack function needs.
    assert source.get("ScalingConfig", {}).get("MaximumConcurrency") == 2


def test_finding_10_the_queue_is_alarmed_like_the_other_queues(template: dict[str, Any]) -> None:
    """Defect: a dropped request left no signal for the operators either."""
    queue = _queue_id(template)
    alarms = {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
        and resource["Properties"].get("Namespace") == "AWS/SQS"
        and {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}
        in resource["Properties"].get("Dimensions", [])
    }
    metrics = {properties["MetricName"] for properties in alarms.values()}
    assert "ApproximateAgeOfOldestMessage" in metrics, f"{queue}: no alarm on apologies waiting (age)"
    for name, properties in alarms.items():
        assert properties["AlarmActions"] == [{"Ref": "AlarmTopicArn"}], name
        assert properties["OKActions"] == [{"Ref": "AlarmTopicArn"}], name
        assert properties.get("TreatMissingData") == "notBreaching", name
        assert properties.get("AlarmDescription"), name


def test_finding_10_the_dlq_skip_of_the_slack_function_says_what_is_true(template: dict[str, Any]) -> None:
    """Defect: the CKV_AWS_116 skip said "No DLQ on purpose ... told to the user in Slack", while a dropped
    lazy invocation was told to nobody."""
    skips = template["Resources"]["SlackFunction"]["Metadata"]["checkov"]["skip"]
    [comment] = [skip["comment"] for skip in skips if skip["id"] == "CKV_AWS_116"]
    assert "No DLQ on purpose" not in comment
    assert _queue_id(template) in comment, "the skip's reason names the destination that replaces a DLQ"
