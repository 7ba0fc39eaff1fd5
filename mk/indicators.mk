# Indicators and the Python boundary: `make bench-indicators` times py_rt's indicators against
# TA-Lib, pandas and numpy on the same million points, and the cost of a call into pyrt._core
# against Python's and C extensions' own (not part of `make test`).
.PHONY: bench-indicators

bench-indicators: setup
	$(PY) -m research.bench_indicators
