# fastlb developer surface. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# rustup's default location, for shells (e.g. CI) whose PATH does not include it.
ifneq ($(wildcard $(HOME)/.cargo/bin/cargo),)
export PATH := $(HOME)/.cargo/bin:$(PATH)
endif

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# The interpreter pyo3's build script inspects (clippy --features python, maturin).
export PYO3_PYTHON := $(CURDIR)/$(PY)

# Stamps live inside the venv so that deleting .venv resets them.
DEPS_STAMP := $(VENV)/.fastlb-deps
EXT_STAMP := $(VENV)/.fastlb-ext
RUST_SOURCES := $(shell find src -name '*.rs' 2>/dev/null) build.rs Cargo.toml Cargo.lock

# Debian packages the tests and the benchmark run for real: command -> package.
SYSTEM_TOOLS := haproxy:haproxy nginx:nginx-light wrk:wrk h2load:nghttp2-client chromium:chromium \
	mariadbd:mariadb-server sysbench:sysbench keepalived:keepalived ip:iproute2 openssl:openssl \
	vtysh:frr bird:bird2 exabgp:exabgp nft:nftables systemd-analyze:systemd curl:curl

PY_PATHS := python tests bench
ARGS ?=
MYSQL_ARGS ?=
FAILOVER_ARGS ?=

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: system-deps
system-deps: ## Install the Debian packages the tests, demo and benchmarks run (SYSTEM_TOOLS: haproxy, nginx, wrk, h2load, MariaDB, FRR, BIRD...) when missing (root), or say what is missing
	@missing=""; \
	for pair in $(SYSTEM_TOOLS); do \
		tool=$${pair%%:*}; pkg=$${pair#*:}; \
		if ! command -v $$tool >/dev/null 2>&1 && [ ! -x /usr/sbin/$$tool ]; then missing="$$missing $$pkg"; fi; \
	done; \
	for tool in cargo $(PYTHON); do \
		if ! command -v $$tool >/dev/null 2>&1; then \
			echo "error: '$$tool' is not on PATH; fastlb builds with a Rust toolchain (cargo) and CPython >= 3.11" >&2; exit 1; \
		fi; \
	done; \
	if ! $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then \
		echo "error: $(PYTHON) is $$($(PYTHON) -V 2>&1); fastlb needs CPython >= 3.11 (make PYTHON=python3.11 ...)" >&2; exit 1; \
	fi; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "error: missing Debian packages:$$missing" >&2; \
		echo "       install them with: sudo apt-get install -y$$missing" >&2; \
		exit 1; \
	fi; \
	echo "installing Debian packages:$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get install -y -q$$missing || { apt-get update -q && apt-get install -y -q$$missing; }

# maturin rewrites python/fastlb/_core*.so in place (same inode): a process that has it loaded
# (a test run, a bench, a demo) would crash with SIGBUS. Give the path a fresh inode first;
# running processes keep the old one.
DETACH_SO := for so in python/fastlb/_core*.so; do [ -e "$$so" ] && cp -p "$$so" "$$so.new" && mv -f "$$so.new" "$$so"; done; true
# In-place release build. NOTE: ~25-35 s on 2 cores after an edit (fat LTO of the crate,
# dependencies cached); `pip install -e .` is slower (isolated build env, wheel, install).
BUILD_EXT := $(DETACH_SO); VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV)/bin/maturin develop --release --skip-install

$(DEPS_STAMP): pyproject.toml
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(DETACH_SO); $(PIP) install -q -e '.[dev]'
	touch $(DEPS_STAMP) $(EXT_STAMP)

# Rebuild the extension when the Rust sources change (the editable install does not).
$(EXT_STAMP): $(RUST_SOURCES) | $(DEPS_STAMP)
	$(BUILD_EXT) -q
	touch $(EXT_STAMP)

.PHONY: install
install: system-deps $(DEPS_STAMP) $(EXT_STAMP) ## Install system deps, the venv (.venv) and the package with its dev deps

.PHONY: dev
dev: | $(DEPS_STAMP) ## Rebuild the Rust extension in place (release profile, incremental)
	$(BUILD_EXT)
	touch $(EXT_STAMP)

# Release wheel (dist/): one abi3 wheel for CPython >= 3.11 (pyo3's abi3-py311 through the
# crate's `abi3` feature), linked by zig against glibc 2.17's symbols so that pip accepts its
# manylinux_2_17 tag on any Linux of the last decade (Debian >= 9, Ubuntu >= 18.04, RHEL >= 7);
# maturin's own audit refuses the tag if a symbol needs a newer glibc. zig comes from PyPI
# (ziglang). Its own target dir: the wheel's build (abi3, zig's cc) would otherwise evict the
# `make dev` build's artifacts. NOTE: ~4-8 min from scratch on 2 cores, then incremental;
# `make wheel` is a no-op while the wheel is newer than every source and the commit is the same.
WHEEL_COMPAT ?= manylinux_2_17
ZIGLANG := ziglang>=0.13
WHEEL_STAMP := dist/.fastlb-wheel
WHEEL_COMMIT_FILE := dist/.fastlb-commit
PY_SOURCES := $(shell find python -type f -not -name '*.so' -not -name '*.pyc' 2>/dev/null)
# Evaluated only when used (=, not :=): the commit the wheel says it is, -dirty when the tree
# differs from it.
WHEEL_COMMIT = $(shell git rev-parse HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)

.PHONY: FORCE
# Rewritten only when the commit changed, so that a commit alone (no file edited) rebuilds.
$(WHEEL_COMMIT_FILE): FORCE
	@mkdir -p dist; commit="$(WHEEL_COMMIT)"; \
	[ "$$(cat $@ 2>/dev/null)" = "$$commit" ] || echo "$$commit" > $@

$(WHEEL_STAMP): $(RUST_SOURCES) $(PY_SOURCES) pyproject.toml README.md $(WHEEL_COMMIT_FILE) | $(DEPS_STAMP)
	@$(PY) -c 'import ziglang' 2>/dev/null || $(PIP) install -q '$(ZIGLANG)'
	rm -f dist/fastlb-*.whl
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH FASTLB_GIT_COMMIT=$$(cat $(WHEEL_COMMIT_FILE)) \
		CARGO_TARGET_DIR=$(CURDIR)/target/wheel \
		$(VENV)/bin/maturin build --release --zig --compatibility $(WHEEL_COMPAT) \
		--features abi3 --interpreter $(PY) --out dist
	touch $(WHEEL_STAMP)

.PHONY: wheel
wheel: $(WHEEL_STAMP) ## Build the release wheel into dist/ (abi3 for CPython >= 3.11, manylinux_2_17, zig from PyPI)
	@ls dist/fastlb-*.whl

.PHONY: test
test: install ## Run cargo test, then pytest
	cargo test
	$(VENV)/bin/pytest

.PHONY: lint
lint: install ## ruff, mypy, cargo fmt --check, clippy -D warnings (with and without python), stubtest
	$(VENV)/bin/ruff check $(PY_PATHS)
	$(VENV)/bin/ruff format --check $(PY_PATHS)
	$(VENV)/bin/mypy python/fastlb
	$(VENV)/bin/mypy bench
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features python -- -D warnings
	$(PY) -m mypy.stubtest fastlb._core

.PHONY: format
format: $(DEPS_STAMP) ## Format Python (ruff) and Rust (cargo fmt), fix what ruff can
	$(VENV)/bin/ruff check --fix $(PY_PATHS)
	$(VENV)/bin/ruff format $(PY_PATHS)
	cargo fmt

.PHONY: bench
bench: install ## A/B benchmark fastlb vs HAProxy (ARGS="--rounds 3 --duration 5"), then sysbench through fastlb's mysql mode vs direct and causal_reads off/session/global (MYSQL_ARGS=...), the query digest's cost per statement, the MySQL primary failover outage (MYSQL_FAILOVER_ARGS="--runs 5"), then bench-failover and bench.scaleout (BGP/ECMP, root); writes BENCHMARKS*.md
	$(PY) -m bench $(ARGS)
	$(PY) -m bench.mysql $(MYSQL_ARGS)
	$(PY) -m bench.mysql_causal $(MYSQL_ARGS)
	$(PY) -m bench.mysql_failover $(MYSQL_FAILOVER_ARGS)
	$(PY) -m bench.mysql_pool $(MYSQL_POOL_ARGS)
	nice cargo bench --bench digest
	$(PY) -m bench.failover $(FAILOVER_ARGS)
	$(PY) -m bench.scaleout

.PHONY: bench-failover
bench-failover: install ## Failover outage of a VIP pair, fastlb vs keepalived (root; FAILOVER_ARGS="--runs 5"); writes BENCHMARKS-failover.md
	$(PY) -m bench.failover $(FAILOVER_ARGS)

# Fuzzing (fuzz/ is its own cargo workspace). cargo-fuzz passes nightly-only flags
# (-Zsanitizer=address, sanitizer coverage) to rustc; the project has one toolchain, stable,
# and RUSTC_BOOTSTRAP=1 lets it take them (one build shared with nothing else to fetch).
# With a nightly toolchain at hand: make fuzz FUZZ_CARGO="cargo +nightly".
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := config_json cidr tls_client_hello cert_subject pem \
	mysql_statement mysql_client_packets mysql_server_packets proxy_protocol http1_messages
FUZZ_CARGO ?= RUSTC_BOOTSTRAP=1 cargo

.PHONY: fuzz
fuzz: ## Run every cargo-fuzz target for FUZZ_SECONDS (default 30) each; installs cargo-fuzz if missing
	@command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
	cd fuzz && for target in $(FUZZ_TARGETS); do \
		mkdir -p corpus/$$target; \
		$(FUZZ_CARGO) fuzz run $$target corpus/$$target seeds/$$target -- \
			-max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1 || exit 1; \
	done

.PHONY: loadtest
loadtest: install ## Locust load test fastlb vs HAProxy, A B A B (DURATION=15s ROUNDS=5 ARGS=...); writes bench/locust/results/
	$(PY) -m bench.locust --duration $(or $(DURATION),15s) --rounds $(or $(ROUNDS),5) $(ARGS)

# What CI runs after `make test`: the whole load-test harness, 3 s per target and scenario,
# into a temp dir (the committed report stays). Fails on errors or missing output, not on ratios.
.PHONY: loadtest-ci
loadtest-ci: install ## Short load test (3 s per target and scenario) into a temp dir, and the micro-benchmarks run once
	$(VENV)/bin/pytest bench/micro --benchmark-disable -q
	out=$$(mktemp -d); \
	$(PY) -m bench.locust --duration 3s --rounds 1 --output-dir "$$out"; \
	for file in report.json report.md throughput.png latency.png; do \
		[ -s "$$out/$$file" ] || { echo "error: the load test wrote no $$out/$$file" >&2; exit 1; }; \
	done; \
	rm -rf "$$out"

# The WRR picks run through the binding, a Cython build of the pure-Python reference, a Cython
# extension type doing the binding's work, and the reference itself; Cython is built for this
# only (bench/micro/cython_build.py, into target/cython-microbench/).
.PHONY: microbench
microbench: install ## pytest-benchmark micro-benchmarks of the native core from Python, beside Cython builds (bench/micro); writes BENCHMARKS-microbench.md
	out=$$(mktemp); \
	$(VENV)/bin/pytest bench/micro --benchmark-columns=min,median,mean,ops,rounds \
		--benchmark-sort=name --benchmark-json="$$out" $(ARGS); \
	$(PY) -m bench.micro.report "$$out" BENCHMARKS-microbench.md; \
	rm -f "$$out"

# Mixed traffic through one `fastlb serve` for DURATION (600, 10m), with reloads, weight changes,
# backend restarts and an upgrade; fails on resource growth or unexpected client errors.
.PHONY: soak
soak: install ## Soak test (DURATION=600 seconds by default, OUT=bench/soak/results): resources and client errors under traffic, reloads, restarts; writes OUT/report.md and a plot
	$(PY) -m bench.soak --duration $(or $(DURATION),600) --output-dir $(or $(OUT),bench/soak/results)

.PHONY: demo
demo: install ## Run the whole demo topology on localhost (Ctrl-C stops it)
	$(VENV)/bin/fastlb demo

.PHONY: clean
clean: ## Remove the venv, build outputs and caches
	rm -rf $(VENV) target build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find python -name '*.so' -delete
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
