# Thin entry points. Every target installs what it needs, idempotently: a second run only rebuilds
# what changed. Component fragments live in mk/*.mk and add their own packages and targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

export PATH := $(HOME)/.local/bin:$(HOME)/.cargo/bin:$(PATH)
export UV_LINK_MODE := copy

STAMPS := .stamps
VENV := .venv
PY := $(VENV)/bin/python
PYRT := $(VENV)/bin/pyrt
CARGO_DIR := daemons
# Debian packages the project needs at build, test or run time; fragments append to this.
APT_PACKAGES :=
RUST_SOURCES := $(shell find $(CARGO_DIR)/crates -name '*.rs' -o -name Cargo.toml) $(CARGO_DIR)/Cargo.toml

include $(wildcard mk/*.mk)

.PHONY: help setup demo test lint test-rust test-python lint-rust lint-python clean

help:
	@echo "make demo   - set up, run the appliance on the embedded simulator, print a report"
	@echo "make test   - set up, run every test and linter (what CI runs)"
	@echo "make setup  - install system packages, uv, Python deps; build pyrt._core"

setup: $(STAMPS)/apt $(STAMPS)/venv $(STAMPS)/core

$(STAMPS):
	@mkdir -p $@

# One apt transaction for everything; skipped when every package is already installed.
$(STAMPS)/apt: Makefile $(wildcard mk/*.mk) | $(STAMPS)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s "$$p" >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@touch $@

$(STAMPS)/uv: | $(STAMPS)
	@command -v uv >/dev/null || python3 -m pip install --quiet --user uv
	@touch $@

$(STAMPS)/venv: pyproject.toml uv.lock $(STAMPS)/uv $(STAMPS)/apt
	uv sync --frozen --quiet
	@touch $@

# Release build: the research hot loops and the benchmarks run through this module.
$(STAMPS)/core: $(RUST_SOURCES) $(STAMPS)/venv
	uv run --no-sync maturin develop --uv --release --quiet 2>&1 | grep -v '^$$' | tail -n 3
	@touch $@

# The daemon binaries, optimised, for the appliance itself.
$(STAMPS)/daemons: $(RUST_SOURCES) | $(STAMPS)
	cd $(CARGO_DIR) && cargo build --release --quiet --bins
	@touch $@

demo: setup $(STAMPS)/daemons
	$(PY) -m pyrt.demo

test: setup lint test-rust test-python
	@echo "make test: all checks passed"

lint: lint-rust lint-python

lint-rust:
	cd $(CARGO_DIR) && cargo fmt --all -- --check
	cd $(CARGO_DIR) && cargo clippy --workspace --all-targets --all-features --quiet -- -D warnings

lint-python: $(STAMPS)/venv
	$(VENV)/bin/ruff check pyrt research tests
	$(VENV)/bin/ruff format --check pyrt research tests
	$(VENV)/bin/mypy --strict pyrt research

test-rust:
	@cd $(CARGO_DIR) && if command -v cargo-nextest >/dev/null; then \
	  cargo nextest run --workspace --no-fail-fast; else cargo test --workspace --no-fail-fast; fi

# pytest exits 5 when it collects nothing; an empty selection is not a failure, a failed test is.
# The end-to-end tests run the daemons' debug builds under supervisord.
test-python: setup
	cd $(CARGO_DIR) && cargo build --bins --quiet
	@rc=0; $(PY) -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; rc=0; fi; exit $$rc

clean:
	rm -rf $(STAMPS) $(VENV) $(CARGO_DIR)/target build bench-results
