"""The graph on an alarm card (docs/alarms.md "Graph"), through handlers.alarms.handler: CloudWatch draws the
widget (moto with sandbox.metric_widget's GetMetricWidgetImage), the card is posted first, then the graph is
uploaded to the Slack stand-in, waited for until Slack has processed it, and shown in the card."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from harness import stores

from bot.stores import AuditEntry
from sandbox import metric_widget
from sandbox.lambda_events import lambda_context
from sandbox.slack_api import SlackStandIn

from .support import (
    ACCOUNT,
    CLUSTER,
    PREFIX,
    REGION,
    T0,
    AlarmsLambda,
    anomaly_alarm,
    body,
    composite_alarm,
    failed_ids,
    math_alarm,
    metric_alarm,
    sqs_event,
)

SERVICE_DIMENSIONS = ["ClusterName", CLUSTER, "ServiceName", PREFIX + "service-a"]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def widgets(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """moto's CloudWatch with GetMetricWidgetImage (sandbox.metric_widget), for this test only; the widget JSON
    of every render, in order."""
    from moto.cloudwatch.responses import CloudWatchResponse

    drawn: list[dict[str, Any]] = []
    real = metric_widget.render

    def spy(widget: str, *args: Any, **kwargs: Any) -> bytes:
        drawn.append(json.loads(widget))
        return real(widget, *args, **kwargs)

    # Installed for this test only: the other alarm tests run on moto as it is, without the action.
    monkeypatch.setattr(CloudWatchResponse, "get_metric_widget_image", None, raising=False)
    metric_widget.install()
    monkeypatch.setattr(metric_widget, "render", spy)
    return drawn


@pytest.fixture
def graph_log(log_messages: Callable[..., list[str]]) -> list[str]:
    return log_messages("bot.alarms.context", logging.WARNING)


def uploads(slack: SlackStandIn) -> int:
    return len(slack.calls("files.getUploadURLExternal"))


def images(card: Any) -> list[dict[str, Any]]:
    return [b for b in card.blocks if b["type"] == "image"]


def executed(service: str, request: str, at: datetime, env: str = "production") -> None:
    stores().audit.record(AuditEntry(env, service, "U0DEPLOYER", request, "executed", "done", at=at.timestamp()))


# --- the widget of each kind of alarm ------------------------------------------------------------------------


def test_a_metric_alarm_card_gets_one_graph_of_its_metric_with_the_threshold_line(
    alarms: AlarmsLambda, widgets: list[dict[str, Any]]
) -> None:
    assert failed_ids(alarms.deliver(metric_alarm())) == []
    [widget] = widgets
    assert widget["metrics"] == [["AWS/ECS", "CPUUtilization", *SERVICE_DIMENSIONS, {"stat": "Average", "period": 60}]]
    assert widget["annotations"]["horizontal"] == [{"label": "threshold > 80", "value": 80.0, "fill": "above"}]
    # 3 x 60 s evaluation window: 10 of them is 30 min, less than the 3 h floor.
    assert (widget["start"], widget["end"]) == (iso(T0 - timedelta(hours=3)), iso(T0))
    assert "vertical" not in widget["annotations"]
    card = alarms.card()
    assert uploads(alarms.slack) == 1
    [image] = images(card)
    file = alarms.slack.file(image["slack_file"]["id"])
    assert file is not None
    assert file.data is not None
    assert file.data.startswith(b"\x89PNG")
    assert PREFIX + "service-a-cpu-high" in image["alt_text"]
    assert not file.channels  # private to the app: shown only in the card


def test_a_metric_math_alarm_draws_its_expression_with_the_metrics_it_reads_hidden(
    alarms: AlarmsLambda, widgets: list[dict[str, Any]]
) -> None:
    alarms.deliver(math_alarm())
    [widget] = widgets
    expression, errors, requests = widget["metrics"]
    assert expression == [{"expression": "100 * errors / requests", "id": "e1", "label": "error rate %"}]
    assert errors[:2] == ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"]
    assert errors[-1] == {"id": "errors", "visible": False, "stat": "Sum", "period": 60}
    assert requests[-1] == {"id": "requests", "visible": False, "stat": "Sum", "period": 60}
    assert widget["annotations"]["horizontal"] == [{"label": "threshold > 5", "value": 5.0, "fill": "above"}]
    assert len(images(alarms.card())) == 1


def test_an_anomaly_alarm_draws_its_metric_and_band_and_no_threshold_line(
    alarms: AlarmsLambda, widgets: list[dict[str, Any]]
) -> None:
    alarms.deliver(anomaly_alarm())
    [widget] = widgets
    metric, band = widget["metrics"]
    assert metric == ["AWS/ECS", "CPUUtilization", *SERVICE_DIMENSIONS, {"id": "m1", "stat": "Average", "period": 300}]
    assert band == [{"expression": "ANOMALY_DETECTION_BAND(m1, 2)", "id": "ad1", "label": "band"}]
    assert "annotations" not in widget  # the band is the threshold
    assert len(images(alarms.card())) == 1


def test_deploys_rollbacks_and_scales_of_the_service_in_the_window_are_marked_with_their_version(
    alarms: AlarmsLambda, widgets: list[dict[str, Any]]
) -> None:
    executed("service-a", "/deploy confirm deploy service-a v1.4.2 (production)", T0 - timedelta(minutes=50))
    executed("service-a", "/rollback service-a 7 production (alarm x)", T0 - timedelta(minutes=20))
    executed("service-a", "/scale confirm scale service-a 6 (production)", T0 - timedelta(minutes=10))
    executed("service-a", "/deploy confirm deploy service-a v1.4.1 (production)", T0 - timedelta(hours=4))  # before
    executed("service-b", "/deploy confirm deploy service-b v9 (production)", T0 - timedelta(minutes=30))  # another
    stores().audit.record(
        AuditEntry("production", "service-a", "U1", "/deploy service-a v2", "denied", "no", at=T0.timestamp() - 60)
    )
    alarms.deliver(metric_alarm())
    [widget] = widgets
    assert widget["annotations"]["vertical"] == [
        {"label": "deploy v1.4.2", "value": iso(T0 - timedelta(minutes=50))},
        {"label": "rollback revision 7", "value": iso(T0 - timedelta(minutes=20))},
        {"label": "scale 6", "value": iso(T0 - timedelta(minutes=10))},
    ]
    # The same changes in words under the card's graph: what a person (or a screen reader) reads.
    [image] = images(alarms.card())
    assert image["title"]["text"] == (
        f"The last 3 h to {T0:%H:%M} UTC. Changes: deploy v1.4.2 at {T0 - timedelta(minutes=50):%H:%M}, "
        f"rollback revision 7 at {T0 - timedelta(minutes=20):%H:%M}, scale 6 at {T0 - timedelta(minutes=10):%H:%M}"
    )


def test_a_graph_with_no_change_in_its_window_says_so(alarms: AlarmsLambda, widgets: list[dict[str, Any]]) -> None:
    alarms.deliver(metric_alarm())
    [image] = images(alarms.card())
    assert image["title"]["text"] == f"The last 3 h to {T0:%H:%M} UTC. No deploy, rollback or scale by the bot in it"


# --- after the card, never before it; once per state --------------------------------------------------------------


def test_the_card_is_posted_first_and_the_graph_is_added_by_one_update(
    alarms: AlarmsLambda, widgets: list[dict[str, Any]]
) -> None:
    alarms.deliver(metric_alarm())
    posted = alarms.slack.calls("chat.postMessage")[0]
    blocks = posted.params["blocks"]
    assert not [b for b in (json.loads(blocks) if isinstance(blocks, str) else blocks) if b["type"] == "image"]
    card = alarms.card()
    assert card.edits == 1
    # Slack had not processed the file at the first files.info: the update waited for it.
    assert len(alarms.slack.calls("files.info")) == 2


def test_a_repeat_of_the_state_draws_nothing_and_a_state_change_draws_a_new_graph(
    alarms: AlarmsLambda, widgets: list[dict[str, Any]]
) -> None:
    alarms.deliver(metric_alarm(at=T0))
    first = images(alarms.card())[0]["slack_file"]["id"]
    alarms.deliver(metric_alarm(at=T0 + timedelta(minutes=1), reason="still high"))
    assert uploads(alarms.slack) == 1
    alarms.deliver(metric_alarm(state="OK", old="ALARM", at=T0 + timedelta(minutes=12)))
    assert uploads(alarms.slack) == 2
    assert widgets[-1]["end"] == iso(T0 + timedelta(minutes=12))
    [image] = images(alarms.card())
    assert image["slack_file"]["id"] != first
    assert "RESOLVED" in alarms.text(alarms.card())


def test_a_composite_alarm_gets_no_graph_but_its_childrens_states(
    alarms: AlarmsLambda, widgets: list[dict[str, Any]]
) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    cloudwatch.set_alarm_state(AlarmName=PREFIX + "service-a-cpu-high", StateValue="ALARM", StateReason="test")
    cloudwatch.delete_alarms(AlarmNames=[PREFIX + "service-a-unhealthy-hosts"])
    assert failed_ids(alarms.deliver(composite_alarm())) == []
    assert widgets == []
    assert uploads(alarms.slack) == 0
    card = alarms.card()
    assert images(card) == []
    text = alarms.text(card)
    assert f"`{PREFIX}service-a-cpu-high` · :rotating_light: alarm" in text
    assert f"`{PREFIX}service-a-unhealthy-hosts` · not found" in text
    assert card.edits == 1


# --- failures leave the card as it is ---------------------------------------------------------------------------


def test_a_failed_upload_leaves_the_card_as_it_is_and_the_record_succeeds(
    alarms: AlarmsLambda, widgets: list[dict[str, Any]], graph_log: list[str]
) -> None:
    alarms.slack.inject("upload", 500)
    assert failed_ids(alarms.deliver(metric_alarm())) == []
    card = alarms.card()
    assert images(card) == []
    assert card.edits == 0
    assert [m for m in graph_log if "upload to Slack failed" in m]


@pytest.mark.parametrize("how", ["moto lacks the action", "CloudWatch refuses the widget"])
def test_a_graph_cloudwatch_does_not_draw_leaves_the_card_as_it_is(
    alarms: AlarmsLambda, monkeypatch: pytest.MonkeyPatch, graph_log: list[str], how: str
) -> None:
    from moto.cloudwatch.exceptions import ValidationError
    from moto.cloudwatch.responses import CloudWatchResponse

    def refuse(self: Any) -> Any:
        raise ValidationError("The widget is not valid.")

    if how == "moto lacks the action":
        monkeypatch.delattr(CloudWatchResponse, "get_metric_widget_image", raising=False)
    else:
        monkeypatch.setattr(CloudWatchResponse, "get_metric_widget_image", refuse, raising=False)
    assert failed_ids(alarms.deliver(metric_alarm())) == []
    card = alarms.card()
    assert images(card) == []
    assert card.edits == 0
    assert uploads(alarms.slack) == 0
    assert [m for m in graph_log if "CloudWatch did not draw it" in m]


def test_a_file_slack_never_processes_is_not_shown(
    alarms: AlarmsLambda, widgets: list[dict[str, Any]], graph_log: list[str]
) -> None:
    alarms.slack.file_processing_calls = 100
    assert failed_ids(alarms.deliver(metric_alarm())) == []
    card = alarms.card()
    assert images(card) == []
    assert card.edits == 0
    assert len(alarms.slack.calls("files.info")) == 5  # the first look and four waits: bounded
    assert [m for m in graph_log if "had not processed" in m]


def test_a_refused_update_leaves_the_card_as_it_is(
    alarms: AlarmsLambda, widgets: list[dict[str, Any]], graph_log: list[str]
) -> None:
    alarms.slack.inject("chat.update", 400)
    assert failed_ids(alarms.deliver(metric_alarm())) == []
    assert images(alarms.card()) == []
    assert [m for m in graph_log if "not updated with its graph" in m]
    alarms.deliver(metric_alarm(at=T0 + timedelta(minutes=1)))  # the same state: no new try, nothing new
    assert uploads(alarms.slack) == 1


def test_a_batch_short_of_time_posts_the_card_and_skips_its_graph(
    alarms: AlarmsLambda, widgets: list[dict[str, Any]], graph_log: list[str]
) -> None:
    event = sqs_event(body(metric_alarm()))
    response = alarms.module.handler(event, lambda_context("AlarmsFunction", remaining_seconds=lambda: 24.0))
    assert failed_ids(response) == []
    card = alarms.card()
    assert images(card) == []
    assert widgets == []
    assert [m for m in graph_log if "out of time" in m]


def test_an_acknowledgement_made_while_the_graph_was_drawn_stays_on_the_card(
    alarms: AlarmsLambda, widgets: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.alarms.store import AlarmAck
    from bot.slack import SlackOut

    ready = SlackOut.file_ready

    def someone_acks_meanwhile(self: SlackOut, file_id: str) -> bool:  # while Slack processes the upload
        record = stores().alarms.record(alarm_key)
        assert record.card is not None
        stores().alarms.acknowledge(alarm_key, AlarmAck("U0ONCALL", T0.timestamp() + 5, record.card.incident))
        return ready(self, file_id)

    alarm = metric_alarm()
    alarm_key = f"{ACCOUNT}#{REGION}#{PREFIX}service-a-cpu-high"
    monkeypatch.setattr(SlackOut, "file_ready", someone_acks_meanwhile)
    alarms.deliver(alarm)
    card = alarms.card()
    assert len(images(card)) == 1
    assert "Acknowledged by <@U0ONCALL>" in json.dumps(card.blocks)


def test_while_another_batch_waits_for_the_channel_the_graph_gives_way(
    alarms: AlarmsLambda, widgets: list[dict[str, Any]], graph_log: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.alarms.lease import ChannelLeases

    monkeypatch.setattr(ChannelLeases, "waiting", lambda self, channel: True)  # the other poller waits
    assert failed_ids(alarms.deliver(metric_alarm())) == []
    card = alarms.card()
    assert images(card) == []  # the card is there; its graph gives the slot to the waiting batch
    assert uploads(alarms.slack) == 0
    assert any("another invocation waits for channel" in line for line in graph_log)
