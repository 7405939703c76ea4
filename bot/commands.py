"""Slash-command text -> typed commands. Pure: no AWS, no Slack, so it can run inside ack().

Every wrong call raises UsageError with what was wrong and the command's usage line.
"""

from __future__ import annotations

import html
import re
import shlex
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.config import Config
from bot.errors import UsageError

SLASH_COMMANDS: tuple[str, ...] = (
    "/deploy",
    "/scale",
    "/rollback",
    "/status",
    "/logs",
    "/alarms",
    "/cost",
    "/ops",
)

MAX_TEXT = 500
MAX_FILTER = 200
MAX_ALARM_NAME = 255  # CloudWatch's limit
MAX_LOG_WINDOW = timedelta(days=7)
DEFAULT_LOG_WINDOW = timedelta(minutes=15)
TAG_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DURATION_PATTERN = re.compile(r"^(\d{1,5})([smhd])$")
COST_DAYS_PATTERN = re.compile(r"^(\d{1,3})d$")


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
class Help:
    topic: str | None = None


Command = Deploy | Scale | Rollback | Status | Logs | Alarms | Cost | Lock | Unlock | Audit | Routes | Help
MUTATING = (Deploy, Scale, Rollback)


@dataclass(frozen=True, slots=True)
class Spec:
    usage: str
    summary: str


SPECS: dict[str, Spec] = {
    "deploy": Spec(
        "/deploy <service> [tag] [env]",
        "Deploy an image tag from the service's ECR repository (default: the newest pushed tag).",
    ),
    "scale": Spec(
        "/scale <service> <count|auto> [env]",
        "Set the number of tasks within the service's bounds; `auto` hands it back to autoscaling.",
    ),
    "rollback": Spec(
        "/rollback <service> [revision] [env]",
        "Go back to the revision that ran before the current one, or to a named revision.",
    ),
    "status": Spec("/status [service] [env]", "Tasks, revision, image tag, rollout and alarms per service."),
    "logs": Spec(
        "/logs <service> [since] [filter]",
        "Recent log lines (default 15m, 50 lines); since like 30m, 2h, 1d; filter is a CloudWatch pattern.",
    ),
    "alarms": Spec("/alarms [env]", "Alarms that are not OK, with the service each belongs to."),
    "cost": Spec("/cost [week|month|<N>d] [env]", "Spend for the period against the one before, and what moved."),
    "lock": Spec("/ops lock <service> [env] [reason]", "Stop others from deploying a service until you unlock it."),
    "unlock": Spec("/ops unlock <service> [env]", "Release a deploy lock."),
    "audit": Spec("/ops audit [service] [env]", "The last 10 audit entries."),
    "routes": Spec(
        "/ops routes [test <alarm-name|service> [env]]",
        "The routing rules; with `test`, the channels a service's or an alarm's messages go to (nothing is sent).",
    ),
    "help": Spec("/ops help [command]", "What each command does."),
}


def usage_of(name: str) -> str:
    return f"Usage: `{SPECS[name].usage}`"


def _fail(name: str, message: str) -> UsageError:
    return UsageError(message, usage_of(name))


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


def tokenize(name: str, text: str) -> list[str]:
    if len(text or "") > MAX_TEXT:
        raise _fail(name, f"The command is too long ({len(text)} characters; at most {MAX_TEXT}).")
    try:
        return shlex.split(normalize(text))
    except ValueError:
        raise _fail(name, "A quote is not closed.") from None


class Parser:
    """Knows the configured services and environments, so it can say what a token means."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.services = set(config.service_names)
        self.environments = set(config.environment_names)
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
            "routes": self._routes,
            "help": self._help,
        }

    def parse(self, command: str, text: str) -> Command:
        name = command.removeprefix("/").strip().lower()
        if name == "ops":
            tokens = tokenize("help", text)
            if not tokens:
                return Help()
            name, tokens = tokens[0].lower(), tokens[1:]
        elif name in SPECS:
            tokens = tokenize(name, text)
        else:
            raise UsageError(f"Unknown command `/{name}`.", "Try `/ops help`.")
        if name not in SPECS:
            raise UsageError(f"Unknown command `{name}`.", "Try `/ops help` for the list of commands.")
        if tokens and tokens[0].lower() in {"help", "-h", "--help", "?"}:
            return Help(None if name == "help" else name)
        return self._parsers[name](tokens)

    # --- helpers ---------------------------------------------------------------------------------

    def _service(self, name: str, token: str) -> str:
        if token in self.services:
            return token
        known = ", ".join(sorted(self.services))
        if token in self.environments:
            raise _fail(name, f"`{token}` is an environment; name a service first ({known}).")
        raise _fail(name, f"Unknown service `{_show(token)}`. Known services: {known}.")

    def _env(self, name: str, token: str) -> str:
        if token in self.environments:
            return token
        raise _fail(
            name,
            f"Unknown environment `{_show(token)}`. Known environments: {', '.join(sorted(self.environments))}.",
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

    # --- commands --------------------------------------------------------------------------------

    def _deploy(self, tokens: list[str]) -> Deploy:
        if not tokens:
            raise _fail("deploy", "Name the service to deploy.")
        service = self._service("deploy", tokens[0])
        rest, env = self._split_env(tokens[1:])
        tag = None
        if rest:
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
        if rest and env is None:
            self._env("deploy", rest[0])
        self._no_more("deploy", rest)
        return Deploy(service, tag, env)

    def _scale(self, tokens: list[str]) -> Scale:
        if len(tokens) < 2:
            raise _fail("scale", "Name the service and the number of tasks (or `auto`).")
        service = self._service("scale", tokens[0])
        rest, env = self._split_env(tokens[2:])
        if rest and env is None:
            self._env("scale", rest[0])
        self._no_more("scale", rest)
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
        if rest:
            raw = rest[0].lstrip("#").removeprefix("rev").removeprefix("r")
            if raw.isdecimal() and raw.isascii() and 0 < len(raw) <= 7 and int(raw) > 0:
                revision, rest = int(raw), rest[1:]
            elif env is None and len(rest) == 1:
                self._env("rollback", rest[0])
            else:
                raise _fail("rollback", f"`{_show(rest[0])}` is not a revision number (for example 41).")
        if rest and env is None:
            self._env("rollback", rest[0])
        self._no_more("rollback", rest)
        return Rollback(service, revision, env)

    def _status(self, tokens: list[str]) -> Status:
        rest, env = self._split_env(tokens)
        service = self._service("status", rest[0]) if rest else None
        self._no_more("status", rest[1:])
        return Status(service, env)

    def _logs(self, tokens: list[str]) -> Logs:
        if not tokens:
            raise _fail("logs", "Name the service whose logs you want.")
        service = self._service("logs", tokens[0])
        rest = tokens[1:]
        since = DEFAULT_LOG_WINDOW
        if rest and (match := DURATION_PATTERN.match(rest[0].lower())):
            amount, unit = int(match.group(1)), match.group(2)
            since = timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: amount})
            if since <= timedelta(0) or since > MAX_LOG_WINDOW:
                raise _fail("logs", "The window must be more than 0 and at most 7d.")
            rest = rest[1:]
        pattern = " ".join(rest) or None
        if pattern is not None and len(pattern) > MAX_FILTER:
            raise _fail("logs", f"The filter is too long (at most {MAX_FILTER} characters).")
        return Logs(service, since, pattern)

    def _alarms(self, tokens: list[str]) -> Alarms:
        env = self._env("alarms", tokens[0]) if tokens else None
        self._no_more("alarms", tokens[1:])
        return Alarms(env)

    def _cost(self, tokens: list[str]) -> Cost:
        rest, env = self._split_env(tokens)
        days, label = 7, "week"
        if rest:
            period = rest[0].lower()
            if period == "week":
                pass
            elif period == "month":
                days, label = 30, "month"
            elif (match := COST_DAYS_PATTERN.match(period)) and 1 <= int(match.group(1)) <= 365:
                days = int(match.group(1))
                label = f"{days} days"
            elif env is None and len(rest) == 1 and not COST_DAYS_PATTERN.match(period):
                self._env("cost", rest[0])
            else:
                raise _fail(
                    "cost",
                    f"`{_show(rest[0])}` is not a period: use week, month or a number of days (1d-365d).",
                )
            rest = rest[1:]
        self._no_more("cost", rest)
        return Cost(days, label, env)

    def _lock(self, tokens: list[str]) -> Lock:
        if not tokens:
            raise _fail("lock", "Name the service to lock.")
        service = self._service("lock", tokens[0])
        rest = tokens[1:]
        env = None
        if rest and rest[0] in self.environments:
            env, rest = rest[0], rest[1:]
        reason = " ".join(rest)[:200]
        return Lock(service, env, reason)

    def _unlock(self, tokens: list[str]) -> Unlock:
        if not tokens:
            raise _fail("unlock", "Name the service to unlock.")
        service = self._service("unlock", tokens[0])
        rest, env = self._split_env(tokens[1:])
        if rest and env is None:
            self._env("unlock", rest[0])
        self._no_more("unlock", rest)
        return Unlock(service, env)

    def _audit(self, tokens: list[str]) -> Audit:
        rest, env = self._split_env(tokens)
        service = self._service("audit", rest[0]) if rest else None
        self._no_more("audit", rest[1:])
        return Audit(service, env)

    def _routes(self, tokens: list[str]) -> Routes:
        if not tokens:
            return Routes()
        if tokens[0].lower() != "test":
            raise _fail("routes", f"Unexpected argument `{_show(tokens[0])}`: use `test <alarm-name|service> [env]`.")
        rest, env = self._split_env(tokens[1:])
        if not rest:
            raise _fail("routes", "Name the service or the alarm to test.")
        self._no_more("routes", rest[1:])
        target = rest[0]
        if len(target) > MAX_ALARM_NAME:
            raise _fail("routes", f"An alarm name has at most {MAX_ALARM_NAME} characters.")
        return Routes(target, env)

    def _help(self, tokens: list[str]) -> Help:
        topic = tokens[0].lower().removeprefix("/") if tokens else None
        if topic is not None and topic not in SPECS:
            raise UsageError(f"There is no command `{_show(topic)}`.", "Try `/ops help` for the list.")
        return Help(topic)


def _show(token: str, limit: int = 40) -> str:
    """A user's token, safe to echo inside backticks."""
    cleaned = token.replace("`", "'").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
