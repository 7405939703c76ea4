"""Slash-command text -> typed commands. Pure: no AWS, no Slack, so it can run inside ack().

Every wrong call raises UsageError with what was wrong and the command's usage line.

Text is split on whitespace into words. Most commands then read their words as shell-like tokens (quotes
group words); the free text at the end of `/logs` (a CloudWatch filter pattern) and of `/ops lock` (a
reason) is taken as typed, quotes and apostrophes included.
"""

from __future__ import annotations

import html
import re
import shlex
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.command_names import DEFAULT_NAMES, CommandNames
from bot.errors import UsageError
from bot.slack_text import escape  # also how Slack sends typed text: what `normalize` reads back

if TYPE_CHECKING:  # the ack parses with bot.config_source's AckSettings: no pydantic on its path
    from bot.config import Config
    from bot.config_source import AckSettings

SLASH_COMMANDS: tuple[str, ...] = DEFAULT_NAMES.registered

MAX_TEXT = 500
MAX_FILTER = 200
MAX_ALARM_NAME = 255  # CloudWatch's limit
MAX_LOG_WINDOW = timedelta(days=7)
DEFAULT_LOG_WINDOW = timedelta(minutes=15)
DEFAULT_TIMELINE_WINDOW = timedelta(hours=2)
MAX_TIMELINE_WINDOW = timedelta(days=7)
# Cost Explorer keeps 13 months of daily cost (bot/cost.py, HISTORY_MONTHS): 365 days fit whole on any day.
MAX_COST_DAYS = 365
MAX_REVISION_DIGITS = 7
TAG_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DURATION_PATTERN = re.compile(r"^(\d{1,5})([smhd])$")


def window_text(window: timedelta) -> str:
    """A log window as /logs takes it (15m, 2h, 1d): the largest unit it is a whole number of."""
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# Digits, then a letter: meant as a window (`5x`, `10mins`, `1h30m`), so never taken as a filter unquoted.
WINDOW_SHAPE = re.compile(r"^\d+[a-z][a-z0-9]*$")
COST_DAYS_PATTERN = re.compile(r"^(\d{1,3})d$")
# Starts with a digit: meant as a number of days (`1000d`, `2w`, `14`), not as an environment.
PERIOD_SHAPE = re.compile(r"^\d")
# Starts like a number, after the prefixes a revision may have (`-3`, `0`, `3.5`, `#-1`, `rev+2`).
REVISION_SHAPE = re.compile(r"^#?(?:rev|r)?[+-]?\d")
UNESCAPED_QUOTE = re.compile(r'(?<!\\)"')
HELP_WORDS = frozenset({"help", "-h", "--help", "?"})
FREE_TEXT = frozenset({"logs", "lock"})  # commands whose last argument is taken as typed
WINDOW_FORMS = "a number and s, m, h or d (for example 30m, 2h, 1d), more than 0 and at most 7d"
PERIOD_FORMS = f"week, month or a number of days from 1d to {MAX_COST_DAYS}d"
# Did you mean: how alike (difflib's ratio) a known word must be to a misspelt one to be offered in its place.
# servce-a/service-a 0.94, productoin/production 0.9, deplyo/deploy 0.83, stats/status 0.91; dev/prd 0.33.
CLOSE_ENOUGH = 0.75
MAX_CORRECTIONS = 3  # misspelt words corrected in one command
MAX_PARSES = 8  # parses tried in search of a suggestion, which is made in the ack (Slack waits 3 s)


@dataclass(frozen=True, slots=True)
class Deploy:
    service: str
    tag: str | None
    env: str | None


@dataclass(frozen=True, slots=True)
class Scale:
    service: str
    count: int | None  # None: hand the service back to autoscaling
    env: str | None


@dataclass(frozen=True, slots=True)
class Rollback:
    service: str
    revision: int | None
    env: str | None


@dataclass(frozen=True, slots=True)
class Status:
    service: str | None
    env: str | None
    every: bool = False  # `/status all`: every environment the person may see, one after the other


@dataclass(frozen=True, slots=True)
class Logs:
    service: str
    since: timedelta
    pattern: str | None
    env: str | None = None


@dataclass(frozen=True, slots=True)
class Alarms:
    env: str | None


@dataclass(frozen=True, slots=True)
class Cost:
    days: int
    label: str
    env: str | None


@dataclass(frozen=True, slots=True)
class Lock:
    service: str
    env: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Unlock:
    service: str
    env: str | None


@dataclass(frozen=True, slots=True)
class Audit:
    service: str | None
    env: str | None


@dataclass(frozen=True, slots=True)
class Routes:
    """`/ops routes`: the rules; with a test target (a service or an alarm name), where its messages go."""

    test_target: str | None = None
    env: str | None = None


@dataclass(frozen=True, slots=True)
class Timeline:
    """`/ops timeline`: what happened to a service in the last `since`, in order."""

    service: str
    since: timedelta = DEFAULT_TIMELINE_WINDOW
    env: str | None = None


@dataclass(frozen=True, slots=True)
class Help:
    topic: str | None = None


Command = Deploy | Scale | Rollback | Status | Logs | Alarms | Cost | Lock | Unlock | Audit | Timeline | Routes | Help
MUTATING = (Deploy, Scale, Rollback)


@dataclass(frozen=True, slots=True)
class Spec:
    usage: str
    summary: str


SPECS: dict[str, Spec] = {
    "deploy": Spec(
        "/deploy <service> [tag] [env]",
        "Deploy an image tag from the service's ECR repository (default: the newest pushed tag)."
        " `/deploy` alone opens a form to pick from.",
    ),
    "scale": Spec(
        "/scale <service> <count|auto> [env]",
        "Set the number of tasks within the service's bounds; `auto` hands it back to autoscaling."
        " `/scale` alone opens a form to pick from.",
    ),
    "rollback": Spec(
        "/rollback <service> [revision] [env]",
        "Go back to the revision that ran before the current one, or to a named revision."
        " `/rollback` alone opens a form to pick from.",
    ),
    "status": Spec(
        "/status [service] [env|all]",
        "Tasks, revision, image tag, rollout and alarms per service; `all`: in every environment.",
    ),
    "logs": Spec(
        "/logs <service> [env] [since] [filter]",
        "The newest log lines (default 15m, 50 lines); since like 30m, 2h, 1d (at most 7d); filter is a CloudWatch"
        ' filter pattern, as typed (quote a term that looks like a window or an environment: `"5m"`).',
    ),
    "alarms": Spec("/alarms [env]", "Alarms that are not OK, with the service each belongs to."),
    "cost": Spec("/cost [week|month|<N>d] [env]", "Spend for the period against the one before, and what moved."),
    "lock": Spec("/ops lock <service> [env] [reason]", "Stop others from deploying a service until you unlock it."),
    "unlock": Spec("/ops unlock <service> [env]", "Release a deploy lock."),
    "audit": Spec("/ops audit [service] [env]", "The last 10 audit entries."),
    "timeline": Spec(
        "/ops timeline <service> [env] [since]",
        "What happened to a service, in order: alarm state changes, ECS deployments and events, the bot's plans,"
        " changes, locks, acknowledgements and escalations (default 2h, at most 7d); Export drafts a postmortem.",
    ),
    "routes": Spec(
        "/ops routes [test <alarm-name|service> [env]]",
        "The routing rules; with `test`, the channels a service's or an alarm's messages go to (nothing is sent).",
    ),
    "help": Spec("/ops help [command]", "What each command does."),
}


def usage_of(name: str) -> str:
    return f"Usage: `{SPECS[name].usage}`"


def _fail(name: str, message: str, misspelt: tuple[str, str] | None = None) -> UsageError:
    return UsageError(message, usage_of(name), misspelt)


def closest(word: str, known: Iterable[str]) -> str | None:
    """The known word most like `word` (difflib, what spell checkers of commands use), or None when none is
    close enough or two are equally close (`service-c` among service-a and service-b): no clear best."""
    from difflib import SequenceMatcher, get_close_matches  # not on a well-typed command's path

    by_lower = {name.lower(): name for name in known}
    typed = word.lower()
    if typed in by_lower:
        return by_lower[typed]
    matches = get_close_matches(typed, by_lower, n=2, cutoff=CLOSE_ENOUGH)
    if not matches:
        return None
    if len(matches) == 2 and SequenceMatcher(None, typed, matches[0]).ratio() == (
        SequenceMatcher(None, typed, matches[1]).ratio()
    ):
        return None
    return by_lower[matches[0]]


def _misspelt(word: str, known: Iterable[str]) -> tuple[str, str] | None:
    """(word, the known word it is closest to), for a UsageError, if one is clearly closest."""
    right = closest(word, known)
    return (word, right) if right is not None and right != word else None


def normalize(text: str) -> str:
    """Slack's escaped, possibly odd-spaced text -> plain single-spaced text; refuses control characters."""
    text = html.unescape(text or "")
    text = unicodedata.normalize("NFKC", text)
    cleaned = []
    for char in text:
        if char.isspace():
            cleaned.append(" ")
        elif unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn"}:
            raise UsageError("The command contains invisible or control characters.", "Retype it without pasting.")
        else:
            cleaned.append(char)
    return " ".join("".join(cleaned).split())


def words_of(name: str, text: str) -> list[str]:
    """The text's words, split on whitespace; `name` is the command whose usage an error shows."""
    if len(text or "") > MAX_TEXT:
        raise _fail(name, f"The command is too long ({len(text)} characters; at most {MAX_TEXT}).")
    return normalize(text).split()


def tokens_of(name: str, words: list[str]) -> list[str]:
    """Words read as shell-like tokens: quotes group words and are removed."""
    try:
        return shlex.split(" ".join(words))
    except ValueError:
        raise _fail(name, "A quote is not closed.") from None


def _subcommand(text: str) -> str:
    """The first word of `/ops` text, lower case, quotes removed ("" if none)."""
    first = unicodedata.normalize("NFKC", html.unescape(text or "")).split(maxsplit=1)
    return first[0].strip("\"'").lower() if first else ""


class Parser:
    """Knows the configured services and environments, so it can say what a token means."""

    def __init__(self, config: Config | AckSettings) -> None:
        self.config = config
        self.names: CommandNames = config.command_names
        self.services = set(config.service_names)
        self.environments = set(config.environment_names)
        # Each takes the command's tokens, or its words as typed for the commands in FREE_TEXT.
        self._parsers: dict[str, Callable[[list[str]], Command]] = {
            "deploy": self._deploy,
            "scale": self._scale,
            "rollback": self._rollback,
            "status": self._status,
            "logs": self._logs,
            "alarms": self._alarms,
            "cost": self._cost,
            "lock": self._lock,
            "unlock": self._unlock,
            "audit": self._audit,
            "timeline": self._timeline,
            "routes": self._routes,
            "help": self._help,
        }

    def parse(self, command: str, text: str) -> Command:
        """`command` and its text as Slack sends them (text with &, < and > escaped). An error naming a
        misspelt word carries the command corrected, when the corrected command parses (`suggestion`)."""
        try:
            return self._parse(command, text)
        except UsageError as error:
            if error.misspelt is not None:
                error.suggestion = self._corrected(command, text, error.misspelt, MAX_CORRECTIONS, [MAX_PARSES])
            if error.hint is not None:  # the usage line, with the workspace's names of the commands
                error.hint = self.names.shown(error.hint)
            raise

    def _corrected(
        self, command: str, text: str, misspelt: tuple[str, str], left: int, parses: list[int]
    ) -> str | None:
        """The person's words with the misspelt one replaced by the known one, when that parses (another
        misspelt word in it is corrected too, up to `left` in all); plain text. `parses` is what is left of
        the parses it may try, shared by the whole search."""
        wrong = misspelt[0].lower()
        words = [command, *normalize(text).split()]
        for index, word in enumerate(words):
            if parses[0] <= 0:
                return None
            if index == 0:
                matches, replacement = word.removeprefix("/").lower() == wrong, f"/{misspelt[1]}"
            else:
                matches, replacement = word.strip("\"'").lower() == wrong, misspelt[1]
            if not matches:
                continue
            fixed = [*words[:index], replacement, *words[index + 1 :]]
            fixed_command, fixed_text = fixed[0], escape(" ".join(fixed[1:]))
            parses[0] -= 1
            try:
                self._parse(fixed_command, fixed_text)
            except UsageError as again:
                if again.misspelt is not None and left > 1 and again.misspelt != misspelt:
                    corrected = self._corrected(fixed_command, fixed_text, again.misspelt, left - 1, parses)
                    if corrected is not None:
                        return corrected
                continue
            return self._environments_too(fixed)
        return None

    def _environments_too(self, words: list[str]) -> str | None:
        """`words` (a command that parses) with a word close to an environment's name corrected too:
        "/deploy service-a prodution" parses (tag `prodution`, in the default environment), but the person
        meant production. None when the command so corrected does not parse: never offer the wrong reading."""
        fixed = list(words)
        for index, word in enumerate(words[1:], start=1):
            bare = word.strip("\"'").lower()
            if bare not in self.environments and (environment := closest(bare, self.environments)) is not None:
                fixed[index] = environment
        if fixed == words:
            return " ".join(words)
        try:
            self._parse(fixed[0], escape(" ".join(fixed[1:])))
        except UsageError:
            return None
        return " ".join(fixed)

    def _parse(self, command: str, text: str) -> Command:
        name = self.names.command(command)
        if name is None:
            typed = command.removeprefix("/").strip().lower()
            known = (slash.removeprefix("/") for slash in self.names.registered)
            raise UsageError(f"Unknown command `/{_show(typed)}`.", "Try `/ops help`.", _misspelt(typed, known))
        if name == "ops":
            # An error anywhere in `/ops lock ...` shows the usage of `/ops lock`, not of `/ops help`.
            subcommand = _subcommand(text)
            words = words_of(subcommand if subcommand in SPECS else "help", text)
            if not words:
                return Help()
            name, words = subcommand, words[1:]
        else:
            words = words_of(name, text)
        if name not in SPECS:
            raise UsageError(
                f"Unknown command `{_show(name)}`.",
                "Try `/ops help` for the list of commands.",
                _misspelt(name, SPECS),
            )
        if words and words[0].lower() in HELP_WORDS:
            return Help(None if name == "help" else name)
        return self._parsers[name](words if name in FREE_TEXT else tokens_of(name, words))

    # --- helpers ---------------------------------------------------------------------------------

    def _service(self, name: str, token: str) -> str:
        if token in self.services:
            return token
        known = ", ".join(sorted(self.services))
        if token in self.environments:
            raise _fail(name, f"`{token}` is an environment; name a service first ({known}).")
        raise _fail(
            name,
            f"Unknown service `{_show(token)}`. Known services: {known}.",
            # Where a service may be left out (`/status productoin`), the word may be a misspelt environment.
            _misspelt(token, self.services | self.environments),
        )

    def _env(self, name: str, token: str) -> str:
        if token in self.environments:
            return token
        raise _fail(
            name,
            f"Unknown environment `{_show(token)}`. Known environments: {', '.join(sorted(self.environments))}.",
            _misspelt(token, self.environments),
        )

    def _split_env(self, tokens: list[str]) -> tuple[list[str], str | None]:
        """A trailing known environment name is the environment."""
        if tokens and tokens[-1] in self.environments:
            return tokens[:-1], tokens[-1]
        return tokens, None

    @staticmethod
    def _no_more(name: str, extra: list[str]) -> None:
        if extra:
            raise _fail(name, f"Unexpected argument `{_show(extra[0])}`.")

    def _finish(self, name: str, rest: list[str], env: str | None, strict: bool = True) -> str | None:
        """After a command's own arguments: its environment, unless it was found last already, then nothing.
        So in `/deploy s v1 production extra` the unexpected argument is `extra`. `strict`: a word there
        that is no environment is named as an unknown environment (else as unexpected)."""
        if rest and env is None and (strict or rest[0] in self.environments):
            env, rest = self._env(name, rest[0]), rest[1:]
        self._no_more(name, rest)
        return env

    def _is_env_here(self, rest: list[str], env: str | None) -> bool:
        """The next word is the environment (none was found last): `/rollback s staging`, `/cost staging`."""
        return bool(rest) and env is None and rest[0] in self.environments

    def _known_environments(self) -> str:
        return ", ".join(sorted(self.environments))

    # --- commands --------------------------------------------------------------------------------

    def _deploy(self, tokens: list[str]) -> Deploy:
        if not tokens:
            raise _fail("deploy", "Name the service to deploy.")
        service = self._service("deploy", tokens[0])
        rest, env = self._split_env(tokens[1:])
        tag = None
        if rest and not self._is_env_here(rest, env):
            tag, rest = rest[0], rest[1:]
            if tag.lower() == "latest":
                raise _fail(
                    "deploy",
                    "`latest` cannot be deployed: it moves, so the deploy could not be reproduced or rolled back.",
                )
            if not TAG_PATTERN.match(tag):
                raise _fail(
                    "deploy",
                    f"`{_show(tag)}` is not a valid image tag (letters, digits, `.`, `_`, `-`; 128 at most).",
                )
        env = self._finish("deploy", rest, env)
        return Deploy(service, tag, env)

    def _scale(self, tokens: list[str]) -> Scale:
        if len(tokens) < 2:
            raise _fail("scale", "Name the service and the number of tasks (or `auto`).")
        service = self._service("scale", tokens[0])
        rest, env = self._split_env(tokens[2:])
        env = self._finish("scale", rest, env)
        raw = tokens[1].lower()
        if raw == "auto":
            return Scale(service, None, env)
        config = self.config.service(service)
        if not raw.isdecimal() or not raw.isascii() or len(raw) > 5:
            raise _fail("scale", f"`{_show(tokens[1])}` is not a task count: give a whole number or `auto`.")
        count = int(raw)
        if not config.min_tasks <= count <= config.max_tasks:
            raise _fail(
                "scale",
                f"{service} runs between {config.min_tasks} and {config.max_tasks} tasks; {count} is outside that.",
            )
        return Scale(service, count, env)

    def _rollback(self, tokens: list[str]) -> Rollback:
        if not tokens:
            raise _fail("rollback", "Name the service to roll back.")
        service = self._service("rollback", tokens[0])
        rest, env = self._split_env(tokens[1:])
        revision = None
        if rest and not self._is_env_here(rest, env):
            revision = self._revision(rest[0], could_be_env=env is None)
            rest = rest[1:]
        env = self._finish("rollback", rest, env)
        return Rollback(service, revision, env)

    def _revision(self, token: str, could_be_env: bool) -> int:
        raw = token.lower().lstrip("#").removeprefix("rev").removeprefix("r")
        if raw.isdecimal() and raw.isascii() and 0 < len(raw) <= MAX_REVISION_DIGITS and int(raw) > 0:
            return int(raw)
        message = f"`{_show(token)}` is not a revision number (revision numbers are positive integers, for example 41)"
        misspelt = None
        if could_be_env and not REVISION_SHAPE.match(token.lower()):
            message += f", nor a known environment ({self._known_environments()})"
            misspelt = _misspelt(token, self.environments)
        raise _fail("rollback", message + ".", misspelt)

    def _status(self, tokens: list[str]) -> Status:
        if tokens and tokens[-1] == "all" and "all" not in self.environments:
            rest = tokens[:-1]
            service = self._service("status", rest[0]) if rest else None
            self._no_more("status", rest[1:])
            return Status(service, None, every=True)
        rest, env = self._split_env(tokens)
        service = self._service("status", rest[0]) if rest else None
        env = self._finish("status", rest[1:], env)
        return Status(service, env)

    def _logs(self, words: list[str]) -> Logs:
        """`<service> [env] [window] [filter]`: a known environment's name right after the service, or right
        after the window, is the environment; a word shaped like a window is one (or an error); the filter is
        the rest as typed, handed to CloudWatch as its filter pattern (`"5x"` searches for the term 5x). A
        filter ending in an environment's name is refused: the environment goes before the filter."""
        if not words:
            raise _fail("logs", "Name the service whose logs you want.")
        service = self._service("logs", words[0])
        rest = words[1:]
        env = None
        if rest and rest[0] in self.environments:
            env, rest = rest[0], rest[1:]
        since, window = DEFAULT_LOG_WINDOW, []
        if rest and WINDOW_SHAPE.match(rest[0].lower()):
            since, window, rest = self._window(rest[0]), rest[:1], rest[1:]
            if env is None and rest and rest[0] in self.environments:
                env, rest = rest[0], rest[1:]
        if rest and rest[-1] in self.environments:
            name = rest[-1]
            if env is not None:
                problem = f"Two environments, `{env}` and `{name}`"
            else:
                retyped = _show(" ".join([service, name, *window, *rest[:-1]]), 80)
                problem = (
                    f"`{name}` after the filter is an environment: give it before the filter"
                    f" (`{self.names.slash('logs')} {retyped}`)"
                )
            raise _fail("logs", f'{problem}. To search the logs for `{name}`, quote it: `"{name}"`.')
        pattern = " ".join(rest) or None
        if pattern is not None and len(pattern) > MAX_FILTER:
            raise _fail("logs", f"The filter is too long (at most {MAX_FILTER} characters).")
        if pattern is not None and len(UNESCAPED_QUOTE.findall(pattern)) % 2:
            raise _fail("logs", "A quote in the filter is not closed.")
        return Logs(service, since, pattern, env)

    @staticmethod
    def _window(token: str) -> timedelta:
        shown = _show(token)
        match = DURATION_PATTERN.match(token.lower())
        since = timedelta(0)
        if match is not None:
            amount, unit = int(match.group(1)), match.group(2)
            since = timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: amount})
            if timedelta(0) < since <= MAX_LOG_WINDOW:
                return since
        if match is None:
            problem = f"`{shown}` is not a time window"
        elif since <= timedelta(0):
            problem = f"`{shown}` is no time at all"
        else:
            problem = f"`{shown}` is longer than the longest window, 7d"
        raise _fail(
            "logs",
            f'{problem}: give {WINDOW_FORMS}. To search the logs for it, quote it: `"{shown}"`.',
        )

    def _alarms(self, tokens: list[str]) -> Alarms:
        env = self._env("alarms", tokens[0]) if tokens else None
        self._no_more("alarms", tokens[1:])
        return Alarms(env)

    def _cost(self, tokens: list[str]) -> Cost:
        rest, env = self._split_env(tokens)
        days, label = 7, "week"
        if rest and not self._is_env_here(rest, env):
            days, label = self._period(rest[0], could_be_env=env is None)
            rest = rest[1:]
        env = self._finish("cost", rest, env)
        return Cost(days, label, env)

    def _period(self, token: str, could_be_env: bool) -> tuple[int, str]:
        period = token.lower()
        if period == "week":
            return 7, "week"
        if period == "month":
            return 30, "month"
        if (match := COST_DAYS_PATTERN.match(period)) and 1 <= int(match.group(1)) <= MAX_COST_DAYS:
            days = int(match.group(1))
            return days, f"{days} days"
        if could_be_env and not PERIOD_SHAPE.match(period):
            raise _fail(
                "cost",
                f"`{_show(token)}` is not a period ({PERIOD_FORMS}),"
                f" nor a known environment ({self._known_environments()}).",
                _misspelt(token, {"week", "month", *self.environments}),
            )
        raise _fail("cost", f"`{_show(token)}` is not a period: use {PERIOD_FORMS}.")

    def _lock(self, words: list[str]) -> Lock:
        """`<service> [env] [reason]`: the reason is free text, as typed (one pair of quotes around it goes)."""
        if not words:
            raise _fail("lock", "Name the service to lock.")
        service = self._service("lock", words[0])
        rest = words[1:]
        env = None
        if rest and rest[0] in self.environments:
            env, rest = rest[0], rest[1:]
        reason = " ".join(rest)
        if len(reason) >= 2 and reason[0] == reason[-1] and reason[0] in "\"'" and reason[0] not in reason[1:-1]:
            reason = reason[1:-1].strip()
        return Lock(service, env, reason[:200])

    def _unlock(self, tokens: list[str]) -> Unlock:
        if not tokens:
            raise _fail("unlock", "Name the service to unlock.")
        service = self._service("unlock", tokens[0])
        rest, env = self._split_env(tokens[1:])
        env = self._finish("unlock", rest, env)
        return Unlock(service, env)

    def _audit(self, tokens: list[str]) -> Audit:
        rest, env = self._split_env(tokens)
        service = self._service("audit", rest[0]) if rest else None
        env = self._finish("audit", rest[1:], env)
        return Audit(service, env)

    def _timeline(self, tokens: list[str]) -> Timeline:
        """`<service> [env] [since]`: the environment and the window in either order, each at most once."""
        if not tokens:
            raise _fail("timeline", "Name the service whose timeline you want.")
        service = self._service("timeline", tokens[0])
        env: str | None = None
        since: timedelta | None = None
        for token in tokens[1:]:
            if token in self.environments and env is None:
                env = token
            elif since is None and WINDOW_SHAPE.match(token.lower()):
                since = self._timeline_window(service, token)
            elif token in self.environments:
                raise _fail("timeline", f"Two environments, `{env}` and `{token}`.")
            elif since is not None and WINDOW_SHAPE.match(token.lower()):
                raise _fail("timeline", f"Two windows: `{_show(token)}` after `{window_text(since)}`.")
            else:
                raise _fail(
                    "timeline",
                    f"`{_show(token)}` is neither a known environment ({self._known_environments()})"
                    f" nor a time window ({WINDOW_FORMS}).",
                    _misspelt(token, self.environments) if env is None else None,
                )
        return Timeline(service, since or DEFAULT_TIMELINE_WINDOW, env)

    @staticmethod
    def _timeline_window(service: str, token: str) -> timedelta:
        match = DURATION_PATTERN.match(token.lower())
        shown = _show(token)
        if match is None:
            problem = f"`{shown}` is not a time window"
        else:
            amount, unit = int(match.group(1)), match.group(2)
            since = timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: amount})
            if timedelta(0) < since <= MAX_TIMELINE_WINDOW:
                return since
            problem = f"`{shown}` is no time at all" if since <= timedelta(0) else f"`{shown}` is too long"
        raise _fail(
            "timeline",
            f"{problem}: the timeline goes back at most 7d. Give a number and s, m, h or d, for example"
            f" `/ops timeline {service} 7d` (or 30m, 2h, 1d).",
        )

    def _routes(self, tokens: list[str]) -> Routes:
        if not tokens:
            return Routes()
        if tokens[0].lower() != "test":
            raise _fail("routes", f"Unexpected argument `{_show(tokens[0])}`: use `test <alarm-name|service> [env]`.")
        rest, env = self._split_env(tokens[1:])
        if not rest:
            raise _fail("routes", "Name the service or the alarm to test.")
        env = self._finish("routes", rest[1:], env, strict=False)
        target = rest[0]
        if len(target) > MAX_ALARM_NAME:
            raise _fail("routes", f"An alarm name has at most {MAX_ALARM_NAME} characters.")
        return Routes(target, env)

    def _help(self, tokens: list[str]) -> Help:
        topic = tokens[0].lower().removeprefix("/") if tokens else None
        if topic is not None and topic not in SPECS:
            raise UsageError(
                f"There is no command `{_show(topic)}`.", "Try `/ops help` for the list.", _misspelt(topic, SPECS)
            )
        return Help(topic)


def _show(token: str, limit: int = 40) -> str:
    """A user's token, safe to echo inside backticks."""
    cleaned = token.replace("`", "'").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
