# Two commands do all setup on a fresh machine: `make up` (train, export, serve) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv up test lint compose-checker test-programs deploy-linters compose-tools compose-test bench-tools bench \
	bench-check loadtest clean

# $(call apt_install,PROGRAM:PACKAGE ...): install the Debian packages of the programs missing from PATH
# (and /usr/sbin) when we may (root with apt-get), again after an `apt-get update` if the package lists are
# stale; fails (for the caller's `||`, which may name $$missing) when we may not or cannot.
define apt_install
missing=""; for pair in $(1); do \
  command -v $${pair%%:*} >/dev/null || [ -x /usr/sbin/$${pair%%:*} ] || missing="$$missing $${pair#*:}"; done; \
[ -z "$$missing" ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null 2>&1 || \
    { apt-get update -q >/dev/null 2>&1 && \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null 2>&1; }; }; }
endef

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

venv: $(STAMP)

up: $(STAMP)
	$(BIN)/wig80 up

lint: $(STAMP)
	$(BIN)/ruff check .

# Debian's docker-compose (1.29) validates docker-compose.yml without an engine; the deploy tests
# skip loudly without it. Installed only when missing and when we may (root with apt-get).
compose-checker:
	@$(call apt_install,docker-compose:docker-compose) || \
	  echo "note: docker-compose not installed; the compose tests will be skipped"

# The dashboard's browser test drives Debian's chromium through chromium-driver; the proxy test runs
# Debian's nginx. Installed only when missing and when we may (root with apt-get); the tests skip loudly
# without them (and fail under CI=true).
TEST_PROGRAMS := chromium:chromium chromedriver:chromium-driver nginx:nginx
test-programs:
	@$(call apt_install,$(TEST_PROGRAMS)) || \
	  echo "note: not installed:$$missing; the browser and nginx tests will be skipped"

# checkov, hadolint and kubernetes-validate, pinned, in a virtual environment of their own (checkov pins
# dependencies the project's environment must not inherit); tests/deploy/test_scanners.py runs them.
LINT_VENV := .venv-deploy-lint
LINT_STAMP := $(LINT_VENV)/.installed-stamp
$(LINT_STAMP): deploy/lint-requirements.txt
	test -x $(LINT_VENV)/bin/python || $(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/python -m pip install -q -r deploy/lint-requirements.txt
	touch $@

deploy-linters: $(LINT_STAMP)

test: lint compose-checker test-programs deploy-linters
	$(BIN)/python -m pytest

# `make compose-test` (root, several minutes): the compose stack built from a local Debian base and run on a
# private Docker engine, checked through nginx (tests/deploy/compose_stack/); on success it refreshes the
# stamp that `make test` checks. The Debian packages it drives are installed when missing and we may.
COMPOSE_PROGRAMS := dockerd:docker.io docker-compose:docker-compose debootstrap:debootstrap nft:nftables openssl:openssl
compose-tools:
	@$(call apt_install,$(COMPOSE_PROGRAMS)) || echo "note: not installed:$$missing; make compose-test will fail"

compose-test: $(STAMP) compose-tools
	WIG80_COMPOSE_TEST=1 $(BIN)/python -m pytest tests/deploy/compose_stack -s -p no:cacheprovider -o timeout=3600

# benchmarks/gateway_bench.py drives Debian's `wrk`. Installed only when missing and when we may (root with
# apt-get); without it that benchmark says how to install it and exits 2.
bench-tools:
	@$(call apt_install,wrk:wrk) || \
	  echo "note: wrk not installed; benchmarks.gateway_bench will not run"

# Every benchmark of README's Benchmarks table, with the arguments its figures were measured with
# (several minutes; `make bench-check` is the quick CI gate, `make loadtest` the load test).
bench: $(STAMP) bench-tools
	$(BIN)/python -m benchmarks.feature_kernels_bench
	$(BIN)/python -m benchmarks.market_data_bench --symbols 40 --days 2500 --reads 2000
	$(BIN)/python -m benchmarks.export_bench --seconds 1
	$(BIN)/python -m benchmarks.serving_bench --seconds 2
	$(BIN)/python -m benchmarks.mgdl_sines_bench
	$(BIN)/python -m benchmarks.gateway_bench --seconds 6 --write README.md

bench-check: $(STAMP) bench-tools
	$(BIN)/python -m benchmarks.regression

loadtest: $(STAMP)
	$(BIN)/python -m benchmarks.loadtest

clean:
	rm -rf $(VENV) $(LINT_VENV) var .pytest_cache .ruff_cache
