"""What Lambda hands the bot's handlers: the context object, API Gateway HTTP API (payload 2.0) events and
SQS batches. Built here once, for the sandbox's adapter (sandbox/adapter.py), the tests (tests/harness.py)
and the benchmarks.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
TIMEOUT_SECONDS = 30.0


def lambda_context(
    function: str = "SlackFunction",
    *,
    remaining_seconds: Callable[[], float] = lambda: TIMEOUT_SECONDS,
    log_stream: str = "local",
) -> SimpleNamespace:
    """A Lambda function's context, enough for Powertools; `remaining_seconds` says the time left."""
    return SimpleNamespace(
        function_name=function,
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}",
        memory_limit_in_mb=512,
        aws_request_id=uuid.uuid4().hex,
        log_group_name=f"/aws/lambda/{function}",
        log_stream_name=log_stream,
        get_remaining_time_in_millis=lambda: max(0.0, remaining_seconds()) * 1000,
    )


def api_gateway_event(
    body: str, headers: dict[str, str], method: str = "POST", path: str = "/slack/events"
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event. The headers go in as given (API Gateway sends
    their names in lower case)."""
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": uuid.uuid4().hex,
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
        },
    }


def sqs_event(messages: Sequence[Mapping[str, Any]], queue_arn: str, region: str = REGION) -> dict[str, Any]:
    """Messages received from an SQS queue (ReceiveMessage's shape) as Lambda's event source mapping
    delivers them to the function."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }
