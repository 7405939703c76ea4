"""The slash commands' names in a workspace (`slack.commands`): /deploy, /scale, ... by default; with a prefix
(`ops-`) /ops-deploy, /ops-scale, ...; with `style: single` only /ops <command>. /ops is always /ops.

Plain, no imports of the bot: bot.commands (the parser), bot.config (the validated setting), bot.config_source
(the ack's plain reading) and scripts/manifest.py (manifest.yaml's slash commands) all name commands with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The commands that are slash commands of their own (unless `slack.commands.style` is single); the others are
# `/ops <command>` only, and every one also works as `/ops <command>`.
OWN_COMMANDS: tuple[str, ...] = ("deploy", "scale", "rollback", "status", "logs", "alarms", "cost")
MAX_COMMAND_NAME = 32  # Slack's limit on a slash command's name, the slash included
COMMAND_PREFIX_PATTERN = re.compile(r"^[a-z0-9_-]+$")
COMMAND_STYLES = ("separate", "single")
# A default name where the bot's own text shows a command (usage lines, hints): `/deploy <service>`, `/logs s`.
_DEFAULT_NAME = re.compile(r"(?<![\w/-])/(" + "|".join(OWN_COMMANDS) + r")(?![\w-])")


def command_names_problem(style: object, prefix: object) -> tuple[str, str] | None:
    """What is wrong with a `slack.commands` setting: (the field, the problem), or None."""
    if style not in COMMAND_STYLES:
        return "style", f"{style!r} is not one of {', '.join(COMMAND_STYLES)}"
    if not isinstance(prefix, str) or (prefix and not COMMAND_PREFIX_PATTERN.match(prefix)):
        return "prefix", f"{prefix!r} is not lower-case letters, digits, - and _ (for example ops-)"
    longest = f"/{prefix}{max(OWN_COMMANDS, key=len)}"
    if len(longest) > MAX_COMMAND_NAME:
        return "prefix", (
            f"{prefix!r} makes {longest} ({len(longest)} characters); a Slack command's name has"
            f" at most {MAX_COMMAND_NAME} characters"
        )
    if prefix and style == "single":
        return "prefix", "style single has only /ops <command>: leave out the prefix, or the style"
    return None


@dataclass(frozen=True, slots=True)
class CommandNames:
    """The slash commands of the bot in a workspace (`slack.commands`): /deploy, /scale, ... by default; with a
    prefix (`ops-`) /ops-deploy, /ops-scale, ...; `single`: only /ops <command>. /ops is always /ops."""

    prefix: str = ""
    single: bool = False

    @property
    def registered(self) -> tuple[str, ...]:
        """The slash commands the app registers with Slack (and manifest.yaml declares)."""
        own = () if self.single else tuple(f"/{self.prefix}{name}" for name in OWN_COMMANDS)
        return (*own, "/ops")

    def slash(self, name: str) -> str:
        """How a person types command `name` (deploy, lock, ...): `/ops-deploy`, `/ops deploy`, `/ops lock`."""
        return f"/{self.prefix}{name}" if name in OWN_COMMANDS and not self.single else f"/ops {name}"

    def command(self, slash: str) -> str | None:
        """The command a registered slash command is (`/ops-deploy` -> deploy, `/ops` -> ops), else None."""
        typed = slash.strip().lower()
        if typed == "/ops":
            return "ops"
        for name in OWN_COMMANDS:
            if not self.single and typed == f"/{self.prefix}{name}":
                return name
        return None

    def shown(self, text: str) -> str:
        """The bot's text (a usage line, a hint) with the default names of commands given as these are."""
        if not self.prefix and not self.single:
            return text
        return _DEFAULT_NAME.sub(lambda match: self.slash(match.group(1)), text)


DEFAULT_NAMES = CommandNames()
