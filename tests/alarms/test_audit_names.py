"""Issue 15, item 7: Acknowledge and Mute are audited by the alarm's name and the incident's time, never by the
bot's internal key (`<account>#<region>#<name>@<opened at>`), and `/ops audit` shows them so."""

from __future__ import annotations

from datetime import UTC, datetime

from harness import OPERATOR, VIEWER, stores

from bot.render import when

from .support import ACCOUNT, ALARM_CHANNEL, PREFIX, T0, AlarmsLambda, metric_alarm


def audit_text(alarms: AlarmsLambda) -> str:
    reply = alarms.bot.command("/ops audit service-a", user=VIEWER)
    [answer] = reply.responses
    return "\n".join(str(b["text"]["text"]) for b in answer["blocks"] if b.get("type") == "section")


def test_acknowledge_and_mute_name_the_alarm_and_the_incident_never_its_key(alarms: AlarmsLambda) -> None:
    name = PREFIX + "service-a-cpu-high"
    alarms.deliver(metric_alarm(name=name, at=datetime.now(UTC)))
    card = alarms.cards()[-1]
    buttons = alarms.buttons(card)
    for action in ("alarm_ack", "alarm_mute"):
        alarms.bot.click(action, buttons[action]["value"], card.ts, user=OPERATOR, channel=ALARM_CHANNEL)
    entries = {e.decision: e for e in stores().audit.trail("production", "service-a")}
    opened = stores().alarms.record(f"{ACCOUNT}#us-east-1#{name}").card
    assert opened is not None
    assert entries["acknowledged"].outcome == f"incident opened {when(opened.opened_at)}"
    assert entries["muted"].outcome.startswith("until ")
    shown = audit_text(alarms)
    assert f"<@{OPERATOR}> acknowledge alarm {name} — *acknowledged*: incident opened" in shown
    assert f"<@{OPERATOR}> mute alarm {name} — *muted*: until" in shown
    assert f"{ACCOUNT}#" not in shown


def test_an_alarm_name_from_aws_is_shown_escaped_in_the_audit(alarms: AlarmsLambda) -> None:
    name = PREFIX + "service-a <!here> cpu"
    alarms.deliver(metric_alarm(name=name, at=T0))
    card = alarms.cards()[-1]
    value = alarms.buttons(card)["alarm_ack"]["value"]
    alarms.bot.click("alarm_ack", value, card.ts, user=OPERATOR, channel=ALARM_CHANNEL)
    shown = audit_text(alarms)
    assert "acknowledge alarm ecs-microservices-production-service-a &lt;!here&gt; cpu" in shown
    assert "<!here>" not in shown
