"""The composition root: what every Lambda entry point builds once per container.

`Runtime` is made from the environment (config, AWS client factory, the Slack Web API client, the clocks)
and builds each component on first use, handing it only what it uses; no component ever sees the Runtime.
A handler module keeps what it needs in a `PerContainer`, which tests and benchmarks rebuild with other
clocks (`reset(Clocks(...))`): the one way to set time for a whole function.

Light to import: the bot's modules load only when a component is built, so the Slack function's ack path
builds the parser and nothing else. The configuration too: the ack reads its few settings from the file
and the variables as plain data (bot.config_source.AckSettings); the pydantic model (bot.config) is built
and validated at the first use of `Runtime.config`.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from bot.clock import Clock, system_clock
from bot.config_source import AckSettings, ConfigError, ack_settings, plain_data

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger
    from slack_sdk import WebClient

    from bot.access import AccessPolicy
    from bot.alarms.actions import AlarmActions
    from bot.alarms.context import AlarmGraphs
    from bot.alarms.escalation import Escalations
    from bot.alarms.store import AlarmStore
    from bot.aws import ClientFactory
    from bot.commands import Parser
    from bot.config import Config
    from bot.cost import CostReporter
    from bot.deployments import DeployCard, DeployCards, DeploymentTracker
    from bot.dispatch import Dispatcher
    from bot.history import RevisionHistory
    from bot.home import HomeTab
    from bot.idempotency import Once
    from bot.metrics import Metrics
    from bot.model import Plan
    from bot.operations import Operations
    from bot.permissions import Function
    from bot.pickers import Pickers
    from bot.platform import Platform
    from bot.reads import ReadCommands
    from bot.slack import SlackOut
    from bot.stores import AuditLog, LockStore, PlanStore, StatusCache
    from bot.table import Table
    from bot.timeline import Timelines


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
    drops its INFO lines, the audit line included. PerContainer calls this for every function when it builds
    (`also` names more top-level loggers: slack_bolt). Powertools only configures loggers that exist, so they
    are made here first.
    """
    from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

    names = {BOT_LOGGERS, *also}
    for name in names:
        logging.getLogger(name)
    copy_config_to_registered_loggers(source_logger=logger, include=names)


def snapstart_hooks(before_snapshot: Callable[[], None], after_restore: Callable[[], None]) -> bool:
    """Register SnapStart's runtime hooks (`snapshot_restore_py`, part of Lambda's Python runtime). False
    where that module is absent (local runs, tests): nothing is registered and nothing is snapshotted."""
    try:
        hooks = importlib.import_module("snapshot_restore_py")
    except ImportError:
        return False
    hooks.register_before_snapshot(before_snapshot)
    hooks.register_after_restore(after_restore)
    return True


@contextmanager
def answered_here(client: Any, status: int = 200, body: bytes = b"{}") -> Iterator[None]:
    """Inside the block, `client`'s calls go through all of botocore (parameter validation, endpoint rules,
    signing, response parsing) but are answered with `status` and `body` instead of being sent: priming runs
    a call once without the network, so the first real call finds that path warm. (Another library's
    before-send handler still sees the request: in-process moto answers it too.)"""
    from botocore.awsrequest import AWSResponse

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield body

    def answer(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, status, {}, Raw())

    event = f"before-send.{client.meta.service_model.service_id.hyphenize()}"
    client.meta.events.register_first(event, answer)
    try:
        yield
    finally:
        client.meta.events.unregister(event, answer)


def bot_token(environ: Mapping[str, str]) -> str:
    return secret("SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN_SECRET_NAME", environ)


@dataclass(frozen=True, slots=True)
class Clocks:
    """Time for a whole function: `wall` for what is stored and shown (plans' expiry, cards, due times),
    `monotonic` and `sleep` for pacing Slack writes."""

    wall: Clock = system_clock
    monotonic: Clock = time.monotonic
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True, slots=True)
class Stores:
    """The bot's records, one store per aggregate, all over the one DynamoDB table."""

    plans: PlanStore
    locks: LockStore
    audit: AuditLog
    status: StatusCache
    deploy_cards: DeployCards
    alarms: AlarmStore
    history: RevisionHistory

    @classmethod
    def over(cls, table: Table) -> Stores:
        from bot.alarms.store import AlarmStore
        from bot.deployments import DeployCards
        from bot.history import RevisionHistory
        from bot.stores import AuditLog, LockStore, PlanStore, StatusCache

        return cls(
            PlanStore(table),
            LockStore(table),
            AuditLog(table),
            StatusCache(table),
            DeployCards(table),
            AlarmStore(table),
            RevisionHistory(table),
        )


class Configuration:
    """One build's configuration, read from `environ` (a copy): the ack's settings at once, from the plain
    data when it is shaped as a valid configuration's; the validated model (bot.config.load_config, which
    raises ConfigError naming each bad field) at its first use. An unreadable file or YAML raises at once."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = dict(environ)
        self._plain = ack_settings(plain_data(self.environ))
        self._lock = threading.Lock()  # lazy work in threads (OPSBOT_LAZY=thread) may ask for it at once
        self._model: Config | None = None

    @property
    def model(self) -> Config:
        with self._lock:
            if self._model is None:
                from bot.config import load_config

                self._model = load_config(self.environ)
            return self._model

    @cached_property
    def ack(self) -> AckSettings:
        return self._plain or AckSettings.of(self.model)


@dataclass(frozen=True)
class Runtime:
    configuration: Configuration
    clients: ClientFactory
    slack_client: WebClient
    clocks: Clocks = field(default_factory=Clocks)
    metrics: Metrics = field(default_factory=lambda: _discard())

    @property
    def clock(self) -> Clock:
        return self.clocks.wall

    @cached_property
    def config(self) -> Config:
        """The validated configuration (built at first use: the Slack function's ack does without)."""
        return self.configuration.model

    @cached_property
    def home_region(self) -> str:
        return self.configuration.ack.home_region

    # --- adapters -----------------------------------------------------------------------------------

    @cached_property
    def slack(self) -> SlackOut:
        from bot.slack import SlackOut

        return SlackOut(self.slack_client)

    @cached_property
    def platform(self) -> Platform:
        from bot.platform import Platform

        return Platform(self.config, self.clients, self.clock)

    @cached_property
    def table(self) -> Table:
        from bot.table import Table

        return Table(self.clients, self.config.state_table, self.home_region, self.clock)

    @cached_property
    def stores(self) -> Stores:
        return Stores.over(self.table)

    @cached_property
    def once(self) -> Once:
        from bot.idempotency import Once

        return Once(self.clients.client("dynamodb", self.home_region), self.config.state_table)

    # --- components ---------------------------------------------------------------------------------

    @cached_property
    def access(self) -> AccessPolicy:
        from bot.access import AccessPolicy

        return AccessPolicy(self.config, self._group_members)

    def _group_members(self, group: str) -> list[str]:
        try:
            return self.slack.group_members(group)
        except Exception:
            logging.getLogger("bot.access").warning("could not read members of user group %s", group, exc_info=True)
            return []

    def deployment_tracker(self, running: Callable[[DeployCard], str | None] | None = None) -> DeploymentTracker:
        """The tracker of deploy cards; `running` asks ECS which revision a card's service runs now."""
        from bot.deployments import DeploymentTracker
        from bot.home import can_refresh

        def ask_ecs(card: DeployCard) -> str | None:
            return self.platform.service(self.config.target(card.service, card.env)).task_definition

        tracker = DeploymentTracker(
            self.stores.deploy_cards,
            self.stores.locks,
            self.stores.audit,
            self.stores.plans,
            self.stores.history,
            self.slack,
            self.clock,
            running=running or ask_ecs,
            environments=self.config.environments,
        )
        if can_refresh(self.clients.function):  # the App Home after a rollout ends, where the role can read it
            tracker.on_ended.append(self.refresh_homes)
        return tracker

    @cached_property
    def operations(self) -> Operations:
        from bot.operations import Operations

        operations = Operations(
            self.config,
            self.platform,
            self.access,
            self.slack,
            plans=self.stores.plans,
            locks=self.stores.locks,
            audit=self.stores.audit,
            status=self.stores.status,
            cards=self.stores.deploy_cards,
            history=self.stores.history,
            supersede=lambda card, detail: self.deployment_tracker(lambda _: None).superseded(card, detail),
            clock=self.clock,
            sleep=self.clocks.sleep,
            metrics=self.metrics,
        )

        def alarm_card_change_ran(plan: Plan) -> None:
            """A plan made from an alarm card's button ran: the card shows it in place of the button."""
            if plan.from_alarm:
                self.alarm_actions.executed(plan)

        operations.on_executed.append(alarm_card_change_ran)
        operations.on_executed.append(self.refresh_homes)  # the App Home of who opened it lately
        return operations

    @cached_property
    def escalations(self) -> Escalations:
        from bot.alarms.escalation import Escalations

        return Escalations(self.config, self.table, self.slack, self.clock)

    @cached_property
    def alarm_actions(self) -> AlarmActions:
        from bot.alarms.actions import AlarmActions

        return AlarmActions(
            self.config,
            self.access,
            self.platform,
            self.operations,
            self.stores.alarms,
            self.stores.audit,
            self.slack,
            self.once,
            self.escalations,
            self.clock,
        )

    def cost_reporter(self) -> CostReporter:
        from bot.cost import CostReporter

        return CostReporter(self.config, self.clients, self.table, self.clock)

    @cached_property
    def alarm_graphs(self) -> AlarmGraphs:
        """The graph on each alarm card (bot.alarms.context), added after the relay's batch."""
        from bot.alarms.changed import WhatChanged
        from bot.alarms.context import AlarmGraphs

        return AlarmGraphs(
            self.config,
            self.platform,
            self.slack,
            self.stores.alarms,
            self.stores.audit,
            self.clock,
            self.clocks.sleep,
            what_changed=WhatChanged(self.platform, self.table),
        )

    @cached_property
    def reads(self) -> ReadCommands:
        from bot.reads import ReadCommands

        reads = ReadCommands(
            self.config,
            self.platform,
            self.access,
            self.stores.locks,
            self.stores.audit,
            self.stores.status,
            self.clock,
            self.cost_reporter,
            timelines=lambda: self.timelines,
        )
        reads.on_lock_change.append(self.refresh_homes)  # the App Home shows locks
        return reads

    @cached_property
    def timelines(self) -> Timelines:
        from bot.timeline import Timelines

        return Timelines(
            self.config,
            self.platform,
            self.access,
            self.stores.audit,
            self.stores.plans,
            self.stores.alarms,
            self.escalations,
            self.slack,
            lambda: self.once,
            self.clock,
        )

    @cached_property
    def home(self) -> HomeTab:
        """The App Home tab (bot.home): published when opened, refreshed after each change."""
        from bot.home import HomeTab, HomeViewers

        return HomeTab(
            self.config,
            self.platform,
            self.access,
            self.stores.locks,
            self.stores.audit,
            self.stores.status,
            self.stores.deploy_cards,
            HomeViewers(self.table),
            publish=lambda user, view: self.slack_client.views_publish(user_id=user, view=view),
            tell=lambda user, message: self.slack.post(user, message),  # their messages with the app
            reply=lambda: self.reads.reply,
            clock=self.clock,
            sleep=self.clocks.sleep,
        )

    def refresh_homes(self, *_: object) -> None:
        """After a change (an operation, a lock, a finished deploy): the App Home of who opened it lately."""
        self.home.refresh()

    # --- the Slack function's ack path: cheap to build ---------------------------------------------------

    @cached_property
    def parser(self) -> Parser:
        from bot.commands import Parser

        return Parser(self.configuration.ack)

    @cached_property
    def dispatcher(self) -> Dispatcher:
        from bot.dispatch import Dispatcher

        return Dispatcher(
            self.config,
            lambda: self.reads,
            lambda: self.operations,
            lambda: self.alarm_actions,
            self.metrics,
            self.clocks.monotonic,
            pickers=lambda: self.pickers,
        )

    @cached_property
    def pickers(self) -> Pickers:
        """The choices the forms (bot.modals) load as a person picks."""
        from bot.pickers import Pickers

        return Pickers(self.config, self.platform, self.stores.history, self.access)


def _discard() -> Metrics:
    from bot.metrics import DISCARD

    return DISCARD


def build_runtime(
    environ: Mapping[str, str] | None = None,
    clocks: Clocks | None = None,
    metrics: Metrics | None = None,
    function: Function | None = None,
) -> Runtime:
    """The bot wired from the environment: config, AWS client factory and the Slack Web API client; `metrics`
    (the function's bot.metrics.Emf) reaches every component that emits, the Slack client's retries included;
    `function` (template.yaml's logical id) is whose role the AWS clients call with."""
    from bot.aws import ClientFactory
    from bot.slack import slack_client

    environ = os.environ if environ is None else environ
    configuration = Configuration(environ)
    clients = ClientFactory(endpoint_url=configuration.ack.aws_endpoint_url, function=function)
    client = slack_client(configuration.ack.slack_api_url, bot_token(environ), metrics)
    return Runtime(configuration, clients, client, clocks or Clocks(), metrics or _discard())


class PerContainer[T]:
    """What a function builds once per container, on first use, from a Runtime; `reset` forgets it (tests
    that change the environment), optionally with other clocks for the next build (tests, benchmarks)."""

    def __init__(
        self,
        build: Callable[[Runtime], T],
        logger: Logger | None = None,
        *loggers: str,
        metrics: Metrics | None = None,  # the function's bot.metrics.Emf, handed to the Runtime it builds
        function: Function | None = None,  # the function it runs in: its AWS calls are checked against its grants
    ) -> None:
        self._build = build
        self.function = function
        self._logger = logger
        self._loggers = loggers
        self.metrics = metrics
        self._lock = threading.Lock()
        self._value: T | None = None
        self.clocks = Clocks()

    def get(self) -> T:
        with self._lock:
            if self._value is None:
                if self._logger is not None:  # first, so that a build that fails logs like the rest
                    share_logging(self._logger, *self._loggers)
                runtime = build_runtime(clocks=self.clocks, metrics=self.metrics, function=self.function)
                self._value = self._build(runtime)
            return self._value

    def reset(self, clocks: Clocks | None = None) -> None:
        with self._lock:
            self._value = None
            self.clocks = clocks or Clocks()
