# The online path: `make bench-pipeline` times tick → order through the strategy and risk daemons
# and ONNX inference through ort against onnxruntime's Python API (not part of `make test`).
.PHONY: bench-pipeline

bench-pipeline: setup $(STAMPS)/daemons
	$(PY) -m pyrt.bench
