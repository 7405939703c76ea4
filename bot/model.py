"""Domain objects: what a service looks like, and a change to it as data (old -> new)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


def revision_of(task_definition_arn: str) -> int:
    """`arn:...:task-definition/family:42` -> 42 (0 when the ARN has no revision)."""
    _, _, number = task_definition_arn.rpartition(":")
    return int(number) if number.isdigit() else 0


def family_of(task_definition_arn: str) -> str:
    name = task_definition_arn.rpartition("/")[2]
    return name.rpartition(":")[0] or name


def tag_of(image: str) -> str:
    """Tag of an image reference; the digest when pinned by digest; "" when it has neither."""
    if "@" in image:
        return image.rpartition("@")[2]
    last = image.rpartition("/")[2]
    return last.rpartition(":")[2] if ":" in last else ""


def with_tag(image: str, tag: str) -> str:
    """The same repository, another tag (drops a digest or an old tag)."""
    base = image.partition("@")[0]
    head, slash, last = base.rpartition("/")
    repository = last.partition(":")[0]
    return f"{head}{slash}{repository}:{tag}"


@dataclass(frozen=True, slots=True)
class ServiceState:
    """One ECS service as DescribeServices reports it."""

    name: str
    env: str
    exists: bool
    status: str = "MISSING"
    desired: int = 0
    running: int = 0
    pending: int = 0
    task_definition: str = ""
    rollout_state: str | None = None
    rollout_reason: str | None = None
    deployment_id: str | None = None
    updated_at: datetime | None = None
    arn: str = ""

    @property
    def revision(self) -> int:
        return revision_of(self.task_definition)


@dataclass(frozen=True, slots=True)
class ScalingBounds:
    min_capacity: int
    max_capacity: int


@dataclass(frozen=True, slots=True)
class Alarm:
    name: str
    state: str
    reason: str
    updated_at: datetime | None
    service: str | None
    arn: str = ""


@dataclass(frozen=True, slots=True)
class LogLine:
    timestamp: datetime
    message: str
    stream: str


LOG_LINES = 50  # the newest lines a /logs answer or an alarm card's Show logs shows


@dataclass(frozen=True, slots=True)
class LogRead:
    """What a log read found: the newest lines of the window, oldest first. `searched_from` is set when the
    read stopped before it had them all (its call or time budget ran out): the lines are every line from
    then to the window's end, and the window's older part was not searched."""

    lines: list[LogLine]
    searched_from: datetime | None = None


@dataclass(frozen=True, slots=True)
class ImageTag:
    tag: str
    pushed_at: datetime


class Action(StrEnum):
    DEPLOY = "deploy"
    SCALE = "scale"
    ROLLBACK = "rollback"

    @property
    def verb(self) -> str:
        return {"deploy": "Deploy", "scale": "Scale", "rollback": "Roll back"}[self.value]


@dataclass(frozen=True, slots=True)
class Change:
    """One field that a plan changes: rendered as `label: old -> new`."""

    label: str
    old: str
    new: str


class PlanStatus(StrEnum):
    PENDING = "pending"
    EXECUTING = "executing"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class Plan:
    """What a mutating action will do, stored until it is confirmed, cancelled or expires (bot.stores.PlanStore
    keeps its JSON, by a pydantic Codec)."""

    id: str
    action: Action
    env: str
    service: str
    requested_by: str
    channel: str
    created_at: float
    expires_at: float
    changes: list[Change]
    # The state the plan was made against; confirming after it moved is refused (superseded).
    from_task_definition: str
    from_desired: int
    # What execution does.
    to_task_definition: str | None = None
    image: str | None = None
    desired_count: int | None = None
    scaling: ScalingBounds | None = None
    from_scaling: ScalingBounds | None = None
    # Context shown on the card.
    alarms: list[str] = field(default_factory=list)
    lock_holder: str | None = None
    lock_reason: str | None = None
    via: str | None = None  # a rollback's button or command (bot.history.RolledBackBy)
    from_alarm: str | None = None  # the alarm incident whose card's button asked for it (bot.alarms.actions)
    note: str | None = None
    status: PlanStatus = PlanStatus.PENDING
    message_ts: str | None = None
    confirmed_by: str | None = None

    def expired(self, now: float) -> bool:
        return now >= self.expires_at

    @property
    def summary(self) -> str:
        """One line: `/deploy service-a v1.4.2 (production)`-like, for audit and buttons."""
        detail = {
            Action.DEPLOY: tag_of(self.image or ""),
            Action.ROLLBACK: f"revision {revision_of(self.to_task_definition or '')}",
            Action.SCALE: "auto" if self.desired_count is None else str(self.desired_count),
        }[self.action]
        return f"{self.action.value} {self.service} {detail} ({self.env})"


# --- what happened to a service (bot.timeline) -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlarmRef:
    """One of a service's alarms (bot.alarm_services' rule), as DescribeAlarms names it."""

    name: str
    arn: str = ""

    @property
    def account(self) -> str:
        parts = self.arn.split(":")
        return parts[4] if len(parts) > 5 else ""

    @property
    def region(self) -> str:
        parts = self.arn.split(":")
        return parts[3] if len(parts) > 5 else ""


@dataclass(frozen=True, slots=True)
class AlarmStateChange:
    """One StateUpdate of DescribeAlarmHistory: AWS's words (the reason) are outside text."""

    alarm: str
    at: float
    old_state: str
    new_state: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ServiceEvent:
    """An ECS service event (DescribeServices' `events`) or a deployment's start or end (`deployments`)."""

    at: float
    message: str  # ECS's words: outside text
    deployment: str = ""  # the deployment's id, for a deployment's own line
