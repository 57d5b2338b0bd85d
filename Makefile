# The two commands: `make run` and `make test`. Everything else is a step of theirs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SYNCED := $(VENV)/.synced
UV_VERSION := 0.13.9

.PHONY: run test lint typecheck pytest bench test-slow docs audit clean web web-check

run: $(SYNCED) web
	@$(BIN)/ticketing run

test: $(SYNCED) tools lint typecheck web-check pytest

lint: $(SYNCED)
	@echo "==> ruff"
	@$(BIN)/ruff format --check .
	@$(BIN)/ruff check .

typecheck: $(SYNCED)
	@echo "==> mypy (strict)"
	@$(BIN)/mypy

# The browser tests drive the built app (web/dist), so it is built first.
pytest: $(SYNCED) web
	@echo "==> pytest"
	@$(BIN)/pytest -m "not slow"

test-slow: $(SYNCED)
	@$(BIN)/pytest -m slow

bench: $(SYNCED)
	@$(BIN)/python -m bench.bench_get_ticket
	@$(BIN)/python -m bench.bench_payment
	@$(BIN)/python -m bench.bench_not_found
	@$(BIN)/python -m bench.bench_journey

docs: $(SYNCED)
	@$(BIN)/ticketing docs

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

web: web/dist/index.html

web/dist/index.html: $(WEB_INSTALLED) $(WEB_SOURCES)
	@echo "==> Building the web app into web/dist"
	@$(WEB_NPM) npm run --silent build -- --logLevel warn

# Lint (oxlint), type check (tsc --noEmit) and component tests (vitest, jsdom) of web/.
web-check: $(WEB_INSTALLED)
	@echo "==> web: oxlint, tsc, vitest"
	@$(WEB_NPM) npm run --silent lint
	@$(WEB_NPM) npm run --silent typecheck
	@$(WEB_NPM) npm run --silent test

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis web/node_modules web/dist

# Needs the package index: lists the pins of pyproject.toml that have a newer release (exit 1).
audit: $(SYNCED)
	@$(BIN)/python -m ticketing.audit
