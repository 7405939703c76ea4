"""GetMetricWidgetImage in the sandbox (sandbox.metric_widget): moto has none, so the sandbox draws the PNG.

Through boto3 against moto's mock_aws, as the bot calls it: the image decodes, has the size asked for,
shows the metric data moto holds, and a widget AWS would refuse is refused with a ValidationError.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from sandbox.metric_widget import install

NOW = datetime.now(UTC).replace(microsecond=0)
CPU = ["AWS/ECS", "CPUUtilization", "ClusterName", "sandbox", "ServiceName", "service-a"]


@pytest.fixture
def cloudwatch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    install()
    install()  # idempotent
    with mock_aws():
        client = boto3.client("cloudwatch", region_name="us-east-1")
        dimensions = [{"Name": CPU[i], "Value": CPU[i + 1]} for i in (2, 4)]
        client.put_metric_data(
            Namespace="AWS/ECS",
            MetricData=[
                {
                    "MetricName": "CPUUtilization",
                    "Dimensions": dimensions,
                    "Timestamp": NOW - timedelta(minutes=minutes),
                    "Value": 30.0 + (60.0 if minutes < 30 else 0.0),
                }
                for minutes in range(0, 120, 5)
            ],
        )
        yield client


def image(client: Any, widget: dict[str, Any]) -> bytes:
    answer = client.get_metric_widget_image(MetricWidget=json.dumps(widget), OutputFormat="png")
    return bytes(answer["MetricWidgetImage"])


def pixels(png: bytes) -> Any:
    import matplotlib.image

    return matplotlib.image.imread(io.BytesIO(png), format="png")


def widget(**extra: Any) -> dict[str, Any]:
    return {
        "metrics": [[*CPU, {"stat": "Average", "period": 300}]],
        "start": (NOW - timedelta(hours=3)).isoformat(),
        "end": NOW.isoformat(),
        "title": "service-a CPU",
        "annotations": {
            "horizontal": [{"label": "CPU > 80", "value": 80}],
            "vertical": [{"label": "v1.3.0", "value": (NOW - timedelta(minutes=30)).isoformat()}],
        },
        **extra,
    }


def test_a_metric_widget_is_a_png_of_the_requested_size_that_decodes(cloudwatch: Any) -> None:
    png = image(cloudwatch, widget(width=640, height=320))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert pixels(png).shape[:2] == (320, 640)


def test_the_metric_data_moto_holds_is_drawn(cloudwatch: Any) -> None:
    with_data = pixels(image(cloudwatch, widget()))
    other_service = {**widget(), "metrics": [[*CPU[:5], "service-b"]]}
    without = pixels(image(cloudwatch, other_service))
    assert with_data.shape == without.shape == (400, 600, 4)
    assert (with_data != without).any()  # the line of service-a's data


def test_an_annotation_only_widget_is_drawn(cloudwatch: Any) -> None:
    png = image(cloudwatch, {"metrics": [], "annotations": widget()["annotations"], "width": 300, "height": 200})
    assert pixels(png).shape[:2] == (200, 300)


def test_expressions_and_an_anomaly_band_are_drawn(cloudwatch: Any) -> None:
    band = widget(
        metrics=[
            [*CPU, {"id": "m1", "visible": False}],
            [{"expression": "ANOMALY_DETECTION_BAND(m1, 2)", "id": "ad1", "label": "expected"}],
            [{"expression": "m1 * 2", "id": "e1"}],
        ]
    )
    assert pixels(image(cloudwatch, band)).shape[:2] == (400, 600)


@pytest.mark.parametrize(
    ("metric_widget", "says"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"metrics": "CPU"}), "metrics must be a list"),
        (json.dumps({"metrics": [["AWS/ECS"]]}), "metrics[0]"),
        (json.dumps({"metrics": [], "width": 5000}), "width"),
        (json.dumps({"metrics": [[{"expression": "m9 + 1"}]]}), "m9"),
        (json.dumps({"metrics": [], "start": "yesterday"}), "start"),
        (json.dumps({"metrics": [], "annotations": {"horizontal": [{"label": "x"}]}}), "horizontal[0]"),
    ],
)
def test_a_widget_aws_would_refuse_is_a_validation_error(cloudwatch: Any, metric_widget: str, says: str) -> None:
    with pytest.raises(ClientError) as refused:
        cloudwatch.get_metric_widget_image(MetricWidget=metric_widget)
    error = refused.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("ValidationError", 400)
    assert says in error["Error"]["Message"]
