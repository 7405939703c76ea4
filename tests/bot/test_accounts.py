"""Staging and production in two AWS accounts, operated by one bot (issue 21): staging through a role in its
own account (with an external id), production with the bot's own credentials. moto keeps the two accounts
apart (a request made with the assumed role's credentials lands in the role's account), so each deploy,
event and alarm below is in the account it would be in AWS.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from alarms.support import AlarmsLambda, sqs_event
from harness import ACCOUNT, ADMIN, CHANNEL, Bot, config_data, deployment_event
from moto import mock_aws
from reliability.aws_faults import AwsFaults

from bot.config import ConfigError, load_config, parse_config
from sandbox.notifications import metric_trigger, notification, sns_envelope
from sandbox.seed import Seeded, SeedPlan, account_clients, seed

STAGING_ACCOUNT = "210987654321"
STRANGER = "999988887777"  # an account no environment names
STAGING_ROLE = f"arn:aws:iam::{STAGING_ACCOUNT}:role/fargate-chatops-workload"
EXTERNAL_ID = "opsbot-7f3a"
STAGING_CHANNEL, PRODUCTION_CHANNEL, ALARM_CHANNEL = "C0STAGING", "C0PROD", "C0ALARMS"
REGION = "us-east-1"


def two_accounts() -> dict[str, Any]:
    data = config_data()
    data["environments"][1] = {
        "name": "staging",
        "region": REGION,
        "role_arn": STAGING_ROLE,
        "external_id": EXTERNAL_ID,
        "roles": {"deployer": ["*"]},
    }
    data["alarms"] = {"channel": ALARM_CHANNEL}
    data["routing"] = {
        "rules": [
            {"name": "staging", "kinds": ["alarm"], "environments": ["staging"], "channels": [STAGING_CHANNEL]},
            {
                "name": "production",
                "kinds": ["alarm"],
                "environments": ["production"],
                "channels": [PRODUCTION_CHANNEL],
            },
        ],
        "severity_tag_key": "Severity",  # the relay reads each alarm's tags, in the alarm's own account
    }
    return data


@pytest.fixture
def config_dict() -> dict[str, Any]:
    return two_accounts()


@pytest.fixture
def aws(config_dict: dict[str, Any], seed_plan: SeedPlan) -> Iterator[Seeded]:
    config = parse_config(config_dict)
    with mock_aws():
        seeded = seed(config, plan=seed_plan)
        seed(config, plan=seed_plan, env="staging")
        yield seeded


def ecs_in(account: str) -> Any:
    if account == ACCOUNT:
        return boto3.client("ecs", region_name=REGION)
    return account_clients(f"arn:aws:iam::{account}:role/reader", REGION, None)("ecs")


def service(account: str, env: str, name: str = "service-a") -> dict[str, Any]:
    found = ecs_in(account).describe_services(
        cluster=f"ecs-microservices-{env}-cluster", services=[f"ecs-microservices-{env}-{name}"]
    )["services"]
    assert len(found) == 1, found
    return dict(found[0])


def alarm(account: str, env: str, name: str = "service-a-cpu-high", state: str = "ALARM") -> str:
    """The SNS envelope of a CloudWatch alarm of `env`'s naming, published in `account`."""
    alarm_name = f"ecs-microservices-{env}-{name}"
    topic = f"arn:aws:sns:{REGION}:{account}:ecs-microservices-{env}-alarms"
    message = notification(
        alarm_name,
        state,
        "OK",
        datetime.now(UTC),
        reason="Threshold Crossed",
        region=REGION,
        account=account,
        alarm_actions=[topic],
        trigger=metric_trigger(
            "CPUUtilization",
            "AWS/ECS",
            {"ClusterName": f"ecs-microservices-{env}-cluster", "ServiceName": f"ecs-microservices-{env}-service-a"},
        ),
    )
    return json.dumps(sns_envelope(message, topic))


def cards(bot: Bot, channel: str) -> list[str]:
    return [m.text for m in bot.slack.channel(channel) if m.thread_ts is None]


# --- the configuration -------------------------------------------------------------------------------------


def test_an_environments_external_id_and_the_shared_one() -> None:
    data = two_accounts()
    data["environments"].append({"name": "qa", "region": "eu-west-1", "role_arn": "arn:aws:iam::333344445555:role/ops"})
    config = parse_config(data)
    assert config.environment("staging").external_id == EXTERNAL_ID
    assert config.environment("qa").external_id is None

    def loaded(**environ: str) -> Any:
        return load_config(environ)

    import tempfile

    import yaml

    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        yaml.safe_dump(data, file)
        file.flush()
        shared = loaded(OPSBOT_CONFIG_FILE=file.name, OPSBOT_EXTERNAL_ID="shared-id")
        # The variable is every role's that names none; an environment's own wins; no role, no external id.
        assert shared.environment("qa").external_id == "shared-id"
        assert shared.environment("staging").external_id == EXTERNAL_ID
        assert shared.environment("production").external_id is None
        with pytest.raises(ConfigError, match="OPSBOT_EXTERNAL_ID"):
            loaded(OPSBOT_CONFIG_FILE=file.name, OPSBOT_EXTERNAL_ID="no spaces allowed")


def test_an_external_id_without_a_role_is_refused_saying_what_to_do() -> None:
    data = config_data()
    data["environments"][1]["external_id"] = EXTERNAL_ID
    with pytest.raises(ConfigError) as refused:
        parse_config(data)
    message = str(refused.value)
    assert "environments.1" in message
    assert "external_id is set but role_arn is not" in message
    assert "add the role_arn" in message


def test_a_bad_external_id_names_the_field() -> None:
    data = two_accounts()
    data["environments"][1]["external_id"] = "x"
    with pytest.raises(ConfigError, match=r"environments\.1\.external_id: an external id is 2 to 1224"):
        parse_config(data)


def test_two_environments_in_one_account_region_and_cluster_are_fine() -> None:
    data = config_data()
    for env in data["environments"]:
        env["cluster"] = "shared-cluster"
    config = parse_config(data)
    assert config.cluster("staging") == config.cluster("production") == "shared-cluster"
    assert {e.account_id for e in config.environments} == {ACCOUNT}


# --- one bot, two accounts ------------------------------------------------------------------------------------


def test_deploys_to_staging_in_its_account_and_to_production_in_the_bots(bot: Bot, deployments: Any) -> None:
    from harness import lambda_context

    assert bot.command("/deploy service-a v1.3.0 staging").text == ""  # staging needs no confirmation
    staging = service(STAGING_ACCOUNT, "staging")
    assert staging["serviceArn"].startswith(f"arn:aws:ecs:{REGION}:{STAGING_ACCOUNT}:service/")
    assert staging["taskDefinition"].endswith(":4")
    assert service(ACCOUNT, "production")["taskDefinition"].endswith(":3")  # production is untouched

    assert bot.command("/deploy service-a v1.3.0").text == ""
    plan = bot.last_card()
    assert "production" in bot.card_text(plan)
    bot.click("plan_confirm", bot.button(plan, "plan_confirm")["value"], plan.ts, user=ADMIN)
    assert service(ACCOUNT, "production")["taskDefinition"].endswith(":4")
    assert service(STAGING_ACCOUNT, "staging")["taskDefinition"].endswith(":4")  # one revision, not two

    # ECS's events come from each environment's own account, forwarded to the bot's bus.
    event = deployment_event(staging["serviceArn"], "SERVICE_DEPLOYMENT_COMPLETED", staging["deployments"][0]["id"])
    event["account"] = STAGING_ACCOUNT
    assert deployments.handler(event, lambda_context("DeploymentsFunction")) == {"result": "completed"}
    production = service(ACCOUNT, "production")
    event = deployment_event(
        production["serviceArn"], "SERVICE_DEPLOYMENT_COMPLETED", production["deployments"][0]["id"]
    )
    assert deployments.handler(event, lambda_context("DeploymentsFunction")) == {"result": "completed"}
    replies = [m.text for m in bot.slack.channel(CHANNEL) if m.thread_ts is not None]
    assert "deploy service-a v1.3.0 (staging): Completed in" in "\n".join(replies)
    assert "deploy service-a v1.3.0 (production): Completed in" in "\n".join(replies)


def test_a_deployment_event_is_taken_by_account_and_region_never_by_name(
    bot: Bot, deployments: Any, log_messages: Callable[..., list[str]]
) -> None:
    from harness import lambda_context

    warnings = log_messages("bot.deployments", logging.WARNING)
    assert bot.command("/deploy service-a v1.3.0 staging").text == ""
    staging = service(STAGING_ACCOUNT, "staging")
    deployment = staging["deployments"][0]["id"]

    # The staging service's ARN, but the event comes from an account no environment names: dropped, logged.
    event = deployment_event(staging["serviceArn"], "SERVICE_DEPLOYMENT_COMPLETED", deployment)
    event["account"] = STRANGER
    assert deployments.handler(event, lambda_context("DeploymentsFunction")) == {"result": "foreign"}
    assert any(STRANGER in w and "no environment names" in w for w in warnings), warnings
    # From production's account (the bot's): not staging's card either.
    event["account"] = ACCOUNT
    assert deployments.handler(event, lambda_context("DeploymentsFunction")) == {"result": "foreign"}
    # The same service name in another account is another service: no card of the bot's.
    forged = staging["serviceArn"].replace(STAGING_ACCOUNT, STRANGER)
    event = deployment_event(forged, "SERVICE_DEPLOYMENT_COMPLETED", deployment)
    event["account"] = STRANGER
    assert deployments.handler(event, lambda_context("DeploymentsFunction")) == {"result": "foreign"}
    assert not [m for m in bot.slack.channel(CHANNEL) if "Completed in" in bot.card_text(m)]

    event = deployment_event(staging["serviceArn"], "SERVICE_DEPLOYMENT_COMPLETED", deployment)
    event["account"] = STAGING_ACCOUNT
    assert deployments.handler(event, lambda_context("DeploymentsFunction")) == {"result": "completed"}


def test_each_accounts_alarm_lands_on_its_environments_routing(
    alarms: AlarmsLambda, log_messages: Callable[..., list[str]]
) -> None:
    warnings = log_messages("bot.alarms.relay", logging.WARNING)
    response = alarms.invoke(
        sqs_event(
            alarm(STAGING_ACCOUNT, "staging"),
            alarm(ACCOUNT, "production", "service-b-memory-high"),
            # Named like staging's, but from production's account: production's alarm, whatever its name says.
            alarm(ACCOUNT, "staging", "service-b-cpu-high"),
            alarm(STRANGER, "staging", "service-a-memory-high"),
        )
    )
    assert response == {"batchItemFailures": []}
    bot = alarms.bot
    [staging] = cards(bot, STAGING_CHANNEL)
    assert "ecs-microservices-staging-service-a-cpu-high" in staging
    production = cards(bot, PRODUCTION_CHANNEL)
    assert len(production) == 2, production
    assert any("ecs-microservices-production-service-b-memory-high" in c for c in production)
    assert any("ecs-microservices-staging-service-b-cpu-high" in c for c in production)
    assert not cards(bot, ALARM_CHANNEL)
    assert any(STRANGER in w and "dropped" in w for w in warnings), warnings


def test_an_alarm_from_another_region_of_an_environments_account_is_not_its(
    alarms: AlarmsLambda, log_messages: Callable[..., list[str]]
) -> None:
    warnings = log_messages("bot.alarms.relay", logging.WARNING)
    message = json.loads(json.loads(alarm(STAGING_ACCOUNT, "staging"))["Message"])
    message["AlarmArn"] = message["AlarmArn"].replace(REGION, "eu-west-1")
    envelope = sns_envelope(message, f"arn:aws:sns:eu-west-1:{STAGING_ACCOUNT}:elsewhere")
    assert alarms.invoke(sqs_event(json.dumps(envelope))) == {"batchItemFailures": []}
    assert not cards(alarms.bot, STAGING_CHANNEL)
    assert any("region 'eu-west-1'" in w and STAGING_ACCOUNT in w for w in warnings), warnings


# --- a role that cannot be assumed -----------------------------------------------------------------------------


@pytest.fixture
def distrusting(aws_faults: AwsFaults) -> AwsFaults:
    """Staging's role trusts the bot only with another external id than the bot's config gives."""
    aws_faults.add(
        "AssumeRole", "AccessDenied", status=403, matching=b"fargate-chatops-workload", unless=b"ExternalId=right-id"
    )
    return aws_faults


def assert_names_the_role(text: str) -> None:
    assert f"Assuming the role of staging ({STAGING_ROLE}) failed: AWS denied sts:AssumeRole (AccessDenied)" in text
    assert f"trust policy in account {STAGING_ACCOUNT}" in text
    assert "sts:ExternalId condition must equal the environment's external_id" in text
    # Issue 21 review 1, finding 5: the other causes, each named with where to fix it.
    assert f"account {STAGING_ACCOUNT} must be in the bot stack's WorkloadAccountIds" in text
    assert "role name (fargate-chatops-workload) must be the stack's WorkloadRoleName" in text
    assert "re-apply bot_access" in text
    assert "Traceback" not in text


def test_an_unassumable_role_is_named_and_the_other_environment_keeps_working(
    bot: Bot, alarms: AlarmsLambda, distrusting: AwsFaults, log_messages: Callable[..., list[str]]
) -> None:
    assert_names_the_role(bot.command("/status staging").text)
    assert_names_the_role(bot.command("/deploy service-a v1.3.0 staging").text)
    assert service(STAGING_ACCOUNT, "staging")["taskDefinition"].endswith(":3")

    production = bot.command("/status production").text
    assert "service-a" in production
    assert "service-b" in production
    assert "Assuming" not in production

    # Every environment at once: staging's line says what is wrong, production's services are there.
    everywhere = bot.command("/status all")
    [answer] = everywhere.responses
    headers = [b["text"]["text"] for b in answer["blocks"] if b["type"] == "header"]
    assert headers == ["Status: production", "Status: staging"]
    shown = json.dumps(answer["blocks"])
    assert "ecs-microservices-production" not in shown  # short names, as /status shows them
    assert "*service-a*" in shown
    assert "*service-b*" in shown
    assert_names_the_role(json.loads(shown)[-1]["text"]["text"])

    # The relay still shows staging's alarm on staging's routing; its log says why the tags were not read.
    warnings = log_messages("bot.platform", logging.WARNING)
    assert alarms.invoke(sqs_event(alarm(STAGING_ACCOUNT, "staging"))) == {"batchItemFailures": []}
    assert len(cards(alarms.bot, STAGING_CHANNEL)) == 1
    assert any(STAGING_ROLE in w and "trust policy" in w and "staging" in w for w in warnings), warnings


def test_the_role_is_assumed_with_the_environments_external_id(bot: Bot, aws_faults: AwsFaults) -> None:
    fault = aws_faults.add(
        "AssumeRole",
        "AccessDenied",
        status=403,
        matching=b"fargate-chatops-workload",
        unless=f"ExternalId={EXTERNAL_ID}".encode(),
    )
    shown = bot.command("/status staging").text
    assert "service-a" in shown
    assert "Assuming" not in shown
    assert fault.sent == 0


def test_status_all_is_parsed_and_refuses_more() -> None:
    from bot.commands import Parser, Status, UsageError

    parser = Parser(parse_config(two_accounts()))
    assert parser.parse("/status", "all") == Status(None, None, every=True)
    assert parser.parse("/status", "service-b all") == Status("service-b", None, every=True)
    with pytest.raises(UsageError, match="Unexpected argument `staging`"):
        parser.parse("/status", "service-b staging all")


def test_the_role_is_assumed_once_and_renewed_before_it_expires() -> None:
    import time

    from bot.aws import ClientFactory, recorded_calls

    staging = parse_config(two_accounts()).environment("staging")
    now = [time.time()]
    factory = ClientFactory(clock=lambda: now[0])
    with mock_aws(), recorded_calls() as calls:
        first = factory.for_environment("ecs", staging)
        assert factory.for_environment("ecs", staging) is first
        factory.for_environment("logs", staging)
        assert calls.count("sts:AssumeRole") == 1  # one role session for every client of the environment
        with pytest.raises(first.exceptions.ClusterNotFoundException):  # asked in staging's (empty) account
            first.describe_services(cluster="ecs-microservices-staging-cluster", services=["x"])
        now[0] += 3590  # moto's credentials last an hour: now within the margin of their expiry
        renewed = factory.for_environment("ecs", staging)
        assert renewed is not first
        assert calls.count("sts:AssumeRole") == 2


def test_the_bot_stacks_own_alarm_from_its_own_region_is_still_the_bots(
    alarms: AlarmsLambda, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stack may run in a region no environment runs in: its alarms about itself come through its own topic."""
    own_topic = f"arn:aws:sns:eu-west-1:{ACCOUNT}:ecs-microservices-production-opsbot-own-alarms"
    monkeypatch.setenv("OPSBOT_OWN_ALARM_TOPIC_ARN", own_topic)
    alarms.module.reset()
    message = json.loads(json.loads(alarm(ACCOUNT, "production", "opsbot-alarms-dlq"))["Message"])
    message["AlarmArn"] = message["AlarmArn"].replace(REGION, "eu-west-1")
    record = {"EventSource": "aws:sns", "Sns": {"Type": "Notification", "MessageId": "m-1", "TopicArn": own_topic}}
    record["Sns"]["Message"] = json.dumps(message)
    try:
        alarms.invoke({"Records": [record]})
        shown = cards(alarms.bot, PRODUCTION_CHANNEL)
        assert any("opsbot-alarms-dlq" in c for c in shown), shown
    finally:
        alarms.module.reset()


# --- the topic an alarm came through (issue 21 review 1, finding 1) ------------------------------------------


def test_an_alarm_naming_production_published_on_staging_s_topic_is_dropped(
    alarms: AlarmsLambda, log_messages: Callable[..., list[str]]
) -> None:
    """Exploit: SNS sets only the envelope's TopicArn; the account and AlarmArn inside the message are whatever
    its publisher wrote. Someone allowed sns:Publish on staging's topic (in staging's account) published an alarm
    naming production's account and alarm: it got a production card with Scale up, and production's escalation."""
    warnings = log_messages("bot.alarms.relay", logging.WARNING)
    staging_topic = f"arn:aws:sns:{REGION}:{STAGING_ACCOUNT}:ecs-microservices-staging-alarms"
    message = json.loads(json.loads(alarm(ACCOUNT, "production", "service-a-cpu-high"))["Message"])
    forged = json.dumps(sns_envelope(message, staging_topic))
    assert alarms.invoke(sqs_event(forged)) == {"batchItemFailures": []}
    bot = alarms.bot
    assert not cards(bot, PRODUCTION_CHANNEL)
    assert not cards(bot, STAGING_CHANNEL)
    assert not cards(bot, ALARM_CHANNEL)
    assert any(STAGING_ACCOUNT in w and "production" in w for w in warnings), warnings
    # The same alarm through production's own topic (in production's account) is production's.
    assert alarms.invoke(sqs_event(alarm(ACCOUNT, "production", "service-a-cpu-high"))) == {"batchItemFailures": []}
    assert len(cards(bot, PRODUCTION_CHANNEL)) == 1


def test_an_alarm_naming_staging_published_in_production_s_account_is_dropped(alarms: AlarmsLambda) -> None:
    """The other way round: a topic of production's account carries only production's alarms."""
    production_topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:ecs-microservices-production-alarms"
    message = json.loads(json.loads(alarm(STAGING_ACCOUNT, "staging"))["Message"])
    assert alarms.invoke(sqs_event(json.dumps(sns_envelope(message, production_topic)))) == {"batchItemFailures": []}
    assert not cards(alarms.bot, STAGING_CHANNEL)
    assert not cards(alarms.bot, PRODUCTION_CHANNEL)
