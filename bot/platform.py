"""Operations on the ECS Fargate platform over boto3: reads, and the few mutations the bot makes.

Every method names its operation in errors (bot.errors.aws_operation), so a failure reaches Slack as
"Update ECS service failed: ..." with what to do, never as a traceback. Mutations are only called by
bot.operations, which checks who, confirms, runs once and audits.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from bot.alarm_services import Dimension, service_of_alarm
from bot.aws import ClientFactory
from bot.clock import Clock, system_clock
from bot.config import Config, EnvironmentConfig, Target
from bot.errors import OperationError, aws_operation
from bot.model import (
    Alarm,
    AlarmRef,
    AlarmStateChange,
    ImageTag,
    LogLine,
    LogRead,
    ScalingBounds,
    ServiceEvent,
    ServiceState,
)

log = logging.getLogger(__name__)

DESCRIBE_SERVICES_BATCH = 10  # the API's limit per call
ECS_EVENTS_KEPT = 100  # a service's events DescribeServices returns: the newest, older ones are gone
# Fields of a described task definition that register_task_definition does not accept back.
_READ_ONLY_TASK_DEFINITION_FIELDS = frozenset(
    {
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
        "deregisteredAt",
        "deleteRequestedAt",
    }
)


class Platform:
    def __init__(self, config: Config, clients: ClientFactory, clock: Clock = system_clock) -> None:
        self.config = config
        self.clients = clients
        self.clock = clock  # "now" for a log window that ends now
        self._tags: dict[str, dict[str, str]] = {}

    def _client(self, service: str, env: EnvironmentConfig) -> Any:
        """A client in `env`'s account; RoleNotAssumedError (an OperationError) when its role cannot be assumed."""
        return self.clients.for_environment(service, env)

    # --- a service's past (bot.timeline) ---------------------------------------------------------

    def service_alarms(self, target: Target) -> list[AlarmRef]:
        """The environment's alarms (any state) that belong to `target`'s service by the one rule
        (bot.alarm_services), as Platform.alarms lists them."""
        alarms = self.alarms(target.environment, include_ok=True)
        return [AlarmRef(alarm.name, alarm.arn) for alarm in alarms if alarm.service == target.name]

    def alarm_history(
        self, target: Target, alarms: Sequence[str], start: datetime, end: datetime, limit: int = 100
    ) -> tuple[list[AlarmStateChange], list[str]]:
        """The state changes of `alarms` between `start` and `end` (DescribeAlarmHistory, StateUpdate), at
        most `limit` per alarm, the newest; and the alarms that had more in the window (cut at `limit`)."""
        cloudwatch = self._client("cloudwatch", target.environment)
        changes: list[AlarmStateChange] = []
        cut: list[str] = []
        for name in alarms:
            kept = 0
            with aws_operation("Read the alarm history"):
                paginator = cloudwatch.get_paginator("describe_alarm_history")
                pages = paginator.paginate(
                    AlarmName=name,
                    AlarmTypes=["MetricAlarm", "CompositeAlarm"],
                    HistoryItemType="StateUpdate",
                    StartDate=start,
                    EndDate=end,
                    ScanBy="TimestampDescending",
                    PaginationConfig={"MaxItems": limit + 1, "PageSize": min(limit + 1, 100)},  # +1: one more?
                )
                for page in pages:
                    for item in page.get("AlarmHistoryItems", []):
                        if kept < limit:
                            changes.append(_state_change(name, item))
                        kept += 1
            if kept > limit:
                cut.append(name)
        return changes, cut

    def service_events(self, target: Target, start: datetime, end: datetime) -> tuple[list[ServiceEvent], bool]:
        """What ECS says happened to the service between `start` and `end`: its service events (the newest
        100 ECS keeps) and the start and end of each deployment it still lists; and whether ECS's events may
        not reach back to `start` (it holds 100 and the oldest is later)."""
        raw = self._described([target]).get((target.cluster, target.ecs_service))
        if raw is None:
            raise OperationError(
                "Describe ECS service",
                f"{target.ecs_service} is not an active service in cluster {target.cluster}",
                "Check the service with /status and the bot's config (naming, environments).",
                "ServiceNotFoundException",
            )
        low, high = start.timestamp(), end.timestamp()
        held = [_epoch(e.get("createdAt")) for e in raw.get("events", [])]
        cut = len(held) >= ECS_EVENTS_KEPT and min(held) > low
        events = [
            ServiceEvent(_epoch(e.get("createdAt")), str(e.get("message", "")))
            for e in raw.get("events", [])
            if low <= _epoch(e.get("createdAt")) <= high
        ]
        for deployment in raw.get("deployments", []):
            ident = str(deployment.get("id", ""))
            revision = str(deployment.get("taskDefinition", "")).rpartition("/")[2]
            created, updated = _epoch(deployment.get("createdAt")), _epoch(deployment.get("updatedAt"))
            if low <= created <= high:
                events.append(ServiceEvent(created, f"deployment {ident} of {revision} started", ident))
            rollout = str(deployment.get("rolloutState") or "")
            if rollout in {"COMPLETED", "FAILED"} and low <= updated <= high and updated > created:
                reason = str(deployment.get("rolloutStateReason") or "")
                events.append(
                    ServiceEvent(updated, f"deployment {ident} of {revision} {rollout}: {reason}".rstrip(": "), ident)
                )
        return sorted(events, key=lambda e: e.at), cut

    # --- ECS services ---------------------------------------------------------------------------

    def describe(self, targets: Sequence[Target]) -> list[ServiceState]:
        """State of each target, in order; ceil(n/10) DescribeServices calls per cluster."""
        found = self._described(targets)
        return [_service_state(t, found.get((t.cluster, t.ecs_service))) for t in targets]

    def _described(self, targets: Sequence[Target]) -> dict[tuple[str, str], dict[str, Any]]:
        """DescribeServices' answer for each target found, by (cluster, ECS service name)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        by_cluster: dict[tuple[str, str], list[Target]] = {}
        for target in targets:
            by_cluster.setdefault((target.env, target.cluster), []).append(target)
        for (_, cluster), group in by_cluster.items():
            with aws_operation("Describe ECS services"):  # the client may assume the environment's role
                ecs = self._client("ecs", group[0].environment)
            for start in range(0, len(group), DESCRIBE_SERVICES_BATCH):
                batch = group[start : start + DESCRIBE_SERVICES_BATCH]
                with aws_operation("Describe ECS services"):
                    response = ecs.describe_services(cluster=cluster, services=[t.ecs_service for t in batch])
                for service in response.get("services", []):
                    found[(cluster, service["serviceName"])] = service
        return found

    def service(self, target: Target) -> ServiceState:
        state = self.describe([target])[0]
        if not state.exists:
            raise OperationError(
                "Describe ECS service",
                f"{target.ecs_service} is not an active service in cluster {target.cluster}",
                "Check the service with /status and the bot's config (naming, environments).",
                "ServiceNotFoundException",
            )
        return state

    def task_definition(self, target: Target, arn: str) -> dict[str, Any]:
        ecs = self._client("ecs", target.environment)
        with aws_operation("Describe task definition"):
            definition: dict[str, Any] = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        return definition

    def container_image(self, target: Target, definition: dict[str, Any]) -> str:
        for container in definition.get("containerDefinitions", []):
            if container.get("name") == target.container:
                return str(container["image"])
        raise OperationError(
            "Read task definition",
            f"{definition.get('family')}:{definition.get('revision')} has no container named {target.container!r}",
            "Set the service's `container` in the bot's config to the container that runs the service.",
        )

    def family_revisions(self, target: Target) -> list[str]:
        """ACTIVE revisions of the service's family, oldest first."""
        ecs = self._client("ecs", target.environment)
        arns: list[str] = []
        with aws_operation("List task definitions"):
            paginator = ecs.get_paginator("list_task_definitions")
            for page in paginator.paginate(familyPrefix=target.task_family, status="ACTIVE"):
                arns.extend(page.get("taskDefinitionArns", []))
        return sorted(arns, key=lambda arn: int(arn.rpartition(":")[2]))

    def register_revision(self, target: Target, definition: dict[str, Any], image: str) -> str:
        """Register a copy of `definition` whose service container runs `image`; returns its ARN."""
        request = {k: v for k, v in definition.items() if k not in _READ_ONLY_TASK_DEFINITION_FIELDS}
        containers = []
        for container in request.get("containerDefinitions", []):
            if container.get("name") == target.container:
                container = {**container, "image": image}
                environment = [e for e in container.get("environment", []) if e.get("name") != "APP_VERSION"]
                environment.append({"name": "APP_VERSION", "value": image.rpartition(":")[2]})
                container["environment"] = environment
            containers.append(container)
        request["containerDefinitions"] = containers
        ecs = self._client("ecs", target.environment)
        with aws_operation("Register task definition"):
            arn: str = ecs.register_task_definition(**request)["taskDefinition"]["taskDefinitionArn"]
        return arn

    def deregister_revision(self, target: Target, arn: str) -> None:
        ecs = self._client("ecs", target.environment)
        with aws_operation("Deregister task definition"):
            ecs.deregister_task_definition(taskDefinition=arn)

    def update_service(
        self, target: Target, *, task_definition: str | None = None, desired_count: int | None = None
    ) -> ServiceState:
        kwargs: dict[str, Any] = {"cluster": target.cluster, "service": target.ecs_service}
        if task_definition is not None:
            kwargs["taskDefinition"] = task_definition
        if desired_count is not None:
            kwargs["desiredCount"] = desired_count
        ecs = self._client("ecs", target.environment)
        with aws_operation("Update ECS service"):
            service = ecs.update_service(**kwargs)["service"]
        return _service_state(target, service)

    # --- ECR ------------------------------------------------------------------------------------

    def image_tags(self, target: Target) -> list[ImageTag]:
        """Every tag in the service's repository, newest push first."""
        ecr = self._client("ecr", target.environment)
        tags: list[ImageTag] = []
        with aws_operation("List ECR images"):
            paginator = ecr.get_paginator("describe_images")
            for page in paginator.paginate(repositoryName=target.ecr_repository, filter={"tagStatus": "TAGGED"}):
                for image in page.get("imageDetails", []):
                    pushed = image.get("imagePushedAt") or datetime.fromtimestamp(0).astimezone()
                    tags.extend(ImageTag(tag, pushed) for tag in image.get("imageTags", []))
        return sorted(tags, key=lambda t: (t.pushed_at, t.tag), reverse=True)

    def tag_exists(self, target: Target, tag: str) -> bool:
        return self.image_exists(target, tag)

    def image_exists(self, target: Target, reference: str) -> bool:
        """Whether the service's repository still holds an image, by tag or by digest ("sha256:...")."""
        image_id = {"imageDigest": reference} if reference.startswith("sha256:") else {"imageTag": reference}
        ecr = self._client("ecr", target.environment)
        try:
            with aws_operation("Look up ECR image"):
                ecr.describe_images(repositoryName=target.ecr_repository, imageIds=[image_id])
        except OperationError as error:
            if error.code == "ImageNotFoundException":
                return False
            raise
        return True

    # --- Application Auto Scaling ----------------------------------------------------------------

    def scaling_bounds(self, target: Target) -> ScalingBounds | None:
        aas = self._client("application-autoscaling", target.environment)
        with aws_operation("Describe scalable target"):
            found = aas.describe_scalable_targets(
                ServiceNamespace="ecs",
                ResourceIds=[_resource_id(target)],
                ScalableDimension="ecs:service:DesiredCount",
            )["ScalableTargets"]
        if not found:
            return None
        return ScalingBounds(int(found[0]["MinCapacity"]), int(found[0]["MaxCapacity"]))

    def set_scaling_bounds(self, target: Target, bounds: ScalingBounds) -> None:
        aas = self._client("application-autoscaling", target.environment)
        with aws_operation("Update scalable target"):
            aas.register_scalable_target(
                ServiceNamespace="ecs",
                ResourceId=_resource_id(target),
                ScalableDimension="ecs:service:DesiredCount",
                MinCapacity=bounds.min_capacity,
                MaxCapacity=bounds.max_capacity,
            )

    # --- CloudWatch ------------------------------------------------------------------------------

    def alarms(self, env: EnvironmentConfig, *, include_ok: bool = False) -> list[Alarm]:
        """The platform's alarms that are not OK (or all of them), each mapped to its service by the rule
        the alarm cards use (bot.alarm_services; the target groups and an alarm's tags are read only for an
        alarm that needs them)."""
        cloudwatch = self._client("cloudwatch", env)
        prefix = f"{self.config.project}-{env.name}-"
        groups: dict[str, str] | None = None

        def target_groups(env: EnvironmentConfig) -> dict[str, str]:
            nonlocal groups
            if groups is None:
                try:
                    groups = self.target_groups(env)
                except OperationError:  # as the relay: the list is still worth more than the mapping
                    log.warning("could not read the target groups of %s's services", env.name, exc_info=True)
                    groups = {}
            return groups

        alarms: list[Alarm] = []
        with aws_operation("Describe alarms"):
            paginator = cloudwatch.get_paginator("describe_alarms")
            for page in paginator.paginate(AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm", "CompositeAlarm"]):
                for raw in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                    if not include_ok and raw.get("StateValue") == "OK":
                        continue
                    service = service_of_alarm(
                        self.config,
                        env,
                        raw["AlarmName"],
                        _dimensions(raw),
                        str(raw.get("AlarmArn", "")),
                        target_groups=target_groups,
                        tags=self.alarm_tags,
                    )
                    alarms.append(
                        Alarm(
                            name=raw["AlarmName"],
                            state=raw.get("StateValue", "INSUFFICIENT_DATA"),
                            reason=raw.get("StateReason", ""),
                            updated_at=raw.get("StateUpdatedTimestamp"),
                            service=service,
                            arn=str(raw.get("AlarmArn", "")),
                        )
                    )
        return alarms

    def alarm_tags(self, env: EnvironmentConfig, arn: str) -> dict[str, str]:
        """An alarm's tags (alarms.service_tag_key, routing.severity_tag_key), kept for the life of the
        container; {} when they cannot be read (logged): the alarm is then mapped without them."""
        if arn not in self._tags:
            try:
                with aws_operation("Read the alarm's tags"):
                    tags = self._client("cloudwatch", env).list_tags_for_resource(ResourceARN=arn).get("Tags", [])
            except OperationError as error:
                log.warning("could not read the tags of %s: %s", arn, error, exc_info=True)
                return {}
            self._tags[arn] = {str(t["Key"]): str(t["Value"]) for t in tags}
        return self._tags[arn]

    def target_groups(self, env: EnvironmentConfig) -> dict[str, str]:
        """The target groups the environment's services are registered with, as CloudWatch's TargetGroup
        dimension names them (`targetgroup/<name>/<id>`, the end of the ARN), each to its service: from
        DescribeServices' loadBalancers, ceil(n/10) calls per cluster."""
        targets = self.config.targets(env.name)
        described = self._described(targets)
        found: dict[str, str] = {}
        for target in targets:
            service = described.get((target.cluster, target.ecs_service))
            if service is None or service.get("status") == "INACTIVE":
                continue
            for balancer in service.get("loadBalancers", []):
                arn = str(balancer.get("targetGroupArn", ""))
                if arn.count(":") >= 5:
                    found[arn.split(":", 5)[5]] = target.name
        return found

    # --- CloudWatch Logs -------------------------------------------------------------------------

    def log_lines(
        self, target: Target, since: timedelta, pattern: str | None, limit: int, until: datetime | None = None
    ) -> list[LogLine]:
        """The newest `limit` lines of the service's log group in the window, oldest first (see read_logs)."""
        return self.read_logs(target, since, pattern, limit, until).lines

    def read_logs(
        self, target: Target, since: timedelta, pattern: str | None, limit: int, until: datetime | None = None
    ) -> LogRead:
        """The newest `limit` lines of the service's log group in the window ending `until` (default now),
        oldest first; `pattern` is a CloudWatch filter pattern, passed as typed.

        FilterLogEvents returns the OLDEST events of its time range first (at most 1 MB or 10,000 a page,
        and a page may be empty while more remain), so reading the window forward shows its start on a busy
        service. The read goes backwards instead: the whole window first (one call when it holds few
        lines), then, while a window holds more than LOG_WINDOW_EVENTS events, a shorter one ending at the
        same time (sized from the rate of the events seen; a quarter as long if its search was still going
        after MAX_WINDOW_PAGES pages), and each earlier one wider, until `limit` lines are found or the
        window's start is reached. Bounded by MAX_LOG_CALLS calls and LOG_READ_SECONDS; if the budget runs
        out first, the lines found are still the newest, and LogRead.searched_from says how far back.
        (Logs Insights was the other way: asynchronous, billed per GB scanned over the whole window, its
        own query language, which a CloudWatch filter pattern as typed does not carry over to, and moto
        ignores its `filter`; this keeps the filter pattern's meaning and the one FilterLogEvents grant.)
        """
        logs = self._client("logs", target.environment)
        end = until or datetime.fromtimestamp(self.clock(), UTC)
        end_ms = int(end.timestamp() * 1000)
        search = _BackwardSearch(logs, target.log_group, pattern)
        with aws_operation("Read logs"):
            events, searched_from = search.newest(end_ms - int(since.total_seconds() * 1000), end_ms, limit)
        events.sort(key=lambda event: int(event["timestamp"]))  # stable: the API's order within a millisecond
        lines = [
            LogLine(
                timestamp=datetime.fromtimestamp(int(event["timestamp"]) / 1000, UTC),
                message=str(event.get("message", "")).rstrip("\n"),
                stream=str(event.get("logStreamName", "")),
            )
            for event in events[-limit:]
        ]
        stopped = None if searched_from is None else datetime.fromtimestamp(searched_from / 1000, UTC)
        return LogRead(lines, stopped)

    # --- CloudWatch metric graphs (the alarm card's graph, bot.alarms.graph) -----------------------------

    def metric_widget_image(self, env: EnvironmentConfig, widget_json: str) -> bytes:
        """The PNG CloudWatch draws for a MetricWidget JSON document (GetMetricWidgetImage)."""
        with aws_operation("Draw the metric graph"):
            response = self._client("cloudwatch", env).get_metric_widget_image(
                MetricWidget=widget_json, OutputFormat="png"
            )
        return bytes(response["MetricWidgetImage"])

    def alarm_states(self, env: EnvironmentConfig, names: Sequence[str]) -> dict[str, str]:
        """The state of each named alarm that exists, metric or composite (a composite alarm card's children):
        DescribeAlarms by name, one call for up to 100 names (more are left out)."""
        found: dict[str, str] = {}
        if not names:
            return found
        with aws_operation("Describe alarms"):
            paginator = self._client("cloudwatch", env).get_paginator("describe_alarms")
            pages = paginator.paginate(AlarmNames=list(names)[:100], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
            for page in pages:
                for raw in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                    found[str(raw["AlarmName"])] = str(raw.get("StateValue", ""))
        return found


# Reading logs backwards (Platform.read_logs). A window holding at most this many events is read whole;
# one holding more is narrowed towards its end. Also each call's `limit`: one page in real AWS unless the
# lines are longer than 5 KB each (a page is at most 1 MB).
LOG_WINDOW_EVENTS = 200
MAX_LOG_CALLS = 12  # FilterLogEvents calls per read
# A window whose search has not ended after this many pages (pages may be empty while CloudWatch scans a
# large group) is narrowed too: a shorter range scans sooner, and only its newest part is wanted anyway.
MAX_WINDOW_PAGES = 3
LOG_READ_SECONDS = 20.0  # well inside the Slack function's 120 s; the user is waiting


class _Outcome(Enum):
    WHOLE = "whole"  # every event of the window was read
    TOO_MANY = "too many"  # more than LOG_WINDOW_EVENTS: the events read are the window's oldest
    SLOW = "slow"  # MAX_WINDOW_PAGES pages and not done: the events read are the window's oldest
    OUT_OF_BUDGET = "out of budget"


class _BackwardSearch:
    def __init__(self, logs: Any, log_group: str, pattern: str | None) -> None:
        self.logs = logs
        self.log_group = log_group
        self.pattern = pattern
        self.calls = 0
        self.deadline = time.monotonic() + LOG_READ_SECONDS

    def newest(self, start: int, end: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
        """At least `limit` newest events of [start, end] (milliseconds, both ends included), or all of them;
        and None, or the millisecond from which every event was found if the budget ran out first."""
        found: list[dict[str, Any]] = []  # every event of (high, end]
        high = end
        span = ceiling = end - start + 1  # spans stay within the ceiling: the span narrowed to when a search was slow
        while high >= start and len(found) < limit:
            low = max(start, high - span + 1)
            events, outcome = self._window(low, high)
            if outcome is _Outcome.OUT_OF_BUDGET:
                return found, high + 1
            if outcome is _Outcome.WHOLE or low == high:  # a millisecond with too many events: take them
                found = events + found
                high = low - 1
                span = min(ceiling, _wider(span, len(events), limit - len(found)))
            elif outcome is _Outcome.TOO_MANY:
                span = _narrower(low, high, events, limit - len(found))
            else:
                span = ceiling = max(1, (high - low + 1) // 4)
        return found, None

    def _window(self, low: int, high: int) -> tuple[list[dict[str, Any]], _Outcome]:
        kwargs: dict[str, Any] = {
            "logGroupName": self.log_group,
            "startTime": low,
            "endTime": high,
            "limit": LOG_WINDOW_EVENTS,
        }
        if self.pattern:
            kwargs["filterPattern"] = self.pattern
        events: list[dict[str, Any]] = []
        pages = 0
        while True:
            if self.calls >= MAX_LOG_CALLS or time.monotonic() > self.deadline:
                return events, _Outcome.OUT_OF_BUDGET
            response = self.logs.filter_log_events(**kwargs)
            self.calls += 1
            pages += 1
            events.extend(response.get("events", []))
            token = response.get("nextToken")
            if not token:
                return events, _Outcome.WHOLE
            if len(events) >= LOG_WINDOW_EVENTS:  # that many, and more to come
                return events, _Outcome.TOO_MANY
            if pages >= MAX_WINDOW_PAGES and high > low:
                return events, _Outcome.SLOW
            kwargs["nextToken"] = token


def _narrower(low: int, high: int, oldest: list[dict[str, Any]], need: int) -> int:
    """A span ending at `high` that should hold about twice `need` events, from the rate of the window's
    oldest events; at most a quarter of the window, so that a rate misjudged (the lines come faster towards
    the end, as in an incident) still narrows the search quickly."""
    stamps = sorted(int(event["timestamp"]) for event in oldest)
    rate = len(stamps) / (stamps[-1] - stamps[0] + 1)  # events per millisecond
    return max(1, min((high - low + 1) // 4, math.ceil(2 * need / rate)))


def _wider(span: int, got: int, need: int) -> int:
    """The next (earlier) window's span after one of `span` ms held `got` events: sized for twice `need`,
    from 2 to 8 times as wide (a quiet stretch is crossed quickly, a busy one is not overshot)."""
    if got == 0:
        return 8 * span
    return max(2 * span, min(8 * span, math.ceil(2 * need * span / got)))


def _dimensions(raw: dict[str, Any]) -> list[Dimension]:
    """Every dimension of a described alarm's metrics: its own, and a metric math alarm's metrics'."""
    listed = list(raw.get("Dimensions") or [])
    for query in raw.get("Metrics") or []:
        listed.extend(((query.get("MetricStat") or {}).get("Metric") or {}).get("Dimensions") or [])
    return [Dimension(str(d["Name"]), str(d["Value"])) for d in listed if "Name" in d and "Value" in d]


def _epoch(moment: Any) -> float:
    """A time as boto3 returns it (an aware datetime), or epoch seconds; 0.0 when there is none."""
    if isinstance(moment, datetime):
        return moment.timestamp()
    return float(moment) if isinstance(moment, int | float) else 0.0


def _state_change(alarm: str, item: dict[str, Any]) -> AlarmStateChange:
    """A StateUpdate history item: its HistoryData's old and new state, else its summary's words."""
    try:
        data = json.loads(str(item.get("HistoryData") or "{}"))
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    old, new = data.get("oldState"), data.get("newState")
    old, new = (old if isinstance(old, dict) else {}), (new if isinstance(new, dict) else {})
    summary = str(item.get("HistorySummary", ""))
    words = summary.rsplit(" ", 3)  # "Alarm updated from OK to ALARM"
    guessed = (words[-3], words[-1]) if len(words) == 4 and words[-2] == "to" else ("", "")
    return AlarmStateChange(
        alarm=alarm,
        at=_epoch(item.get("Timestamp")),
        old_state=str(old.get("stateValue") or guessed[0]),
        new_state=str(new.get("stateValue") or guessed[1]),
        reason=str(new.get("stateReason") or summary),
    )


def _resource_id(target: Target) -> str:
    return f"service/{target.cluster}/{target.ecs_service}"


def _service_state(target: Target, raw: dict[str, Any] | None) -> ServiceState:
    if raw is None or raw.get("status") == "INACTIVE":
        return ServiceState(name=target.name, env=target.env, exists=False)
    primary = next((d for d in raw.get("deployments", []) if d.get("status") == "PRIMARY"), None) or {}
    return ServiceState(
        name=target.name,
        env=target.env,
        exists=True,
        status=str(raw.get("status", "ACTIVE")),
        desired=int(raw.get("desiredCount", 0)),
        running=int(raw.get("runningCount", 0)),
        pending=int(raw.get("pendingCount", 0)),
        task_definition=str(raw.get("taskDefinition", "")),
        rollout_state=primary.get("rolloutState"),
        rollout_reason=primary.get("rolloutStateReason"),
        deployment_id=primary.get("id"),
        updated_at=primary.get("updatedAt"),
        arn=str(raw.get("serviceArn", "")),
    )
