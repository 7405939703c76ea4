"""What ECS would do after a deploy, since moto does not: roll it out and say so on EventBridge.

The simulator polls describe_services. When a service's task definition changes, it emits the ECS
"Deployment State Change" events a real rollout emits (SERVICE_DEPLOYMENT_IN_PROGRESS, then
SERVICE_DEPLOYMENT_COMPLETED a few seconds later) through `deliver`, which the sandbox points at the
bot adapter's EventBridge endpoint. An image tag marked bad in the seed plan never gets healthy:
the deployment FAILS, and the circuit breaker (enabled by infra/, `rollback = true`) puts the
service back on the revision it ran before, as ECS does.

While a rollout runs, the service's counts and primary deployment in moto say so (moto keeps one
deployment that never moves), so /status shows the rollout too. A rollout that will succeed also
replaces the service's local process by one running the new task definition's APP_VERSION (`restart`,
the supervisor's), as ECS replaces the tasks: what the card says is deployed is what the service says
it runs. A bad tag's tasks never start, so the service keeps its process and version.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.config import Target
from bot.model import tag_of
from sandbox.seed import ACCOUNT

# What ECS says when the circuit breaker stops a deployment and rolls it back (infra/: rollback = true).
CIRCUIT_BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start; rolled back to {previous}"


@dataclass
class Rollout:
    target: Target
    service_arn: str
    deployment_id: str
    task_definition: str
    previous: str
    bad: bool
    started: float
    announced: bool = False


def deployment_event(
    service_arn: str, region: str, name: str, deployment_id: str, reason: str = "", at: datetime | None = None
) -> dict[str, Any]:
    """An ECS "Deployment State Change" event as EventBridge delivers it: from the service's account (another
    account's rule forwards it to the bot's bus as it is)."""
    stamp = (at or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "ECS Deployment State Change",
        "source": "aws.ecs",
        "account": _account(service_arn),
        "time": stamp,
        "region": region,
        "resources": [service_arn],
        "detail": {
            "eventType": "ERROR" if name.endswith("FAILED") else "INFO",
            "eventName": name,
            "deploymentId": deployment_id,
            "updatedAt": stamp,
            "reason": reason,
        },
    }


class RolloutSimulator:
    name = "rollouts"
    port = 0
    port_variable = ""

    def __init__(
        self,
        targets: Sequence[Target],
        ecs: Callable[[], Any],
        deliver: Callable[[dict[str, Any]], None],
        bad_tags: Sequence[str] = (),
        *,
        restart: Callable[[Target, str], None] | None = None,
        in_progress_after: float = 1.0,
        settle_after: float = 5.0,
        poll: float = 0.5,
        wait: Callable[[float], bool] | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.targets = list(targets)
        self._ecs_factory = ecs
        self.deliver = deliver
        self.bad_tags = frozenset(bad_tags)
        self.restart = restart
        """Put a version (APP_VERSION) on a service's local process, returning once it answers."""
        self.in_progress_after = in_progress_after
        self.settle_after = settle_after
        self.poll = poll
        self.wait = wait
        """What to wait for (True once there, within the timeout it is given), in the simulator's thread, before its
        first look (another environment's seeding): start() then returns at once, and `say` tells when it watches."""
        self.say = say
        self._seen: dict[str, str] = {}  # service ARN -> task definition it is on
        self._rollouts: dict[str, Rollout] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.events: list[dict[str, Any]] = []  # what was emitted, for tests and the page

    def start(self) -> str:
        if self.wait is None:
            self._first_look()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        seconds = f"{self.settle_after:g}"
        shown = (
            f"ECS deployment events {seconds} s after a deploy; FAILED for {', '.join(sorted(self.bad_tags)) or '-'}"
        )
        return shown if self.wait is None else f"{shown} (once seeded)"

    def _first_look(self) -> None:
        self._ecs = self._ecs_factory()
        self._look()  # what runs now is not a rollout
        self._rollouts.clear()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def rolling(self) -> dict[str, bool]:
        """Service name -> True while a rollout of it runs, False while one whose tasks never start does."""
        return {r.target.name: not r.bad for r in list(self._rollouts.values())}

    def _run(self) -> None:
        if self.wait is not None:
            try:
                while not self.wait(0.2):
                    if self._stop.is_set():
                        return
                self._first_look()
            except Exception as error:
                if not self._stop.is_set():
                    print(f"sandbox: {self.name}: {error}", flush=True)
                return
            if self.say is not None:
                self.say(f"{self.name}: watching {', '.join(t.name for t in self.targets)}")
        while not self._stop.wait(self.poll):
            try:
                self._look()
                self._advance(time.monotonic())
            except Exception as error:  # moto going away at shutdown, or a handler's bad day
                if not self._stop.is_set():
                    print(f"sandbox: rollout simulator: {error}", flush=True)

    def _look(self) -> None:
        by_cluster: dict[str, list[Target]] = {}
        for target in self.targets:
            by_cluster.setdefault(target.cluster, []).append(target)
        for cluster, group in by_cluster.items():
            services = self._ecs.describe_services(cluster=cluster, services=[t.ecs_service for t in group])
            for service in services.get("services", []):
                target = next(t for t in group if t.ecs_service == service["serviceName"])
                self._notice(target, service)

    def _notice(self, target: Target, service: dict[str, Any]) -> None:
        arn, current = service["serviceArn"], service["taskDefinition"]
        before = self._seen.get(arn)
        self._seen[arn] = current
        if before is None or before == current:
            return
        running = self._rollouts.get(arn)
        if running is not None and running.previous == current and running.bad:
            return  # our own circuit-breaker rollback
        container = self._container(current, target)
        tag = tag_of(str(container.get("image", "")))
        deployment_id = (service.get("deployments") or [{}])[0].get("id", f"ecs-svc/{uuid.uuid4().int % 10**19}")
        bad = tag in self.bad_tags
        rollout = Rollout(target, arn, deployment_id, current, before, bad=bad, started=time.monotonic())
        self._rollouts[arn] = rollout
        _moto_rollout(target, current, "IN_PROGRESS", service.get("desiredCount", 1), healthy=0, account=_account(arn))
        if not rollout.bad and self.restart is not None:
            environment = {e.get("name"): e.get("value") for e in container.get("environment", [])}
            self.restart(target, str(environment.get("APP_VERSION") or tag or "dev"))

    def _container(self, task_definition: str, target: Target) -> dict[str, Any]:
        definition = self._ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
        for container in definition.get("containerDefinitions", []):
            if container.get("name") == target.container:
                return dict(container)
        return {}

    def _advance(self, now: float) -> None:
        for arn, rollout in list(self._rollouts.items()):
            region = rollout.target.region
            if not rollout.announced and now - rollout.started >= self.in_progress_after:
                rollout.announced = True
                self._emit(deployment_event(arn, region, "SERVICE_DEPLOYMENT_IN_PROGRESS", rollout.deployment_id))
            if now - rollout.started < self.settle_after:
                continue
            del self._rollouts[arn]
            desired = self._desired(rollout.target)
            if rollout.bad:
                previous = rollout.previous.rpartition("/")[2]
                self._ecs.update_service(
                    cluster=rollout.target.cluster, service=rollout.target.ecs_service, taskDefinition=rollout.previous
                )
                self._seen[arn] = rollout.previous
                _moto_rollout(
                    rollout.target, rollout.previous, "FAILED", desired, healthy=desired, account=_account(arn)
                )
                reason = CIRCUIT_BREAKER_REASON.format(previous=previous)
                self._emit(deployment_event(arn, region, "SERVICE_DEPLOYMENT_FAILED", rollout.deployment_id, reason))
            else:
                _moto_rollout(
                    rollout.target,
                    rollout.task_definition,
                    "COMPLETED",
                    desired,
                    healthy=desired,
                    account=_account(arn),
                )
                self._emit(deployment_event(arn, region, "SERVICE_DEPLOYMENT_COMPLETED", rollout.deployment_id))

    def _desired(self, target: Target) -> int:
        services = self._ecs.describe_services(cluster=target.cluster, services=[target.ecs_service])["services"]
        return int(services[0].get("desiredCount", 1)) if services else 1

    def _emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.deliver(event)


def _account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else ACCOUNT


def _moto_rollout(
    target: Target, task_definition: str, state: str, desired: int, healthy: int, account: str = ACCOUNT
) -> None:
    """Show the rollout in moto's service record (counts and primary deployment), which moto never moves."""
    try:
        from moto.ecs.models import ecs_backends

        service = ecs_backends[account][target.region].services[f"{target.cluster}:{target.ecs_service}"]
    except (ImportError, KeyError):
        return
    service.running_count = healthy
    service.pending_count = max(0, desired - healthy)
    if service.deployments:
        deployment = service.deployments[0]
        deployment.update(
            {
                "taskDefinition": task_definition,
                "rolloutState": state,
                "rolloutStateReason": f"ECS deployment {deployment.get('id')} {state.lower().replace('_', ' ')}.",
                "runningCount": healthy,
                "pendingCount": max(0, desired - healthy),
                "updatedAt": datetime.now(UTC),
            }
        )
