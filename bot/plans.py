"""Planning a change: read the platform and say exactly what a deploy, rollback or scale would do.

Planning only reads. The plan is data (bot.model.Plan): what will change, old -> new, and the state it
was made against, so that confirming it later can tell whether the service moved in between.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from bot.clock import Clock, system_clock
from bot.commands import Deploy, Rollback, Scale
from bot.config import Config, Target
from bot.deployments import DeployCards, RollingOutError
from bot.errors import BotError, UsageError
from bot.history import Revision, RevisionHistory, known, last_known_good
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
from bot.render import span
from bot.slack_text import escape
from bot.stores import LockStore

NEWEST_TAGS_SHOWN = 5
PRE_RELEASE = re.compile(r"^v?\d+(\.\d+)*-[0-9A-Za-z.-]+$")  # semver's pre-release: v1.4.0-rc1, 2.0.0-beta.2
# A private ECR image: "<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>(:<tag>|@<digest>)".
ECR_IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@]+)(?::([^@]+))?(?:@(.+))?$")


def ecr_reference(image: str, target: Target) -> str | None:
    """The tag or digest of `image` when it is in the service's own ECR repository (the one the bot may read),
    else None: an image elsewhere cannot be looked up, and ECS reports its pull failures itself."""
    found = ECR_IMAGE.match(image)
    if found is None:
        return None
    account, region, repository, tag, digest = found.groups()
    environment = target.environment
    if (account, region, repository) != (environment.account_id, environment.region, target.ecr_repository):
        return None
    return digest or tag


def _known_good_note(good: Revision, now: float) -> str:
    """ "last known-good: revision 3, `v1.2.0`, ran 2 d, deployed by @x"."""
    parts = [f"last known-good: revision {good.number}"]
    if good.tag:
        parts.append(f"`{escape(good.tag)}`")
    if good.ran_at is not None:
        parts.append(f"ran {span((good.replaced_at or now) - good.ran_at)}")
    if good.deployed_by:
        parts.append(f"deployed by <@{good.deployed_by}>")
    return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Requester:
    user: str
    channel: str
    key: str  # Slack's natural key for this request: trigger_id, or message ts + action + value
    message_ts: str | None = None  # the card a button was clicked on
    attempt: str = ""  # a click's action_ts: the same button pressed again is a new request, a redelivery is not


def plan_id(key: str) -> str:
    """The same Slack request always makes the same plan (a retried request cannot make two)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(eq=False)
class Planner:
    """`clock` dates a plan and its expiry: the clock Operations checks the expiry on."""

    config: Config
    platform: Platform
    locks: LockStore
    cards: DeployCards
    history: RevisionHistory
    clock: Clock = system_clock

    def plan(self, command: Deploy | Rollback | Scale, who: Requester) -> Plan:
        target = self.config.target(command.service, command.env)
        current = self.platform.service(target)
        if isinstance(command, Deploy):
            self.check_not_rolling_out(current)
        if isinstance(command, Deploy):
            plan = self._deploy(target, current, command.tag, who)
        elif isinstance(command, Rollback):
            plan = self._rollback(target, current, command.revision, who)
        else:
            plan = self._scale(target, current, command.count, who)
        plan.alarms = [a.name for a in self.platform.alarms(target.environment) if a.service == target.name]
        lock = self.locks.get(target.env, target.name)
        if lock is not None:
            plan.lock_holder, plan.lock_reason = lock.holder, lock.reason
        return plan

    def check_not_rolling_out(self, current: ServiceState) -> None:
        """One deploy of a service at a time: a second would take over the first one's card, which would then
        never end. (A rollback may interrupt a rollout: it is what an alarm during a deploy calls for, and it
        closes that rollout's card as superseded.)"""
        card = self.cards.get(current.arn) if current.arn else None
        if card is not None:
            raise RollingOutError(card)

    def _new_plan(self, action: Action, target: Target, current: ServiceState, who: Requester) -> Plan:
        now = self.clock()
        return Plan(
            id=plan_id(f"{who.key}:{who.attempt}" if who.attempt else who.key),
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
            tag, note = self._implicit_tag(target)
        elif not self.platform.tag_exists(target, tag):
            newest = [t.tag for t in self.platform.image_tags(target) if t.tag.lower() != "latest"]
            shown = ", ".join(f"`{escape(t)}`" for t in newest[:NEWEST_TAGS_SHOWN]) or "none"
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

    def _implicit_tag(self, target: Target) -> tuple[str, str]:
        """Without a tag: the newest pushed tag that never failed nor was rolled back from, and in a
        protected environment never a pre-release (v1.4.0-rc1); the note says which and why."""
        tags = [t.tag for t in self.platform.image_tags(target) if t.tag.lower() != "latest"]
        if not tags:
            raise BotError(
                f"The repository {target.ecr_repository} has no tagged images to deploy.",
                "Push an image tagged with a version (scripts/push-images.sh), then deploy it.",
            )
        bad = {r.tag: r for r in self.history.revisions(target.env, target.name) if r.bad and r.tag}
        skipped: list[str] = []
        for tag in tags:
            if tag in bad:
                skipped.append(f"`{escape(tag)}` ({bad[tag].outcome()})")
            elif target.environment.protected and PRE_RELEASE.match(tag):
                skipped.append(f"`{escape(tag)}` (a pre-release; name it to deploy it here)")
            else:
                why = (
                    f"newest pushed tag not known to be bad; skipped {', '.join(skipped)}"
                    if skipped
                    else ("newest pushed tag")
                )
                return tag, f"no tag given: `{escape(tag)}` is the {why}"
        raise BotError(
            f"No pushed tag of {target.name} can be deployed without naming it: {', '.join(skipped[:5])}.",
            "Name the tag to deploy: `/deploy <service> <tag>`.",
        )

    # --- rollback ----------------------------------------------------------------------------------

    def _rollback(self, target: Target, current: ServiceState, revision: int | None, who: Requester) -> Plan:
        family = family_of(current.task_definition)
        revisions = self.history.revisions(target.env, target.name)
        if revision is not None:
            to_arn, note = self._named_revision(target, current, revision, revisions)
        else:
            to_arn, note = self._rollback_target(target, current, revisions)
        definition = self.platform.task_definition(target, to_arn)
        new_image = self.platform.container_image(target, definition)
        self._check_image_in_ecr(target, to_arn, new_image, revisions)
        old_image = self.platform.container_image(
            target, self.platform.task_definition(target, current.task_definition)
        )
        plan = self._new_plan(Action.ROLLBACK, target, current, who)
        plan.to_task_definition = to_arn
        plan.image = new_image
        plan.changes = [
            Change("image", tag_of(old_image) or old_image, tag_of(new_image) or new_image),
            Change("task definition", f"{family}:{current.revision}", f"{family}:{revision_of(to_arn)}"),
        ]
        plan.note = note
        return plan

    def _named_revision(
        self, target: Target, current: ServiceState, revision: int, revisions: list[Revision]
    ) -> tuple[str, str | None]:
        family = family_of(current.task_definition)
        if revision == current.revision:
            raise BotError(f"{target.name} already runs revision {revision}.", "Name an earlier revision.")
        active = self.platform.family_revisions(target)
        wanted = next((arn for arn in active if revision_of(arn) == revision), None)
        if wanted is None:
            try:
                status = str(self.platform.task_definition(target, f"{family}:{revision}").get("status", "unknown"))
            except BotError:
                status = ""
            problem = f"revision {revision} is {status.lower()}" if status else f"has no revision {revision}"
            raise BotError(
                f"{target.name} ({target.env}) {problem}: only ACTIVE revisions can be rolled back to.",
                self._recent(target, active, revisions),
            )
        record = known(revisions, wanted)
        if record is not None and record.bad:
            tag = f" (`{escape(record.tag)}`)" if record.tag else ""
            raise BotError(
                f"Revision {revision}{tag} of {target.name} was {record.outcome()}: a rollback never goes back to it.",
                f"To release it again, deploy it on purpose: `/deploy {target.name} {escape(record.tag) or '<tag>'}`.",
            )
        return wanted, None

    def _rollback_target(
        self, target: Target, current: ServiceState, revisions: list[Revision]
    ) -> tuple[str, str | None]:
        """The last known-good revision below the current one; else the newest ACTIVE one below it that has
        no record at all (it ran before the bot), saying so; never one that failed or was rolled back from."""
        now = self.clock()
        good = last_known_good(revisions, current.task_definition)
        if good is not None:
            return good.task_definition, _known_good_note(good, now)
        active = self.platform.family_revisions(target)
        unknown = [arn for arn in active if revision_of(arn) < current.revision and known(revisions, arn) is None]
        if unknown:
            return unknown[-1], (
                f"no record of how revision {revision_of(unknown[-1])} ran (it is older than the bot's history): "
                "the newest earlier ACTIVE revision not known to be bad"
            )
        raise BotError(
            f"{target.name} ({target.env}) has no known-good revision below {current.revision} to roll back to.",
            self._recent(target, active, revisions),
        )

    def _check_image_in_ecr(self, target: Target, to_arn: str, image: str, revisions: list[Revision]) -> None:
        """ECR's lifecycle policy expires old images: a revision whose image is gone would start tasks that
        cannot pull it. Refuse before anything changes, saying what to do instead."""
        reference = ecr_reference(image, target)
        if reference is None or self.platform.image_exists(target, reference):
            return
        revision = revision_of(to_arn)
        again = (
            f"push it again (`make push TAG={escape(reference)}` from that commit; an expired tag is free) and "
            "roll back again"
            if not reference.startswith("sha256:")
            else "push it again and deploy it by tag (`/deploy " + target.name + " <tag>`)"
        )
        raise BotError(
            f"{target.name} ({target.env}): the image `{escape(reference)}` of revision {revision} is no longer in "
            f"ECR (repository {escape(target.ecr_repository)}: expired by its lifecycle policy, or deleted), so its "
            "tasks could not pull it. Nothing was changed.",
            f"Roll back to another revision: `/rollback {target.name} <revision>`, or {again}. "
            + self._recent(target, self.platform.family_revisions(target), revisions),
        )

    def _recent(self, target: Target, active: list[str], revisions: list[Revision]) -> str:
        """The newest revisions with their image and what became of them, for a person choosing one."""
        lines = []
        for arn in sorted(active, key=revision_of, reverse=True)[:NEWEST_TAGS_SHOWN]:
            record = known(revisions, arn)
            image = record.tag if record and record.tag else self._tag_of(target, arn)
            outcome = record.outcome() if record else "no record"
            lines.append(f"revision {revision_of(arn)} `{escape(image) or '?'}`: {outcome}")
        return "Recent revisions: " + ("; ".join(lines) if lines else "none ACTIVE") + "."

    def _tag_of(self, target: Target, arn: str) -> str:
        try:
            return tag_of(self.platform.container_image(target, self.platform.task_definition(target, arn)))
        except BotError:
            return ""

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
            plan.note = self.config.command_names.shown("`/scale <service> auto` hands it back to autoscaling")
        if count == current.desired and plan.scaling is None:
            raise BotError(f"{target.name} ({target.env}) already wants {count} tasks.", "Nothing to change.")
        return plan
