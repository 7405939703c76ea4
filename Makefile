# Everything a user of this repository does goes through here; `make help` lists it.
# The two set-up commands on a fresh machine are `make run` and `make test`: both create
# or refresh the virtualenv themselves.

SHELL        := /bin/bash
.SHELLFLAGS  := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The Python of every virtualenv here: the functions' runtime (template.yaml Globals Runtime, lambda/Makefile's
# PYTHON_VERSION), so `make test` runs on the version Lambda runs. Found as python3.12 or python3 on PATH, else
# among pyenv's versions; `make PYTHON=/path/to/python3.12 ...` names one.
PYTHON_VERSION := 3.12
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for p in python$(PYTHON_VERSION) python3 \
		"$${PYENV_ROOT:-$$HOME/.pyenv}"/versions/$(PYTHON_VERSION).*/bin/python$(PYTHON_VERSION); do \
	[ "$$("$$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = $(PYTHON_VERSION) ] \
		&& { command -v "$$p"; break; }; done)
endif
VENV         := .venv
PY           := $(VENV)/bin/python
CHECKOV_VENV := .venv-checkov
SAM_VENV     := .venv-sam
# No usage data from the SAM CLI, in any recipe (make test, deploy-bot).
export SAM_CLI_TELEMETRY := 0
INFRA        := infra
ENV_NAME     ?= production
PROJECT      ?= ecs-microservices
AWS_REGION   ?= us-east-1
SERVICES     := service-a service-b
TAG          ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo dev)
# pytest-xdist workers for `make test`: one more than the cores, as much of the suite waits (on moto, the Slack
# stand-in, terraform's subprocesses) and a worker a core leaves the cores idle meanwhile (TEST_WORKERS=1 for one)
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 2) + 1 )))
BASE_URL     ?=

.PHONY: help venv run test lint fmt typecheck bench init plan apply ecr rollout deploy destroy smoke logs-a logs-b build push \
        deploy-bot clean checkov-venv browser sam-venv terraform-config manifest

help: ## List every target with what it does
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# --- local environment ---------------------------------------------------------------------------

# Stops a recipe that is about to make a virtualenv when PYTHON is not Python $(PYTHON_VERSION).
define need-python
	@[ "$$($(or $(PYTHON),false) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = $(PYTHON_VERSION) ] || { \
		echo "make: needs Python $(PYTHON_VERSION), the functions' runtime; $(if $(PYTHON),PYTHON=$(PYTHON) is another version,none found as python$(PYTHON_VERSION) or python3 on PATH nor under pyenv's versions)." >&2; \
		echo "make: install it (pyenv install $(PYTHON_VERSION), or your system's python$(PYTHON_VERSION) package), or run: make PYTHON=/path/to/python$(PYTHON_VERSION) $(or $(MAKECMDGOALS),venv)" >&2; \
		exit 1; }
endef

# The stamp names the Python version: a virtualenv of another version (an older checkout's) is made anew.
$(VENV)/.installed-python$(PYTHON_VERSION): pyproject.toml
	$(need-python)
	@if [ -x $(PY) ] && [ "$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != $(PYTHON_VERSION) ]; then \
		echo "make: $(VENV) runs $$($(PY) -V), not Python $(PYTHON_VERSION): making it anew"; rm -rf $(VENV); fi
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed $(VENV)/.installed-python*
	@touch $@

venv: $(VENV)/.installed-python$(PYTHON_VERSION) ## Create or refresh the local virtualenv (.venv, Python 3.12)

# checkov pins its own boto3 and replaces python-hcl2's module, so it lives in a virtualenv of its own.
$(CHECKOV_VENV)/.installed:
	$(need-python)
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov>=3,<4'
	@touch $@

checkov-venv: $(CHECKOV_VENV)/.installed ## Create the separate virtualenv that holds checkov

# The SAM CLI pins its own boto3, Flask and cfn-lint: a virtualenv of its own too.
$(SAM_VENV)/.installed:
	$(need-python)
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet 'aws-sam-cli>=1.170,<2'
	@touch $@

sam-venv: $(SAM_VENV)/.installed ## Create the separate virtualenv that holds the AWS SAM CLI

run: venv ## Run everything locally (Slack page on :3000, moto, bot, services); Ctrl-C stops everything
	$(PY) -m sandbox

# The browser test drives Debian's Chromium (never `playwright install`, which downloads a browser).
browser: ## Install Debian's chromium for the browser test when it is missing (needs root; CI runs as root)
	@test -x /usr/bin/chromium || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && apt-get install -y -qq chromium; \
		else \
			echo "make browser: /usr/bin/chromium is missing; as root run: apt-get update && apt-get install -y chromium" >&2; \
			echo "make browser: without it the browser test is skipped here, and fails in CI" >&2; \
			if [ -n "$${CI:-}" ]; then exit 1; fi; \
		fi; }

# The suite's figures for `make bench` (bench/suite.py), in .run/: junit.xml (each test's time) and, once
# everything passed, make-test.json (the whole target's time from test-clock, its first prerequisite).
# Byte code is kept (in the git-ignored __pycache__ directories) even where PYTHONDONTWRITEBYTECODE is set: without
# it, each worker compiles the project and pytest rewrites every test module's asserts again (collection: 13.6 s
# a worker, 6.6 s with the cache), and so does each Python process the tests start.
test: test-clock venv checkov-venv browser lint typecheck sam-venv terraform-config ## Run every test: lint, types, unit, integration, browser, infra (terraform fmt/init/validate, apply into moto) and template checks
	CHECKOV=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov TF_CLI_CONFIG_FILE=$(TF_CLI_CONFIG) PYTHONDONTWRITEBYTECODE= \
		$(PY) -m pytest -n $(TEST_WORKERS) \
		--durations=15 --junitxml=.run/junit.xml
	@printf '{"seconds": %d, "workers": %s, "commit": "%s", "loadavg": "%s"}\n' \
		$$(( $$(date +%s) - $$(cat .run/make-test.started) )) $(TEST_WORKERS) "$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
		"$$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)" > .run/make-test.json

.PHONY: test-clock
test-clock:
	@mkdir -p .run && rm -f .run/make-test.json && date +%s > .run/make-test.started

# The tests' Terraform reaches no registry: a CLI config of the project's own (git-ignored) takes hashicorp/aws
# from a local filesystem mirror ($$TF_PROVIDER_MIRROR, or one of the places tests/infra/tfreal.py knows).
TF_CLI_CONFIG := $(CURDIR)/.terraform-cli/config.tfrc
terraform-config: venv ## Write the tests' Terraform CLI config (.terraform-cli/config.tfrc) for the provider mirror
	@$(PY) tests/infra/tfreal.py

lint: venv ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: venv ## Format Python (ruff) and Terraform (terraform fmt) in place
	$(call require,terraform,Install Terraform >= 1.9: see docs/deploy.md.)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
	terraform fmt -recursive $(INFRA)

typecheck: venv ## mypy over bot/, handlers/, the services' shared runtime and each service
	$(VENV)/bin/mypy bot handlers
	$(VENV)/bin/mypy services/common
	$(VENV)/bin/mypy services/service-a
	$(VENV)/bin/mypy services/service-b
	$(VENV)/bin/mypy sandbox

# The bot's config whose slack.commands names the slash commands (scripts/deploy-bot.sh bundles the same file).
CONFIG_FILE  ?= config/example.yaml

manifest: venv ## Write manifest.yaml's slash commands from CONFIG_FILE's slack.commands (a prefix, or only /ops)
	$(PY) scripts/manifest.py --config $(CONFIG_FILE) --manifest manifest.yaml

.PHONY: bench-tools
bench: venv bench-tools ## Run the benchmarks and write docs/BENCHMARKS.md
	$(PY) -m bench

bench-tools: ## Install wrk (Debian package, for the services benchmark) when it is missing
	@command -v wrk >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && apt-get install -y -qq wrk; \
		else \
			echo "make bench: wrk is not installed; as root run: apt-get update && apt-get install -y wrk" >&2; exit 1; \
		fi; }

# --- platform (Terraform, Docker, AWS CLI) -------------------------------------------------------

define require
	@command -v $(1) >/dev/null 2>&1 || { echo "make $@: '$(1)' is not installed. $(2)" >&2; exit 1; }
endef

init: ## terraform init in infra/ (BUCKET=<state bucket> required)
	$(call require,terraform,Install Terraform >= 1.9: see docs/deploy.md.)
	@test -n "$(BUCKET)" || { echo "make init: set BUCKET=<state bucket> (scripts/setup-backend.sh creates it)" >&2; exit 1; }
	terraform -chdir=$(INFRA) init -backend-config="bucket=$(BUCKET)" -backend-config="region=$(AWS_REGION)" \
		-backend-config="key=$(PROJECT)/$(ENV_NAME)/terraform.tfstate"

# Every plan, apply and destroy reads the committed infra/$(ENV_NAME).tfvars, the file CI reads too.
TFVARS       ?= $(ENV_NAME).tfvars
TF_VAR_ARGS   = -var-file=$(TFVARS) -var="image_tag=$(TAG)"

define require_tfvars
	@test -f $(INFRA)/$(TFVARS) || { echo "make $@: $(INFRA)/$(TFVARS) is missing (ENV_NAME=$(ENV_NAME), or TFVARS=<file in $(INFRA)/>)" >&2; exit 1; }
	@! grep -n 'CHANGE-ME' $(INFRA)/$(TFVARS) >&2 || { echo "make $@: replace every CHANGE-ME above in $(INFRA)/$(TFVARS) and commit it (CI plans with it too)" >&2; exit 1; }
endef

plan: ## terraform plan in infra/ with infra/<ENV_NAME>.tfvars (production.tfvars), image tag TAG (writes infra/tfplan)
	$(call require,terraform,Install Terraform >= 1.9: see docs/deploy.md.)
	$(call require_tfvars)
	terraform -chdir=$(INFRA) plan $(TF_VAR_ARGS) -out=tfplan

apply: ## terraform apply of the saved plan in infra/ (registers new revisions; `make rollout` runs them)
	$(call require,terraform,Install Terraform >= 1.9: see docs/deploy.md.)
	@test -f $(INFRA)/tfplan || { echo "make apply: no saved plan; run 'make plan' first" >&2; exit 1; }
	terraform -chdir=$(INFRA) apply tfplan
	@rm -f $(INFRA)/tfplan

ecr: ## First install only: create the ECR repositories (terraform apply -target=module.ecr) before the first push
	$(call require,terraform,Install Terraform >= 1.9: see docs/deploy.md.)
	$(call require_tfvars)
	terraform -chdir=$(INFRA) apply -target=module.ecr $(TF_VAR_ARGS)

rollout: ## Roll every service onto the newest revision of its task definition and wait until stable (scripts/rollout.sh)
	$(call require,terraform,Install Terraform >= 1.9: see docs/deploy.md.)
	$(call require,aws,Install the AWS CLI v2.)
	scripts/rollout.sh $(TAG)

deploy: ## Deploy commit TAG: push its images, plan and apply, roll out, wait for steady state
	$(MAKE) push TAG=$(TAG)
	$(MAKE) plan TAG=$(TAG)
	$(MAKE) apply
	$(MAKE) rollout TAG=$(TAG)

# Production resources are protected (ALB deletion protection, non-empty ECR repositories and log bucket):
# the first apply lifts the protection (allow_destroy = true), then destroy removes everything.
destroy: ## Tear the platform down (CONFIRM=<ENV_NAME> required): lifts deletion protection, then destroys
	$(call require,terraform,Install Terraform >= 1.9: see docs/deploy.md.)
	$(call require_tfvars)
	@test "$(CONFIRM)" = "$(ENV_NAME)" || { echo "make destroy: this deletes the whole $(ENV_NAME) platform, images and logs included; run 'make destroy CONFIRM=$(ENV_NAME)'" >&2; exit 1; }
	terraform -chdir=$(INFRA) apply $(TF_VAR_ARGS) -var="allow_destroy=true"
	terraform -chdir=$(INFRA) destroy $(TF_VAR_ARGS) -var="allow_destroy=true"

# Only curl: no AWS credentials, and terraform only to read the ALB address when BASE_URL is not given.
smoke: ## Smoke-test the deployed platform through its ALB, or BASE_URL=<url> (make run's: http://127.0.0.1:8000)
	INFRA_DIR=$(INFRA) scripts/test-services.sh "$(BASE_URL)"

logs-a: ## Tail service-a's CloudWatch logs
	$(call require,aws,Install the AWS CLI v2.)
	aws logs tail /ecs/$(PROJECT)-$(ENV_NAME)-service-a --follow --region $(AWS_REGION)

logs-b: ## Tail service-b's CloudWatch logs
	$(call require,aws,Install the AWS CLI v2.)
	aws logs tail /ecs/$(PROJECT)-$(ENV_NAME)-service-b --follow --region $(AWS_REGION)

build: ## Build both service images, tagged with the commit SHA (context services/, for the shared runtime)
	$(call require,docker,Install Docker with a running engine.)
	@for s in $(SERVICES); do docker build -f services/$$s/Dockerfile -t $$s:$(TAG) services; done

push: ## Build and push both images to ECR (scripts/push-images.sh)
	$(call require,docker,Install Docker with a running engine.)
	$(call require,aws,Install the AWS CLI v2.)
	scripts/push-images.sh $(TAG)

deploy-bot: ## sam build + deploy the bot with parameters from infra/'s Terraform outputs
	$(call require,sam,Install the AWS SAM CLI.)
	$(call require,terraform,Install Terraform >= 1.9.)
	scripts/deploy-bot.sh

clean: ## Remove caches and build output (never committed files)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis .aws-sam build dist .run .terraform-cli
	find . -path ./$(VENV) -prune -o -path ./$(CHECKOV_VENV) -prune -o -path ./$(SAM_VENV) -prune -o -name __pycache__ -type d -print0 | xargs -0 rm -rf
	rm -rf $(INFRA)/.terraform $(INFRA)/tfplan
