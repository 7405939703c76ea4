#!/usr/bin/env bash
# Smoke-test the deployed platform through the ALB: public endpoints answer 200, and what must
# stay private (service-b, FastAPI docs) answers 404.
#
#   scripts/test-services.sh [BASE_URL]     # default: Terraform output alb_url of infra/
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "test-services: $*" >&2; exit 1; }
command -v curl >/dev/null 2>&1 || fail "curl is not installed."

if [[ $# -ge 1 ]]; then
  base="${1%/}"
else
  command -v terraform >/dev/null 2>&1 || fail "terraform is not installed; pass BASE_URL instead."
  base="$(terraform -chdir="${INFRA_DIR:-infra}" output -raw alb_url)" \
    || fail "cannot read output alb_url of infra/; pass BASE_URL."
fi

curl_opts=(--fail --silent --show-error --location --max-time 10 --retry 3 --retry-connrefused --retry-delay 2)

for path in /health /api/hello /api/info /api/backend; do
  echo "GET $base$path"
  curl "${curl_opts[@]}" "$base$path"
  echo
done

for path in /internal/status /process /docs /openapi.json; do
  code="$(curl --silent --output /dev/null --write-out '%{http_code}' --max-time 10 "$base$path")" || true
  [[ "$code" == "404" ]] || fail "$base$path answered $code; it must not be reachable from the internet (expected 404)."
  echo "GET $base$path -> 404 (private, as expected)"
done

echo "All checks passed for $base."
