"""The sandbox's service metrics (sandbox.metrics): what the services really did, where the alarms look.

Against moto's mock_aws: request lines a service logs become its ALB RequestCount and raise its CPU,
a rollout shows as a CPU bump, and the data carries the seeded alarms' namespace and dimensions, so an
alarm's graph (GetMetricWidgetImage in sandbox.metric_widget) has data to draw.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bot.config import Config, Target, load_config
from sandbox.main import DEFAULT_CONFIG
from sandbox.metrics import MetricsPublisher, tee

CONFIG: Config = load_config({"OPSBOT_CONFIG_FILE": str(DEFAULT_CONFIG)})


@pytest.fixture
def cloudwatch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def request(path: str = "/api/hello", status: int = 200, duration_ms: float = 12.0) -> str:
    return json.dumps(
        {"level": "INFO", "message": "request", "path": path, "status": status, "duration_ms": duration_ms}
    )


def series(
    cloudwatch: Any, target: Target, namespace: str, name: str, stat: str, dimensions: list[dict[str, str]]
) -> list[float]:
    now = datetime.now(UTC)
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": dimensions},
                    "Period": 60,
                    "Stat": stat,
                },
            }
        ],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
    )
    return [float(v) for v in answer["MetricDataResults"][0]["Values"]]


def service_dimensions(target: Target) -> list[dict[str, str]]:
    return [{"Name": "ClusterName", "Value": target.cluster}, {"Name": "ServiceName", "Value": target.ecs_service}]


def test_logged_requests_are_the_alb_request_count_and_raise_cpu_under_the_alarms_dimensions(cloudwatch: Any) -> None:
    target = CONFIG.targets()[0]
    quiet = MetricsPublisher([target], lambda: cloudwatch)
    quiet.publish()
    idle = series(cloudwatch, target, "AWS/ECS", "CPUUtilization", "Maximum", service_dimensions(target))

    busy = MetricsPublisher([target], lambda: cloudwatch, seed=8)
    count = tee(None, busy.observe(target.name))
    for _ in range(40):
        count(request())
    count(request("/health"))  # the load balancer's health checks are no requests
    count("uvicorn says hello")  # nor is any other line
    count(request(status=502))
    busy.publish(now=time.time() + 5)
    cpu = series(cloudwatch, target, "AWS/ECS", "CPUUtilization", "Maximum", service_dimensions(target))
    assert max(cpu) > max(idle) + 20  # 41 requests in 5 s
    requests = series(cloudwatch, target, "AWS/ApplicationELB", "RequestCount", "Sum", busy.balancer_dimensions(target))
    errors = series(
        cloudwatch, target, "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "Sum", busy.balancer_dimensions(target)
    )
    assert (sum(requests), sum(errors)) == (41, 1)
    tasks = series(
        cloudwatch, target, "ECS/ContainerInsights", "RunningTaskCount", "Minimum", service_dimensions(target)
    )
    assert set(tasks) == {2.0}


def test_a_rollout_shows_as_a_cpu_bump_and_a_bad_one_as_unhealthy_hosts(cloudwatch: Any) -> None:
    target = CONFIG.targets()[0]
    rolling: dict[str, bool] = {target.name: True}
    publisher = MetricsPublisher([target], lambda: cloudwatch, lambda: rolling)
    publisher.publish()
    cpu = series(cloudwatch, target, "AWS/ECS", "CPUUtilization", "Maximum", service_dimensions(target))
    assert cpu[0] > 30
    rolling[target.name] = False
    publisher.publish(now=time.time() + 5)
    unhealthy = series(
        cloudwatch, target, "AWS/ApplicationELB", "UnHealthyHostCount", "Maximum", service_dimensions(target)
    )
    assert max(unhealthy) == 2.0


def test_started_it_back_fills_quiet_hours_and_stops_cleanly(cloudwatch: Any) -> None:
    publisher = MetricsPublisher(CONFIG.targets(), lambda: cloudwatch, interval=0.05, history=timedelta(minutes=30))
    publisher.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while publisher.published < 30 * len(CONFIG.targets()) * 6 and datetime.now(UTC) < deadline:
            time.sleep(0.05)
    finally:
        publisher.stop()
    assert publisher.published >= 30 * len(CONFIG.targets()) * 6
    listed = {m["MetricName"] for m in cloudwatch.list_metrics()["Metrics"]}
    assert {
        "CPUUtilization",
        "MemoryUtilization",
        "RunningTaskCount",
        "RequestCount",
        "HTTPCode_ELB_5XX_Count",
    } <= listed
