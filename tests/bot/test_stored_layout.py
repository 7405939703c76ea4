"""Items the previous code stored (deployed tables hold them) still load, and the stores write the same bytes.

The records are (de)serialised by bot.table.Codec now instead of hand-written asdict/from_data; the JSON in an
item's `data` attribute must not change: tuples stored as lists, nested records as objects, absent optionals
as null, fields in the dataclass's order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bot.aws import ClientFactory
from bot.deployments import DeployCard, DeployCards
from bot.table import Table

TABLE = "fargate-chatops-state"
REGION = "us-east-1"
NOW = 1_700_000_000.0
SERVICE_ARN = "arn:aws:ecs:us-east-1:123456789012:service/ecs-microservices-production/service-a"
TASK_DEFINITION = "arn:aws:ecs:us-east-1:123456789012:task-definition/ecs-microservices-production-service-a:{}"

# json.dumps(dataclasses.asdict(card)), as StateStore.save_deploy_card wrote it.
DEPLOY_CARD_DATA = (
    '{"channel": "C0000000OPS", "ts": "1700000000.000100", "plan_id": "a1b2c3", "env": "production", '
    '"service": "service-a", "actor": "U0000DEPLOY", "summary": "deploy service-a v1.3.0", '
    '"started_at": 1699999990.5, "task_definition": "' + TASK_DEFINITION.format(4) + '", '
    '"from_task_definition": "' + TASK_DEFINITION.format(3) + '", "deployment_id": "ecs-svc/123", '
    '"release_lock": true, "requested_by": "U0000ASKER", "copies": [["C000000COPY", "1700000000.000200"]]}'
)
DEPLOY_CARD = DeployCard(
    channel="C0000000OPS",
    ts="1700000000.000100",
    plan_id="a1b2c3",
    env="production",
    service="service-a",
    actor="U0000DEPLOY",
    summary="deploy service-a v1.3.0",
    started_at=1699999990.5,
    task_definition=TASK_DEFINITION.format(4),
    from_task_definition=TASK_DEFINITION.format(3),
    deployment_id="ecs-svc/123",
    release_lock=True,
    requested_by="U0000ASKER",
    copies=(("C000000COPY", "1700000000.000200"),),
)


@pytest.fixture
def table() -> Iterator[Table]:
    with mock_aws():
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield Table(ClientFactory(), TABLE, REGION, clock=lambda: NOW)


def stored(table: Table, pk: str, sk: str, data: str, expires_at: float = NOW + 86400) -> None:
    """An item as the previous code wrote it."""
    item = {"pk": {"S": pk}, "sk": {"S": sk}, "data": {"S": data}, "expires_at": {"N": str(int(expires_at))}}
    table.ddb.put_item(TableName=TABLE, Item=item)


def data_of(table: Table, pk: str, sk: str) -> Any:
    item = table.ddb.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}})["Item"]
    return item["data"]["S"], item.get("expires_at", {}).get("N")


def test_a_deploy_card_stored_by_the_previous_code_loads_with_its_copies(table: Table) -> None:
    stored(table, f"card#{SERVICE_ARN}", "deploy", DEPLOY_CARD_DATA)
    cards = DeployCards(table)
    assert cards.get(SERVICE_ARN) == DEPLOY_CARD
    assert cards.many([SERVICE_ARN, SERVICE_ARN + "-other"]) == {SERVICE_ARN: DEPLOY_CARD}
    assert cards.take(SERVICE_ARN) == DEPLOY_CARD
    assert cards.take(SERVICE_ARN) is None
    assert cards.get(SERVICE_ARN) is None


def test_a_deploy_card_of_before_copies_and_requested_by_loads_with_their_defaults(table: Table) -> None:
    old = json.loads(DEPLOY_CARD_DATA)
    del old["copies"], old["requested_by"]
    old["deployment_id"] = None
    stored(table, f"card#{SERVICE_ARN}", "deploy", json.dumps(old))
    card = DeployCards(table).get(SERVICE_ARN)
    assert card is not None
    assert (card.copies, card.requested_by, card.deployment_id) == ((), "", None)


def test_a_deploy_card_is_saved_in_the_previous_bytes_expiring_a_week_after_the_tables_now(table: Table) -> None:
    DeployCards(table).save(SERVICE_ARN, DEPLOY_CARD)
    assert data_of(table, f"card#{SERVICE_ARN}", "deploy") == (DEPLOY_CARD_DATA, str(int(NOW + 7 * 86400)))


def test_an_expired_deploy_card_is_absent_on_the_tables_clock(table: Table) -> None:
    stored(table, f"card#{SERVICE_ARN}", "deploy", DEPLOY_CARD_DATA, expires_at=NOW)
    assert DeployCards(table).get(SERVICE_ARN) is None
    assert DeployCards(table).take(SERVICE_ARN) is None
