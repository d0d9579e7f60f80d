# chargepi developer entry points. `make test` and `make demo` work on a fresh machine
# with only Python 3.11+ present: they create .venv and install the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test lint typecheck unit package demo bench clean interop-setup

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: venv
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy

# The strict ocpp-rpc CSMS for interop tests (tools/interop). Needs node/npm and the npm registry; without
# them the interop tests skip with the reason instead of failing the build.
INTEROP := tools/interop
$(INTEROP)/node_modules/.installed: $(INTEROP)/package-lock.json $(INTEROP)/package.json
	@if command -v npm >/dev/null 2>&1; then \
		(cd $(INTEROP) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed) \
		|| echo "interop-setup: npm ci failed; interop tests will be skipped"; \
	else echo "interop-setup: npm not found; interop tests will be skipped"; fi

interop-setup: $(INTEROP)/node_modules/.installed

unit: venv interop-setup
	$(BIN)/pytest -q

# The systemd unit (verify + security score) and the wheel in a fresh venv (tools/install.sh's path).
package: venv
	tools/check_unit.sh
	PYTHON=$(BIN)/python tools/check_wheel.sh

test: lint typecheck package unit

# `make demo OCPP=2.0.1` shows the same session in OCPP 2.0.1 (default 1.6).
OCPP ?= 1.6
demo: venv
	$(BIN)/python -m tools.demo --ocpp $(OCPP)

bench: venv
	$(BIN)/python -m tools.bench

clean:
	rm -rf $(VENV) build dist *.egg-info
