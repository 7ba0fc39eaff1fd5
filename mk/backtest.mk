# Backtests: `make bench-backtest` runs py_rt's backtester against backtrader, backtesting.py,
# vectorbt and NautilusTrader on the same bars and strategy (not part of `make test`).
# NautilusTrader's wheel needs pandas < 3 on Python 3.11 and the project's env has pandas 3, so it
# gets a venv of its own under bench-results/. Python itself is never downloaded (only PyPI is
# reachable); when the venv cannot be made the benchmark says why and runs the other systems.
NAUTILUS_VERSION := 1.221.0
NAUTILUS_VENV := bench-results/.venv-nautilus
NAUTILUS_READY := $(NAUTILUS_VENV)/.installed-$(NAUTILUS_VERSION)
NAUTILUS_LOG := bench-results/nautilus-install.log
.PHONY: bench-backtest

# No stamp on failure, so the next run tries again; the log tells the benchmark why it could not.
$(NAUTILUS_READY): | $(STAMPS)/uv
	@mkdir -p bench-results
	@if UV_PYTHON_DOWNLOADS=never uv venv --quiet --allow-existing --python 3.11 $(NAUTILUS_VENV) \
	    >$(NAUTILUS_LOG) 2>&1 \
	  && uv pip install --quiet --python $(NAUTILUS_VENV)/bin/python \
	    "nautilus_trader==$(NAUTILUS_VERSION)" >>$(NAUTILUS_LOG) 2>&1; then \
	  rm -f $(NAUTILUS_LOG); touch $@; \
	else \
	  echo "NautilusTrader $(NAUTILUS_VERSION) could not be installed: see $(NAUTILUS_LOG)"; \
	fi

bench-backtest: setup $(NAUTILUS_READY)
	$(PY) -m research.bench_backtest
