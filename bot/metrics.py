"""The bot's figures in production: a port the components emit to, and CloudWatch EMF behind it.

    Metrics    the Protocol a component takes (from the composition root, handlers/runtime.py, like a clock)
    Emf        the real one: Powertools Metrics (Embedded Metric Format: a JSON line on stdout that CloudWatch
               Logs turns into metrics), one per dimension set, written once at the end of each invocation
               by the handler's `log_metrics` decorator
    Recorder   keeps what was emitted, in memory (tests of one component, the default of a component built
               without metrics)

Every metric carries the `service` (POWERTOOLS_SERVICE_NAME) and `function` (the handler's short name:
slack, alarms, ...) dimensions, plus the few its call site names. Dimension values must come from a closed set
(a command's type, an action, an outcome); never a user id, a channel, an alarm name or typed text: each
distinct value is a separate CloudWatch metric, billed and listed on its own.

The names, for the dashboard and the alarm in template.yaml and for docs/observability.md:
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

if TYPE_CHECKING:
    from aws_lambda_powertools.metrics import Metrics as PowertoolsMetrics

ACK_LATENCY = "AckLatency"  # ms from the Slack function's entry to its answer (what Slack waits 3 s for)
LAZY_WORK_DURATION = "LazyWorkDuration"  # ms of a command's or button's work; dimension command
ALARM_TO_CARD_LATENCY = "AlarmToCardLatency"  # ms from the notification's arrival to its card in Slack
SLACK_RATE_LIMITED = "SlackRateLimited"  # 429 answers from Slack's Web API
SLACK_RETRIES = "SlackRetries"  # retried Web API calls; dimension reason
PLANS = "Plans"  # plans made; dimension action
EXECUTIONS = "Executions"  # plans run; dimensions action, outcome (executed, failed, superseded)
REFUSALS = "Refusals"  # requests and confirmations refused; dimensions action, reason

DEFAULT_NAMESPACE = "FargateChatOps"  # template.yaml sets POWERTOOLS_METRICS_NAMESPACE to the same
DEFAULT_SERVICE = "fargate-chatops"

Handler = TypeVar("Handler", bound=Callable[..., Any])


class Metrics(Protocol):
    """What a component emits. `dimensions` name closed sets only (see the module's docstring)."""

    def count(self, name: str, value: float = 1, **dimensions: str) -> None: ...

    def milliseconds(self, name: str, value: float, **dimensions: str) -> None: ...


class Record(NamedTuple):
    name: str
    unit: str  # "Count" or "Milliseconds"
    value: float
    dimensions: dict[str, str]


class Recorder:
    """Metrics kept in memory: `records` in the order emitted. (Plain classes in this module: it loads on the
    Slack function's ack path, where each dataclass would cost a millisecond of start-up.)"""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def count(self, name: str, value: float = 1, **dimensions: str) -> None:
        self.records.append(Record(name, "Count", value, dimensions))

    def milliseconds(self, name: str, value: float, **dimensions: str) -> None:
        self.records.append(Record(name, "Milliseconds", value, dimensions))

    def values(self, name: str, **dimensions: str) -> list[float]:
        """The values of `name` whose dimensions include `dimensions`."""
        return [r.value for r in self.records if r.name == name and dimensions.items() <= r.dimensions.items()]


class Discard:
    """Metrics nobody reads: what a component gets when it is built without any (local use, benchmarks)."""

    def count(self, name: str, value: float = 1, **dimensions: str) -> None:
        pass

    def milliseconds(self, name: str, value: float, **dimensions: str) -> None:
        pass


DISCARD = Discard()


class Emf:
    """Metrics as CloudWatch EMF through Powertools, written at the end of each invocation (`log_metrics`).

    Powertools writes one EMF object per dimension set, so each set of dimensions has its own Powertools
    `Metrics` over a provider of its own (Powertools' `Metrics()` shares one set across all its instances in
    the process: the escalation function, which builds the deployments tracker, would mix the two functions'
    figures). Thread-safe: the local sandbox runs lazy work in threads.

    Powertools loads at the first metric, not at import: the Slack function's ack path stays as light as it
    was until it has something to write.
    """

    def __init__(self, function: str, namespace: str | None = None, service: str | None = None) -> None:
        self.function = function
        self.namespace = namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE
        self.service = service or os.environ.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE
        self._sets: dict[tuple[tuple[str, str], ...], PowertoolsMetrics] = {}
        self._lock = threading.Lock()

    def count(self, name: str, value: float = 1, **dimensions: str) -> None:
        self._add(name, "Count", value, dimensions)

    def milliseconds(self, name: str, value: float, **dimensions: str) -> None:
        self._add(name, "Milliseconds", value, dimensions)

    def _add(self, name: str, unit: str, value: float, dimensions: dict[str, str]) -> None:
        key = tuple(sorted(dimensions.items()))
        with self._lock:
            metrics = self._sets.get(key)
            if metrics is None:
                metrics = self._sets[key] = self._metrics(dimensions)
            metrics.add_metric(name=name, unit=unit, value=value)

    def _metrics(self, dimensions: dict[str, str]) -> PowertoolsMetrics:
        from aws_lambda_powertools.metrics import Metrics
        from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

        provider = AmazonCloudWatchEMFProvider(
            namespace=self.namespace,
            service=self.service,
            metric_set={},
            dimension_set={},
            metadata_set={},
            default_dimensions={"function": self.function, **dimensions},
        )
        return Metrics(provider=provider)

    def flush(self) -> None:
        """Write what was emitted since the last flush (one JSON line per dimension set) and forget it."""
        with self._lock:
            sets, self._sets = self._sets, {}
        for metrics in sets.values():
            if metrics.provider.metric_set:  # empty when Powertools wrote it itself at 100 values
                metrics.flush_metrics()

    def log_metrics(self, handler: Handler) -> Handler:
        """The Lambda handler's decorator: whatever the invocation emitted is written when it ends, raised or
        returned."""

        @functools.wraps(handler)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return handler(*args, **kwargs)
            finally:
                self.flush()

        return wrapper  # type: ignore[return-value]
