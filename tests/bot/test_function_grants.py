"""Strict mode checks each AWS call against the grants of the function that makes it (bot/permissions.py, as
template.yaml gives each function's role), not against every function's grants: an action granted only to
another function is AccessDenied in AWS, so it fails the test that makes it.

Found by review: the alarms function's what-changed reply released a claim with DeleteItem, which only the
Slack, deployments, costs and escalation functions could call then; every test passed, since some function may."""

from __future__ import annotations

import pytest

from bot.aws import ClientFactory, UndeclaredActionError
from bot.config import Config
from bot.permissions import Function, actions_for
from sandbox.seed import Seeded

KEY = {"pk": {"S": "probe"}, "sk": {"S": "probe"}}


def test_an_action_granted_only_to_other_functions_is_refused_to_this_one(aws: Seeded, config: Config) -> None:
    assert "dynamodb:BatchGetItem" not in actions_for(Function.COSTS)
    costs = ClientFactory(function=Function.COSTS).client("dynamodb", "us-east-1")
    with pytest.raises(UndeclaredActionError, match="dynamodb:BatchGetItem is not granted to CostsFunction"):
        costs.batch_get_item(RequestItems={config.state_table: {"Keys": [KEY]}})
    slack = ClientFactory(function=Function.SLACK).client("dynamodb", "us-east-1")
    slack.batch_get_item(RequestItems={config.state_table: {"Keys": [KEY]}})  # granted to the Slack function: made


def test_without_a_function_any_declared_action_is_allowed_and_an_undeclared_one_refused(
    aws: Seeded, config: Config
) -> None:
    anyone = ClientFactory().client("dynamodb", "us-east-1")
    anyone.delete_item(TableName=config.state_table, Key=KEY)
    with pytest.raises(UndeclaredActionError, match="dynamodb:DeleteTable is not declared"):
        anyone.delete_table(TableName=config.state_table)
