"""Items the previous code stored (deployed tables hold them) still load, and the stores write the same bytes.

The records are (de)serialised by bot.table.Codec now instead of hand-written asdict/from_data; the JSON in an
item's `data` attribute must not change: tuples stored as lists, nested records as objects, absent optionals
as null, fields in the dataclass's order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from bot.alarms.store import (
    AlarmAck,
    AlarmCard,
    AlarmDone,
    AlarmMute,
    AlarmStore,
    Digest,
    DigestEntry,
    RecentDeploy,
    StormWindow,
)
from bot.aws import ClientFactory
from bot.deployments import DeployCard, DeployCards
from bot.home import HomeViewer, HomeViewers
from bot.table import Table
from sandbox.seed import create_table

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
        create_table(TABLE, REGION)
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


ALARM_KEY = "123456789012#us-east-1#service-a-5xx"
# json.dumps(dataclasses.asdict(card)), as StateStore.save_alarm_card wrote it: a nested deploy, copies as lists.
ALARM_CARD_DATA = (
    '{"key": "123456789012#us-east-1#service-a-5xx", "name": "service-a-5xx", "channel": "C0000000OPS", '
    '"ts": "1700000000.000300", "incident": "123456789012#us-east-1#service-a-5xx@1699999900.000", '
    '"state": "ALARM", "changed_at": 1699999950.0, "opened_at": 1699999900.0, "resolved_at": null, "fired": 2, '
    '"in_digest": false, "env": "production", "service": "service-a", "region": "us-east-1", '
    '"reason": "Threshold Crossed", "description": "", "condition": "5XX > 10 for 1 datapoint", '
    '"deploy": {"actor": "U0000DEPLOY", "at": 1699999800.0, "summary": "deploy service-a v1.3.0", '
    '"from_revision": 3, "to_revision": 4, "from_tag": "v1.2.0", "to_tag": "v1.3.0"}, '
    '"copies": [["C000000COPY", "1700000000.000400"], ["C00000COPY2", ""]], "foreign": ""}'
)
ALARM_CARD = AlarmCard(
    key=ALARM_KEY,
    name="service-a-5xx",
    channel="C0000000OPS",
    ts="1700000000.000300",
    incident=f"{ALARM_KEY}@1699999900.000",
    state="ALARM",
    changed_at=1699999950.0,
    opened_at=1699999900.0,
    fired=2,
    env="production",
    service="service-a",
    region="us-east-1",
    reason="Threshold Crossed",
    condition="5XX > 10 for 1 datapoint",
    deploy=RecentDeploy("U0000DEPLOY", 1699999800.0, "deploy service-a v1.3.0", 3, 4, "v1.2.0", "v1.3.0"),
    copies=(("C000000COPY", "1700000000.000400"), ("C00000COPY2", "")),
)
ACK_DATA = '{"by": "U0000ONCALL", "at": 1699999960.0, "incident": "' + ALARM_CARD.incident + '"}'
MUTE_DATA = '{"by": "U0000ONCALL", "at": 1699999970.0, "until": 1700003570.0}'
DONE_DATA = (
    '{"action": "rollback", "to": 3, "by": "U0000ONCALL", "requested_by": "U0000ASKER", "at": 1699999980.0, '
    '"incident": "' + ALARM_CARD.incident + '", "plan_id": "d4e5f6"}'
)
STORM_DATA = (
    '{"opened": {"'
    + ALARM_KEY
    + '": 1699999900.0}, "digest_ts": "1700000000.000500", "digest_joined_at": 1699999900.0}'
)
DIGEST_DATA = (
    '{"channel": "C0000000OPS", "ts": "1700000000.000500", "opened_at": 1699999900.0, "entries": {"'
    + ALARM_KEY
    + '": {"name": "service-a-5xx", "state": "ALARM", "since": 1699999950.0, "service": "service-a"}}}'
)


def test_an_alarm_record_stored_by_the_previous_code_loads_with_its_deploy_and_copies(table: Table) -> None:
    stored(table, f"alarm#{ALARM_KEY}", "card", ALARM_CARD_DATA)
    stored(table, f"alarm#{ALARM_KEY}", "ack", ACK_DATA)
    stored(table, f"alarm#{ALARM_KEY}", "mute", MUTE_DATA)
    stored(table, f"alarm#{ALARM_KEY}", "done#rollback", DONE_DATA)
    record = AlarmStore(table).record(ALARM_KEY)
    assert record.card == ALARM_CARD
    assert record.ack == AlarmAck("U0000ONCALL", 1699999960.0, ALARM_CARD.incident)
    assert record.current_ack == record.ack
    assert record.mute == AlarmMute("U0000ONCALL", 1699999970.0, 1700003570.0)
    assert record.current_done == (
        AlarmDone("rollback", 3, "U0000ONCALL", "U0000ASKER", 1699999980.0, ALARM_CARD.incident, "d4e5f6"),
    )


def test_an_alarm_card_of_before_copies_and_foreign_loads_with_their_defaults(table: Table) -> None:
    old = json.loads(ALARM_CARD_DATA)
    del old["copies"], old["foreign"]
    old["deploy"] = None
    stored(table, f"alarm#{ALARM_KEY}", "card", json.dumps(old))
    card = AlarmStore(table).record(ALARM_KEY).card
    assert card is not None
    assert (card.copies, card.foreign, card.deploy) == ((), "", None)


def test_alarm_records_are_saved_in_the_previous_bytes(table: Table) -> None:
    alarms = AlarmStore(table)
    stored(table, f"alarm#{ALARM_KEY}", "card", ALARM_CARD_DATA)
    loaded = alarms.record(ALARM_KEY)
    assert loaded.card is not None
    alarms.save_card(loaded.card)
    # Every field the previous code wrote, in its order and form; then the card's graph fields (issue 19), new
    # and empty until a graph is drawn (the previous code reads the item and ignores them).
    saved, expires = data_of(table, f"alarm#{ALARM_KEY}", "card")
    previous, added = ALARM_CARD_DATA[:-1], {"graph": "", "graph_title": "", "graph_for": "", "children": []}
    assert saved.startswith(previous + ", ")
    assert json.loads(saved) == json.loads(ALARM_CARD_DATA) | added
    assert expires == str(int(NOW + 30 * 86400))
    alarms.acknowledge(ALARM_KEY, AlarmAck("U0000ONCALL", 1699999960.0, ALARM_CARD.incident))
    assert data_of(table, f"alarm#{ALARM_KEY}", "ack")[0] == ACK_DATA
    alarms.mute(ALARM_KEY, AlarmMute("U0000ONCALL", 1699999970.0, 1700003570.0))
    assert data_of(table, f"alarm#{ALARM_KEY}", "mute") == (MUTE_DATA, "1700003570")
    alarms.done(
        ALARM_KEY, AlarmDone("rollback", 3, "U0000ONCALL", "U0000ASKER", 1699999980.0, ALARM_CARD.incident, "d4e5f6")
    )
    assert data_of(table, f"alarm#{ALARM_KEY}", "done#rollback")[0] == DONE_DATA


def test_a_storm_window_and_its_digest_load_and_save_in_the_previous_bytes(table: Table) -> None:
    stored(table, "alarmstorm#C0000000OPS", "window", STORM_DATA)
    stored(table, "alarmdigest#C0000000OPS", "1700000000.000500", DIGEST_DATA)
    alarms = AlarmStore(table)
    window = alarms.storm("C0000000OPS")
    assert window == StormWindow({ALARM_KEY: 1699999900.0}, "1700000000.000500", 1699999900.0)
    digest = alarms.digest("C0000000OPS", "1700000000.000500")
    entry = DigestEntry("service-a-5xx", "ALARM", 1699999950.0, "service-a")
    assert digest == Digest("C0000000OPS", "1700000000.000500", 1699999900.0, {ALARM_KEY: entry})
    alarms.save_storm("C0000000OPS", window, NOW + 3600)
    # The previous fields in their bytes, then what issue 18 added: the own cards behind the digest, and the
    # digest's own-card changes; empty in a record the previous code wrote.
    saved = data_of(table, "alarmstorm#C0000000OPS", "window")[0]
    assert saved.startswith(STORM_DATA[:-1] + ", ")
    assert json.loads(saved) == json.loads(STORM_DATA) | {"behind": {}}
    alarms.save_digest(digest, NOW)
    saved = data_of(table, "alarmdigest#C0000000OPS", "1700000000.000500")[0]
    assert saved.startswith(DIGEST_DATA[:-1])
    assert json.loads(saved) == json.loads(DIGEST_DATA) | {"changed": {}}
    assert alarms.storm("C0000000OTHER") == StormWindow()
    assert alarms.digest("C0000000OPS", "1700000000.000999") is None


# The App Home's viewers (bot.home), added by issue 20: these bytes are what the first version writes.
HOME_VIEWER_DATA = '{"user": "U0000VIEWER", "opened_at": 1699999990.0, "published_at": 1700000000.0, "version": 3}'


def test_a_home_viewer_loads_and_saves_in_its_bytes_expiring_a_day_after_opening(table: Table) -> None:
    stored(table, "home", "U0000VIEWER", HOME_VIEWER_DATA)
    viewers = HomeViewers(table)
    assert viewers.get("U0000VIEWER") == HomeViewer("U0000VIEWER", 1699999990.0, 1700000000.0, 3)
    assert viewers.recent() == [HomeViewer("U0000VIEWER", 1699999990.0, 1700000000.0, 3)]
    table.ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "home"}, "sk": {"S": "U0000VIEWER"}})
    assert viewers.claim("U0000VIEWER", 5.0, opened=True) == 0  # opened now: published now
    data, expires = data_of(table, "home", "U0000VIEWER")
    assert data == '{"user": "U0000VIEWER", "opened_at": 1700000000.0, "published_at": 1700000000.0, "version": 1}'
    assert expires == str(int(NOW + 86400))


def test_an_expired_home_viewer_is_absent_and_opening_again_replaces_it(table: Table) -> None:
    stored(table, "home", "U0000VIEWER", HOME_VIEWER_DATA, expires_at=NOW)
    viewers = HomeViewers(table)
    assert viewers.get("U0000VIEWER") is None
    assert viewers.claim("U0000VIEWER", 5.0) is None  # not a recent viewer: nothing to refresh
    assert viewers.claim("U0000VIEWER", 5.0, opened=True) == 0
    assert viewers.get("U0000VIEWER") is not None
