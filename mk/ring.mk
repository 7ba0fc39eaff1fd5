# Transport: `make bench-ring` times py_rt's rings against ZeroMQ ipc between two pinned processes.
APT_PACKAGES += libzmq3-dev pkg-config
.PHONY: bench-ring

bench-ring: $(STAMPS)/apt
	cd $(CARGO_DIR)/bench-peers && cargo build --release --quiet --bin bench-ring
	@mkdir -p bench-results
	$(CARGO_DIR)/bench-peers/target/release/bench-ring bench-results/ring.json
