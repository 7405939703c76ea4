"""What the sandbox runs, and the entry point that runs it (`make run`).

One process tree on 127.0.0.1, started in this order and stopped in reverse:

    aws       moto in server mode (:5000), seeded from the bot's config as if infra/ had been applied: each
              environment in its own account (config/sandbox.yaml: production in the bot's, staging in a second)
    logs      one shipper per service: its stdout (JSON request logs) -> its CloudWatch log group
    service-b, service-a   child processes on uvicorn (:8001, :8000)
    bot       the real Lambda handlers behind a local API Gateway / EventBridge / SQS adapter (:3001)
    rollouts  ECS deployment state change events after a deploy, which moto does not emit (one per environment,
              each from its environment's account)
    metrics   the services' CPU and ALB metrics into moto every 5 s, from their requests and rollouts
    slack     the Slack stand-in and the page to drive it (:3000); the page answering means ready

Every port can be moved with its variable (SANDBOX_PAGE_PORT, SANDBOX_BOT_PORT, SANDBOX_AWS_PORT,
SERVICE_A_PORT, SERVICE_B_PORT); SANDBOX_ROLLOUT_SECONDS sets how long a simulated rollout takes (5).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import urllib.request
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from sandbox.supervisor import Child, Supervisor

REPO = Path(__file__).resolve().parent.parent
SERVICES_DIR = REPO / "services"
# Where both services import their shared runtime from (`service_runtime`; /app in their images).
SERVICES_COMMON = SERVICES_DIR / "common"
HOST = "127.0.0.1"
DEFAULT_CONFIG = REPO / "config" / "sandbox.yaml"
# Fixed local values: the page signs with the secret the bot verifies, the bot posts with the token.
SIGNING_SECRET = "sandbox-signing-secret"  # noqa: S105 - not a secret: both ends are this process
BOT_TOKEN = "xoxb-sandbox"  # noqa: S105
# The bot reads them from Secrets Manager (moto) by name, as the functions of template.yaml do (its defaults).
SIGNING_SECRET_NAME = "fargate-chatops/slack-signing-secret"  # noqa: S105 - a name
BOT_TOKEN_NAME = "fargate-chatops/slack-bot-token"  # noqa: S105 - a name
OPS_CHANNEL = "C0OPS"
MOTO_ACCOUNT = "123456789012"  # the account moto serves (sandbox.seed.ACCOUNT)


class UsageError(Exception):
    pass


def port_from_env(variable: str, default: int, environ: Mapping[str, str]) -> int:
    raw = environ.get(variable, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise UsageError(f"{variable} must be a port number from 1 to 65535, got {raw!r}")
    return int(raw)


def seconds_from_env(variable: str, default: float, environ: Mapping[str, str]) -> float:
    raw = environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 600:
        raise UsageError(f"{variable} must be a number of seconds from 0 to 600, got {raw!r}")
    return value


def platform_services(environ: Mapping[str, str] = os.environ) -> list[Child]:
    """service-b, then service-a pointed at it; each run as its container runs it (`python -m <package>`)."""
    port_b = port_from_env("SERVICE_B_PORT", 8001, environ)
    port_a = port_from_env("SERVICE_A_PORT", 8000, environ)
    # Each service runs from its own directory, as in its image; the shared runtime goes on PYTHONPATH
    # in front of whatever PYTHONPATH the sandbox was started with.
    pythonpath = os.pathsep.join(filter(None, [str(SERVICES_COMMON), environ.get("PYTHONPATH", "")]))
    common = {
        "HOST": HOST,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": pythonpath,
        # The API docs are off in the images; locally they are the quickest way to try an endpoint.
        "DOCS_ENABLED": environ.get("DOCS_ENABLED", "true"),
    }
    service_b = Child(
        name="service-b",
        argv=[sys.executable, "-m", "service_b"],
        cwd=SERVICES_DIR / "service-b",
        env={**common, "PORT": str(port_b)},
        port=port_b,
        port_variable="SERVICE_B_PORT",
        host=HOST,
    )
    service_a = Child(
        name="service-a",
        argv=[sys.executable, "-m", "service_a"],
        cwd=SERVICES_DIR / "service-a",
        env={**common, "PORT": str(port_a), "SERVICE_B_URL": service_b.url},
        port=port_a,
        port_variable="SERVICE_A_PORT",
        host=HOST,
    )
    return [service_b, service_a]


@dataclasses.dataclass(frozen=True)
class Ports:
    page: int
    bot: int
    aws: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Ports:
        return cls(
            page=port_from_env("SANDBOX_PAGE_PORT", 3000, environ),
            bot=port_from_env("SANDBOX_BOT_PORT", 3001, environ),
            aws=port_from_env("SANDBOX_AWS_PORT", 5000, environ),
        )


def bot_environment(ports: Ports, environ: Mapping[str, str]) -> dict[str, str]:
    """What the bot's handlers read, set as in the Lambda functions, but pointing at the stand-ins."""
    return {
        "OPSBOT_CONFIG_FILE": environ.get("OPSBOT_CONFIG_FILE") or str(DEFAULT_CONFIG),
        "SLACK_API_URL": f"http://{HOST}:{ports.page}/api/",
        "SLACK_SIGNING_SECRET_NAME": SIGNING_SECRET_NAME,
        "SLACK_BOT_TOKEN_SECRET_NAME": BOT_TOKEN_NAME,
        "OPSBOT_LAZY": "thread",  # lazy listeners in threads here, not lambda.invoke
        "OPSBOT_COST_CHANNEL": environ.get("OPSBOT_COST_CHANNEL") or OPS_CHANNEL,
        "OPSBOT_ALARM_CHANNEL": environ.get("OPSBOT_ALARM_CHANNEL") or OPS_CHANNEL,
        # moto's account (sandbox.seed.ACCOUNT), as the template gives AWS::AccountId: the alarms moto sends
        # name it, so they are the environment's own whatever account_id a given config file says.
        # An environment with role_arn keeps its role's account (staging's, in config/sandbox.yaml).
        "OPSBOT_ACCOUNT_ID": MOTO_ACCOUNT,
        "POWERTOOLS_LOG_LEVEL": environ.get("POWERTOOLS_LOG_LEVEL") or "WARNING",
        "POWERTOOLS_METRICS_NAMESPACE": "fargate-chatops-sandbox",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


def post_json(url: str, body: dict[str, Any], timeout: float = 30) -> None:
    request = urllib.request.Request(  # noqa: S310 - loopback only
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        response.read()


def build(environ: MutableMapping[str, str]) -> tuple[Supervisor, str]:
    """Everything `make run` starts, wired together; and the line that says it is ready."""
    ports = Ports.from_env(environ)
    children = platform_services(environ)
    # Never a real account or workspace: and a token given directly would win over the sandbox's secrets.
    for variable in ("AWS_PROFILE", "SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"):
        environ.pop(variable, None)
    environ.update(bot_environment(ports, environ))

    from bot.config import ConfigError, load_config
    from sandbox.adapter import BotAdapter
    from sandbox.alarms import AlarmTrigger
    from sandbox.aws import EmbeddedAWS, LogShipper, OtherAccounts
    from sandbox.metrics import MetricsPublisher, tee
    from sandbox.rollout import RolloutSimulator
    from sandbox.seed import SANDBOX_PLAN
    from sandbox.workspace import SlackPage, SlackWorkspace

    try:
        config = load_config(environ)
    except ConfigError as error:
        raise UsageError(f"{environ['OPSBOT_CONFIG_FILE']}: {error}") from None
    environment = config.environment()
    secrets = {SIGNING_SECRET_NAME: SIGNING_SECRET, BOT_TOKEN_NAME: BOT_TOKEN}
    aws = EmbeddedAWS(config, ports.aws, environ, SANDBOX_PLAN, secrets)
    targets = {t.name: t for t in config.targets()}
    shippers = {c.name: LogShipper(targets[c.name], lambda: aws.client("logs")) for c in children if c.name in targets}
    # Each service reports the version its seeded task definition runs (APP_VERSION), and each rollout's after.
    running = {"APP_VERSION": SANDBOX_PLAN.revisions[-1]}
    # The services' CPU/ALB metrics, from the request lines they log and the rollouts (built below).
    metrics = MetricsPublisher(config.targets(), lambda: aws.client("cloudwatch"), lambda: rollouts.rolling())
    children = [
        dataclasses.replace(
            c,
            output=tee(shippers.get(c.name), metrics.observe(c.name)) if c.name in targets else None,
            env={**c.env, **running} if c.name in targets else c.env,
        )
        for c in children
    ]
    adapter = BotAdapter(ports.bot, lambda: aws.queue_url, lambda: aws.client("sqs"), environment.region)
    rollouts = RolloutSimulator(
        config.targets(),
        lambda: aws.client("ecs"),
        lambda event: post_json(f"{adapter.url}/events", event),
        SANDBOX_PLAN.bad_tags,
        restart=lambda target, version: supervisor.restart(
            target.name, {"APP_VERSION": version}, "a rollout replaces its tasks"
        ),
        settle_after=seconds_from_env("SANDBOX_ROLLOUT_SECONDS", 5.0, environ),
    )
    # The other environments' rollouts, in their own accounts; their services have no local process.
    others = [e.name for e in config.environments if e.name != environment.name]
    other_rollouts = [
        RolloutSimulator(
            config.targets(name),
            functools.partial(aws.client, "ecs", name),
            lambda event: post_json(f"{adapter.url}/events", event),
            SANDBOX_PLAN.bad_tags,
            settle_after=seconds_from_env("SANDBOX_ROLLOUT_SECONDS", 5.0, environ),
            # Seeded once the page answers (OtherAccounts): its line says when the environment can be used.
            wait=aws.wait_seeded,
            say=lambda line: supervisor.say(line),
        )
        for name in others
    ]
    for name, simulator in zip(others, other_rollouts, strict=True):
        simulator.name = f"rollouts {name}"
    channel = environment.channels[0] if environment.channels else OPS_CHANNEL

    def workspace(port: int) -> SlackWorkspace:
        also = [
            AlarmTrigger(aws.client("cloudwatch", name), aws.client("sns", name), f"{config.project}-{name}-")
            for name in others
        ]
        alarms = AlarmTrigger(
            aws.client("cloudwatch"), aws.client("sns"), f"{config.project}-{environment.name}-", also=also
        )
        return SlackWorkspace(config, adapter.url, SIGNING_SECRET, alarms, channel_id=channel, port=port)

    page = SlackPage(ports.page, workspace)
    supervisor = Supervisor(
        children,
        before=[aws, *shippers.values()],
        after=[adapter, rollouts, *other_rollouts, metrics, page, *([OtherAccounts(aws)] if others else [])],
    )
    service_a = children[-1].url
    ready = (
        f"open http://{HOST}:{ports.page} (Slack #ops: type /deploy service-a v1.3.0"
        f"{' staging' if 'staging' in others else ''}); "
        f"service-a at {service_a}/api/backend; Ctrl-C stops everything"
    )
    return supervisor, ready


def main() -> int:
    try:
        supervisor, ready = build(os.environ)
    except UsageError as error:
        print(f"sandbox: error: {error}", file=sys.stderr)
        return 2
    return supervisor.run(on_ready=ready)
