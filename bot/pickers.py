"""The choices a form (bot.modals) loads once environment and service are picked, read as the typed commands
read them: the ECR tags /deploy looks up (the running one and the known-bad ones marked, from the revision
history, and in a protected environment the pre-releases, which /deploy without a tag skips), the counts and
bounds /scale plans against, the known-good revisions /rollback chooses from. Only for a person the typed
/status would answer (the viewer role in the environment, from a channel it allows): the rest see why not.
"""

from __future__ import annotations

from bot.access import AccessPolicy
from bot.config import Config, Role, Target
from bot.errors import BotError
from bot.history import RevisionHistory
from bot.modals import MAX_OPTIONS, Choices, RevisionChoice, TagChoice
from bot.model import revision_of, tag_of
from bot.plans import PRE_RELEASE
from bot.platform import Platform
from bot.slack_text import escape


class Pickers:
    def __init__(self, config: Config, platform: Platform, history: RevisionHistory, access: AccessPolicy) -> None:
        self.config = config
        self.platform = platform
        self.history = history
        self.access = access

    def choices(self, kind: str, env: str, service: str, user: str, channel: str) -> Choices:
        """The choices of form `kind` for `service` in `env`, as `user` may read them from `channel` (the form's:
        the command's channel); a refusal or a failure is a Choices with its problem (nothing read)."""
        try:
            decision = self.access.check(user, channel, env, Role.VIEWER)
            if not decision.allowed:
                return Choices(kind, env, service, problem=decision.reason)
            target = self.config.target(service, env)
            if kind == "deploy":
                return self._deploy(target)
            if kind == "rollback":
                return self._rollback(target)
            return self._scale(target)
        except BotError as error:
            problem = f"Could not load the choices: {error.message}"
            return Choices(kind, env, service, problem=problem + (f" {error.hint}" if error.hint else ""))

    def _deploy(self, target: Target) -> Choices:
        current = self.platform.service(target)
        image = self.platform.container_image(target, self.platform.task_definition(target, current.task_definition))
        running = tag_of(image)
        bad = {r.tag: r for r in self.history.revisions(target.env, target.name) if r.bad and r.tag}
        tags = []
        for found in self.platform.image_tags(target):
            if found.tag.lower() == "latest":
                continue
            record = bad.get(found.tag)
            outcome = "" if record is None else ("rolled back from" if record.rolled_back_at is not None else "failed")
            early = target.environment.protected and PRE_RELEASE.match(found.tag) is not None
            tags.append(TagChoice(found.tag, found.pushed_at.timestamp(), found.tag == running, outcome, early))
            if len(tags) == MAX_OPTIONS:
                break
        return Choices(
            "deploy",
            target.env,
            target.name,
            tags=tuple(tags),
            current_revision=current.revision,
            current_tag=running,
        )

    def _rollback(self, target: Target) -> Choices:
        current = self.platform.service(target)
        revisions = self.history.revisions(target.env, target.name)
        below = revision_of(current.task_definition)
        good = [r for r in revisions if r.known_good and r.number < below]
        image = self.platform.container_image(target, self.platform.task_definition(target, current.task_definition))
        return Choices(
            "rollback",
            target.env,
            target.name,
            revisions=tuple(RevisionChoice(r.number, r.tag, r.deployed_by, r.deployed_at or r.ran_at) for r in good),
            current_revision=current.revision,
            current_tag=tag_of(image),
        )

    def _scale(self, target: Target) -> Choices:
        current = self.platform.service(target)
        bounds = self.platform.scaling_bounds(target)
        return Choices(
            "scale",
            target.env,
            target.name,
            running=current.running,
            desired=current.desired,
            autoscaling=(bounds.min_capacity, bounds.max_capacity) if bounds is not None else None,
        )


def unexpected(kind: str, env: str, service: str) -> Choices:
    """What a form shows when loading its choices failed for a reason of the bot's own (logged)."""
    return Choices(
        kind,
        env,
        service,
        problem=f"Could not load the choices of *{escape(service)}* in *{escape(env)}*; "
        "the details are in the bot's logs. Pick again, or type the command.",
    )
