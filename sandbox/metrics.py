"""The services' CloudWatch metrics, which moto never produces: published every few seconds from what runs.

ECS and the load balancer publish these in AWS; here the publisher derives them from the services' real
traffic (each request line a service logs, handed to `observe(service)` as its stdout is relayed) and
from the rollout simulator (a rollout runs the old and the new tasks side by side: a CPU and memory bump;
a bad tag's tasks never get healthy: unhealthy hosts). Published with the dimensions the seeded alarms
(sandbox.seed) use, so an alarm's graph (GetMetricWidgetImage, sandbox.metric_widget) has data:

    AWS/ECS               CPUUtilization, MemoryUtilization            ClusterName, ServiceName
    ECS/ContainerInsights RunningTaskCount                             ClusterName, ServiceName
    AWS/ApplicationELB    UnHealthyHostCount                           ClusterName, ServiceName
    AWS/ApplicationELB    RequestCount, TargetResponseTime,            LoadBalancer, TargetGroup
                          HTTPCode_Target_5XX_Count
    AWS/ApplicationELB    HTTPCode_ELB_5XX_Count                       (none: the environment's alarm)

On start it back-fills the last `history` of quiet minutes (idle tasks, no traffic), so that a graph of
the last hours is not empty before the sandbox's first minutes.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config import Target

IDLE_CPU = 6.0  # % of the service's CPU: an idle uvicorn process with its health checks
IDLE_MEMORY = 31.0
CPU_PER_REQUEST_PER_SECOND = 4.0
ROLLOUT_CPU = 32.0  # the old and the new tasks side by side, the new ones starting up
ROLLOUT_MEMORY = 14.0
BATCH = 500  # datums per PutMetricData call (AWS takes 1,000)


@dataclass
class Traffic:
    """Requests a service answered since the last publication (health checks are not requests)."""

    requests: int = 0
    errors: int = 0  # 5xx
    duration_ms: float = 0.0


class MetricsPublisher:
    name = "metrics"
    port = 0
    port_variable = ""

    def __init__(
        self,
        targets: Sequence[Target],
        cloudwatch: Callable[[], Any],
        rolling: Callable[[], dict[str, bool]] = dict,
        *,
        desired: int = 2,
        interval: float = 5.0,
        history: timedelta = timedelta(hours=3),
        load_balancer: str = "app/sandbox-alb/0123456789abcdef",
        seed: int = 7,
    ) -> None:
        self.targets = list(targets)
        self._client_factory = cloudwatch
        self.rolling = rolling
        """Service name -> True while a rollout of it runs (False: its new tasks never get healthy)."""
        self.desired = desired
        self.interval = interval
        self.history = history
        self.load_balancer = load_balancer
        self._random = random.Random(seed)  # noqa: S311 - noise on a graph, not a secret
        self._traffic = {t.name: Traffic() for t in self.targets}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last = time.time()
        self._cloudwatch: Any = None
        self.published = 0

    # --- traffic -------------------------------------------------------------------------------------

    def observe(self, service: str) -> Callable[[str], None]:
        """What to hand each line `service` logs: its request lines are counted."""

        def count(line: str) -> None:
            try:
                entry = json.loads(line)
            except ValueError:
                return
            if not isinstance(entry, dict) or entry.get("message") != "request":
                return
            if "health" in str(entry.get("path", "")):
                return  # the load balancer's health checks are not in RequestCount
            status = entry.get("status")
            with self._lock:
                traffic = self._traffic.setdefault(service, Traffic())
                traffic.requests += 1
                traffic.errors += isinstance(status, int) and status >= 500
                duration = entry.get("duration_ms")
                traffic.duration_ms += float(duration) if isinstance(duration, int | float) else 0.0

        return count

    # --- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> str:
        self._last = time.time()
        self._thread = threading.Thread(target=self._run, name="metrics", daemon=True)
        self._thread.start()
        names = ", ".join(t.name for t in self.targets)
        return f"CPU, memory, tasks and ALB metrics of {names} every {self.interval:g} s"

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        if self._stop.wait(self.interval):  # the rest of the sandbox starts first
            return
        try:
            self._backfill()
        except Exception as error:  # moto going away at shutdown
            if not self._stop.is_set():
                print(f"sandbox: metrics: could not back-fill: {error}", flush=True)
        while not self._stop.wait(self.interval):
            try:
                self.publish()
            except Exception as error:
                if not self._stop.is_set():
                    print(f"sandbox: metrics: {error}", flush=True)

    # --- what is published ---------------------------------------------------------------------------

    def publish(self, now: float | None = None) -> int:
        """Publish one sample per metric and service for the time since the last one; the datums sent."""
        now = time.time() if now is None else now
        seconds = max(now - self._last, 1e-3)
        self._last = now
        with self._lock:
            traffic, self._traffic = self._traffic, {t.name: Traffic() for t in self.targets}
        rolling = self.rolling()
        at = datetime.fromtimestamp(now, UTC)
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for target in self.targets:
            seen = traffic.get(target.name, Traffic())
            for namespace, datum in self._sample(target, seen, seconds, rolling.get(target.name), at):
                by_namespace.setdefault(namespace, []).append(datum)
        by_namespace.setdefault("AWS/ApplicationELB", []).append(_elb_5xx(at))
        return self._put(by_namespace)

    def _sample(
        self, target: Target, traffic: Traffic, seconds: float, rolling: bool | None, at: datetime
    ) -> list[tuple[str, dict[str, Any]]]:
        service = [
            {"Name": "ClusterName", "Value": target.cluster},
            {"Name": "ServiceName", "Value": target.ecs_service},
        ]
        balancer = self.balancer_dimensions(target)
        per_second = traffic.requests / seconds
        noise = self._random.uniform(-1.5, 1.5)
        bump = rolling is not None
        cpu = IDLE_CPU + noise + min(85.0, per_second * CPU_PER_REQUEST_PER_SECOND) + (ROLLOUT_CPU if bump else 0.0)
        memory = IDLE_MEMORY + noise / 2 + min(40.0, per_second) + (ROLLOUT_MEMORY if bump else 0.0)
        running = self.desired * 2 if rolling else self.desired
        unhealthy = self.desired if rolling is False else 0
        datums: list[tuple[str, dict[str, Any]]] = [
            ("AWS/ECS", _datum("CPUUtilization", min(cpu, 100.0), "Percent", service, at)),
            ("AWS/ECS", _datum("MemoryUtilization", min(memory, 100.0), "Percent", service, at)),
            ("ECS/ContainerInsights", _datum("RunningTaskCount", float(running), "Count", service, at)),
            ("AWS/ApplicationELB", _datum("UnHealthyHostCount", float(unhealthy), "Count", service, at)),
            ("AWS/ApplicationELB", _datum("RequestCount", float(traffic.requests), "Count", balancer, at)),
            ("AWS/ApplicationELB", _datum("HTTPCode_Target_5XX_Count", float(traffic.errors), "Count", balancer, at)),
        ]
        if traffic.requests:
            seconds_each = traffic.duration_ms / traffic.requests / 1000
            datums.append(("AWS/ApplicationELB", _datum("TargetResponseTime", seconds_each, "Seconds", balancer, at)))
        return datums

    def balancer_dimensions(self, target: Target) -> list[dict[str, str]]:
        """The ALB metrics' dimensions of a service's target group (ARN suffixes, as CloudWatch names them)."""
        group = f"{target.env}-{target.name}"[:32]
        return [
            {"Name": "LoadBalancer", "Value": self.load_balancer},
            {"Name": "TargetGroup", "Value": f"targetgroup/{group}/0123456789abcdef"},
        ]

    def _backfill(self) -> None:
        """A quiet minute a sample over the last `history`: idle tasks, no traffic, no rollout."""
        now = time.time()
        minutes = int(self.history.total_seconds() // 60)
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for minute in range(minutes, 0, -1):
            at = datetime.fromtimestamp(now - minute * 60, UTC)
            for target in self.targets:
                for namespace, datum in self._sample(target, Traffic(), 60.0, None, at):
                    by_namespace.setdefault(namespace, []).append(datum)
            by_namespace.setdefault("AWS/ApplicationELB", []).append(_elb_5xx(at))
            if self._stop.is_set():
                return
        self._put(by_namespace)

    def _put(self, by_namespace: dict[str, list[dict[str, Any]]]) -> int:
        if self._cloudwatch is None:
            self._cloudwatch = self._client_factory()
        sent = 0
        for namespace, data in by_namespace.items():
            for start in range(0, len(data), BATCH):
                if self._stop.is_set() and sent:
                    return sent
                self._cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + BATCH])
                sent += len(data[start : start + BATCH])
        self.published += sent
        return sent


def _datum(name: str, value: float, unit: str, dimensions: list[dict[str, str]], at: datetime) -> dict[str, Any]:
    return {"MetricName": name, "Dimensions": dimensions, "Value": round(value, 3), "Unit": unit, "Timestamp": at}


def _elb_5xx(at: datetime) -> dict[str, Any]:
    """The sandbox has no load balancer of its own to fail: its 5xx count is 0 (the targets' are theirs)."""
    return {"MetricName": "HTTPCode_ELB_5XX_Count", "Value": 0.0, "Unit": "Count", "Timestamp": at}


def tee(*outputs: Callable[[str], None] | None) -> Callable[[str], None]:
    """One line to several consumers (a service's log shipper and the publisher's request count)."""
    present = [o for o in outputs if o is not None]

    def each(line: str) -> None:
        for output in present:
            output(line)

    return each
