"""Issue 15, 4: a button of an alarm card that was used is gone; the card says what was done, by whom, when.

Roll back and Scale up from an alarm card make a plan card; only when that plan has run (Confirm, and the
change made) does the alarm card say "Rolled back to revision 3 by @x at 10:42 UTC" in place of the button.
A plan that was only made, cancelled, refused or failed leaves the button where it was. Everything is
driven through the Lambda handlers: clicks through handlers.slack, notifications through handlers.alarms,
ECS deployment events through handlers.deployments.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from harness import DEPLOYER, DEPLOYER2, OPERATOR, config_data, deployment_event, ecs_service, lambda_context

from .support import ALARM_CHANNEL, CLUSTER, PREFIX, AlarmsLambda, alarm_config, metric_alarm

TIME = r"\d\d:\d\d UTC"


def now() -> datetime:
    return datetime.now(UTC)


def rollout_completes(deployments: Any) -> None:
    service = ecs_service("service-a")
    event = deployment_event(service["serviceArn"], "SERVICE_DEPLOYMENT_COMPLETED", service["deployments"][0]["id"])
    assert deployments.handler(event, lambda_context("DeploymentsFunction"))["result"] == "completed"


def deployed_v130(alarms: AlarmsLambda, deployments: Any) -> None:
    """service-a goes from revision 3 to 4 (v1.3.0), and its rollout completes."""
    bot = alarms.bot
    assert bot.command("/deploy service-a v1.3.0").text == ""
    plan = bot.last_card()
    bot.click("plan_confirm", bot.button(plan, "plan_confirm")["value"], plan.ts)
    rollout_completes(deployments)
    assert ecs_service("service-a")["taskDefinition"].endswith(":4")


def fire(alarms: AlarmsLambda, at: datetime | None = None) -> Any:
    alarms.deliver(metric_alarm(at=at or now()))
    return alarms.cards()[-1]


def shown(alarms: AlarmsLambda, card: Any) -> Any:
    """The card as it is now in the channel."""
    return next(m for m in alarms.slack.channel(ALARM_CHANNEL) if m.ts == card.ts)


def press(alarms: AlarmsLambda, card: Any, action: str, user: str) -> Any:
    """Press a button of the alarm card; returns the plan card it made in the alarm's channel."""
    value = alarms.buttons(shown(alarms, card))[action]["value"]
    reply = alarms.bot.click(action, value, card.ts, user=user, channel=ALARM_CHANNEL)
    assert reply.text == "", reply.text
    return alarms.bot.last_card(ALARM_CHANNEL)


def plan_click(alarms: AlarmsLambda, plan: Any, action: str, user: str) -> Any:
    bot = alarms.bot
    return bot.click(action, bot.button(plan, action)["value"], plan.ts, user=user, channel=ALARM_CHANNEL)


# --- Roll back ------------------------------------------------------------------------------------------------


def test_a_roll_back_that_ran_replaces_its_button_with_what_was_done(alarms: AlarmsLambda, deployments: Any) -> None:
    deployed_v130(alarms, deployments)
    card = fire(alarms, now() + timedelta(minutes=2))
    plan = press(alarms, card, "alarm_rollback", DEPLOYER)
    # Planned, not run: the alarm card still offers it, and says nothing was done.
    assert "alarm_rollback" in alarms.buttons(shown(alarms, card))
    assert "Rolled back" not in alarms.text(shown(alarms, card))

    plan_click(alarms, plan, "plan_confirm", DEPLOYER)
    assert ecs_service("service-a")["taskDefinition"].endswith(":3")
    after = shown(alarms, card)
    assert re.search(rf"Rolled back to revision 3 by <@{DEPLOYER}> at {TIME}", alarms.text(after))
    assert "requested by" not in alarms.text(after)  # the one who asked is the one who confirmed
    assert set(alarms.buttons(after)) == {"alarm_scale_up", "alarm_logs", "alarm_ack", "alarm_mute"}


def test_a_cancelled_roll_back_leaves_the_button(alarms: AlarmsLambda, deployments: Any) -> None:
    deployed_v130(alarms, deployments)
    card = fire(alarms, now() + timedelta(minutes=2))
    plan = press(alarms, card, "alarm_rollback", DEPLOYER)
    plan_click(alarms, plan, "plan_cancel", DEPLOYER)
    after = shown(alarms, card)
    assert alarms.buttons(after)["alarm_rollback"]["text"]["text"] == "Roll back to revision 3"
    assert "Rolled back" not in alarms.text(after)
    assert ecs_service("service-a")["taskDefinition"].endswith(":4")


def test_a_refused_confirm_leaves_the_button_and_the_one_that_runs_it_is_named(
    alarms: AlarmsLambda, deployments: Any
) -> None:
    deployed_v130(alarms, deployments)
    card = fire(alarms, now() + timedelta(minutes=2))
    plan = press(alarms, card, "alarm_rollback", DEPLOYER)
    refused = plan_click(alarms, plan, "plan_confirm", OPERATOR)  # a rollback needs the deployer role
    assert "deployer" in refused.text
    assert "alarm_rollback" in alarms.buttons(shown(alarms, card))
    assert "Rolled back" not in alarms.text(shown(alarms, card))

    plan_click(alarms, plan, "plan_confirm", DEPLOYER2)
    text = alarms.text(shown(alarms, card))
    assert re.search(rf"Rolled back to revision 3 by <@{DEPLOYER2}> at {TIME} \(requested by <@{DEPLOYER}>\)", text)
    assert "alarm_rollback" not in alarms.buttons(shown(alarms, card))


def test_a_roll_back_that_failed_leaves_the_button(alarms: AlarmsLambda, deployments: Any) -> None:
    deployed_v130(alarms, deployments)
    card = fire(alarms, now() + timedelta(minutes=2))
    plan = press(alarms, card, "alarm_rollback", DEPLOYER)
    # Someone changes the service outside the bot before the Confirm: the plan is superseded, nothing runs.
    boto3.client("ecs", region_name="us-east-1").update_service(
        cluster=CLUSTER, service=f"{PREFIX}service-a", taskDefinition=f"{PREFIX}service-a:2"
    )
    plan_click(alarms, plan, "plan_confirm", DEPLOYER)
    assert "changed since this plan was made" in alarms.bot.card_text(alarms.bot.last_card(ALARM_CHANNEL))
    assert "alarm_rollback" in alarms.buttons(shown(alarms, card))
    assert "Rolled back" not in alarms.text(shown(alarms, card))


def test_what_was_done_stays_on_the_card_as_the_alarm_moves(alarms: AlarmsLambda, deployments: Any) -> None:
    deployed_v130(alarms, deployments)
    fired = now() + timedelta(minutes=2)
    card = fire(alarms, fired)
    plan_click(alarms, press(alarms, card, "alarm_rollback", DEPLOYER), "plan_confirm", DEPLOYER)

    alarms.deliver(metric_alarm(state="OK", old="ALARM", at=fired + timedelta(minutes=3)))
    resolved = alarms.text(shown(alarms, card))
    assert "RESOLVED" in resolved
    assert re.search(rf"Rolled back to revision 3 by <@{DEPLOYER}> at {TIME}", resolved)

    alarms.deliver(metric_alarm(at=fired + timedelta(minutes=5)))  # fires again within the flap window
    again = shown(alarms, card)
    assert "ALARM:" in alarms.text(again)
    assert "Rolled back to revision 3" in alarms.text(again)
    assert "alarm_rollback" not in alarms.buttons(again)  # the same incident: it already ran


# --- Scale up ---------------------------------------------------------------------------------------------------


def test_a_scale_up_that_ran_replaces_its_button_until_a_new_incident(alarms: AlarmsLambda) -> None:
    fired = now() - timedelta(hours=2)
    card = fire(alarms, fired)
    plan = press(alarms, card, "alarm_scale_up", OPERATOR)
    assert "alarm_scale_up" in alarms.buttons(shown(alarms, card))
    plan_click(alarms, plan, "plan_confirm", OPERATOR)
    assert ecs_service("service-a")["desiredCount"] == 3
    after = shown(alarms, card)
    assert re.search(rf"Scaled to 3 tasks by <@{OPERATOR}> at {TIME}", alarms.text(after))
    assert set(alarms.buttons(after)) == {"alarm_logs", "alarm_ack", "alarm_mute"}

    # Resolved, and long after a new incident: a new card, with every button, and nothing done yet.
    alarms.deliver(metric_alarm(state="OK", old="ALARM", at=fired + timedelta(minutes=5)))
    alarms.deliver(metric_alarm(at=now()))
    newest = alarms.cards()[-1]
    assert newest.ts != card.ts
    assert "alarm_scale_up" in alarms.buttons(newest)
    assert "Scaled to" not in alarms.text(newest)
    assert "Scaled to 3 tasks" in alarms.text(shown(alarms, card))  # the old card keeps its history


def test_a_scale_typed_by_hand_is_not_the_cards_and_leaves_its_button(alarms: AlarmsLambda) -> None:
    card = fire(alarms)
    from_card = press(alarms, card, "alarm_scale_up", OPERATOR)
    bot = alarms.bot
    assert bot.command("/scale service-a 3", user=OPERATOR).text == ""
    typed = bot.last_card()
    bot.click("plan_confirm", bot.button(typed, "plan_confirm")["value"], typed.ts, user=OPERATOR)
    assert ecs_service("service-a")["desiredCount"] == 3
    assert "alarm_scale_up" in alarms.buttons(shown(alarms, card))
    plan_click(alarms, from_card, "plan_confirm", OPERATOR)  # superseded: desired is 3 now, not 2
    assert "changed since this plan was made" in bot.card_text(bot.last_card(ALARM_CHANNEL))
    assert "alarm_scale_up" in alarms.buttons(shown(alarms, card))
    assert "Scaled to" not in alarms.text(shown(alarms, card))


def test_a_card_that_cannot_be_told_never_undoes_or_hides_the_change(
    alarms: AlarmsLambda, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.alarms.actions import AlarmActions

    def broken(self: AlarmActions, plan: Any) -> None:
        raise RuntimeError("the state table is gone")

    monkeypatch.setattr(AlarmActions, "executed", broken)
    card = fire(alarms)
    plan = press(alarms, card, "alarm_scale_up", OPERATOR)
    assert plan_click(alarms, plan, "plan_confirm", OPERATOR).text == ""
    assert ecs_service("service-a")["desiredCount"] == 3
    assert "Done: desired 3" in alarms.bot.card_text(alarms.bot.last_card(ALARM_CHANNEL))
    assert "alarm_scale_up" in alarms.buttons(shown(alarms, card))  # not told, so not shown as done


# --- where no confirmation is asked, the change runs at once ----------------------------------------------------


def unprotected() -> dict[str, Any]:
    data = alarm_config()
    data["environments"] = config_data(protected=False)["environments"]
    return data


@pytest.mark.parametrize("config_dict", [unprotected()])
def test_scale_up_where_no_confirmation_is_needed_is_shown_at_once(alarms: AlarmsLambda) -> None:
    card = fire(alarms)
    value = alarms.buttons(card)["alarm_scale_up"]["value"]
    alarms.bot.click("alarm_scale_up", value, card.ts, user=OPERATOR, channel=ALARM_CHANNEL)
    assert ecs_service("service-a")["desiredCount"] == 3
    after = shown(alarms, card)
    assert re.search(rf"Scaled to 3 tasks by <@{OPERATOR}> at {TIME}", alarms.text(after))
    assert "alarm_scale_up" not in alarms.buttons(after)
