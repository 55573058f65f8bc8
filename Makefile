# Two commands do all setup on a fresh machine: `make up` (train, export, serve) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv up test lint compose-checker test-programs bench-tools bench bench-check loadtest clean

# $(call apt_install,PACKAGES): install Debian PACKAGES when we may (root with apt-get), again after an
# `apt-get update` if the package lists are stale; fails (for the caller's `||`) when we may not or cannot.
define apt_install
{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(1) >/dev/null 2>&1 || \
    { apt-get update -q >/dev/null 2>&1 && \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(1) >/dev/null 2>&1; }; }; }
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
	@command -v docker-compose >/dev/null || $(call apt_install,docker-compose) || \
	  echo "note: docker-compose not installed; the compose tests will be skipped"

# The dashboard's browser test drives Debian's chromium through chromium-driver; the proxy test runs
# Debian's nginx. Installed only when missing and when we may (root with apt-get); the tests skip loudly
# without them (and fail under CI=true).
TEST_PROGRAMS := chromium:chromium chromedriver:chromium-driver nginx:nginx
test-programs:
	@missing=""; for pair in $(TEST_PROGRAMS); do \
	  command -v $${pair%%:*} >/dev/null || [ -x /usr/sbin/$${pair%%:*} ] || missing="$$missing $${pair#*:}"; done; \
	[ -z "$$missing" ] || $(call apt_install,$$missing) || \
	  echo "note: not installed:$$missing; the browser and nginx tests will be skipped"

test: lint compose-checker test-programs
	$(BIN)/python -m pytest

# benchmarks/gateway_bench.py drives Debian's `wrk`. Installed only when missing and when we may (root with
# apt-get); without it that benchmark says how to install it and exits 2.
bench-tools:
	@command -v wrk >/dev/null || $(call apt_install,wrk) || \
	  echo "note: wrk not installed; benchmarks.gateway_bench will not run"

# Every benchmark of README's Benchmarks table, with the arguments its figures were measured with
# (several minutes; `make bench-check` is the quick CI gate, `make loadtest` the load test).
bench: $(STAMP) bench-tools
	$(BIN)/python -m benchmarks.feature_kernels_bench
	$(BIN)/python -m benchmarks.market_data_bench --symbols 40 --days 2500 --reads 2000
	$(BIN)/python -m benchmarks.export_bench --seconds 1
	$(BIN)/python -m benchmarks.serving_bench --seconds 2
	$(BIN)/python -m benchmarks.mgdl_sines_bench
	$(BIN)/python -m benchmarks.gateway_bench --seconds 6

bench-check: $(STAMP) bench-tools
	$(BIN)/python -m benchmarks.regression

loadtest: $(STAMP)
	$(BIN)/python -m benchmarks.loadtest

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
