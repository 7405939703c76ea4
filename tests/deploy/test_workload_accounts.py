"""template.yaml's environments in other AWS accounts (issue 21, item 2): the parameters open exactly what
they list, and the defaults (empty lists: a single-account install) open nothing.

The template is resolved as CloudFormation would with the given parameters (tests/iam_database.py's Resolver)
and its grants evaluated as AWS would (iam_database.evaluate).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from iam_database import PSEUDO, Resolver, evaluate, template_policies

from bot.permissions import GRANTS, Function

from .checks import REPO
from .test_policy_database import PARAMETERS

# The functions bot/permissions.py lets assume a workload account's role, in template order.
ASSUMING = tuple(f.value for f in Function if any(g.action == "sts:AssumeRole" and f in g.functions for g in GRANTS))
STAGING, PRODUCTION, STRANGER = "210987654321", "109876543210", "555555555555"
TOPICS = [
    f"arn:aws:sns:eu-west-1:{STAGING}:ecs-microservices-staging-alarms",
    f"arn:aws:sns:us-east-1:{PRODUCTION}:ecs-microservices-production-alarms",
]
SINGLE_ACCOUNT = {k: v for k, v in PARAMETERS.items() if not k.startswith("Workload")}
TWO_ACCOUNTS = SINGLE_ACCOUNT | {"WorkloadAccountIds": [STAGING, PRODUCTION], "WorkloadAlarmTopicArns": TOPICS}
ROLE = "opsbot-workload-access"


def created(template: dict[str, Any], parameters: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The resources the stack would hold: those whose Condition holds, resolved."""
    resolver = Resolver(template, parameters)
    return {
        logical_id: resolver.resolve(resource.get("Properties", {}))
        for logical_id, resource in template["Resources"].items()
        if "Condition" not in resource or resolver.condition(resource["Condition"])
    }


def assume_role_statements(policies: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        statement
        for name, policy in policies.items()
        if name.endswith("Policies[0]")
        for statement in policy["Statement"]
        if "sts:AssumeRole" in statement["Action"]
    ]


def test_a_single_account_install_opens_nothing(template: dict[str, Any]) -> None:
    resources = created(template, SINGLE_ACCOUNT)
    workload = [r for r in template["Resources"] if r.startswith("Workload")]
    assert len(workload) == 8  # the bus policy, the rule, its permission, five subscription slots
    assert not set(workload) & set(resources), "created with empty lists"
    policies = template_policies(template, SINGLE_ACCOUNT)
    assert assume_role_statements(policies) == []
    [send] = policies["AlarmQueuePolicy PolicyDocument"]["Statement"]
    assert send["Condition"] == {"ArnEquals": {"aws:SourceArn": PARAMETERS["AlarmTopicArn"]}}


def test_the_functions_assume_only_the_workload_role_of_the_listed_accounts(template: dict[str, Any]) -> None:
    policies = template_policies(template, TWO_ACCOUNTS)
    for function in ASSUMING:
        policy = [policies[f"{function} Policies[0]"]]

        def assume(account: str, name: str = ROLE, policy: list[dict[str, Any]] = policy) -> str:
            arn = f"arn:aws:iam::{account}:role/{name}"
            return evaluate(policy, "sts:AssumeRole", arn, {"aws:ResourceAccount": account})

        assert assume(STAGING) == assume(PRODUCTION) == "Allow", function
        assert assume(STRANGER) != "Allow", function
        assert assume(PSEUDO["AWS::AccountId"]) != "Allow", function  # nothing of its own account
        assert assume(STAGING, "OrganizationAccountAccessRole") != "Allow", function


def test_the_event_bus_takes_ecs_deployment_events_from_the_listed_accounts_only(template: dict[str, Any]) -> None:
    resources = created(template, TWO_ACCOUNTS)
    policy = resources["WorkloadDeploymentEventsPolicy"]
    assert policy["EventBusName"] == "default"
    statement = policy["Statement"]
    assert statement["Principal"] == {"AWS": [STAGING, PRODUCTION]}
    assert statement["Action"] == "events:PutEvents"
    assert statement["Condition"] == {
        "StringEquals": {"events:source": "aws.ecs", "events:detail-type": "ECS Deployment State Change"}
    }
    rule = resources["WorkloadDeploymentsRule"]
    assert rule["EventPattern"] == {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Deployment State Change"],
        "account": [STAGING, PRODUCTION],
    }
    [target] = rule["Targets"]
    assert target["Arn"].endswith(":function:ecs-microservices-production-opsbot-deployments")
    permission = resources["WorkloadDeploymentsPermission"]
    assert (permission["Principal"], permission["Action"]) == ("events.amazonaws.com", "lambda:InvokeFunction")


def test_the_alarm_queue_subscribes_to_and_accepts_the_listed_topics(template: dict[str, Any]) -> None:
    resources = created(template, TWO_ACCOUNTS)
    subscriptions = {
        r["TopicArn"]: r for logical_id, r in resources.items() if logical_id.startswith("WorkloadAlarmSubscription")
    }
    assert set(subscriptions) == set(TOPICS)  # two slots of five taken
    queue = resources["AlarmQueue"]["QueueName"]
    for topic, subscription in subscriptions.items():
        assert subscription["Protocol"] == "sqs"
        assert subscription["Endpoint"].endswith(f":{queue}")
        assert subscription["Region"] == topic.split(":")[3]
    statements = resources["AlarmQueuePolicy"]["PolicyDocument"]["Statement"]
    [workload] = [s for s in statements if s["Sid"] == "WorkloadAlarmTopicsSend"]
    assert workload["Principal"] == {"Service": "sns.amazonaws.com"}
    assert workload["Condition"] == {"ArnEquals": {"aws:SourceArn": TOPICS}}


@pytest.mark.parametrize("count", [1, 5])
def test_each_listed_topic_has_its_subscription_slot(template: dict[str, Any], count: int) -> None:
    topics = [f"arn:aws:sns:eu-west-1:{STAGING}:topic-{i}" for i in range(count)]
    resources = created(template, SINGLE_ACCOUNT | {"WorkloadAlarmTopicArns": topics})
    subscribed = sorted(r["TopicArn"] for i, r in resources.items() if i.startswith("WorkloadAlarmSubscription"))
    assert subscribed == sorted(topics)


def test_the_role_name_and_the_external_id_agree_with_infra(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    variables = (REPO / "infra" / "variables.tf").read_text()
    [infra_default] = re.findall(r'role_name\s*=\s*optional\(string,\s*"([^"]+)"\)', variables)
    assert parameters["WorkloadRoleName"]["Default"] == infra_default == ROLE
    external = parameters["ExternalId"]
    assert external["NoEcho"] is True
    assert external["Default"] == ""
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["OPSBOT_EXTERNAL_ID"] == {"Ref": "ExternalId"}
    outputs = template["Outputs"]
    roles = outputs["FunctionRoleArns"]["Value"]["Fn::Join"][1]
    assert [r["Fn::GetAtt"][0] for r in roles] == [f"{f}Role" for f in ASSUMING]


def _rule_value(resolver: Resolver, node: Any) -> Any:
    """A rule-specific function (Fn::EachMemberEquals) and the condition functions around it, as CloudFormation
    evaluates a template's Rules before it creates anything."""
    if isinstance(node, dict) and len(node) == 1:
        [(key, value)] = node.items()
        if key == "Fn::EachMemberEquals":
            items, expected = (resolver.resolve(v) for v in value)
            return all(str(item) == expected for item in (items if isinstance(items, list) else [items]))
        if key == "Fn::Not":
            return not _rule_value(resolver, value[0])
        if key == "Fn::And":
            return all(_rule_value(resolver, v) for v in value)
        if key == "Fn::Or":
            return any(_rule_value(resolver, v) for v in value)
        if key == "Fn::Equals":
            left, right = (_rule_value(resolver, v) for v in value)
            return left == right
    return resolver.resolve(node)


def refused(template: dict[str, Any], parameters: dict[str, Any]) -> list[str]:
    """The AssertDescriptions of the template's Rules that these parameters fail (the deploy would stop)."""
    resolver = Resolver(template, parameters)
    failed = []
    for rule in template.get("Rules", {}).values():
        if "RuleCondition" in rule and not _rule_value(resolver, rule["RuleCondition"]):
            continue
        failed += [a["AssertDescription"] for a in rule["Assertions"] if not _rule_value(resolver, a["Assert"])]
    return failed


def test_workload_accounts_without_an_external_id_are_refused_at_deploy_time(template: dict[str, Any]) -> None:
    """Issue 21 review 1, finding 6: WorkloadAccountIds with an empty ExternalId deployed, and the bot assumed the
    workload roles with no external id (a role that asks for one denies it; one that does not is confused-deputy
    prone)."""
    [message] = refused(template, TWO_ACCOUNTS | {"ExternalId": ""})
    assert "ExternalId" in message
    assert "WorkloadAccountIds" in message
    assert "bot_external_id" in message  # where its value comes from
    assert refused(template, TWO_ACCOUNTS | {"ExternalId": "opsbot-7f3a-0123456789"}) == []
    assert refused(template, SINGLE_ACCOUNT | {"ExternalId": ""}) == []
    empty_default = {"WorkloadAccountIds": [""], "ExternalId": ""}  # CloudFormation's Ref of the default ""
    assert refused(template, SINGLE_ACCOUNT | empty_default) == []
