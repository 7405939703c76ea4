"""The bot's fixtures, registered once for the whole suite (tests/conftest.py's pytest_plugins): moto
in-process, seeded like infra/, the Slack stand-in, the Slack function, and the alarm relay and deployment
functions built from the same environment. A directory's conftest.py (or a test module) overrides only what
it changes: its `config_dict`, a `slack` that fails on demand.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
import yaml
from alarms.support import AlarmsLambda
from harness import AWS_TEST_ENVIRONMENT, AWS_UNSET, BOT_TOKEN, SIGNING_SECRET, Bot, config_data
from moto import mock_aws

from bot.aws import new_session
from bot.config import Config, parse_config
from sandbox import dynamodb_atomic
from sandbox.clock import SimulatedClock
from sandbox.seed import Seeded, SeedPlan, seed
from sandbox.slack_api import SlackStandIn

# moto checks a write's condition and stores it in two steps; DynamoDB does both as one, and the bot's locks
# and leases rest on that. Every test that runs moto in this process gets DynamoDB's behaviour.
dynamodb_atomic.install()


_boto3_default_session = boto3.setup_default_session
_SHARED_SESSION_SETTINGS = frozenset({"aws_access_key_id", "aws_secret_access_key", "aws_session_token", "region_name"})


def _default_session(**settings: Any) -> None:
    if settings.keys() <= _SHARED_SESSION_SETTINGS:
        boto3.DEFAULT_SESSION = new_session(**settings)
    else:  # a profile or a botocore session of its own: boto3's way
        _boto3_default_session(**settings)


# moto makes boto3 forget its default session at each mock_aws(), so each test's boto3.client() would make a
# session and parse its services' models anew (~30 ms a client): the tests' default sessions share the
# process's models, as the bot's own sessions do (bot.aws.new_session).
boto3.setup_default_session = _default_session

TESTS = Path(__file__).resolve().parent
# The directories whose tests run the bot in-process on moto, with fake credentials. The others (infra,
# deploy, services, sandbox) start processes and servers that bring their own environment.
IN_PROCESS = frozenset({"alarms", "bot", "cost", "reliability", "routing"})


def _in_process(request: pytest.FixtureRequest) -> bool:
    path = request.path.resolve()
    return path.is_relative_to(TESTS) and path.relative_to(TESTS).parts[0] in IN_PROCESS


@pytest.fixture(autouse=True)
def aws_environment(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """harness.AWS_TEST_ENVIRONMENT for the tests of IN_PROCESS."""
    if not _in_process(request):
        return
    for name, value in AWS_TEST_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    for name in AWS_UNSET:
        monkeypatch.delenv(name, raising=False)
    # moto has no GetMetricWidgetImage; sandbox.metric_widget.install() adds it for the rest of the process (the
    # sandbox's tests do). These tests start on moto as it is, so alarm cards get no graph (and no extra write)
    # unless the test installs it (tests/alarms/test_graph.py); put back afterwards.
    from moto.cloudwatch.responses import CloudWatchResponse

    monkeypatch.delattr(CloudWatchResponse, "get_metric_widget_image", raising=False)


class RetryWaits:
    """The waits that slack_sdk's and botocore's retry logic asked for, in seconds, in the order asked (from
    any thread): recorded, then not waited (the stand-in and moto answer the next attempt as they would after
    the wait). A test of retries asserts them: Retry-After honoured, the backoff's bounds."""

    def __init__(self) -> None:
        self.slack: list[float] = []
        self.aws: list[float] = []

    def assert_slack(self, floors: list[float]) -> None:
        """slack_sdk waited once before each retry, at least its floor and less than a second more (its jitter):
        Retry-After on a 429, the backoff's 0.5 s then 1 s on a 5xx or a dropped connection."""
        assert len(self.slack) == len(floors), (self.slack, floors)
        for wait, floor in zip(sorted(self.slack), sorted(floors), strict=True):
            assert floor <= wait < floor + 1, (self.slack, floors)

    @staticmethod
    def _recorder(into: list[float]) -> SimpleNamespace:
        def sleep(seconds: float) -> None:
            into.append(float(seconds))
            time.sleep(0)  # lets another thread run, as the wait would

        return SimpleNamespace(sleep=sleep)


@pytest.fixture(autouse=True)
def retry_waits(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> RetryWaits:
    """For the tests of IN_PROCESS: the `time` that slack_sdk's retry handlers (slack_sdk.http_retry) and
    botocore's retries (botocore.endpoint) sleep with is a RetryWaits recorder; those modules use `time` for
    nothing else. The code under test is unchanged."""
    waits = RetryWaits()
    if _in_process(request):
        import botocore.endpoint
        import slack_sdk.http_retry.builtin_handlers
        import slack_sdk.http_retry.handler

        monkeypatch.setattr(slack_sdk.http_retry.handler, "time", RetryWaits._recorder(waits.slack))
        monkeypatch.setattr(slack_sdk.http_retry.builtin_handlers, "time", RetryWaits._recorder(waits.slack))
        monkeypatch.setattr(botocore.endpoint, "time", RetryWaits._recorder(waits.aws))
    return waits


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    stand_in = SlackStandIn().start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def config_dict() -> dict[str, Any]:
    """Override in a test module to change the configuration the bot runs with."""
    return config_data()


@pytest.fixture
def seed_plan() -> SeedPlan:
    return SeedPlan()


@pytest.fixture
def config(config_dict: dict[str, Any]) -> Config:
    return parse_config(config_dict)


@pytest.fixture
def aws(config: Config, seed_plan: SeedPlan) -> Iterator[Seeded]:
    with mock_aws():
        yield seed(config, plan=seed_plan)


def _deploy_slack_function(
    patch: pytest.MonkeyPatch, path: Path, config_dict: dict[str, Any], slack: SlackStandIn
) -> None:
    """The Slack function's environment as template.yaml sets it (secrets given directly, lazy work in
    threads), its config file written to `path`; the next request builds the function afresh."""
    import handlers.slack

    path.write_text(yaml.safe_dump(config_dict))
    patch.setenv("OPSBOT_CONFIG_FILE", str(path))
    patch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    patch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    patch.setenv("SLACK_API_URL", slack.api_url)
    patch.setenv("OPSBOT_LAZY", "thread")
    handlers.slack.reset()


def _end_lazy_invocations(harness: Bot) -> None:
    """The test's lazy work ends as its Lambda invocations would: finished, and its figures written (the
    function's log_metrics flushes at the end of each one). Run in threads here, its figures would otherwise wait
    in the process's metrics for the next request's flush: the next test's."""
    import handlers.slack

    harness.drain()
    handlers.slack.metrics.flush()


@pytest.fixture
def bot(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    slack: SlackStandIn,
    config_dict: dict[str, Any],
    aws: Seeded,
) -> Iterator[Bot]:
    import handlers.slack

    _deploy_slack_function(monkeypatch, tmp_path / "config.yaml", config_dict, slack)
    # Built before the test's first request, as the deployed function is (template.yaml: SnapStart, prime as
    # the before-snapshot hook): that request's ack then builds nothing, and a form it opens meets the
    # trigger_id's 3 s however loaded the machine. A test that changes the environment the function is built
    # from calls handlers.slack.reset() after its change.
    handlers.slack.prime()
    harness = Bot(slack)
    yield harness
    _end_lazy_invocations(harness)
    handlers.slack.reset()


@pytest.fixture(scope="class")
def shared_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    """One seeded world, Slack stand-in and warm Slack function for every test of a class (of a module, for
    tests outside a class): seeding moto costs about as much as a whole case, and most bad inputs are
    refused by the parser. Only for tests that cannot change what another one sees (refused before any AWS
    call, or read-only); a test that may write takes `bot`. Never mix the two in one class: `bot`'s
    mock_aws(), nested in this one, would reset the shared world. Runs on the default configuration."""
    import handlers.slack

    with pytest.MonkeyPatch.context() as patch:
        for name, value in AWS_TEST_ENVIRONMENT.items():
            patch.setenv(name, value)
        for name in AWS_UNSET:
            patch.delenv(name, raising=False)
        config_dict = config_data()
        path = tmp_path_factory.mktemp("shared-bot") / "config.yaml"
        slack = SlackStandIn().start()
        try:
            with mock_aws():
                seed(parse_config(config_dict))
                _deploy_slack_function(patch, path, config_dict, slack)
                harness = Bot(slack)
                try:
                    yield harness
                finally:
                    _end_lazy_invocations(harness)
                    handlers.slack.reset()
        finally:
            slack.stop()


@pytest.fixture
def fake_time() -> SimulatedClock:
    return SimulatedClock()


@pytest.fixture
def alarms(bot: Bot, fake_time: SimulatedClock) -> Iterator[AlarmsLambda]:
    """handlers.alarms.handler, built from the same environment as the Slack function, pacing on fake time."""
    import handlers.alarms
    from handlers.runtime import Clocks

    handlers.alarms.reset(Clocks(monotonic=fake_time.now, sleep=fake_time.sleep))
    yield AlarmsLambda(bot)
    handlers.alarms.reset()


@pytest.fixture
def deployments(bot: Bot) -> Iterator[Any]:
    """handlers.deployments.handler (ECS deployment events), built from the same environment."""
    import handlers.deployments

    handlers.deployments.reset()
    yield handlers.deployments
    handlers.deployments.reset()


class _Kept(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def log_messages() -> Iterator[Callable[..., list[str]]]:
    """log_messages("bot.operations", logging.WARNING): the messages that logger writes from now on, at that
    level or above, until the test ends (the bot's loggers do not propagate to the root once Powertools has
    them)."""
    attached: list[tuple[logging.Logger, _Kept]] = []

    def keep(logger_name: str, level: int = logging.WARNING) -> list[str]:
        kept = _Kept(level)
        logger = logging.getLogger(logger_name)
        logger.addHandler(kept)
        attached.append((logger, kept))
        return kept.messages

    yield keep
    for logger, kept in attached:
        logger.removeHandler(kept)


@pytest.fixture
def relay_warnings(log_messages: Callable[..., list[str]]) -> list[str]:
    """The alarm relay's warnings."""
    return log_messages("bot.alarms.relay")
