"""AWS errors injected where moto answers, below botocore's retry logic.

moto answers in-process requests from a botocore `before-send` handler; the fixture puts the faults in
front of it, so a chosen operation gets an error response instead of reaching moto (nothing happens
there), and the error goes through botocore exactly as one from AWS would: parsed, classified, retried
by the client's adaptive retry mode when it is retryable, then raised.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


@dataclass
class Fault:
    operation: str  # "UpdateService"
    code: str  # "ThrottlingException"
    status: int = 400
    times: int | None = None  # None: every attempt
    sent: int = 0  # attempts answered with the error
    matching: bytes | None = None  # only requests whose body holds this (one table's keys, one log group)
    unless: bytes | None = None  # not requests whose body holds this (a role's trust policy: its ExternalId)
    applied: bool = False  # the request reaches moto (AWS did it) and its answer is lost: the error comes back
    after: Fault | None = None  # only once that fault was answered (a read that fails after a failed write)


@dataclass
class AwsFaults:
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self,
        operation: str,
        code: str,
        times: int | None = None,
        status: int = 400,
        matching: bytes | None = None,
        unless: bytes | None = None,
        applied: bool = False,
        after: Fault | None = None,
    ) -> Fault:
        fault = Fault(operation, code, status, times, matching=matching, unless=unless, applied=applied, after=after)
        with self.lock:
            self.faults.append(fault)
        return fault

    def answer(self, request: Any, moto: Callable[[], AWSResponse | None]) -> AWSResponse | None:
        """The injected error for `request`, else moto's answer (`moto()`); for an `applied` fault, both: moto
        does the request, then the error is what comes back."""
        found = self._fault_for(request)
        if found is None:
            return moto()
        fault, response = found
        if fault.applied:
            moto()
        return response

    def _fault_for(self, request: Any) -> tuple[Fault, AWSResponse] | None:
        target = str(request.headers.get("X-Amz-Target", b""), "utf-8", "replace")  # JSON protocols
        body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
        with self.lock:
            for fault in self.faults:
                named = target.endswith(f".{fault.operation}") or f"Action={fault.operation}".encode() in body
                if fault.matching is not None and fault.matching not in body:
                    continue
                if fault.unless is not None and fault.unless in body:
                    continue
                if fault.after is not None and fault.after.sent == 0:
                    continue
                if named and (fault.times is None or fault.sent < fault.times):
                    fault.sent += 1
                    return fault, _error(request.url, fault, query=not target and body.startswith(b"Action="))
        return None


def _error(url: str, fault: Fault, query: bool = False) -> AWSResponse:
    """The error as the operation's protocol writes it: XML for the query protocol (STS), else JSON."""
    if query:
        payload = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{fault.code}</Code><Message>injected {fault.code}</Message>"
            "</Error><RequestId>injected</RequestId></ErrorResponse>"
        ).encode()
        return AWSResponse(url, fault.status, {"Content-Type": "text/xml"}, _Raw(payload))
    payload = json.dumps({"__type": fault.code, "message": f"injected {fault.code}"}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "injected"}
    return AWSResponse(url, fault.status, headers, _Raw(payload))


@pytest.fixture
def aws_faults(monkeypatch: pytest.MonkeyPatch) -> AwsFaults:
    """Faults answered instead of moto (for every client: add them just before the bot's action)."""
    import botocore.retries.standard
    from moto.core.botocore_stubber import BotocoreStubber

    faults = AwsFaults()
    answer_from_moto = BotocoreStubber.__call__

    def answer(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> AWSResponse | None:
        return faults.answer(request, lambda: answer_from_moto(self, event_name, request, **kwargs))

    monkeypatch.setattr(BotocoreStubber, "__call__", answer)
    # Retry decisions, attempt counts and the adaptive rate limiter stay botocore's; only the
    # exponential backoff's sleeps are shortened, so that five throttled attempts take 0.2 s, not 15.
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.05)
    return faults
