# VTAC — set-up, demo, tests, benchmark and lint. Every target installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-output

.PHONY: demo test bench reliability lint coverage-check images install system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

# HEASARC fitsverify checks every product the tests write (Debian package).
system-deps:
	@command -v fitsverify >/dev/null || { apt-get update -qq && apt-get install -y -qq fitsverify; }

demo: install
	$(BIN)/python -m vtac.entrypoints.demo --out $(DEMO_DIR)

test: install system-deps
	$(BIN)/python -m pytest --cov --cov-branch --cov-report=term --cov-report=xml:coverage.xml \
		--junitxml=junit.xml --cov-fail-under=90

bench: install
	$(BIN)/python -m bench.run --out bench/results.json

# The fault and fuzz suite at full size (a RabbitMQ node and a PostgreSQL cluster of its own; needs root,
# rabbitmq-server, initdb/pg_ctl): writes bench/reliability.md. `make test` runs it at 3 bursts per class.
reliability: install
	CI=true VTAC_FAULT_BURSTS=$${VTAC_FAULT_BURSTS:-15} VTAC_FAULT_HOSTILE=$${VTAC_FAULT_HOSTILE:-3000} \
		VTAC_FAULT_REPORT=bench/reliability.md $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_faults.py

lint: install
	$(BIN)/ruff check vtac tests bench scripts
	$(BIN)/ruff format --check vtac tests bench scripts
	$(BIN)/mypy vtac
	$(BIN)/pylint vtac --fail-under=9.9
	$(BIN)/hadolint Dockerfile.base Dockerfile.core Dockerfile.full

# Re-checks the coverage of the last `make test` (coverage.xml) against the 90 % floor.
coverage-check: install
	$(BIN)/coverage report --fail-under=90

# Builds base -> core -> full with podman from a debootstrapped Debian (no registry), then smoke-tests them.
images: install
	scripts/make_images.sh
	scripts/smoke_images.sh
	CONTAINERS_CONF=$(CURDIR)/docker/containers.conf $(BIN)/python scripts/smoke_service.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache coverage.xml junit.xml
