"""An alarm card's button carries its alarm, environment and service in its value, which anyone in the workspace
can rewrite before it reaches the bot. The bot checks the value against the card it stored for that alarm: the
role is checked for the card's environment, and the change shown on the card is the one made to its service.
And a Mute that ran out can be pressed again on the same card."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from harness import OPERATOR, VIEWER, ecs_service, stores

from bot.alarms.store import AlarmMute

from .support import ALARM_CHANNEL, AlarmsLambda, metric_alarm


def fired(alarms: AlarmsLambda) -> Any:
    alarms.deliver(metric_alarm(at=datetime.now(UTC)))  # service-a's alarm, in production
    return alarms.cards()[-1]


def value_of(alarms: AlarmsLambda, card: Any, action: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(alarms.buttons(card)[action]["value"])
    return value


def shown(alarms: AlarmsLambda, card: Any) -> str:
    return alarms.text(next(m for m in alarms.slack.channel(ALARM_CHANNEL) if m.ts == card.ts))


def test_a_viewer_cannot_mute_a_production_alarm_by_naming_an_environment_where_they_may(
    alarms: AlarmsLambda,
) -> None:
    card = fired(alarms)
    value = value_of(alarms, card, "alarm_mute")
    assert value["e"] == "production"
    honest = alarms.bot.click("alarm_mute", json.dumps(value), card.ts, user=VIEWER, channel=ALARM_CHANNEL)
    assert "needs the *operator* role" in honest.text
    # in staging, everyone is a deployer
    forged = alarms.bot.click(
        "alarm_mute", json.dumps(value | {"e": "staging"}), card.ts, user=VIEWER, channel=ALARM_CHANNEL
    )
    assert "does not match" in forged.text
    assert stores().alarms.record(value["a"]).mute is None
    assert "Muted" not in shown(alarms, card)
    assert [e.decision for e in stores().audit.trail("production", "service-a")] == ["denied"]


def test_a_scale_up_of_another_service_from_a_card_is_refused_and_changes_nothing(alarms: AlarmsLambda) -> None:
    card = fired(alarms)
    value = value_of(alarms, card, "alarm_scale_up")
    assert value["s"] == "service-a"
    before = ecs_service("service-b")["desiredCount"]
    reply = alarms.bot.click(
        "alarm_scale_up", json.dumps(value | {"s": "service-b"}), card.ts, user=OPERATOR, channel=ALARM_CHANNEL
    )
    assert "does not match" in reply.text
    assert "plan_confirm" not in json.dumps(alarms.bot.last_card(ALARM_CHANNEL).blocks)  # no plan made
    assert ecs_service("service-b")["desiredCount"] == before
    assert "Scaled to" not in shown(alarms, card)


def test_the_card_s_own_value_still_scales_its_service(alarms: AlarmsLambda) -> None:
    card = fired(alarms)
    value = alarms.buttons(card)["alarm_scale_up"]["value"]
    assert alarms.bot.click("alarm_scale_up", value, card.ts, user=OPERATOR, channel=ALARM_CHANNEL).text == ""
    plan = alarms.bot.last_card(ALARM_CHANNEL)
    confirm = alarms.bot.button(plan, "plan_confirm")["value"]
    alarms.bot.click("plan_confirm", confirm, plan.ts, user=OPERATOR, channel=ALARM_CHANNEL)
    assert ecs_service("service-a")["desiredCount"] == 3
    assert "Scaled to 3 tasks" in shown(alarms, card)


def test_mute_pressed_again_after_the_mute_ran_out_mutes_again(alarms: AlarmsLambda) -> None:
    card = fired(alarms)
    value = alarms.buttons(card)["alarm_mute"]["value"]
    key = json.loads(value)["a"]
    assert alarms.bot.click("alarm_mute", value, card.ts, user=OPERATOR, channel=ALARM_CHANNEL).text == ""
    # an hour later the mute has run out, and the alarm fires again in the same incident: the same card
    stores().alarms.mute(key, AlarmMute(OPERATOR, time.time() - 3700, time.time() - 100))
    alarms.deliver(metric_alarm(state="OK", old="ALARM", at=datetime.now(UTC) + timedelta(minutes=1)))
    alarms.deliver(metric_alarm(at=datetime.now(UTC) + timedelta(minutes=2)))
    assert len(alarms.cards()) == 1
    again = alarms.buttons(next(m for m in alarms.slack.channel(ALARM_CHANNEL) if m.ts == card.ts))["alarm_mute"]
    assert again["value"] == value  # the same button as the first time

    reply = alarms.bot.click("alarm_mute", again["value"], card.ts, user=OPERATOR, channel=ALARM_CHANNEL)

    assert "Already done" not in reply.text
    mute = stores().alarms.record(key).mute
    assert mute is not None
    assert mute.until > time.time()
    assert "Muted by" in shown(alarms, card)


def test_mute_pressed_twice_while_muted_says_so_and_keeps_the_first(alarms: AlarmsLambda) -> None:
    card = fired(alarms)
    value = alarms.buttons(card)["alarm_mute"]["value"]
    key = json.loads(value)["a"]
    alarms.bot.click("alarm_mute", value, card.ts, user=OPERATOR, channel=ALARM_CHANNEL)
    first = stores().alarms.record(key).mute
    reply = alarms.bot.click("alarm_mute", value, card.ts, user=OPERATOR, channel=ALARM_CHANNEL)
    assert "Already muted by" in reply.text
    assert stores().alarms.record(key).mute == first
    assert [e.decision for e in stores().audit.trail("production", "service-a")] == ["muted"]
