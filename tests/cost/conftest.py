from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fixtures_bot import aws_environment  # the same fake credentials and strict AWS actions
from moto import mock_aws

from bot.aws import ClientFactory
from bot.config import Config, parse_config
from bot.cost import CostReporter
from bot.table import Table
from sandbox.clock import SimulatedClock
from sandbox.seed import create_table

from .support import CHANNEL, NOW, TABLE

__all__ = ["aws_environment"]


def config_data(**cost: Any) -> dict[str, Any]:
    return {
        "project": "ecs-microservices",
        "default_environment": "production",
        "environments": [{"name": "production", "region": "us-east-1", "account_id": "123456789012"}],
        "services": [{"name": "service-a"}, {"name": "service-b"}],
        "state_table": TABLE,
        "cost": {"weekly_channel": CHANNEL, **cost},
    }


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        create_table(TABLE, "us-east-1")
        yield


@pytest.fixture
def config() -> Config:
    return parse_config(config_data())


@pytest.fixture
def clients(aws: None) -> ClientFactory:
    return ClientFactory()


@pytest.fixture
def table(clients: ClientFactory) -> Table:
    return Table(clients, TABLE, "us-east-1")


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(NOW)


@pytest.fixture
def reporter(config: Config, clients: ClientFactory, table: Table, clock: SimulatedClock) -> CostReporter:
    return CostReporter(config, clients, table, clock)
