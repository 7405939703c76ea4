#!/usr/bin/env bash
# Build and deploy the Slack bot (template.yaml) with its parameters read from infra/'s Terraform outputs.
#
#   scripts/deploy-bot.sh              # what `make deploy-bot` runs
#   scripts/deploy-bot.sh --guided     # any further options go to `sam deploy`
#
# Optional environment:
#   STACK_NAME                    default <project>-<environment>-opsbot
#   SLACK_SIGNING_SECRET_NAME     Secrets Manager names (the template's defaults otherwise)
#   SLACK_BOT_TOKEN_SECRET_NAME
#   CONFIG_FILE                   the bot's YAML config inside the bundle (default config/example.yaml)
#   LOG_LEVEL                     DEBUG, INFO, WARNING or ERROR
#   ENVIRONMENT_ROLE_ARNS         comma-separated roles for environments in other accounts
#   ALARM_CHANNEL, COST_REPORT_CHANNEL, COST_REPORT_SCHEDULE, OWN_ALARM_EMAIL (docs/deploy.md)
#   INFRA_DIR                     default infra
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "deploy-bot: $*" >&2; exit 1; }
require() { command -v "$1" >/dev/null 2>&1 || fail "'$1' is not installed. $2"; }

require terraform "Install Terraform >= 1.9 (docs/deploy.md)."
require sam "Install the AWS SAM CLI (docs/deploy.md); sam build also needs python3 with pip."
require python3 "Install Python 3 with pip (any version: the layer's wheels are fetched for python3.12)."

infra="${INFRA_DIR:-infra}"
outputs="$(terraform -chdir="$infra" output -json)" \
  || fail "cannot read the Terraform outputs of $infra/: run 'make plan apply' there first."

# One line each: region, default stack name, then one Key=Value per template parameter.
# The template scopes ECS services, log groups and alarms by the naming convention of
# config/example.yaml; stop here if Terraform named anything otherwise.
lines="$(python3 - "$outputs" <<'PY'
import json
import os
import sys

raw = json.loads(sys.argv[1])
needed = [
    "project_name", "environment", "aws_region", "cluster_name", "ecs_service_names",
    "task_definition_families", "log_group_names", "ecr_repository_arns", "task_role_arns",
    "execution_role_arn", "alarm_topic_arn", "bot_functions_boundary_arn",
]
missing = [name for name in needed if name not in raw]
if missing:
    sys.exit(f"deploy-bot: infra/ has no Terraform output {', '.join(missing)}; apply the current infra/ first.")
out = {name: raw[name]["value"] for name in needed}
project, env = out["project_name"], out["environment"]
services = sorted(out["ecs_service_names"])

expected = {
    "cluster_name": {"": f"{project}-{env}-cluster"},
    "ecs_service_names": {s: f"{project}-{env}-{s}" for s in services},
    "task_definition_families": {s: f"{project}-{env}-{s}" for s in services},
    "log_group_names": {s: f"/ecs/{project}-{env}-{s}" for s in services},
}
wrong = []
for output, names in expected.items():
    actual = out[output] if isinstance(out[output], dict) else {"": out[output]}
    for key, name in names.items():
        if actual.get(key) != name:
            label = f"{output}[{key!r}]" if key else output
            wrong.append(f"  {label} is {actual.get(key)!r}, expected {name!r}")
if wrong:
    sys.exit(
        "deploy-bot: Terraform's names break the naming convention that the bot and template.yaml's\n"
        "IAM policies rely on (config/example.yaml, naming):\n" + "\n".join(wrong)
    )

parameters = {
    "ProjectName": project,
    "EnvironmentName": env,
    "ClusterName": out["cluster_name"],
    "ServiceNames": ",".join(services),
    "EcrRepositoryArns": ",".join(out["ecr_repository_arns"][s] for s in sorted(out["ecr_repository_arns"])),
    "TaskRoleArns": ",".join(out["task_role_arns"][s] for s in sorted(out["task_role_arns"])),
    "ExecutionRoleArn": out["execution_role_arn"],
    "AlarmTopicArn": out["alarm_topic_arn"],
    "FunctionPermissionsBoundary": out["bot_functions_boundary_arn"],
}
optional = {
    "SlackSigningSecretName": "SLACK_SIGNING_SECRET_NAME",
    "SlackBotTokenSecretName": "SLACK_BOT_TOKEN_SECRET_NAME",
    "ConfigFile": "CONFIG_FILE",
    "LogLevel": "LOG_LEVEL",
    "WorkloadAccountIds": "WORKLOAD_ACCOUNT_IDS",
    "WorkloadAlarmTopicArns": "WORKLOAD_ALARM_TOPIC_ARNS",
    "WorkloadRoleName": "WORKLOAD_ROLE_NAME",
    "ExternalId": "OPSBOT_EXTERNAL_ID",
    "AlarmChannel": "ALARM_CHANNEL",
    "CostReportChannel": "COST_REPORT_CHANNEL",
    "CostReportSchedule": "COST_REPORT_SCHEDULE",
    "OwnAlarmEmail": "OWN_ALARM_EMAIL",
}
parameters |= {name: os.environ[var] for name, var in optional.items() if os.environ.get(var)}
# template.yaml subscribes the alarm queue to each workload topic in a fixed slot (WorkloadAlarmSubscription1-5):
# a topic past the last slot would be deployed and never heard.
TOPIC_SLOTS = 5
topics = [t for t in parameters.get("WorkloadAlarmTopicArns", "").split(",") if t]
if len(topics) > TOPIC_SLOTS:
    sys.exit(
        f"deploy-bot: WORKLOAD_ALARM_TOPIC_ARNS lists {len(topics)} topics; template.yaml subscribes the alarm "
        f"queue to at most {TOPIC_SLOTS}, so these would never be heard:\n"
        + "\n".join(f"  {t}" for t in topics[TOPIC_SLOTS:])
        + f"\nList at most {TOPIC_SLOTS} (one topic per workload account is enough: each account's platform has one),"
        " or add a slot to template.yaml (a HasWorkloadTopicN condition and a WorkloadAlarmSubscriptionN)."
    )
for name, value in parameters.items():
    # sam deploy reads Key=Value, or Key="a value with spaces" (a cron expression); nothing else survives it.
    if not value or any(c in "\"'\\" or (c.isspace() and c != " ") for c in value):
        source = f"the variable {optional[name]}" if name in optional else "the Terraform output it comes from"
        sys.exit(f"deploy-bot: parameter {name} would be {value!r}; check {source}.")

print(out["aws_region"])
print(f"{project}-{env}-opsbot")
for name, value in parameters.items():
    print(f'{name}="{value}"' if " " in value else f"{name}={value}")
PY
)"
region="$(sed -n 1p <<<"$lines")"
stack="${STACK_NAME:-$(sed -n 2p <<<"$lines")}"
mapfile -t parameters < <(sed -n '3,$p' <<<"$lines")

echo "deploy-bot: stack $stack in $region with:"
printf '  %s\n' "${parameters[@]/#ExternalId=*/ExternalId=(not shown)}"

# --build-in-source: lambda/Makefile reads the repository in place instead of a copy of it (and its venvs).
# --parallel: the dependencies layer and the functions' code are built side by side.
sam build --build-in-source --parallel
sam deploy \
  --stack-name "$stack" \
  --region "$region" \
  --resolve-s3 \
  --capabilities CAPABILITY_IAM \
  --no-fail-on-empty-changeset \
  --parameter-overrides "${parameters[@]}" \
  "$@"

url="$(sam list stack-outputs --stack-name "$stack" --region "$region" --output json \
  | python3 -c 'import json, sys; print(next(o["OutputValue"] for o in json.load(sys.stdin) if o["OutputKey"] == "SlackRequestUrl"))')"
echo "deploy-bot: done. Slack request URL (use it for every command and for interactivity in manifest.yaml):"
echo "  $url"
