"""The App Home tab: the platform at a glance for each person (bot.home_view draws it), published with
views.publish when they open the tab (app_home_opened) and again, for the people who opened it lately,
after each change made in the Slack function: an operation that executed (Operations.on_executed), a lock
taken or released (ReadCommands.on_lock_change); a deployment that ended (DeploymentTracker.on_ended: the
deployments function's ECS event or the escalation function's sweep, whose roles may read all a home shows,
`can_refresh`).

Slack rate-limits views.publish per person, so a person's home is published at most once per `spacing`
seconds: each publish takes a slot in the person's record (a compare-and-set), and a change inside the
window reserves the next slot and waits for it, reading the platform when it publishes, so the last change
is always shown; a change while a refresh waits adds nothing. Opening the tab publishes only when no publish
was made in the window (Slack's retried delivery of the same event included).

Its buttons: Lock / Unlock run as `/ops lock` / `/ops unlock` would (ReadCommands.answer: role checked,
audited) and the person is told the outcome in the app's messages; Deploy / Scale / Roll back open the
modals (bot.app, from the ack: a trigger id lives 3 seconds).

    home         <user id>            a person who opened the home tab lately (HomeViewer; TTL a day)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from bot import commands as c
from bot import render
from bot.access import AccessPolicy
from bot.clock import Clock
from bot.config import Config, EnvironmentConfig
from bot.deployments import DeployCards
from bot.errors import BotError
from bot.home_view import (
    LOCK_ACTION,
    UNLOCK_ACTION,
    EnvironmentHome,
    Rollout,
    ServiceLine,
    home_view,
    parse_value,
    plan_channel,
)
from bot.model import revision_of
from bot.permissions import Function, actions_for
from bot.plans import Requester
from bot.platform import Platform
from bot.stores import AuditLog, LockStore, StatusCache
from bot.table import NEW_KEY, Codec, Condition, Table, item_of

log = logging.getLogger(__name__)
HOME_PK = "home"
RECENT_SECONDS = 86400  # who opened the tab within a day gets it refreshed after each change
SPACING_SECONDS = 5.0  # at most one views.publish per person per this many seconds (Slack limits it per person)
CHANGES_SHOWN = 5
AUDIT_SCANNED = 50  # the environment's newest audit entries searched for its last executed changes
VIEWERS_REFRESHED = 100  # the homes refreshed after a change: of the people who opened the tab last
VIEWERS_READ = 2000  # the viewer records read to find them (~100 bytes each: one Query page of 1 MB)
FRESH_SECONDS = 1.0  # an environment read for one person's home serves the others published in this time

# Every AWS action building a home calls (its state-table writes included): a function refreshes the homes
# only if its role grants them all (bot/permissions.py), so no function calls what its role would refuse.
HOME_ACTIONS = frozenset(
    {
        "ecs:DescribeServices",
        "ecs:DescribeTaskDefinition",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:ListTagsForResource",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
    }
)


def can_refresh(function: Function | None) -> bool:
    """Whether `function`'s role (None: not checked) may make every call of building a home."""
    return function is None or actions_for(function) >= HOME_ACTIONS


Publish = Callable[[str, dict[str, Any]], object]  # views.publish(user_id, view)
Tell = Callable[[str, render.Message], object]  # a message to a person (their messages with the app)
# ReadCommands.reply: the role check, the command, its answer told, then a lock's hooks (this refresh among them)
Reply = Callable[[c.Command, Requester, str, Callable[[render.Message], None]], None]


@dataclass(frozen=True, slots=True)
class HomeViewer:
    """A person who opened the home tab at `opened_at`. `published_at` is the last publish of their home, or
    the slot (in the future) a refresh waiting to publish took; `version` orders the record's writes."""

    user: str
    opened_at: float
    published_at: float = 0.0
    version: int = 0


VIEWER = Codec(HomeViewer)


class HomeViewers:
    """The people who opened the home tab lately (`home` / `<user id>`), and the slots of their publishes."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def get(self, user: str) -> HomeViewer | None:
        data = self.table.get(HOME_PK, user)
        return VIEWER.load(data) if data else None

    def recent(self, limit: int = VIEWERS_REFRESHED) -> list[HomeViewer]:
        """The `limit` people who opened the tab last (within RECENT_SECONDS), newest first. The partition is
        read in user-id order: the newest are found among the first VIEWERS_READ records (one Query page)."""
        now = self.table.clock()
        viewers = [VIEWER.load(data) for data in self.table.query(HOME_PK, limit=VIEWERS_READ, now=now)]
        lately = [v for v in viewers if v.opened_at > now - RECENT_SECONDS]  # a record past its TTL not deleted yet
        return sorted(lately, key=lambda v: v.opened_at, reverse=True)[:limit]

    def claim(self, user: str, spacing: float, *, opened: bool = False) -> float | None:
        """The seconds to wait before publishing `user`'s home (0: now), or None when nothing is to be
        published: they did not open the tab lately, a refresh waits already, or (`opened`: they open the tab)
        their home was published within `spacing` seconds. `opened` records them as a recent viewer."""
        for _ in range(5):
            now = self.table.clock()
            old = self.get(user)
            if old is None and not opened:
                return None
            base = old or HomeViewer(user, now)
            if opened:
                base = replace(base, opened_at=now)
            wait: float | None
            if base.published_at + spacing <= now:
                new, wait = replace(base, published_at=now), 0.0
            elif base.published_at > now or opened:  # a refresh waits for its slot; an opened tab is fresh
                new, wait = base, None
            else:  # published lately: take the next slot and wait for it
                slot = base.published_at + spacing
                new, wait = replace(base, published_at=slot), slot - now
            if new == old:
                return wait
            if self._write(replace(new, version=(old.version if old else 0) + 1), old, now):
                return wait
        log.warning("home tab of %s: its record kept changing; not published this time", user)
        return None

    def _write(self, new: HomeViewer, old: HomeViewer | None, now: float) -> bool:
        if old is None:  # none, or one DynamoDB has not deleted yet past its TTL
            condition = Condition(f"{NEW_KEY.expression} OR expires_at <= :now", {":now": {"N": str(int(now))}})
        else:
            condition = Condition("version = :version", {":version": {"N": str(old.version)}})
        item = item_of(
            HOME_PK, new.user, VIEWER.dump(new), new.opened_at + RECENT_SECONDS, version={"N": str(new.version)}
        )
        return self.table.put_item(item, condition, what="Save home tab viewer").ok


@dataclass(eq=False)
class HomeTab:
    config: Config
    platform: Platform
    access: AccessPolicy
    locks: LockStore
    audit: AuditLog
    status: StatusCache
    cards: DeployCards
    viewers: HomeViewers
    publish: Publish
    tell: Tell
    reply: Callable[[], Reply]  # a provider: the reads are built only when a button asks for them
    clock: Clock
    sleep: Callable[[float], None]
    spacing: float = SPACING_SECONDS
    # Each environment as read last, and when: reused for a second (the homes of several people published
    # one after another read the platform once), never longer (a refresh that waited for its slot reads anew).
    _read: dict[str, tuple[float, EnvironmentHome]] = field(default_factory=dict, init=False)

    # --- publishing -------------------------------------------------------------------------------------

    def opened(self, user: str) -> bool:
        """app_home_opened: publish the person's home unless it was published within `spacing` seconds."""
        try:
            wait = self.viewers.claim(user, self.spacing, opened=True)
        except Exception:  # the state table failed: the person still gets their home
            log.warning("home tab: could not record that %s opened it; published anyway", user, exc_info=True)
            wait = 0.0
        if wait != 0:
            return False
        return self._publish_all([user]) > 0

    def refresh(self) -> int:
        """After a change: the home of everyone who opened it lately, each when its slot comes; the number
        published."""
        try:
            viewers = self.viewers.recent()
        except Exception:
            log.exception("home tab: could not read who opened it")
            return 0
        waits = []
        for viewer in viewers:
            try:
                wait = self.viewers.claim(viewer.user, self.spacing)
            except Exception:
                log.exception("home tab: could not take a publish slot for %s", viewer.user)
                continue
            if wait is not None:
                waits.append((wait, viewer.user))
        self._read.clear()  # read after the change: never an environment as it was before it
        published, started = 0, self.clock()
        for wait, user in sorted(waits):
            self.sleep(max(0.0, started + wait - self.clock()))
            published += self._publish_all([user])
        return published

    def _publish_all(self, users: list[str]) -> int:
        published = 0
        for user in users:
            try:
                self.publish(user, self.view(user))
                published += 1
            except Exception:
                log.exception("home tab: could not publish the home of %s", user)
        return published

    def view(self, user: str) -> dict[str, Any]:
        """The person's home: every environment where they hold a role."""
        shown = []
        for env in self.config.environments:
            role = self.access.role_of(user, env.name)
            if role is None:
                continue
            read = self._read.get(env.name)
            if read is None or self.clock() - read[0] > FRESH_SECONDS:
                read = (self.clock(), self._environment(env))
                self._read[env.name] = read
            shown.append(replace(read[1], role=role.label))
        return home_view(shown, self.clock(), self.config.command_names)

    def _environment(self, env: EnvironmentConfig) -> EnvironmentHome:
        problem = ""
        lines: tuple[ServiceLine, ...] = ()
        other: tuple[str, ...] = ()
        try:
            lines, other = self._services(env)
        except BotError as error:  # AWS refused or failed: its explanation and what to check, as /status all
            log.warning("home tab: could not read %s: %s %s", env.name, error.message, error.hint or "")
            problem = error.message + (f"\n{error.hint}" if error.hint else "")
        except Exception:
            log.exception("home tab: could not read %s", env.name)
            problem = f"Could not read {env.name} just now; the details are in the bot's logs."
        try:
            trail = self.audit.trail(env.name, limit=AUDIT_SCANNED)
            changes = tuple(e for e in trail if e.decision == "executed")[:CHANGES_SHOWN]
        except Exception:
            log.exception("home tab: could not read the audit trail of %s", env.name)
            changes = ()
        return EnvironmentHome(env.name, "", lines, changes, other, problem)

    def _services(self, env: EnvironmentConfig) -> tuple[tuple[ServiceLine, ...], tuple[str, ...]]:
        """Each service as ECS reports it, with its image tag, its alarms in ALARM, its lock and its rollout:
        ceil(services / 10) DescribeServices, one DescribeAlarms, three BatchGetItems (images, locks, cards)."""
        targets = self.config.targets(env.name)
        states = self.platform.describe(targets)
        running = [s.task_definition for s in states if s.exists]
        _, images = self.status.read(env.name, [], running)
        locks = self.locks.many(env.name, [t.name for t in targets])
        cards = self.cards.many([s.arn for s in states if s.exists and s.arn])
        alarms = self.platform.alarms(env)
        lines = []
        for target, state in zip(targets, states, strict=True):
            tag = ""
            if state.exists:
                image = images.get(state.task_definition)
                if image is None:  # first sight of this revision (immutable): cached for /status too
                    try:
                        image = self.platform.container_image(
                            target, self.platform.task_definition(target, state.task_definition)
                        )
                        self.status.cache_image(state.task_definition, image)
                    except BotError:
                        image = ""
                tag = render.image_label(image) if image else ""
            card = cards.get(state.arn) if state.arn else None
            rollout = None
            if card is not None:
                rollout = Rollout(revision_of(card.task_definition), card.started_at, card.summary, card.actor)
            elif state.rollout_state == "IN_PROGRESS":
                since = state.updated_at.timestamp() if state.updated_at else None
                rollout = Rollout(state.revision, since)
            firing = tuple(a.name for a in alarms if a.service == state.name and a.state == "ALARM")
            lines.append(ServiceLine(state, tag, firing, locks.get(target.name), rollout))
        other = tuple(a.name for a in alarms if a.service is None and a.state == "ALARM")
        return tuple(lines), other

    # --- its buttons --------------------------------------------------------------------------------------

    def click(self, action_id: str, value: str, user: str, action_ts: str = "") -> None:
        """Lock or Unlock pressed on the home tab: as `/ops lock <service> <env>` or `/ops unlock` typed (the
        role checked and a refusal audited), the outcome told to the person in the app's messages. The
        change refreshes the home tabs (ReadCommands.on_lock_change)."""
        env, service = parse_value(value)
        names = self.config.command_names
        try:
            if env not in self.config.environment_names or service not in self.config.service_names:
                raise BotError("This button no longer matches a configured service.", "Open the home tab again.")
            # The home has no channel: the button acts from the environment's plan channel, so an environment
            # with a channel allowlist lets its operators lock from the home as from an allowed channel.
            channel = plan_channel(self.config, self.config.environment(env), user)
            who = Requester(user, channel, f"home:{action_ts}:{action_id}:{value}")
            if action_id == LOCK_ACTION:
                command: c.Command = c.Lock(service, env, "")
                text = f"{names.slash('lock')} {service} {env} (App Home)"
            elif action_id == UNLOCK_ACTION:
                command = c.Unlock(service, env)
                text = f"{names.slash('unlock')} {service} {env} (App Home)"
            else:
                raise BotError("This button is not known to the bot.", "Use the slash commands instead.")
            # The person is told first; the homes (theirs included) are refreshed after (ReadCommands.reply).
            self.reply()(command, who, text, lambda message: self._tell(user, message, action_id))
            return
        except BotError as error:
            error.message, error.hint = names.shown(error.message), error.hint and names.shown(error.hint)
            refused = render.error(error)
        except Exception:
            log.exception("home tab button %s failed", action_id)
            refused = render.error(
                BotError("Something went wrong on the bot's side.", "The details are in the bot's logs.")
            )
        self._tell(user, refused, action_id)

    def form_failed(self, kind: str, env: str, service: str, user: str) -> None:
        """A form asked for from the home could not be shown (Slack did not open it in time, or its choices could
        not be put in it): the person is told in the app's messages, with the command to type instead."""
        from bot.commands import SPECS

        typed = SPECS[kind].usage.replace("<service>", service).replace("[env]", env)
        names = self.config.command_names
        problem = BotError(
            "Slack did not open the form in time, or its choices could not be shown.",
            names.shown(f"Type the command instead: `{typed}`"),
        )
        self._tell(user, render.error(problem), f"form {kind}")

    def _tell(self, user: str, message: render.Message, action_id: str) -> None:
        try:
            self.tell(user, message)
        except Exception:
            log.exception("home tab: could not tell %s the outcome of %s", user, action_id)
