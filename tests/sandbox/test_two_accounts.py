"""`make run` with staging and production in two moto accounts (config/sandbox.yaml): from the one page, a
deploy to staging rolls out in staging's account, and each environment's alarm reaches its card."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3
import httpx
import pytest
from sandbox_support import Sandbox

pytestmark = pytest.mark.slow

STAGING_ACCOUNT, BOT_ACCOUNT = "210987654321", "123456789012"
STAGING_ROLE = f"arn:aws:iam::{STAGING_ACCOUNT}:role/opsbot-workload-access"


def messages(sandbox: Sandbox) -> list[dict[str, Any]]:
    state = httpx.get(f"{sandbox.page_url}/page/state?user=U0DEPLOYER&since=-1", timeout=10).json()
    return list(state["messages"])


def wait_for(sandbox: Sandbox, found: Callable[[list[dict[str, Any]]], bool], timeout: float = 40) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        shown = messages(sandbox)
        if found(shown):
            return shown
        assert time.monotonic() < deadline, [m["text"] for m in shown]
        time.sleep(0.3)


def ecs(sandbox: Sandbox, role: str | None = None) -> Any:
    """An ECS client on the sandbox's moto: the bot's account, or the role's."""
    fake = {"aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox", "region_name": "us-east-1"}
    if role is None:
        return boto3.client("ecs", endpoint_url=sandbox.aws_url, **fake)
    sts = boto3.client("sts", endpoint_url=sandbox.aws_url, **fake)
    credentials = sts.assume_role(RoleArn=role, RoleSessionName="test")["Credentials"]
    return boto3.client(
        "ecs",
        endpoint_url=sandbox.aws_url,
        region_name="us-east-1",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def block_text(message: dict[str, Any]) -> str:
    return " ".join(str((b.get("text") or {}).get("text", "")) for b in message.get("blocks") or [])


def test_staging_deploys_in_its_account_and_each_alarm_is_its_environments(sandbox: Sandbox) -> None:
    sandbox.wait_page()
    while "sandbox: ready" not in sandbox.text():
        time.sleep(0.05)
    assert "2 accounts" in sandbox.text()
    while "rollouts staging: watching" not in sandbox.text():  # staging is seeded while the page is up
        assert time.monotonic() - sandbox.started < 60, sandbox.text()[-3000:]
        time.sleep(0.05)

    typed = httpx.post(
        f"{sandbox.page_url}/page/command",
        json={"user": "U0DEPLOYER", "text": "/deploy service-a v1.3.0 staging"},
        timeout=10,
    ).json()
    assert typed["ok"], typed
    wait_for(sandbox, lambda shown: any("(staging): Completed in" in m["text"] for m in shown))

    # The deploy happened in staging's account, and only there.
    staging = ecs(sandbox, STAGING_ROLE).describe_services(
        cluster="ecs-microservices-staging-cluster", services=["ecs-microservices-staging-service-a"]
    )["services"][0]
    assert staging["serviceArn"].split(":")[4] == STAGING_ACCOUNT
    assert staging["taskDefinition"].endswith(":4")
    assert ecs(sandbox).list_clusters()["clusterArns"] == [
        f"arn:aws:ecs:us-east-1:{BOT_ACCOUNT}:cluster/ecs-microservices-production-cluster"
    ]
    production = ecs(sandbox).describe_services(
        cluster="ecs-microservices-production-cluster", services=["ecs-microservices-production-service-a"]
    )["services"][0]
    assert production["taskDefinition"].endswith(":3")

    for name in ("ecs-microservices-staging-service-a-cpu-high", "ecs-microservices-production-service-b-memory-high"):
        fired = httpx.post(f"{sandbox.page_url}/page/alarm", json={"name": name, "state": "ALARM"}, timeout=10)
        assert fired.json()["ok"], fired.text
    shown = wait_for(
        sandbox,
        lambda shown: sum(m["text"].startswith("ALARM: ") for m in shown) == 2,
    )
    cards = {m["text"].split()[1]: block_text(m) for m in shown if m["text"].startswith("ALARM: ")}
    assert "*service-a* (staging)" in cards["ecs-microservices-staging-service-a-cpu-high"]
    assert "*service-b* (production)" in cards["ecs-microservices-production-service-b-memory-high"]
    assert sandbox.stop() == 0
    assert "Traceback" not in sandbox.text(), sandbox.text()[-4000:]
