"""py_rt: a trading appliance for US equities through Alpaca Markets.

The Rust daemons do the online work; this package supervises them, validates configuration, runs the
embedded venue simulator and drives research. ``pyrt._core`` is the compiled extension built from
``daemons/crates/pyrt-py``.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
