"""Offline research on the appliance's own Rust code: backtests, metrics, optimisation, ML."""
