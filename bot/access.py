"""Who may do what: roles per environment, granted to Slack users and user groups, and allowed channels."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.config import Config, Role

GroupMembers = Callable[[str], Iterable[str]]


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    role: Role | None
    reason: str = ""


class AccessPolicy:
    """Evaluates the roles in the config; user-group membership is looked up through `group_members`."""

    GROUP_CACHE_SECONDS = 300  # a warm Lambda sees membership changes within five minutes

    def __init__(self, config: Config, group_members: GroupMembers) -> None:
        self.config = config
        self._group_members = group_members
        self._groups: dict[str, tuple[frozenset[str], float]] = {}

    def _members(self, group: str, fresh: bool = False) -> frozenset[str]:
        cached = self._groups.get(group)
        if fresh or cached is None or cached[1] < time.monotonic():
            cached = (frozenset(self._group_members(group)), time.monotonic() + self.GROUP_CACHE_SECONDS)
            self._groups[group] = cached
        return cached[0]

    def role_of(self, user: str, env: str | None, fresh: bool = False) -> Role | None:
        """The highest role `user` holds in the environment, if any; `fresh` reads user groups again."""
        environment = self.config.environment(env)
        for role, members in environment.roles.grants():  # highest first
            for member in members:
                if member in ("*", user) or (member.startswith("S") and user in self._members(member, fresh)):
                    return role
        return None

    def check(self, user: str, channel: str, env: str | None, needed: Role, fresh: bool = False) -> Decision:
        """May `user` do what needs `needed` from `channel`? `fresh`: read user groups now, not from the cache
        (confirming a change)."""
        environment = self.config.environment(env)
        if environment.channels and channel not in environment.channels:
            return Decision(
                False,
                None,
                f"This channel is not allowed to operate {environment.name}. "
                f"Use one of: {', '.join(f'<#{c}>' for c in environment.channels)}.",
            )
        role = self.role_of(user, environment.name, fresh)
        if role is None or role < needed:
            held = f"you are {role.label}" if role else "you have no role there"
            return Decision(
                False,
                role,
                f"This needs the *{needed.label}* role in {environment.name}; {held}. "
                "Ask an admin to grant it in the bot's config.",
            )
        return Decision(True, role)
