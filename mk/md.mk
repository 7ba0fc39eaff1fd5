# Market data: `make bench-md` runs py_rt's parsers and books against peers on the recorded depth.
# The peers (hftbacktest, NautilusTrader's model crate) live in daemons/bench-peers, a separate
# Cargo workspace, so they never enter the product build or `make test`.
.PHONY: bench-md

bench-md: $(STAMPS)/apt
	cd $(CARGO_DIR)/bench-peers && cargo build --release --quiet --bin bench-md
	@mkdir -p bench-results
	taskset -c 1 $(CARGO_DIR)/bench-peers/target/release/bench-md bench-results/md.json
