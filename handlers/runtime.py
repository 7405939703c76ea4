"""What every Lambda entry point needs once per container: the Slack secrets, the wired ChatOps, and a
thread-safe "build on first use" holder. Light to import: the bot's modules load only when built.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from bot.config import ConfigError

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

    from bot.core import ChatOps


def secret(value_variable: str, name_variable: str, environ: Mapping[str, str]) -> str:
    """A Slack secret: given directly (local use) or by its Secrets Manager name. Read when the container
    builds the bot and kept for the container's life: a rotated secret reaches new containers (publish a
    new version of the functions, or wait for Lambda to recycle them)."""
    if value := environ.get(value_variable):
        return value
    name = environ.get(name_variable)
    if not name:
        raise ConfigError(f"set {name_variable} (the Secrets Manager secret's name) or {value_variable}")
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_secret(name, max_age=300))


BOT_LOGGERS = "bot"  # bot/*'s loggers (logging.getLogger(__name__)) and the audit trail's "bot.audit"


def share_logging(logger: Logger, *also: str) -> None:
    """Write the bot's log lines (the audit trail's among them) with `logger`'s handler and level.

    Lambda's Python runtime leaves the root logger at WARNING, so a logger Powertools is not configured for
    drops its INFO lines, the audit line included. Every handler calls this when it builds its objects.
    `also` names more top-level loggers (slack_bolt). Powertools only configures loggers that exist, so
    they are made here first.
    """
    from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

    names = {BOT_LOGGERS, *also}
    for name in names:
        logging.getLogger(name)
    copy_config_to_registered_loggers(source_logger=logger, include=names)


def bot_token(environ: Mapping[str, str]) -> str:
    return secret("SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN_SECRET_NAME", environ)


def build_chatops(environ: Mapping[str, str] | None = None, clock: Callable[[], float] = time.time) -> ChatOps:
    """The bot wired from the environment: config, AWS client factory and the Slack Web API client."""
    from bot.aws import ClientFactory
    from bot.config import load_config
    from bot.core import ChatOps
    from bot.slack import slack_client

    environ = os.environ if environ is None else environ
    config = load_config(environ)
    clients = ClientFactory(endpoint_url=config.aws_endpoint_url)
    return ChatOps(config, clients, slack_client(config.slack.api_url, bot_token(environ)), clock)


class Lazy[T]:
    """Builds its value on first use, once per container (and again after reset(), for tests)."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._value: T | None = None

    def get(self) -> T:
        with self._lock:
            if self._value is None:
                self._value = self._build()
            return self._value

    def reset(self) -> None:
        with self._lock:
            self._value = None
