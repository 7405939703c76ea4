"""Security finding 5 (issue 14): the audit trail's JSON log line must reach the Lambda log.

Lambda's Python runtime leaves the root logger at WARNING, and only the loggers the handlers hand
Powertools' configuration to (copy_config_to_registered_loggers) write INFO lines. These tests start each
function "cold" (the bot's loggers unconfigured, the root logger at WARNING) and read what the Powertools
Logger writes to stdout, as CloudWatch Logs would.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from harness import CHANNEL, DEPLOYER, OPERATOR, VIEWER, Bot, deployment_event, ecs_service, lambda_context

BOT_LOGGER = "bot"


def _cold_bot_loggers() -> None:
    """What a new Lambda container has: the bot's loggers as logging.getLogger() made them."""
    bot_logger = logging.getLogger(BOT_LOGGER)
    bot_logger.handlers = []
    bot_logger.setLevel(logging.NOTSET)
    bot_logger.propagate = True


class _CurrentStdout:
    """Whatever sys.stdout is when a line is written (pytest swaps it per test)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def lambda_log(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Lambda's logging defaults; returns a reader of the audit entries written to stdout since the start."""
    import handlers.slack

    root = logging.getLogger()
    bot_logger = logging.getLogger(BOT_LOGGER)
    saved_root_level = root.level
    saved_bot = (list(bot_logger.handlers), bot_logger.level, bot_logger.propagate)
    # Powertools binds sys.stdout when the first Logger is made; write to this test's captured stdout.
    streams = [h for h in handlers.slack.logger.handlers if isinstance(h, logging.StreamHandler)]
    saved_streams = [h.stream for h in streams]
    for handler in streams:
        handler.stream = _CurrentStdout()
    root.setLevel(logging.WARNING)
    _cold_bot_loggers()
    handlers.slack.reset()  # a new container: its first request builds the function and configures the loggers
    written: list[str] = []

    def audit_entries() -> list[dict[str, Any]]:
        written.extend(capsys.readouterr().out.splitlines())
        entries = []
        for line in written:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            message = record.get("message") if isinstance(record, dict) else None
            if isinstance(message, dict) and isinstance(message.get("audit"), dict):
                entries.append(message["audit"])
        return entries

    try:
        yield audit_entries
    finally:
        for handler, stream in zip(streams, saved_streams, strict=True):
            if not getattr(stream, "closed", False):  # an earlier test's captured stdout is closed by now
                handler.stream = stream
        root.setLevel(saved_root_level)
        bot_logger.handlers, bot_logger.level, bot_logger.propagate = saved_bot


def _scale_and_confirm(bot: Bot, text: str, user: str) -> None:
    reply = bot.command(text, user=user)
    assert reply.text == "", reply.text
    card = bot.last_card()
    bot.click("plan_confirm", bot.button(card, "plan_confirm")["value"], card.ts, user=user)


def test_finding_5_the_audit_line_of_a_denied_command_reaches_the_lambda_log(
    bot: Bot, lambda_log: Callable[[], list[dict[str, Any]]]
) -> None:
    """Defect: the audit logger ("fargate_chatops.audit") was outside the loggers Powertools is configured
    for, so under Lambda's root logger (WARNING) its INFO line was dropped: a refusal left no log line."""
    reply = bot.command("/deploy service-a v1.3.0", user=VIEWER)
    assert "deployer" in reply.text
    denied = [e for e in lambda_log() if e["decision"] == "denied"]
    assert len(denied) == 1, lambda_log()
    assert denied[0]["actor"] == VIEWER
    assert denied[0]["service"] == "service-a"
    assert denied[0]["request"] == "/deploy service-a v1.3.0"


def test_finding_5_the_audit_lines_of_an_executed_scale_reach_the_lambda_log(
    bot: Bot, lambda_log: Callable[[], list[dict[str, Any]]]
) -> None:
    """Defect: an executed /scale was audited in DynamoDB only; the JSON audit line was never written."""
    _scale_and_confirm(bot, "/scale service-b 4", OPERATOR)
    assert ecs_service("service-b")["desiredCount"] == 4
    decisions = [e["decision"] for e in lambda_log() if e["service"] == "service-b"]
    assert decisions == ["planned", "confirmed", "executed"], lambda_log()


def test_finding_5_the_audit_line_stays_when_the_dynamodb_audit_write_fails(
    bot: Bot, lambda_log: Callable[[], list[dict[str, Any]]]
) -> None:
    """Defect: audit_safe keeps only the log line when DynamoDB refuses the audit item, and that line was
    dropped in Lambda too, so the executed change left no audit record anywhere."""
    import handlers.slack

    bot.command("/status", user=VIEWER)  # builds the function, so its DynamoDB client can be reached
    runtime = handlers.slack._runtime
    assert runtime is not None
    ddb = runtime.clients.client("dynamodb", runtime.home_region)
    refused: list[str] = []

    def refuse_audit_items(params: dict[str, Any], **_: Any) -> None:
        pk = str(params.get("Item", {}).get("pk", {}).get("S", ""))
        if pk.startswith("audit#"):
            refused.append(pk)
            raise ClientError(
                {"Error": {"Code": "InternalServerError", "Message": "injected"}, "ResponseMetadata": {}}, "PutItem"
            )

    ddb.meta.events.register("before-parameter-build.dynamodb.PutItem", refuse_audit_items)
    try:
        _scale_and_confirm(bot, "/scale service-b 3", OPERATOR)
    finally:
        ddb.meta.events.unregister("before-parameter-build.dynamodb.PutItem", refuse_audit_items)
    assert refused, "the audit write was not refused"
    assert ecs_service("service-b")["desiredCount"] == 3
    executed = [e for e in lambda_log() if e["decision"] == "executed"]
    assert len(executed) == 1, lambda_log()
    assert executed[0]["actor"] == OPERATOR


def test_finding_5_the_deployments_function_writes_the_audit_line_of_a_rollout(
    bot: Bot, deployments: Any, lambda_log: Callable[[], list[dict[str, Any]]]
) -> None:
    """Defect: handlers/deployments.py never handed Powertools' configuration to the bot's loggers, so the
    audit line of a rollout's outcome (COMPLETED, FAILED) was dropped even with the logger's name fixed."""
    bot.command("/deploy service-a v1.3.0", user=DEPLOYER)
    card = bot.last_card()
    bot.click("plan_confirm", bot.button(card, "plan_confirm")["value"], card.ts, user=DEPLOYER)
    service = ecs_service("service-a")
    _cold_bot_loggers()  # the deployments function runs in a container of its own
    event = deployment_event(service["serviceArn"], "SERVICE_DEPLOYMENT_COMPLETED", service["deployments"][0]["id"])
    assert deployments.handler(event, lambda_context("DeploymentsFunction"))["result"] == "completed"
    completed = [e for e in lambda_log() if e["decision"] == "completed"]
    assert len(completed) == 1, lambda_log()
    assert completed[0]["service"] == "service-a"
    assert any(m.thread_ts == card.ts for m in bot.slack.channel(CHANNEL))


def _sqs_record(body: str) -> dict[str, Any]:
    return {
        "messageId": "probe",
        "receiptHandle": "probe",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:opsbot-alarms",
        "awsRegion": "us-east-1",
    }


@pytest.mark.parametrize(
    ("module", "event"),
    [
        ("handlers.alarms", {"Records": [_sqs_record("not an alarm notification")]}),
        ("handlers.escalation", {"id": "escalation-run", "detail-type": "Scheduled Event"}),
        ("handlers.costs", {"id": "weekly-cost-run", "detail-type": "Scheduled Event"}),
    ],
)
def test_finding_5_every_scheduled_and_queued_function_writes_the_audit_logger_s_lines(
    bot: Bot, lambda_log: Callable[[], list[dict[str, Any]]], module: str, event: dict[str, Any]
) -> None:
    """Defect: each handler chose its own loggers to configure, and handlers/costs.py none at all, so a
    function that writes an audit entry (or will) could drop its line under Lambda's logging."""
    import importlib

    from bot.stores import AUDIT_LOG

    handler_module = importlib.import_module(module)
    reset = getattr(handler_module, "reset", None)
    if reset is not None:
        reset()
    try:
        handler_module.handler(event, lambda_context(module))
    finally:
        if reset is not None:
            reset()
    AUDIT_LOG.info(json.dumps({"audit": {"decision": "probe", "service": module}}))
    assert [e["service"] for e in lambda_log() if e["decision"] == "probe"] == [module]


def test_the_slack_handlers_info_lines_survive_the_first_request(
    bot: Bot, lambda_log: Callable[[], list[dict[str, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Bolt sets its app logger's level from the root logger (WARNING in Lambda). The app was named like the
    Powertools logger ("fargate-chatops"), so from the second request on the handler's INFO lines (a
    request refused as unsigned, for one) were dropped."""
    bot.command("/status", user=VIEWER)  # the app is built and has handled a request
    capsys.readouterr()
    for _ in range(2):
        assert bot.send("command=%2Fstatus", headers={"content-type": "application/x-www-form-urlencoded"})[0] == 401
    refused = [line for line in capsys.readouterr().out.splitlines() if "not signed by Slack" in line]
    assert len(refused) == 2
