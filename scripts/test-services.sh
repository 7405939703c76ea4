#!/usr/bin/env bash
# Smoke-test the deployed platform through the ALB (`make smoke`): the public endpoints answer 200 with
# JSON, and what must stay private (service-b, FastAPI's API docs) answers 404.
#
#   scripts/test-services.sh [BASE_URL]     # default: Terraform output alb_url of infra/ (or INFRA_DIR)
#
# A loopback BASE_URL is a local run (`make run`), which serves the API docs on purpose (DOCS_ENABLED=true);
# there the docs are not checked.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "test-services: $*" >&2; exit 1; }
command -v curl >/dev/null 2>&1 || fail "curl is not installed."

infra="${INFRA_DIR:-infra}"
give_it="or give the address: make smoke BASE_URL=https://<alb dns name>"
body="$(mktemp)"
errors="$(mktemp)"
trap 'rm -f "$body" "$errors"' EXIT

base="${1:-}"
if [[ -z "$base" ]]; then
  command -v terraform >/dev/null 2>&1 \
    || fail "terraform is not installed, so the ALB address cannot be read from $infra/; $give_it"
  # -json, not -raw: with nothing applied, -raw prints a warning on stdout and exits 0.
  output="$(terraform -chdir="$infra" output -no-color -json alb_url 2>"$errors")" || true
  if [[ "$output" =~ ^\"(https?://[^\"]+)\"$ ]]; then
    base="${BASH_REMATCH[1]}"
  else
    reason="$(sed -n 's/^.*Error: *//p' "$errors" | head -n 1)"
    fail "cannot read the ALB address from Terraform in $infra/ (${reason:-output alb_url is not a URL: ${output:-empty}})." \
      "Deploy first (make init, make apply: docs/infra.md), $give_it"
  fi
fi
base="${base%/}"

curl_opts=(--silent --show-error --location --max-time 10 --retry 3 --retry-connrefused --retry-delay 2)

for path in /health /api/hello /api/info /api/backend; do
  url="$base$path"
  echo "GET $url"
  # --fail-with-body: curl fails on 4xx/5xx (and retries the transient ones) but keeps the body for the message.
  answer="$(curl "${curl_opts[@]}" --fail-with-body --output "$body" \
    --write-out '%{http_code} %{content_type}' "$url")" || true
  status="${answer%% *}"
  content_type="${answer#* }"
  [[ "$status" != "000" ]] || fail "GET $url: no answer (curl's message above)."
  [[ "$status" == "200" ]] || fail "GET $url answered $status, expected 200: $(head -c 500 "$body")"
  [[ "$content_type" == application/json* ]] || fail "GET $url answered '$content_type', expected JSON."
  cat "$body"
  echo
done

private=(/internal/status /process)   # service-b's: never routed from the internet
if [[ "$base" =~ ^https?://(localhost|127\.[0-9.]+|\[::1\])(:[0-9]+)?$ ]]; then
  echo "GET $base/docs, /openapi.json: not checked (a local run serves the API docs; a deployed platform must not)"
else
  private+=(/docs /openapi.json)      # FastAPI's API docs: off unless DOCS_ENABLED=true
fi
for path in "${private[@]}"; do
  code="$(curl --silent --output /dev/null --write-out '%{http_code}' --max-time 10 "$base$path")" || true
  [[ "$code" == "404" ]] || fail "$base$path answered $code; it must not be reachable from the internet (expected 404)."
  echo "GET $base$path -> 404 (private, as expected)"
done

echo "All checks passed for $base."
