#!/usr/bin/env bash
# Build every service image and push it to its ECR repository, tagged TAG (the commit SHA).
# Repositories and region come from infra/'s Terraform outputs. ECR tags are immutable, so a
# tag that is already in a repository is left alone (running this twice is harmless).
#
#   scripts/push-images.sh TAG        # what `make push` runs, with TAG = the commit SHA
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "push-images: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || fail "usage: $0 TAG   (e.g. \$(git rev-parse --short=12 HEAD))"
tag="$1"
[[ "$tag" != "latest" ]] || fail "ECR tags are immutable here; push the commit SHA, not 'latest'."
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || fail "'$tag' is not a valid image tag."

for tool in terraform aws docker python3; do
  command -v "$tool" >/dev/null 2>&1 || fail "'$tool' is not installed."
done

infra="${INFRA_DIR:-infra}"
urls_json="$(terraform -chdir="$infra" output -json ecr_repository_urls)" \
  || fail "cannot read output ecr_repository_urls of $infra/: apply infra/ first (at least -target=module.ecr)."
region="$(terraform -chdir="$infra" output -raw aws_region)" \
  || fail "cannot read output aws_region of $infra/."

# "service-a <url>" lines, from the map output.
pairs="$(python3 -c 'import json, sys; [print(k, v) for k, v in sorted(json.loads(sys.argv[1]).items())]' "$urls_json")"
[[ -n "$pairs" ]] || fail "output ecr_repository_urls is empty."

registry="$(head -n1 <<<"$pairs" | cut -d' ' -f2 | cut -d/ -f1)"
aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry"

while read -r service url; do
  [[ -f "services/$service/Dockerfile" ]] || fail "no services/$service/Dockerfile for repository $url."
  repository="${url#*/}"
  if aws ecr describe-images --region "$region" --repository-name "$repository" \
      --image-ids "imageTag=$tag" >/dev/null 2>&1; then
    echo "$service: $url:$tag already pushed; skipping."
    continue
  fi
  echo "$service: building $url:$tag"
  # The context is services/, so the image can copy the shared runtime (services/common) too.
  docker build --platform linux/amd64 --file "services/$service/Dockerfile" --tag "$url:$tag" services
  docker push "$url:$tag"
done <<<"$pairs"

echo "Pushed tag $tag. Deploy it with: make deploy TAG=$tag (apply, then roll the services out and wait; apply alone only registers revisions)"
