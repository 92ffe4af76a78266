# The two commands a newcomer needs: `make demo` and `make test`. Each does its own set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed
# Slither (static analysis of the contracts) pins a web3 older than ours: it lives in a venv
# of its own, used only by tests/chain/test_slither.py.
SLITHER_VENV := .venv-slither
STAMP_SLITHER := $(SLITHER_VENV)/.installed
SLITHER_VERSION := 0.11.6
# Debian packages the tests drive for real: chromium (the portal's browser tests, through
# Playwright with its executable path) and poppler-utils (pdfsig, pdftoppm: an independent
# reader of the signed certificate PDFs).
STAMP_APT := $(VENV)/.apt-installed
APT_PACKAGES := chromium poppler-utils
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint typecheck unit compile bench serve clean

$(STAMP_PY): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# `npm install` (not `npm ci`): the lock pins every version, but anvil's binaries for other
# platforms are optional packages the registry mirror may lack, which `npm ci` treats as fatal.
$(STAMP_NODE): package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

$(STAMP_APT):
	@mkdir -p $(VENV)
	@if ! command -v chromium >/dev/null || ! command -v pdfsig >/dev/null; then \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(APT_PACKAGES); fi
	touch $@

$(STAMP_SLITHER):
	$(PYTHON) -m venv $(SLITHER_VENV)
	$(SLITHER_VENV)/bin/pip install --quiet slither-analyzer==$(SLITHER_VERSION)
	touch $@

demo: $(STAMP_PY)
	$(BIN)/loantrace demo

test: $(STAMP_PY) $(STAMP_NODE) $(STAMP_SLITHER) $(STAMP_APT) lint typecheck unit

lint: $(STAMP_PY)
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

typecheck: $(STAMP_PY)
	$(BIN)/mypy

# Two pytest-xdist workers, each given whole test files (module fixtures run once); each
# worker is its own session with its own anvil, PostgreSQL database and contract deployment.
# `$(BIN)/pytest` alone runs the same suite in one process.
unit: $(STAMP_PY) $(STAMP_NODE) $(STAMP_SLITHER) $(STAMP_APT)
	$(BIN)/pytest -n 2 --dist loadfile

compile: $(STAMP_PY) $(STAMP_NODE)
	$(BIN)/loantrace compile

# Its own anvil, a real `loantrace serve` on SQLite and on a throwaway PostgreSQL database,
# load through HTTP; every figure beside its baseline; raw numbers in bench.json. The gas
# (from receipts) and tracing (scripts/bench_flows.py) figures are folded in; `loantrace
# gas-report` and scripts/bench_flows.py still run alone. `loantrace bench --quick`: < 1 min.
bench: $(STAMP_PY) $(STAMP_NODE)
	$(BIN)/loantrace bench

serve: $(STAMP_PY) $(STAMP_NODE)
	$(BIN)/loantrace serve

clean:
	rm -rf $(VENV) $(SLITHER_VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
