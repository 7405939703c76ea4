"""Issue 21 review 1, finding 2: two environments in one AWS account and region.

The tests' configuration runs production and staging in the same account and region, each on its own
cluster (ecs-microservices-{env}-cluster). An alarm not named by the platform's naming was placed in the
default environment (production) whatever cluster its metric is of, and a service rule then gave staging's
alarm production's Scale up and Show logs buttons. The alarm's ClusterName dimension says whose it is; when
nothing does, the card has no service buttons rather than the default environment's.
"""

from __future__ import annotations

import pytest

from .conftest import alarm_config
from .support import AlarmsLambda, metric_alarm
from .test_foreign_accounts import SERVICE_BUTTONS

RULES = [{"service": "service-a", "name_prefix": "orders-"}]
STAGING = {"ClusterName": "ecs-microservices-staging-cluster", "ServiceName": "ecs-microservices-staging-service-a"}


def _button_envs(alarms: AlarmsLambda) -> set[str]:
    from bot.alarms.cards import ButtonValue

    return {ButtonValue.decode(b["value"]).env for b in alarms.buttons(alarms.card()).values()}


@pytest.mark.parametrize("config_dict", [alarm_config(service_rules=RULES)])
def test_a_custom_alarm_on_staging_s_cluster_is_staging_s(alarms: AlarmsLambda) -> None:
    """Exploit: staging's `orders-queue-depth` got a card for service-a (production), and its Scale up scaled
    production's service."""
    alarms.deliver(metric_alarm(name="orders-queue-depth", dimensions=STAGING))
    text = alarms.text(alarms.card())
    assert "*service-a* (staging)" in text
    assert "production" not in text
    assert set(alarms.buttons(alarms.card())) == SERVICE_BUTTONS
    assert _button_envs(alarms) == {"staging"}


def test_a_service_name_of_staging_s_cluster_is_not_production_s_service(alarms: AlarmsLambda) -> None:
    """The ServiceName dimension matched the service whatever cluster it runs in."""
    dimensions = {
        "ClusterName": "ecs-microservices-staging-cluster",
        "ServiceName": "ecs-microservices-production-service-a",
    }
    alarms.deliver(metric_alarm(name="legacy-cpu", dimensions=dimensions))
    text = alarms.text(alarms.card())
    assert "*service-a*" not in text
    assert set(alarms.buttons(alarms.card())) == {"alarm_ack", "alarm_mute"}


@pytest.mark.parametrize("config_dict", [alarm_config(service_rules=RULES)])
def test_an_alarm_nothing_places_in_one_of_the_two_environments_has_no_service_buttons(
    alarms: AlarmsLambda,
) -> None:
    """Exploit: with no cluster to tell, the alarm was the default environment's, with its buttons."""
    alarms.deliver(metric_alarm(name="orders-queue-depth", dimensions={"QueueName": "orders"}))
    card = alarms.card()
    assert "no known service" in alarms.text(card)
    assert set(alarms.buttons(card)) == {"alarm_ack", "alarm_mute"}


@pytest.mark.parametrize("config_dict", [alarm_config(service_rules=RULES)])
def test_a_custom_alarm_on_production_s_cluster_keeps_its_buttons(alarms: AlarmsLambda) -> None:
    dimensions = {"ClusterName": "ecs-microservices-production-cluster"}
    alarms.deliver(metric_alarm(name="orders-queue-depth", dimensions=dimensions))
    assert "*service-a* (production)" in alarms.text(alarms.card())
    assert set(alarms.buttons(alarms.card())) == SERVICE_BUTTONS
    assert _button_envs(alarms) == {"production"}
