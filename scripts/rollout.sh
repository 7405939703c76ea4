#!/usr/bin/env bash
# Roll every service onto the newest revision of its task definition family and wait until ECS reports
# them stable. Terraform only registers revisions (the services ignore task_definition, so deployments by
# the chat-ops bot are not undone): without this step `make apply` leaves the old version running.
#
#   scripts/rollout.sh [TAG]     # what `make rollout` and `make deploy` run, and the deploy workflow
#
# With TAG, every container of each revision must run an image tagged TAG (else nothing is rolled out).
# Cluster, services, families and region come from infra/'s Terraform outputs (INFRA_DIR to change).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "rollout: $*" >&2; exit 1; }

[[ $# -le 1 ]] || fail "usage: $0 [TAG]"
tag="${1:-}"
for tool in terraform aws python3; do
  command -v "$tool" >/dev/null 2>&1 || fail "'$tool' is not installed."
done

infra="${INFRA_DIR:-infra}"
outputs="$(terraform -chdir="$infra" output -json)" \
  || fail "cannot read the Terraform outputs of $infra/: apply infra/ first (make plan apply)."

# Line 1 region, line 2 cluster, then "<ECS service> <task family>" per service.
lines="$(python3 - "$outputs" <<'PY'
import json
import sys

raw = json.loads(sys.argv[1])
needed = ["aws_region", "cluster_name", "ecs_service_names", "task_definition_families"]
missing = [name for name in needed if name not in raw]
if missing:
    sys.exit(f"rollout: infra/ has no Terraform output {', '.join(missing)}; apply the current infra/ first.")
out = {name: raw[name]["value"] for name in needed}
if set(out["ecs_service_names"]) != set(out["task_definition_families"]):
    sys.exit("rollout: outputs ecs_service_names and task_definition_families name different services.")
print(out["aws_region"])
print(out["cluster_name"])
for short in sorted(out["ecs_service_names"]):
    print(out["ecs_service_names"][short], out["task_definition_families"][short])
PY
)" || exit 1
region="$(sed -n 1p <<<"$lines")"
cluster="$(sed -n 2p <<<"$lines")"

# Find every revision first, so a wrong tag stops the rollout before any service changes.
targets=()
while read -r service family; do
  # "<revision ARN>\t<image> <image>...": the newest ACTIVE revision of the family, and its images.
  found="$(aws ecs describe-task-definition --region "$region" --task-definition "$family" \
    --query 'taskDefinition.[taskDefinitionArn, join(`" "`, containerDefinitions[].image)]' --output text </dev/null)" \
    || fail "cannot read task definition family $family (see aws's message above)."
  revision="${found%%$'\t'*}"
  if [[ -n "$tag" ]]; then
    for image in ${found#*$'\t'}; do
      [[ "$image" == *":$tag" ]] \
        || fail "the newest revision of $family (${revision##*/}) runs $image, not tag $tag: apply TAG=$tag first (make deploy TAG=$tag does both)."
    done
  fi
  targets+=("$service=$revision")
done < <(sed -n '3,$p' <<<"$lines")

names=()
for target in "${targets[@]}"; do
  service="${target%%=*}"
  revision="${target#*=}"
  echo "rollout: $service -> ${revision##*/}"
  aws ecs update-service --region "$region" --cluster "$cluster" --service "$service" \
    --task-definition "$revision" --query 'service.serviceName' --output text >/dev/null \
    || fail "update-service $service failed (see aws's message above)."
  names+=("$service")
done

echo "rollout: waiting until ${names[*]} are stable (up to 10 minutes)..."
aws ecs wait services-stable --region "$region" --cluster "$cluster" --services "${names[@]}" \
  || fail "${names[*]} did not become stable; see 'aws ecs describe-services --cluster $cluster --services ${names[*]}' (a failed deployment is rolled back by the circuit breaker)."
echo "rollout: ${names[*]} run the newest revisions${tag:+ of tag $tag}."
