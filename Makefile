# The two commands: `make run` and `make test`. Everything else is a step of theirs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SYNCED := $(VENV)/.synced
UV_VERSION := 0.13.9

.PHONY: run test lint typecheck pytest bench bench-smoke test-slow scenarios docs audit clean infra-test synth deploy \
	web web-check e2e chromium

run: $(SYNCED) web
	@$(BIN)/ticketing run

# What CI guards (.ci/run), in under 15 minutes on its two cores: the quick checks and the CDK
# app's (two at a time: mypy, tsc and the CDK app's checks are single-threaded, and its installs
# wait on the network), the Python suite, and the browser suite's customer journey
# (upgrade.spec.ts). The whole browser suite, 19 tests in five spec files, is `make e2e`: run it
# before merging a change to the web app, the host or the MCP Apps. --output-sync prints each
# step's output whole, when it ends. The installs are steps too, so the venv's and Node's overlap,
# and the longest check (the CDK app's) goes first: 162 s instead of 180-190 s from a fresh clone
# (2026-12-07, idle, warm package caches; three at a time took 179 s).
TOGETHER := $(MAKE) --no-print-directory -j2 --output-sync=target
test:
	@$(TOGETHER) tools infra-test typecheck web-check lint chromium
	@$(MAKE) --no-print-directory pytest
	@$(MAKE) --no-print-directory e2e E2E_SPECS=e2e/upgrade.spec.ts

lint: $(SYNCED)
	@echo "==> ruff"
	@$(BIN)/ruff format --check .
	@$(BIN)/ruff check .

typecheck: $(SYNCED)
	@echo "==> mypy (strict)"
	@$(BIN)/mypy

# Some tests serve the built app and MCP Apps (web/dist, servers/ticket/ui), so they are built
# first. Two workers, each taking whole modules (tests/conftest.py's ModuleScheduling): 7 min
# instead of about 12 on this 2-core machine (idle, 2026-12-06). PYTEST_WORKERS=0 runs them in
# one process. (The page.close() hang seen once with two workers was a Python browser test, now
# an e2e spec that waits for the page's own message before closing it.)
PYTEST_WORKERS ?= 2
pytest: $(SYNCED) web
	@echo "==> pytest"
	@$(BIN)/pytest -m "not slow" -n $(PYTEST_WORKERS) --dist loadscope

test-slow: $(SYNCED)
	@$(BIN)/pytest -m slow

bench: $(SYNCED) web chromium
	@$(BIN)/python -m bench.bench_get_ticket
	@$(BIN)/python -m bench.bench_payment
	@$(BIN)/python -m bench.bench_notify_burst
	@$(BIN)/python -m bench.bench_not_found
	@$(BIN)/python -m bench.bench_journey
	@$(BIN)/python -m bench.bench_race
	@$(BIN)/python -m bench.bench_host
	@# The app's origin is 127.0.0.1:8080: its own network namespace, beside a `make run`.
	@unshare --net --fork sh -c 'ip link set lo up; exec $(BIN)/python -m bench.bench_web'

# Every bench once with tiny figures, to its end (each fails on a wrong answer): about 3.5 minutes
# here, so not in `make test`. Run it after changing a server's tools or the web app's screens;
# bench_web had stopped at the confirmation for two days before anyone ran `make bench`.
bench-smoke: $(SYNCED) web chromium
	@$(BIN)/python -m bench.bench_get_ticket --seconds 1 --warmup 0.2 --rounds 1 --concurrency 2
	@$(BIN)/python -m bench.bench_payment --confirms 40 --warmup 4 --concurrency 2
	@$(BIN)/python -m bench.bench_notify_burst --messages 40
	@$(BIN)/python -m bench.bench_not_found --calls 4 --warmup 1
	@$(BIN)/python -m bench.bench_journey --seconds 1 --customers 2 --warmup 0
	@$(BIN)/python -m bench.bench_race --buyers 10 --seats 2
	@$(BIN)/python -m bench.bench_host --conversations 1 --warmup 0
	@unshare --net --fork sh -c 'ip link set lo up; exec $(BIN)/python -m bench.bench_web --runs 1 --warmup 0'
	@echo "==> every bench ran to its end"

docs: $(SYNCED)
	@$(BIN)/ticketing docs

# The customer scenarios with the model HOST_MODEL_PROVIDER names (SCENARIO_RUNS each, default 4):
# pass^1 and pass^4, printed and written to .dev/scenarios.json.
scenarios: $(SYNCED)
	@$(BIN)/pytest -m live tests/scenarios

# The virtualenv is rebuilt only when the lock changes, so a second `make run` starts at once.
# Its bytecode is compiled here, once, rather than by each of the six servers on the first run.
$(SYNCED): pyproject.toml uv.lock Makefile
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (found $$($(PYTHON) --version)); set PYTHON=..."; exit 1; }
	@test -x $(BIN)/python || { echo "==> Creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@test -x $(BIN)/uv || { echo "==> Installing uv $(UV_VERSION)"; \
		$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION); }
	@echo "==> Installing the locked dependencies into $(VENV)"
	@$(BIN)/uv sync --locked --quiet --compile-bytecode
	@touch $@

# Node 22 with the MCP conformance suite and Inspector, installed from tools/node's lockfile (the
# system Node may be older than the Inspector's >= 22.19); reinstalled only when the lock changes.
NODE_TOOLS := tools/node
NODE_INSTALLED := $(NODE_TOOLS)/node_modules/.installed
.PHONY: tools
tools: $(NODE_INSTALLED)

$(NODE_INSTALLED): $(NODE_TOOLS)/package.json $(NODE_TOOLS)/package-lock.json
	@echo "==> Installing Node 22, the MCP conformance suite and the Inspector into $(NODE_TOOLS)"
	@cd $(NODE_TOOLS) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The customer web app (web/): Node 22 from tools/node first on PATH, its packages from its own
# lockfile, npm's cache inside the repo so a build leaves nothing behind elsewhere.
NODE_PATH_FIRST := PATH="$(CURDIR)/$(NODE_TOOLS)/node_modules/node/bin:$$PATH"
WEB_NPM := cd web && $(NODE_PATH_FIRST) npm_config_cache="$(CURDIR)/web/node_modules/.npm-cache"
WEB_INSTALLED := web/node_modules/.installed
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json

$(WEB_INSTALLED): web/package.json web/package-lock.json $(NODE_INSTALLED)
	@echo "==> Installing the web app's packages (web/)"
	@$(WEB_NPM) npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The ticket server's MCP Apps (web/apps/, built from web/src's components): one single-file HTML
# each into servers/ticket/ui/, which the ticket server serves as ui:// resources; and the minimal
# MCP Apps host the browser tests render them in (web/apps/dist/host.html, never served).
MCP_APPS := servers/ticket/ui/calendar.html servers/ticket/ui/summary.html
APPS_SOURCES := $(shell find web/apps -type f -not -path 'web/apps/dist/*' 2>/dev/null) $(WEB_SOURCES)

web: web/dist/index.html $(MCP_APPS) web/apps/dist/host.html

web/dist/index.html: $(WEB_INSTALLED) $(WEB_SOURCES)
	@echo "==> Building the web app into web/dist"
	@$(WEB_NPM) npm run --silent build -- --logLevel warn

servers/ticket/ui/%.html: $(WEB_INSTALLED) $(APPS_SOURCES)
	@echo "==> Building the MCP App $* into servers/ticket/ui"
	@$(WEB_NPM) npm run --silent build:apps -- $*

web/apps/dist/host.html: $(WEB_INSTALLED) $(APPS_SOURCES)
	@echo "==> Building the MCP Apps test host into web/apps/dist"
	@$(WEB_NPM) npm run --silent build:apps -- host

# Lint (oxlint), type check (tsc --noEmit; the browser suite's specs too) and component tests
# (vitest, jsdom) of web/.
web-check: $(WEB_INSTALLED)
	@echo "==> web: oxlint, tsc, vitest"
	@$(WEB_NPM) npm run --silent lint
	@$(WEB_NPM) npm run --silent typecheck
	@$(WEB_NPM) npm run --silent test

# Debian's chromium for the browser tests and bench_web, installed when missing (as root or with
# sudo; tools/install-chromium says what to do otherwise): a new machine does not have it, and
# Playwright cannot download a browser of its own here.
chromium:
	@tools/install-chromium

# The browser suite: @playwright/test (web/e2e/*.spec.ts) in Debian's chromium; each spec file
# starts the real stack (python -m tests.web.stack) with the app on 127.0.0.1:8080 and stops it.
# One worker, no retries; the run time is printed. Port 8080 must be free: beside a `make run`,
# `unshare --net --fork bash -c 'ip link set lo up; make e2e'`. E2E_SPECS names spec files to run
# alone (make test's journey), else all run.
E2E_SPECS ?=
e2e: $(SYNCED) web chromium
	@echo "==> e2e: @playwright/test (web/e2e$(if $(E2E_SPECS),: $(E2E_SPECS))) against the real stack"
	@start=$$(date +%s); status=0; \
		$(WEB_NPM) npm run --silent e2e -- $(E2E_SPECS) || status=$$?; \
		echo "==> e2e suite: $$(( $$(date +%s) - start )) s (screenshots in .dev/screenshots/web)"; \
		exit $$status

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis infra/.venv infra/cdk.out \
		web/node_modules web/dist web/apps/dist servers/ticket/ui

# Needs the package index: lists the pins of pyproject.toml that have a newer release (exit 1).
audit: $(SYNCED)
	@$(BIN)/python -m ticketing.audit

# The CDK app (infra/) has its own locked venv (aws-cdk-lib is ~430 MB, kept out of $(VENV)) and
# the aws-cdk CLI from infra/package-lock.json, run on tools/node's Node 22.
INFRA := infra
INFRA_SYNCED := $(INFRA)/.venv/.synced
INFRA_CLI := $(INFRA)/node_modules/.installed
NODE_PATH_BIN := $(abspath $(NODE_TOOLS)/node_modules/node/bin)
WITH_NODE := PATH="$(NODE_PATH_BIN):$$PATH" AWS_REGION=us-west-2 CDK_DISABLE_VERSION_CHECK=1

$(INFRA_SYNCED): $(INFRA)/pyproject.toml $(INFRA)/uv.lock $(SYNCED)
	@echo "==> Installing the CDK app's locked dependencies into $(INFRA)/.venv"
	@$(BIN)/uv sync --project $(INFRA) --locked --quiet
	@touch $@

$(INFRA_CLI): $(INFRA)/package.json $(INFRA)/package-lock.json $(NODE_INSTALLED)
	@echo "==> Installing the aws-cdk CLI into $(INFRA)"
	@cd $(INFRA) && PATH="$(NODE_PATH_BIN):$$PATH" npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Lint, types and tests of the CDK app. The tests synthesize every stack, once in-process and once
# through the CLI, inside a network namespace (loopback only) to prove synth needs no AWS; where
# unshare is not allowed they run without it (the network test then says so).
infra-test: $(INFRA_SYNCED) $(INFRA_CLI)
	@echo "==> infra: ruff, mypy (strict), pytest (offline synth)"
	@cd $(INFRA) && .venv/bin/ruff format --check . && .venv/bin/ruff check . && .venv/bin/mypy
	@cd $(INFRA) && $(WITH_NODE) unshare --net --fork sh -c \
		'ip link set lo up 2>/dev/null; exec .venv/bin/pytest -q'

# Prints the stacks; templates in infra/cdk.out. Offline: no credentials needed.
synth: $(INFRA_SYNCED) $(INFRA_CLI)
	@cd $(INFRA) && $(WITH_NODE) node_modules/.bin/cdk synth --quiet --no-notices && \
		$(WITH_NODE) node_modules/.bin/cdk list --no-notices

# Needs AWS credentials (the standard chain), a bootstrapped account (`cdk bootstrap`) and a
# Docker daemon with buildx for the linux/arm64 images; see infra/README.md.
# The web app's config.json is then made from the stacks' outputs (infra/cdk.out/config.json).
deploy: $(INFRA_SYNCED) $(INFRA_CLI)
	@cd $(INFRA) && PATH="$(NODE_PATH_BIN):$$PATH" CDK_DISABLE_VERSION_CHECK=1 \
		node_modules/.bin/cdk deploy --all --require-approval broadening \
		--context account=$${CDK_DEFAULT_ACCOUNT:?set CDK_DEFAULT_ACCOUNT} \
		--outputs-file cdk.out/outputs.json
	@cd $(INFRA) && PYTHONPATH=.. .venv/bin/python -m ticketing_infra.webconfig \
		cdk.out/outputs.json > cdk.out/config.json && echo "==> $(INFRA)/cdk.out/config.json"
