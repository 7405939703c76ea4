"""Seed an AWS stand-in (moto, in-process or server) as if infra/ had been applied.

The names come from the bot's own config (config/example.yaml through bot.config), the same source
the deployed bot uses, so the sandbox and the tests cannot drift from the real naming.

`seed` makes one environment (the default one unless told): an environment with role_arn is made in its
role's account, through credentials of that role (moto keeps a set of resources per account and files a
request made with an assumed role's credentials under the role's account, as AWS does). The bot's state
table and its alarm queue (`alarm_queue`) are the default environment's, in the bot's account.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3

from bot.aws import ClientFactory
from bot.config import Config, Target
from bot.history import RevisionHistory, RolledBackBy
from bot.table import Table

ACCOUNT = "123456789012"
DEFAULT_TAGS = ("v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0")
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


@dataclass
class SeedPlan:
    """What to create; the defaults make a platform with history worth operating."""

    tags: tuple[str, ...] = DEFAULT_TAGS
    revisions: tuple[str, ...] = ("v1.0.0", "v1.1.0", "v1.2.0")  # one task-definition revision per tag
    ran: tuple[int, ...] = (1, 2, 3)  # revisions that reached steady state, oldest first
    rolled_back: tuple[int, ...] = ()  # of those, revisions a person rolled back from (bot/history.py)
    desired: int = 2
    autoscaling: tuple[int, int] | None = (1, 10)
    log_lines: tuple[str, ...] = (
        '{"level":"INFO","message":"request","method":"GET","path":"/health","status":200}',
        '{"level":"ERROR","message":"upstream timeout","path":"/api/backend","status":504}',
    )
    extra: dict[str, Any] = field(default_factory=dict)
    pushed_days_ago: tuple[float, ...] | None = None
    """Age of each tag's push, in days (one per tag); None leaves moto's "now". Needs moto in this process."""
    bad_tags: tuple[str, ...] = ()
    """Tags whose deploy fails (the sandbox's rollout simulator reports FAILED for them)."""
    cost_weeks: int = 0
    """Weeks of daily Cost Explorer results to queue in moto (server mode only); 0 queues none."""


# What `make run` seeds: the default platform, plus a newer tag that fails to roll out, a revision that
# was rolled back from, tags pushed over the last weeks, and three months of cost data.
SANDBOX_PLAN = replace(
    SeedPlan(),
    tags=(*DEFAULT_TAGS, "v1.4.0-rc1"),
    pushed_days_ago=(40, 26, 12, 2, 0.1),
    bad_tags=("v1.4.0-rc1",),
    rolled_back=(2,),  # v1.1.0 was rolled back from once: /rollback from v1.2.0 goes to v1.0.0
    cost_weeks=13,
)
COST_REQUESTS_QUEUED = 40  # /cost reports answered with data: 2 requests each, then 6 h from the cache


@dataclass
class Seeded:
    topic_arn: str
    alarm_names: list[str]
    task_definitions: dict[str, list[str]]


@functools.cache
def _client(service: str, region: str, endpoint_url: str | None) -> Any:
    """One client per service, region and endpoint for the process: making a botocore client costs ~0.1 s, and
    the tests seed a fresh moto for most of their cases (moto answers any client while it is active)."""
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url)


@functools.cache
def _factory(endpoint_url: str | None) -> ClientFactory:
    """The bot's client factory for the revision history, kept for the process like _client's clients."""
    return ClientFactory(endpoint_url)


def manifest(repository: str, tag: str) -> str:
    digest = hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest()
    return json.dumps(
        {"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "config": {"digest": f"sha256:{digest}"}, "layers": []}
    )


# The services infra/ puts behind the load balancer (terraform.tfvars.example: those with public_path_patterns).
# Only they get an unhealthy-hosts alarm: the others have no target group to count hosts in.
# tests/infra/test_terraform_apply.py checks every name seeded here against what `terraform apply` creates.
PUBLIC_SERVICES = frozenset({"service-a"})


def alarm_names(config: Config, env: str | None = None) -> dict[str, list[str]]:
    """The platform's alarms per service short name ("" for the load balancer's), named as infra/ names them."""
    environment = config.environment(env)
    names: dict[str, list[str]] = {"": [f"{config.project}-{environment.name}-alb-5xx"]}
    for target in config.targets(environment.name):
        suffixes = ["cpu-high", "memory-high", "unhealthy-hosts", "running-tasks-low"]
        if target.name not in PUBLIC_SERVICES:
            suffixes.remove("unhealthy-hosts")
        names[target.name] = [f"{target.alarm_prefix}{suffix}" for suffix in suffixes]
    return names


def create_state_table(config: Config, endpoint_url: str | None = None) -> None:
    create_table(config.state_table, config.environment().region, endpoint_url)


def create_table(name: str, region: str, endpoint_url: str | None = None) -> None:
    """An empty table keyed as the bot's (pk, sk), billed on demand."""
    _client("dynamodb", region, endpoint_url).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def account_clients(role_arn: str, region: str, endpoint_url: str | None) -> Callable[[str], Any]:
    """Clients in the account of `role_arn`, through credentials of that role (moto accepts any role). Made
    afresh for each call: an assumed role's credentials are known to one moto only (a reset forgets them, and
    moto would file the requests of unknown credentials under its default account)."""
    sts = _client("sts", region, endpoint_url)
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="sandbox-seed")["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )
    return functools.cache(lambda service: session.client(service, region_name=region, endpoint_url=endpoint_url))


def seed(
    config: Config, endpoint_url: str | None = None, plan: SeedPlan | None = None, env: str | None = None
) -> Seeded:
    """The platform of environment `env` (the default one), as infra/ makes it, in the environment's account."""
    plan = plan or SeedPlan()
    environment = config.environment(env)
    home = environment.name == config.environment().name
    region = environment.region
    role = environment.role_arn
    client = (
        account_clients(role, region, endpoint_url)
        if role
        else (lambda service: _client(service, region, endpoint_url))
    )
    account = role.split(":")[4] if role else ACCOUNT
    ecs = client("ecs")
    ecr = client("ecr")
    aas = client("application-autoscaling")
    cloudwatch = client("cloudwatch")
    logs = client("logs")
    sns = client("sns")

    if home:
        create_state_table(config, endpoint_url)
    ecs.create_cluster(
        clusterName=config.cluster(environment.name), settings=[{"name": "containerInsights", "value": "enabled"}]
    )
    topic_arn = sns.create_topic(Name=f"{config.project}-{environment.name}-alarms")["TopicArn"]
    names = alarm_names(config, environment.name)
    task_definitions: dict[str, list[str]] = {}
    table_region = config.environment().region

    for index, target in enumerate(config.targets(environment.name)):
        repository_uri = ecr.create_repository(repositoryName=target.ecr_repository, imageTagMutability="IMMUTABLE")[
            "repository"
        ]["repositoryUri"]
        for tag in plan.tags:
            ecr.put_image(
                repositoryName=target.ecr_repository, imageManifest=manifest(target.ecr_repository, tag), imageTag=tag
            )
        if plan.pushed_days_ago is not None:
            pushed = dict(zip(plan.tags, plan.pushed_days_ago, strict=True))
            _backdate_pushes(target.ecr_repository, region, pushed, account)
        logs.create_log_group(logGroupName=target.log_group)
        arns = [
            ecs.register_task_definition(
                **_task_definition(target, f"{repository_uri}:{tag}", region, 8000 + index, account)
            )["taskDefinition"]["taskDefinitionArn"]
            for tag in plan.revisions
        ]
        task_definitions[target.name] = arns
        ecs.create_service(
            cluster=target.cluster,
            serviceName=target.ecs_service,
            taskDefinition=arns[-1],
            desiredCount=plan.desired,
            launchType="FARGATE",
        )
        if plan.autoscaling is not None:
            resource_id = f"service/{target.cluster}/{target.ecs_service}"
            aas.register_scalable_target(
                ServiceNamespace="ecs",
                ResourceId=resource_id,
                ScalableDimension="ecs:service:DesiredCount",
                MinCapacity=plan.autoscaling[0],
                MaxCapacity=plan.autoscaling[1],
            )
        for name in names[target.name]:
            _alarm(cloudwatch, name, target, topic_arn)
        stream = "ecs/seed/0"
        logs.create_log_stream(logGroupName=target.log_group, logStreamName=stream)
        now_ms = int(time.time() * 1000)
        logs.put_log_events(
            logGroupName=target.log_group,
            logStreamName=stream,
            logEvents=[
                {"timestamp": now_ms - 60_000 + i, "message": line.replace("{service}", target.name)}
                for i, line in enumerate(plan.log_lines)
            ],
        )
        # The revision history the bot would have recorded: a revision a day, each replacing the one before.
        history = RevisionHistory(Table(_factory(endpoint_url), config.state_table, table_region))
        for order, revision in enumerate(plan.ran):
            at = time.time() - 86400 * (len(plan.ran) - order)
            arn, image = arns[revision - 1], f"{repository_uri}:{plan.revisions[revision - 1]}"
            replaced = at + 86400 if order + 1 < len(plan.ran) else None
            rolled_back = (at + 86400, RolledBackBy.COMMAND) if revision in plan.rolled_back else None
            history.past(target.env, target.name, arn, image, at + 120, replaced, rolled_back)  # one write: ~10 ms
    for name in names[""]:
        put_alarm(
            cloudwatch,
            name,
            "The load balancer answers 5xx",
            namespace="AWS/ApplicationELB",
            metric="HTTPCode_ELB_5XX_Count",
            statistic="Sum",
            period=300,
            threshold=10,
            AlarmActions=[topic_arn],
            OKActions=[topic_arn],
        )
    return Seeded(topic_arn, [n for group in names.values() for n in group], task_definitions)


def _backdate_pushes(repository: str, region: str, days_ago: dict[str, float], account: str = ACCOUNT) -> None:
    """Give each tag a push time in the past; the ECR API cannot, so this sets moto's own record."""
    from moto.ecr.models import ecr_backends

    now = time.time()
    for image in ecr_backends[account][region].repositories[repository].images:
        if image.image_tag in days_ago:
            image.image_pushed_at = int(now - days_ago[image.image_tag] * 86400)


def alarm_queue(config: Config, endpoint_url: str | None, topic_arn: str) -> str:
    """The alarm relay's SQS queue, subscribed to the alarm topic (SNS envelope, not raw delivery); another
    environment's topic is subscribed by subscribe_alarm_queue."""
    environment = config.environment()
    sqs = _client("sqs", environment.region, endpoint_url)
    sns = _client("sns", environment.region, endpoint_url)
    name = f"{config.project}-{environment.name}-alarm-relay"
    queue_url: str = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return queue_url


def subscribe_alarm_queue(config: Config, endpoint_url: str | None, queue_arn: str, env: str, topic_arn: str) -> None:
    """Subscribe the alarm relay's queue to environment `env`'s alarm topic, from the topic's account, as
    infra/modules/workload_access does (moto delivers across accounts with sandbox.sns_cross_account)."""
    other = config.environment(env)
    sns = (
        account_clients(other.role_arn, other.region, endpoint_url)("sns")
        if other.role_arn
        else _client("sns", other.region, endpoint_url)
    )
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)


# Daily UnblendedCost per AWS service, in USD: a platform of two small Fargate services.
COST_BY_SERVICE = {
    "Amazon Elastic Container Service": 11.20,
    "Amazon Elastic Load Balancing": 4.10,
    "Amazon Virtual Private Cloud": 3.30,
    "AmazonCloudWatch": 1.45,
    "Amazon EC2 Container Registry (ECR)": 0.35,
    "Amazon DynamoDB": 0.12,
    "AWS Lambda": 0.04,
}
COST_BY_TAG = {"service-a": 0.55, "service-b": 0.30, "": 0.15}  # share of the day's cost per Service tag


def cost_results(config: Config, weeks: int, today: date | None = None, seed_value: int = 9) -> list[dict[str, Any]]:
    """Two GetCostAndUsage answers (by SERVICE, by the cost tag) covering `weeks` weeks up to today.

    Each covers every day a report could ask about; the bot keeps only the days of its window.
    Costs drift upwards a little week over week, with a step on service-a when it was scaled up.
    """
    today = today or datetime.now(UTC).date()
    rng = random.Random(seed_value)  # noqa: S311 - made-up numbers, the same on every run
    by_service, by_tag = [], []
    days = weeks * 7
    for back in range(days, 0, -1):
        day = today - timedelta(days=back)
        growth = 1 + 0.004 * (days - back) + (0.18 if back < 9 else 0.0)
        amounts = {name: base * growth * rng.uniform(0.9, 1.1) for name, base in COST_BY_SERVICE.items()}
        total = sum(amounts.values())
        period = {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()}
        estimated = back <= 2
        by_service.append(_cost_day(period, estimated, amounts))
        tags = {f"{config.cost.tag_key}${value}": total * share for value, share in COST_BY_TAG.items()}
        by_tag.append(_cost_day(period, estimated, tags))
    return [{"ResultsByTime": by_service}, {"ResultsByTime": by_tag}]


def _cost_day(period: dict[str, str], estimated: bool, amounts: dict[str, float]) -> dict[str, Any]:
    return {
        "TimePeriod": period,
        "Total": {},
        "Groups": [
            {"Keys": [key], "Metrics": {"UnblendedCost": {"Amount": f"{amount:.10f}", "Unit": "USD"}}}
            for key, amount in amounts.items()
        ],
        "Estimated": estimated,
    }


def seed_cost_explorer(config: Config, endpoint_url: str, plan: SeedPlan) -> None:
    """Queue cost data through moto's injection endpoint (moto answers each new request with the next one).

    A /cost report asks by SERVICE, then by tag: the queue alternates the two answers, so every report
    gets data of the right kind.
    """
    if plan.cost_weeks <= 0:
        return
    pair = cost_results(config, plan.cost_weeks)
    body = json.dumps({"results": pair * (COST_REQUESTS_QUEUED // 2)}).encode()
    request = urllib.request.Request(  # noqa: S310 - moto on loopback
        f"{endpoint_url}/moto-api/static/ce/cost-and-usage-results",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        response.read()


def _task_definition(target: Target, image: str, region: str, port: int, account: str = ACCOUNT) -> dict[str, Any]:
    tag = image.rpartition(":")[2]
    return {
        "family": target.task_family,
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": "256",
        "memory": "512",
        "executionRoleArn": f"arn:aws:iam::{account}:role/{target.task_family}-execution",
        "taskRoleArn": f"arn:aws:iam::{account}:role/{target.task_family}-task",
        "containerDefinitions": [
            {
                "name": target.container,
                "image": image,
                "memory": 512,
                "essential": True,
                "portMappings": [{"containerPort": port, "protocol": "tcp"}],
                "environment": [{"name": "APP_VERSION", "value": tag}],
                "readonlyRootFilesystem": True,
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": target.log_group,
                        "awslogs-region": region,
                        "awslogs-stream-prefix": "ecs",
                    },
                },
            }
        ],
    }


def _alarm(cloudwatch: Any, name: str, target: Target, topic_arn: str) -> None:
    metric = {
        "cpu-high": ("AWS/ECS", "CPUUtilization", 80.0, "GreaterThanThreshold"),
        "memory-high": ("AWS/ECS", "MemoryUtilization", 80.0, "GreaterThanThreshold"),
        "unhealthy-hosts": ("AWS/ApplicationELB", "UnHealthyHostCount", 0.0, "GreaterThanThreshold"),
        "running-tasks-low": ("ECS/ContainerInsights", "RunningTaskCount", 1.0, "LessThanThreshold"),
    }[name.removeprefix(target.alarm_prefix)]
    put_alarm(
        cloudwatch,
        name,
        f"{target.name}: {metric[1]}",
        namespace=metric[0],
        metric=metric[1],
        evaluation_periods=3,
        threshold=metric[2],
        operator=metric[3],
        Dimensions=[
            {"Name": "ClusterName", "Value": target.cluster},
            {"Name": "ServiceName", "Value": target.ecs_service},
        ],
        AlarmActions=[topic_arn],
        OKActions=[topic_arn],
    )


def put_alarm(
    cloudwatch: Any,
    name: str,
    description: str | None = None,
    *,
    namespace: str = "AWS/ECS",
    metric: str = "CPUUtilization",
    statistic: str = "Average",
    period: int = 60,
    evaluation_periods: int = 1,
    threshold: float = 80,
    operator: str = "GreaterThanThreshold",
    **more: Any,
) -> None:
    """A metric alarm on one metric (PutMetricAlarm); `more` are further PutMetricAlarm parameters
    (Dimensions, AlarmActions, Tags, ...)."""
    if description is not None:
        more["AlarmDescription"] = description
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace=namespace,
        MetricName=metric,
        Statistic=statistic,
        Period=period,
        EvaluationPeriods=evaluation_periods,
        Threshold=threshold,
        ComparisonOperator=operator,
        **more,
    )
