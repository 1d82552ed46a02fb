# VTAC — set-up, demo, tests, benchmark and lint. Every target installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-output

# gitlab-ci-local, pinned by .ci/gitlab-ci-local/package-lock.json (4.73.0: 4.75.x does not run on Node 20).
GCL_DIR := .ci/gitlab-ci-local
GCL := $(GCL_DIR)/node_modules/.bin/gitlab-ci-local

.PHONY: demo test test-fast bench evaluate reliability lint coverage-check images ci-images install system-deps ci-local \
	ci-local-shell clean

# Dev tools pinned by constraints-dev.txt, the runtime by requirements.lock (what the images install).
$(STAMP): pyproject.toml constraints-dev.txt requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints-dev.txt -e '.[dev]'
	touch $@

install: $(STAMP)

# HEASARC fitsverify checks every product the tests write; Debian's chromium renders the burst page in the
# browser tests (both Debian packages).
system-deps:
	@command -v fitsverify >/dev/null || { apt-get update -qq && apt-get install -y -qq fitsverify; }
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

demo: install
	$(BIN)/python -m vtac.entrypoints.demo --out $(DEMO_DIR)

test: install system-deps
	$(BIN)/python -m pytest --cov --cov-branch --cov-report=term --cov-report=xml:coverage.xml \
		--junitxml=junit.xml --cov-fail-under=90

# The core and adapter tests without the slow ones, Chromium or subprocesses: no broker, no database, under a
# minute (README); the whole suite is `make test`.
test-fast: install system-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/core tests/adapters \
		-m "not slow and not chromium and not subprocess"

bench: install
	$(BIN)/python -m bench.run --out bench/results.json

# The science on truth the pipeline did not produce: the FSC's vtacML simulations and our independent
# scenarios; writes bench/science.json and bench/science.md (35-50 minutes on 2 cores).
evaluate: install
	$(BIN)/pip install --quiet -c constraints-dev.txt -e '.[dev,evaluate]'
	$(BIN)/python -m bench.evaluate --out bench/science.json

# The fault and fuzz suite at full size (a RabbitMQ node and a PostgreSQL cluster of its own; needs root,
# rabbitmq-server, initdb/pg_ctl): writes bench/reliability.md. `make test` runs it at 3 bursts per class.
reliability: install
	CI=true VTAC_FAULT_BURSTS=$${VTAC_FAULT_BURSTS:-15} VTAC_FAULT_HOSTILE=$${VTAC_FAULT_HOSTILE:-3000} \
		VTAC_FAULT_REPORT=bench/reliability.md $(BIN)/python -m pytest -q -p no:cacheprovider tests/system/test_faults.py

lint: install
	$(BIN)/ruff check vtac tests bench scripts
	$(BIN)/ruff format --check vtac tests bench scripts
	$(BIN)/mypy vtac tests
	$(BIN)/pylint vtac --fail-under=9.9
	$(BIN)/hadolint Dockerfile.base Dockerfile.core Dockerfile.full Dockerfile.ci
	$(BIN)/pre-commit validate-config .pre-commit-config.yaml

# gitlab-ci-local for ci-local (the jobs in podman containers, below) and ci-local-shell (no container).
$(GCL): $(GCL_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "gitlab-ci-local needs Node.js 20 and npm (nodejs, npm)" >&2; exit 1; }
	npm ci --prefix $(GCL_DIR) --no-audit --no-fund --loglevel=error
	touch $@

# Runs the lint and test jobs of .gitlab-ci.yml with gitlab-ci-local on this machine without containers: shell
# executor, each job in its own copy of the project (.gitlab-ci-local/builds), the machine's RabbitMQ and
# PostgreSQL instead of service containers (see the variables of .gitlab-ci.yml).
CI_LOCAL_SHELL_JOBS ?= lint test
ci-local-shell: $(GCL)
	$(GCL) --force-shell-executor --shell-isolation --no-evaluate-rule-changes --timestamps \
		--variable RABBITMQ_SERVICE_IMAGE= --variable POSTGRES_SERVICE_IMAGE= \
		--variable RABBITMQ_HOST=127.0.0.1 --variable POSTGRES_HOST=127.0.0.1 \
		$(CI_LOCAL_SHELL_JOBS)

# Re-checks the coverage of the last `make test` (coverage.xml) against the 90 % floor.
coverage-check: install
	$(BIN)/coverage report --fail-under=90

# Images: podman, a debootstrapped Debian, docker format (HEALTHCHECK kept), tagged localhost/vtac-*:IMAGE_TAG.
# Expanded once per make run: every step of one run uses the same tag, even if the tree changes meanwhile.
ifndef IMAGE_TAG
IMAGE_TAG := $(shell git describe --always --dirty 2>/dev/null || echo dev)
endif
export IMAGE_TAG
export CONTAINERS_CONF := $(CURDIR)/docker/containers.conf

# Builds base -> core -> full, then smoke-tests them: the one-off in the core image, the service in the full
# image (HEALTHCHECK present and healthy, a burst in, two notifications out).
images: install
	scripts/make_images.sh service
	scripts/smoke_images.sh
	$(BIN)/python scripts/smoke_service.py

# The pipeline's job image and the test job's RabbitMQ and PostgreSQL service images (Dockerfile.ci).
ci-images:
	scripts/make_images.sh ci

# Runs every job of .gitlab-ci.yml that can run here in podman containers, on the images built above (the
# image jobs need a registry to push to, sonar a SonarQube server): lint, test (with its two service
# containers, the fault suite on the job image's own RabbitMQ and PostgreSQL), coverage, one-off-in-image.
CI_LOCAL_JOBS ?= lint test coverage one-off-in-image
ci-local: $(GCL) images ci-images
	scripts/ci_local_images.sh $(GCL) $(CI_LOCAL_JOBS)

clean:
	rm -rf $(VENV) $(DEMO_DIR) test-output .pytest_cache .mypy_cache .ruff_cache coverage.xml junit.xml .gitlab-ci-local
