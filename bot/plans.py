"""Planning a change: read the platform and say exactly what a deploy, rollback or scale would do.

Planning only reads. The plan is data (bot.model.Plan): what will change, old -> new, and the state it
was made against, so that confirming it later can tell whether the service moved in between.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from bot.commands import Deploy, Rollback, Scale
from bot.config import Config, Target
from bot.errors import BotError, UsageError
from bot.model import (
    Action,
    Change,
    Plan,
    ScalingBounds,
    ServiceState,
    family_of,
    revision_of,
    tag_of,
    with_tag,
)
from bot.platform import Platform
from bot.state import StateStore

NEWEST_TAGS_SHOWN = 5


@dataclass(frozen=True, slots=True)
class Requester:
    user: str
    channel: str
    key: str  # Slack's natural key for this request: trigger_id, or message ts + action + value
    message_ts: str | None = None  # the card a button was clicked on


def plan_id(key: str) -> str:
    """The same Slack request always makes the same plan (a retried request cannot make two)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class Planner:
    def __init__(self, config: Config, platform: Platform, state: StateStore) -> None:
        self.config = config
        self.platform = platform
        self.state = state

    def plan(self, command: Deploy | Rollback | Scale, who: Requester) -> Plan:
        target = self.config.target(command.service, command.env)
        current = self.platform.service(target)
        if isinstance(command, Deploy):
            plan = self._deploy(target, current, command.tag, who)
        elif isinstance(command, Rollback):
            plan = self._rollback(target, current, command.revision, who)
        else:
            plan = self._scale(target, current, command.count, who)
        plan.alarms = [a.name for a in self.platform.alarms(target.environment) if a.service == target.name]
        lock = self.state.lock(target.env, target.name)
        if lock is not None:
            plan.lock_holder, plan.lock_reason = lock.holder, lock.reason
        return plan

    def _new_plan(self, action: Action, target: Target, current: ServiceState, who: Requester) -> Plan:
        now = time.time()
        return Plan(
            id=plan_id(who.key),
            action=action,
            env=target.env,
            service=target.name,
            requested_by=who.user,
            channel=who.channel,
            created_at=now,
            expires_at=now + 60 * target.environment.plan_ttl_minutes,
            changes=[],
            from_task_definition=current.task_definition,
            from_desired=current.desired,
        )

    # --- deploy ----------------------------------------------------------------------------------

    def _deploy(self, target: Target, current: ServiceState, tag: str | None, who: Requester) -> Plan:
        definition = self.platform.task_definition(target, current.task_definition)
        current_image = self.platform.container_image(target, definition)
        note = None
        if tag is None:
            tags = [t for t in self.platform.image_tags(target) if t.tag.lower() != "latest"]
            if not tags:
                raise BotError(
                    f"The repository {target.ecr_repository} has no tagged images to deploy.",
                    "Push an image tagged with a version (scripts/push-images.sh), then deploy it.",
                )
            tag = tags[0].tag
            note = f"no tag given: {tag} is the newest pushed tag"
        elif not self.platform.tag_exists(target, tag):
            newest = [t.tag for t in self.platform.image_tags(target) if t.tag.lower() != "latest"]
            shown = ", ".join(f"`{t}`" for t in newest[:NEWEST_TAGS_SHOWN]) or "none"
            raise UsageError(
                f"Tag `{tag}` is not in the ECR repository {target.ecr_repository}.",
                f"Newest tags: {shown}.",
            )
        current_tag = tag_of(current_image)
        if tag == current_tag:
            raise BotError(
                f"{target.name} ({target.env}) already runs `{tag}` (revision {current.revision}).",
                "Nothing to deploy; name another tag.",
            )
        plan = self._new_plan(Action.DEPLOY, target, current, who)
        plan.image = with_tag(current_image, tag)
        family = family_of(current.task_definition)
        plan.changes = [
            Change("image", current_tag or current_image, tag),
            Change("task definition", f"{family}:{current.revision}", f"{family}:new revision"),
        ]
        plan.note = note
        return plan

    # --- rollback ----------------------------------------------------------------------------------

    def _rollback(self, target: Target, current: ServiceState, revision: int | None, who: Requester) -> Plan:
        family = family_of(current.task_definition)
        note = None
        if revision is not None:
            if revision == current.revision:
                raise BotError(f"{target.name} already runs revision {revision}.", "Name an earlier revision.")
            wanted = f"{family}:{revision}"
            definition = self.platform.task_definition(target, wanted)
            if definition.get("status") != "ACTIVE":
                raise BotError(
                    f"Revision {revision} of {family} is {str(definition.get('status', 'unknown')).lower()}.",
                    "Only ACTIVE revisions can be deployed; pick another with `/rollback <service> <revision>`.",
                )
            to_arn = str(definition["taskDefinitionArn"])
        else:
            ran_before = self._previous_that_ran(target, current)
            if ran_before is not None:
                to_arn = ran_before
            else:
                active = [a for a in self.platform.family_revisions(target) if revision_of(a) < current.revision]
                if not active:
                    raise BotError(
                        f"There is no earlier revision of {family} to roll back to.",
                        "Name a revision: `/rollback <service> <revision>`.",
                    )
                to_arn = active[-1]
                note = "no record of which revisions ran; chose the newest earlier ACTIVE revision"
            definition = self.platform.task_definition(target, to_arn)
        old_image = self.platform.container_image(
            target, self.platform.task_definition(target, current.task_definition)
        )
        new_image = self.platform.container_image(target, definition)
        plan = self._new_plan(Action.ROLLBACK, target, current, who)
        plan.to_task_definition = to_arn
        plan.image = new_image
        plan.changes = [
            Change("image", tag_of(old_image) or old_image, tag_of(new_image) or new_image),
            Change("task definition", f"{family}:{current.revision}", f"{family}:{revision_of(to_arn)}"),
        ]
        plan.note = note
        return plan

    def _previous_that_ran(self, target: Target, current: ServiceState) -> str | None:
        for arn in self.state.ran_revisions(target.env, target.name):
            if arn != current.task_definition and family_of(arn) == family_of(current.task_definition):
                return arn
        return None

    # --- scale -------------------------------------------------------------------------------------

    def _scale(self, target: Target, current: ServiceState, count: int | None, who: Requester) -> Plan:
        bounds = self.platform.scaling_bounds(target)
        plan = self._new_plan(Action.SCALE, target, current, who)
        plan.from_scaling = bounds
        if count is None:
            if bounds is None:
                raise UsageError(
                    f"{target.name} ({target.env}) has no autoscaling target, so `auto` has nothing to hand back to.",
                    "Give a task count instead.",
                )
            restored = ScalingBounds(target.service.min_tasks, bounds.max_capacity)
            if restored == bounds:
                raise BotError(
                    f"{target.name} is already on autoscaling with its configured minimum {bounds.min_capacity}.",
                    "Nothing to change.",
                )
            plan.scaling = restored
            plan.changes = [Change("autoscaling min", str(bounds.min_capacity), str(restored.min_capacity))]
            plan.note = "autoscaling sets the desired count from here on"
            return plan
        plan.desired_count = count
        plan.changes = [Change("desired tasks", str(current.desired), str(count))]
        if bounds is not None:
            # Pin autoscaling's floor to the new count, so it neither scales in below it nor undoes it at once.
            wanted = ScalingBounds(count, max(bounds.max_capacity, count))
            if wanted != bounds:
                plan.scaling = wanted
                if wanted.min_capacity != bounds.min_capacity:
                    plan.changes.append(Change("autoscaling min", str(bounds.min_capacity), str(count)))
                if wanted.max_capacity != bounds.max_capacity:
                    plan.changes.append(Change("autoscaling max", str(bounds.max_capacity), str(count)))
            plan.note = "`/scale <service> auto` hands it back to autoscaling"
        if count == current.desired and plan.scaling is None:
            raise BotError(f"{target.name} ({target.env}) already wants {count} tasks.", "Nothing to change.")
        return plan
