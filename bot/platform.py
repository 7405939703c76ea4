"""Operations on the ECS Fargate platform over boto3: reads, and the few mutations the bot makes.

Every method names its operation in errors (bot.errors.aws_operation), so a failure reaches Slack as
"Update ECS service failed: ..." with what to do, never as a traceback. Mutations are only called by
bot.operations, which checks who, confirms, runs once and audits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.aws import ClientFactory
from bot.config import Config, EnvironmentConfig, Target
from bot.errors import OperationError, aws_operation
from bot.model import Alarm, ImageTag, LogLine, ScalingBounds, ServiceState, utcnow

DESCRIBE_SERVICES_BATCH = 10  # the API's limit per call
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
    def __init__(self, config: Config, clients: ClientFactory) -> None:
        self.config = config
        self.clients = clients

    def _client(self, service: str, env: EnvironmentConfig) -> Any:
        return self.clients.client(service, env.region, env.role_arn)

    # --- ECS services ---------------------------------------------------------------------------

    def describe(self, targets: Sequence[Target]) -> list[ServiceState]:
        """State of each target, in order; ceil(n/10) DescribeServices calls per cluster."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        by_cluster: dict[tuple[str, str], list[Target]] = {}
        for target in targets:
            by_cluster.setdefault((target.env, target.cluster), []).append(target)
        for (_, cluster), group in by_cluster.items():
            ecs = self._client("ecs", group[0].environment)
            for start in range(0, len(group), DESCRIBE_SERVICES_BATCH):
                batch = group[start : start + DESCRIBE_SERVICES_BATCH]
                with aws_operation("Describe ECS services"):
                    response = ecs.describe_services(cluster=cluster, services=[t.ecs_service for t in batch])
                for service in response.get("services", []):
                    found[(cluster, service["serviceName"])] = service
        return [_service_state(t, found.get((t.cluster, t.ecs_service))) for t in targets]

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
        ecr = self._client("ecr", target.environment)
        try:
            with aws_operation("Look up ECR image"):
                ecr.describe_images(repositoryName=target.ecr_repository, imageIds=[{"imageTag": tag}])
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
        """The platform's alarms that are not OK (or all of them), each mapped to its service."""
        cloudwatch = self._client("cloudwatch", env)
        prefix = f"{self.config.project}-{env.name}-"
        alarms: list[Alarm] = []
        with aws_operation("Describe alarms"):
            paginator = cloudwatch.get_paginator("describe_alarms")
            for page in paginator.paginate(AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm", "CompositeAlarm"]):
                for raw in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                    if not include_ok and raw.get("StateValue") == "OK":
                        continue
                    alarms.append(
                        Alarm(
                            name=raw["AlarmName"],
                            state=raw.get("StateValue", "INSUFFICIENT_DATA"),
                            reason=raw.get("StateReason", ""),
                            updated_at=raw.get("StateUpdatedTimestamp"),
                            service=self.service_of_alarm(env.name, raw["AlarmName"], raw.get("Dimensions", [])),
                        )
                    )
        return alarms

    def service_of_alarm(self, env: str, alarm_name: str, dimensions: Iterable[dict[str, Any]] = ()) -> str | None:
        """Which configured service an alarm belongs to: by ServiceName dimension, else by name prefix."""
        targets = self.config.targets(env)
        for dimension in dimensions:
            if dimension.get("Name") == "ServiceName":
                for target in targets:
                    if dimension.get("Value") == target.ecs_service:
                        return target.name
        # Longest prefix first, so "svc-a-" does not claim "svc-a-worker-..." alarms.
        for target in sorted(targets, key=lambda t: len(t.alarm_prefix), reverse=True):
            if alarm_name.startswith(target.alarm_prefix):
                return target.name
        return None

    # --- CloudWatch Logs -------------------------------------------------------------------------

    def log_lines(
        self, target: Target, since: timedelta, pattern: str | None, limit: int, until: datetime | None = None
    ) -> list[LogLine]:
        """The newest `limit` lines of the service's log group in the window, oldest first."""
        logs = self._client("logs", target.environment)
        end = until or utcnow()
        kwargs: dict[str, Any] = {
            "logGroupName": target.log_group,
            "startTime": int((end - since).timestamp() * 1000),
            "endTime": int(end.timestamp() * 1000),
        }
        if pattern:
            kwargs["filterPattern"] = pattern
        lines: list[LogLine] = []
        pages = 0
        with aws_operation("Read logs"):
            while True:
                response = logs.filter_log_events(**kwargs)
                pages += 1
                for event in response.get("events", []):
                    lines.append(
                        LogLine(
                            timestamp=datetime.fromtimestamp(event["timestamp"] / 1000).astimezone(),
                            message=str(event.get("message", "")).rstrip("\n"),
                            stream=str(event.get("logStreamName", "")),
                        )
                    )
                token = response.get("nextToken")
                # Bounded: a chatty service cannot make /logs page through hours of logs.
                if not token or pages >= 5 or len(lines) >= 10 * limit:
                    break
                kwargs["nextToken"] = token
        lines.sort(key=lambda line: line.timestamp)
        return lines[-limit:]


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
