"""Finding 10 (issue 14): lazy work that Lambda dropped is told to the person who asked for it.

The whole path as AWS runs it, in-process: a signed slash command (or click) into the Slack function, whose
Bolt adapter hands the lazy work to Lambda as an asynchronous invoke (recorded here: its payload is what Lambda
would queue); Lambda drops it ("EventAgeExceeded", or "RetriesExhausted" when it ran and failed) and sends its
invocation record to the on-failure queue (moto's SQS); the queue's consumer, handlers.lazy_failures, answers
through the request's response_url (the Slack stand-in), or, for a form's submission or a button in a form or
the App Home (no response_url), in the person's messages with the app (chat.postMessage to their user id).
"""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from harness import BOT_TOKEN, DEPLOYER, Bot, lambda_context

from sandbox.lambda_events import sqs_event

from .conftest import RESPONSE_URL, FaultySlack

CONSUMER = "LazyFailuresFunction"
NEVER_RAN = "Your {what} could not be processed in time; nothing changed — try again."


class _Recorder:
    """The Lambda client Bolt's LambdaLazyListenerRunner invokes the function with."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["InvocationType"] == "Event"
        self.payloads.append(json.loads(kwargs["Payload"]))
        return {"StatusCode": 202}


@pytest.fixture
def lazy_invokes(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Recorder]:
    """The Slack function as deployed: lazy work leaves as an asynchronous self-invocation."""
    monkeypatch.delenv("OPSBOT_LAZY")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ecs-microservices-production-opsbot-slack")
    bot.handler.reset()
    recorder = _Recorder()
    bot.handler.get_handler().app.listener_runner.lazy_listener_runner.lambda_client = recorder
    yield recorder
    # Back to lazy work in threads: the bot fixture drains them when it ends.
    monkeypatch.setenv("OPSBOT_LAZY", "thread")
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    bot.handler.reset()


@pytest.fixture
def consumer() -> Any:
    import handlers.lazy_failures

    return handlers.lazy_failures


@pytest.fixture
def kept(consumer: Any, log_messages: Callable[..., list[str]]) -> list[str]:
    return log_messages(consumer.logger.name, logging.DEBUG)


def invocation_record(payload: Any, condition: str = "EventAgeExceeded") -> dict[str, Any]:
    """What Lambda sends to an on-failure destination for an asynchronous invocation it gave up on."""
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": "2025-01-01T00:00:00.000Z",
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:ecs-microservices-production-opsbot-slack",
            "condition": condition,
            "approximateInvokeCount": 0 if condition == "EventAgeExceeded" else 1,
        },
        "requestPayload": payload,
    }
    if condition != "EventAgeExceeded":
        record["responseContext"] = {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
        record["responsePayload"] = {"errorMessage": "Task timed out after 120.00 seconds"}
    return record


def through_the_queue(*bodies: str) -> dict[str, Any]:
    """The bodies sent to an SQS queue (moto) and received as Lambda's SQS event source hands them over."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"lazy-failures-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert len(messages) == len(bodies)
    return sqs_event(messages, arn)


def dropped(bot: Bot, lazy_invokes: _Recorder, body: str) -> dict[str, Any]:
    """Send a signed request; return the payload of the one lazy invocation it started."""
    status, _ = bot.send(body)
    assert status == 200
    assert len(lazy_invokes.payloads) == 1, lazy_invokes.payloads
    return lazy_invokes.payloads.pop()


# --- the person hears back ------------------------------------------------------------------------


def test_finding_10_a_slash_command_lambda_dropped_is_told_through_its_response_url(
    bot: Bot, slack: FaultySlack, lazy_invokes: _Recorder, consumer: Any
) -> None:
    """Defect: a /deploy whose lazy invocation waited too long in Lambda's queue was dropped (or refused by
    Bolt's timestamp check) and the person who typed it never heard back."""
    payload = dropped(bot, lazy_invokes, bot.command_body("/deploy service-a v1"))
    before = len(slack.responses())

    result = consumer.handler(through_the_queue(json.dumps(invocation_record(payload))), lambda_context(CONSUMER))

    assert result == {"batchItemFailures": []}
    [answer] = slack.responses()[before:]
    assert answer["text"] == NEVER_RAN.format(what="/deploy")
    assert answer["response_type"] == "ephemeral"
    assert answer["replace_original"] is False  # a click's plan card stays as it was


def test_finding_10_a_click_lambda_dropped_is_told_through_its_response_url(
    bot: Bot, slack: FaultySlack, lazy_invokes: _Recorder, consumer: Any
) -> None:
    """Defect: the same for a button: a Confirm whose work was dropped looked like it did nothing."""
    body = bot.click_body("plan_confirm", "plan-1", "1700000000.000100", DEPLOYER)
    payload = dropped(bot, lazy_invokes, body)

    consumer.handler(through_the_queue(json.dumps(invocation_record(payload))), lambda_context(CONSUMER))

    [answer] = [r for r in slack.responses() if "could not be processed" in r.get("text", "")]
    assert answer["text"] == NEVER_RAN.format(what="click")
    assert answer["replace_original"] is False


def test_finding_10_work_that_ran_and_failed_is_not_said_to_have_changed_nothing(
    bot: Bot, slack: FaultySlack, lazy_invokes: _Recorder, consumer: Any
) -> None:
    """Lambda also sends the record of an invocation that ran out of time ("RetriesExhausted"): part of the
    work may have happened, so "nothing changed" would be a lie."""
    payload = dropped(bot, lazy_invokes, bot.command_body("/scale service-a 3"))
    before = len(slack.responses())

    consumer.handler(
        through_the_queue(json.dumps(invocation_record(payload, "RetriesExhausted"))), lambda_context(CONSUMER)
    )

    [answer] = slack.responses()[before:]
    assert "nothing changed" not in answer["text"]
    assert answer["text"].startswith("Your /scale did not finish")
    assert "/status" in answer["text"]


def test_finding_10_a_base64_body_is_read_too(
    bot: Bot, slack: FaultySlack, lazy_invokes: _Recorder, consumer: Any
) -> None:
    """API Gateway may hand the form body over base64-encoded (isBase64Encoded); the record keeps it so."""
    payload = dropped(bot, lazy_invokes, bot.command_body("/rollback service-b"))
    payload = {**payload, "body": base64.b64encode(payload["body"].encode()).decode(), "isBase64Encoded": True}
    before = len(slack.responses())

    consumer.handler(through_the_queue(json.dumps(invocation_record(payload))), lambda_context(CONSUMER))

    [answer] = slack.responses()[before:]
    assert answer["text"] == NEVER_RAN.format(what="/rollback")


def test_finding_10_a_post_slack_could_not_take_is_delivered_again(
    bot: Bot, slack: FaultySlack, lazy_invokes: _Recorder, consumer: Any
) -> None:
    """Slack failing (5xx after the client's retries) is not the record's fault: SQS delivers it again."""
    payload = dropped(bot, lazy_invokes, bot.command_body("/deploy service-a v1"))
    event = through_the_queue(json.dumps(invocation_record(payload)))
    slack.inject(RESPONSE_URL, 503, times=3)
    before = len(slack.responses())

    result = consumer.handler(event, lambda_context(CONSUMER))

    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert slack.responses()[before:] == []
    assert consumer.handler(event, lambda_context(CONSUMER)) == {"batchItemFailures": []}  # the redelivery
    assert len(slack.responses()[before:]) == 1


# --- no response_url: a form or the App Home -> the person's messages with the app -----------------


def _interaction(payload: dict[str, Any]) -> dict[str, Any]:
    return _form_payload({"payload": json.dumps(payload)})


def _submission(user: Any = DEPLOYER) -> dict[str, Any]:
    """A deploy form's view_submission as Slack sends it: no response_url (response_urls is empty)."""
    return _interaction(
        {
            "type": "view_submission",
            "team": {"id": "T0TEST"},
            "user": {"id": user, "name": "someone"},
            "view": {
                "id": "V0FORM",
                "callback_id": "modal_deploy",
                "title": {"type": "plain_text", "text": "<!channel> Deploy"},
                "private_metadata": json.dumps({"channel": "C0OPS"}),
                "state": {"values": {"tag": {"tag": {"type": "plain_text_input", "value": "<!here> v1"}}}},
            },
            "response_urls": [],
        }
    )


def _home_button(user: Any = DEPLOYER, kind: str = "button") -> dict[str, Any]:
    """A button pressed (or an option picked) in the App Home: a block_actions with a view, no response_url."""
    return _interaction(
        {
            "type": "block_actions",
            "user": {"id": user},
            "container": {"type": "view", "view_id": "V0HOME"},
            "view": {"id": "V0HOME", "type": "home"},
            "actions": [{"type": kind, "action_id": "home_unlock", "value": "<!channel> production/service-a"}],
        }
    )


@pytest.fixture
def bot_token_secret(aws: Any, slack: FaultySlack, monkeypatch: pytest.MonkeyPatch) -> str:
    """The function as deployed: the bot token in Secrets Manager (moto), by name; Slack is the stand-in."""
    name = f"opsbot-bot-token-{uuid.uuid4().hex[:8]}"  # Powertools caches a secret by name for 5 minutes
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name=name, SecretString=BOT_TOKEN)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN_SECRET_NAME", name)
    monkeypatch.setenv("SLACK_API_URL", slack.api_url)
    return name


def test_finding_f10_a_form_submission_lambda_dropped_is_told_in_the_persons_messages(
    slack: FaultySlack, consumer: Any, bot_token_secret: str
) -> None:
    """Defect: a submitted deploy form whose lazy work Lambda dropped has no response_url, so the person who
    pressed Deploy heard nothing at all."""
    event = through_the_queue(json.dumps(invocation_record(_submission())))

    assert consumer.handler(event, lambda_context(CONSUMER)) == {"batchItemFailures": []}

    [told] = slack.channel(DEPLOYER)  # chat.postMessage to a user id: the person's messages with the app
    assert told.text == NEVER_RAN.format(what="form")  # nothing of the form's title or values is repeated
    assert slack.response_posts == 0


def test_finding_f10_an_app_home_button_that_ran_and_failed_is_told_in_the_persons_messages(
    slack: FaultySlack, consumer: Any, bot_token_secret: str
) -> None:
    event = through_the_queue(json.dumps(invocation_record(_home_button(), "RetriesExhausted")))

    assert consumer.handler(event, lambda_context(CONSUMER)) == {"batchItemFailures": []}

    [told] = slack.channel(DEPLOYER)
    assert told.text.startswith("Your button did not finish")
    assert "nothing changed" not in told.text
    assert "channel" not in told.text


def test_finding_f10_an_option_picked_in_a_form_is_called_a_choice(
    slack: FaultySlack, consumer: Any, bot_token_secret: str
) -> None:
    event = through_the_queue(json.dumps(invocation_record(_home_button(kind="static_select"))))

    consumer.handler(event, lambda_context(CONSUMER))

    [told] = slack.channel(DEPLOYER)
    assert told.text == NEVER_RAN.format(what="choice")


def test_finding_f10_a_message_slack_could_not_take_is_delivered_again(
    slack: FaultySlack, consumer: Any, bot_token_secret: str
) -> None:
    event = through_the_queue(json.dumps(invocation_record(_submission())))
    slack.inject("chat.postMessage", 503, times=3)

    result = consumer.handler(event, lambda_context(CONSUMER))

    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert slack.channel(DEPLOYER) == []
    assert consumer.handler(event, lambda_context(CONSUMER)) == {"batchItemFailures": []}  # the redelivery
    assert len(slack.channel(DEPLOYER)) == 1


def test_finding_f10_a_message_slack_refuses_is_dropped(
    slack: FaultySlack, consumer: Any, bot_token_secret: str, kept: list[str]
) -> None:
    """Slack's refusals that no later attempt does better (a user the app cannot write to) are logged."""
    event = through_the_queue(json.dumps(invocation_record(_submission(user="W0GONE"))))
    slack.inject("chat.postMessage", 200, times=1)  # {"ok": false, "error": "internal_error"} with a 200

    assert consumer.handler(event, lambda_context(CONSUMER)) == {"batchItemFailures": []}

    assert slack.channel("W0GONE") == []
    assert any("refused" in m for m in kept), kept


def test_finding_f10_the_api_url_is_slacks_unless_configured(consumer: Any) -> None:
    assert consumer.slack_api_url({}) == "https://slack.com/api/"
    assert consumer.slack_api_url({"SLACK_API_URL": "http://127.0.0.1:8123/api"}) == "http://127.0.0.1:8123/api/"
    for bad in ("ftp://127.0.0.1/api/", "https://user@evil.example/api/", "not a url", "https://:99/", "http://h:x/"):
        with pytest.raises(ValueError, match="SLACK_API_URL"):
            consumer.slack_api_url({"SLACK_API_URL": bad})


# --- the record is trusted no further than the apology ---------------------------------------------


def _form_payload(form: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "version": "2.0",
        "headers": {"content-type": "application/x-www-form-urlencoded"},
        "body": urllib.parse.urlencode(form),
        "isBase64Encoded": False,
        "method": "NONE",
        **extra,
    }


def _command_to(url: str, command: str = "/deploy") -> str:
    return json.dumps(invocation_record(_form_payload({"command": command, "response_url": url})))


GARBAGE = {
    "not JSON": "{not json",
    "a JSON list": "[]",
    "no requestPayload (Lambda drops it over 256 KB)": json.dumps({"requestContext": {"condition": "x"}}),
    "requestPayload not an object": json.dumps(invocation_record("body")),
    "body not a string": json.dumps(invocation_record({"body": 5})),
    "bad base64": json.dumps(invocation_record({"body": "%%%", "isBase64Encoded": True})),
    "base64 of bytes that are not UTF-8": json.dumps(
        invocation_record({"body": base64.b64encode(b"\xff\xfe").decode(), "isBase64Encoded": True})
    ),
    "neither a command nor a click": json.dumps(invocation_record(_form_payload({"text": "hello"}))),
    "click payload not JSON": json.dumps(invocation_record(_form_payload({"payload": "{nope"}))),
    "click payload not an object": json.dumps(invocation_record(_form_payload({"payload": "[1]"}))),
    "response_url not a string": json.dumps(
        invocation_record(_form_payload({"payload": json.dumps({"response_url": 7})}))
    ),
    "no response_url": json.dumps(invocation_record(_form_payload({"command": "/deploy"}))),
    "another host": _command_to("https://evil.example/respond/x"),
    "a lookalike host": _command_to("https://hooks.slack.com.evil.example/x"),
    "user info before the host": _command_to("https://hooks.slack.com@evil.example/x"),
    "plain http to hooks.slack.com": _command_to("http://hooks.slack.com/commands/T/1/x"),
    "another port on hooks.slack.com": _command_to("https://hooks.slack.com:8443/commands/T/1/x"),
    "not a URL": _command_to("javascript:alert(1)"),
    "control characters": _command_to("https://hooks.slack.com/commands/T/1/x\r\nHost: evil.example"),
    "a submission with no user": json.dumps(invocation_record(_submission(user=None))),
    "a submission whose user is not a user id": json.dumps(invocation_record(_submission(user="<!channel>"))),
    "a channel id for a user": json.dumps(invocation_record(_submission(user="C0OPS"))),
    "a home button with no user": json.dumps(
        invocation_record(_interaction({"type": "block_actions", "view": {"id": "V"}, "actions": []}))
    ),
    "huge": json.dumps(invocation_record(_form_payload({"command": "/deploy", "text": "x" * 300_000}))),
}


@pytest.mark.parametrize("body", GARBAGE.values(), ids=GARBAGE.keys())
def test_finding_10_a_garbage_record_is_logged_not_raised_and_nothing_is_posted(
    slack: FaultySlack, consumer: Any, kept: list[str], monkeypatch: pytest.MonkeyPatch, body: str
) -> None:
    """Only Lambda writes to the queue, but the record is still parsed defensively and the apology goes only
    to hooks.slack.com (or, here, the configured Slack API host: the stand-in)."""
    monkeypatch.setenv("SLACK_API_URL", slack.api_url)
    event = {"Records": [{"messageId": "m-1", "body": body}]}

    assert consumer.handler(event, lambda_context(CONSUMER)) == {"batchItemFailures": []}

    assert slack.responses() == []
    assert slack.calls() == []
    assert slack.response_posts == 0
    assert any("m-1" in m or "dropped" in m for m in kept), kept


def test_finding_10_records_that_are_not_sqs_records_do_not_crash_the_function(consumer: Any) -> None:
    for event in ({}, {"Records": None}, {"Records": ["x", 5, None]}):
        assert consumer.handler(event, lambda_context(CONSUMER)) == {"batchItemFailures": []}


def test_finding_10_a_command_name_is_only_echoed_when_it_looks_like_one(
    slack: FaultySlack, consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_API_URL", slack.api_url)
    body = _command_to(slack.response_url("odd"), command="<!channel> *bold*")

    consumer.handler({"Records": [{"messageId": "m-2", "body": body}]}, lambda_context(CONSUMER))

    [answer] = slack.responses()
    assert answer["text"] == NEVER_RAN.format(what="command")


def test_finding_10_the_consumer_does_not_load_bolt() -> None:
    """A light cold path: the consumer posts with slack_sdk's WebhookClient, never through the Bolt app."""
    probe = "import sys, handlers.lazy_failures; print(sorted(m for m in sys.modules if m.split('.')[0] in {m2}))"
    result = subprocess.run(
        [sys.executable, "-c", probe.replace("{m2}", "{'slack_bolt', 'pydantic', 'boto3'}")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == "[]", result.stdout
