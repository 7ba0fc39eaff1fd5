"""Type stubs for the compiled extension ``pyrt._core`` (source: daemons/crates/pyrt-py)."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar, Final, Self

import numpy as np
import numpy.typing as npt

__version__: Final[str]
EVENT_SIZE: Final[int]
LAYOUT_HASH: Final[int]
SCALE_DIGITS: Final[int]

_DecimalLike = str | int | Decimal
_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]

class _FixedPoint:
    SCALE_DIGITS: ClassVar[int]
    def __new__(cls, value: _DecimalLike) -> Self: ...
    @classmethod
    def from_raw(cls, raw: int) -> Self: ...
    @property
    def raw(self) -> int: ...
    def to_decimal(self) -> Decimal: ...
    def to_float(self) -> float: ...
    def __add__(self, other: Self) -> Self: ...
    def __sub__(self, other: Self) -> Self: ...
    def __neg__(self) -> Self: ...
    def __abs__(self) -> Self: ...
    def __bool__(self) -> bool: ...
    def __lt__(self, other: Self) -> bool: ...
    def __le__(self, other: Self) -> bool: ...
    def __gt__(self, other: Self) -> bool: ...
    def __ge__(self, other: Self) -> bool: ...
    def __hash__(self) -> int: ...

class Price(_FixedPoint):
    """Dollars per share, i64 fixed point with 9 decimals."""

    def notional(self, qty: Qty) -> Notional: ...

class Qty(_FixedPoint):
    """Shares or units, i64 fixed point with 9 decimals."""

class Notional(_FixedPoint):
    """Dollars, i64 fixed point with 9 decimals."""

class Timestamp:
    """UTC nanoseconds since the Unix epoch."""

    def __new__(cls, text: str) -> Self: ...
    @staticmethod
    def from_unix_nanos(nanos: int) -> Timestamp: ...
    @staticmethod
    def now() -> Timestamp: ...
    @property
    def unix_nanos(self) -> int: ...
    def __lt__(self, other: Timestamp) -> bool: ...
    def __le__(self, other: Timestamp) -> bool: ...
    def __gt__(self, other: Timestamp) -> bool: ...
    def __ge__(self, other: Timestamp) -> bool: ...
    def __hash__(self) -> int: ...

class _WireEnum:
    @property
    def wire(self) -> str: ...
    @classmethod
    def from_wire(cls, text: str) -> Self: ...
    def __int__(self) -> int: ...
    def __hash__(self) -> int: ...

class Side(_WireEnum):
    Buy: ClassVar[Side]
    Sell: ClassVar[Side]

class OrderType(_WireEnum):
    Market: ClassVar[OrderType]
    Limit: ClassVar[OrderType]
    Stop: ClassVar[OrderType]
    StopLimit: ClassVar[OrderType]
    TrailingStop: ClassVar[OrderType]

class TimeInForce(_WireEnum):
    Day: ClassVar[TimeInForce]
    Gtc: ClassVar[TimeInForce]
    Opg: ClassVar[TimeInForce]
    Cls: ClassVar[TimeInForce]
    Ioc: ClassVar[TimeInForce]
    Fok: ClassVar[TimeInForce]

class OrderStatus(_WireEnum):
    New: ClassVar[OrderStatus]
    PartiallyFilled: ClassVar[OrderStatus]
    Filled: ClassVar[OrderStatus]
    DoneForDay: ClassVar[OrderStatus]
    Canceled: ClassVar[OrderStatus]
    Expired: ClassVar[OrderStatus]
    Replaced: ClassVar[OrderStatus]
    PendingCancel: ClassVar[OrderStatus]
    PendingReplace: ClassVar[OrderStatus]
    Accepted: ClassVar[OrderStatus]
    PendingNew: ClassVar[OrderStatus]
    AcceptedForBidding: ClassVar[OrderStatus]
    Stopped: ClassVar[OrderStatus]
    Rejected: ClassVar[OrderStatus]
    Suspended: ClassVar[OrderStatus]
    Calculated: ClassVar[OrderStatus]
    Held: ClassVar[OrderStatus]

class SymbolTable:
    """Symbol names interned to dense u32 ids in insertion order."""

    def __init__(self, names: list[str] = ...) -> None: ...
    def intern(self, name: str) -> int: ...
    def get(self, name: str) -> int | None: ...
    def name(self, id: int) -> str | None: ...
    def names(self) -> list[str]: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: str) -> bool: ...

def event_layouts() -> dict[str, list[tuple[str, str, int, int]]]:
    """Field (name, type, offset, size) of every 64-byte event kind."""

class _Indicators:
    """``pyrt._core.indicators``: numpy in and out, ``NaN`` during TA-Lib's warm-up."""

    @staticmethod
    def sma(values: _F64, period: int) -> _F64: ...
    @staticmethod
    def ema(values: _F64, period: int) -> _F64: ...
    @staticmethod
    def wma(values: _F64, period: int) -> _F64: ...
    @staticmethod
    def rsi(values: _F64, period: int) -> _F64: ...
    @staticmethod
    def zscore(values: _F64, period: int) -> _F64: ...
    @staticmethod
    def volatility(values: _F64, period: int) -> _F64: ...
    @staticmethod
    def macd(
        close: _F64, fast: int = 12, slow: int = 26, signal: int = 9
    ) -> tuple[_F64, _F64, _F64]: ...
    @staticmethod
    def bbands(
        close: _F64, period: int = 20, dev_up: float = 2.0, dev_down: float = 2.0
    ) -> tuple[_F64, _F64, _F64]: ...
    @staticmethod
    def atr(high: _F64, low: _F64, close: _F64, period: int = 14) -> _F64: ...
    @staticmethod
    def adx(high: _F64, low: _F64, close: _F64, period: int = 14) -> _F64: ...
    @staticmethod
    def stoch(
        high: _F64, low: _F64, close: _F64, fast_k: int = 5, slow_k: int = 3, slow_d: int = 3
    ) -> tuple[_F64, _F64]: ...
    @staticmethod
    def obv(close: _F64, volume: _F64) -> _F64: ...
    @staticmethod
    def vwap(
        high: _F64, low: _F64, close: _F64, volume: _F64, window: int | None = None
    ) -> _F64: ...

indicators: _Indicators

class _BacktestContext:
    """A Python strategy's handle during a callback: the account and an order outbox."""

    cash: float
    equity: float
    ts: int

    def buy(
        self,
        symbol: str,
        qty: float | str,
        limit: float | str | None = None,
        stop: float | str | None = None,
        tif: str = "gtc",
    ) -> int: ...
    def sell(
        self,
        symbol: str,
        qty: float | str,
        limit: float | str | None = None,
        stop: float | str | None = None,
        tif: str = "gtc",
    ) -> int: ...
    def close(self, symbol: str) -> int | None: ...
    def cancel(self, order_id: int) -> None: ...
    def position(self, symbol: str) -> float: ...

class _BacktestEngine:
    """Market data in, strategies run over it; results of the last run."""

    def __init__(
        self,
        initial_cash: str = "100000",
        commission_bps: int = 0,
        per_share: str = "0",
        regulatory_fees: bool = False,
        slippage_bps: int = 0,
        latency_ns: int = 0,
        bar_volume_cap_bps: int = 0,
        apply_splits: bool = False,
        check_buying_power: bool = True,
        risk_limits: str | None = None,
        record: bool = True,
    ) -> None: ...
    def add_bars(
        self,
        symbol: str,
        ts: _I64,
        open: _F64,
        high: _F64,
        low: _F64,
        close: _F64,
        volume: _F64,
        session: _I64 | None = None,
        dividend: _F64 | None = None,
        split: _F64 | None = None,
    ) -> None: ...
    def add_quotes(
        self, symbol: str, ts: _I64, bid: _F64, ask: _F64, bid_size: _F64, ask_size: _F64
    ) -> None: ...
    def add_trades(self, symbol: str, ts: _I64, price: _F64, size: _F64) -> None: ...
    def run_sma_cross(
        self, symbol: str, fast: int, slow: int, qty: float | str, allow_short: bool = False
    ) -> None: ...
    def run(
        self,
        strategy: object,
        progress: Callable[[int, int], object] | None = None,
        chunk: int = 10_000,
    ) -> None: ...
    def sweep_sma_cross(
        self,
        symbol: str,
        pairs: list[tuple[int, int]],
        qty: float | str,
        threads: int = 2,
        allow_short: bool = False,
    ) -> list[dict[str, Any]]: ...
    def symbols(self) -> list[str]: ...
    def curve(self) -> dict[str, Any]: ...
    def fills(self) -> dict[str, Any]: ...
    def orders(self) -> dict[str, Any]: ...
    def trades(self) -> dict[str, Any]: ...
    def summary(self) -> dict[str, Any]: ...

class _Backtest:
    """``pyrt._core.backtest``: the Rust backtest core."""

    Engine: type[_BacktestEngine]
    Context: type[_BacktestContext]

backtest: _Backtest

class _Features:
    """``pyrt._core.features``: the strategy daemon's feature vector over recorded quotes."""

    FEATURE_NAMES: list[str]

    @staticmethod
    def quote_features(
        bid: _F64, ask: _F64, bid_size: _F64, ask_size: _F64
    ) -> npt.NDArray[np.float32]: ...

features: _Features

MAX_DAEMONS: Final[int]

class ControlBlock:
    """The shared control block (kill switch, generations, daemon slots)."""

    def __init__(self, path: str, create: bool = False) -> None: ...
    @property
    def kill_switch(self) -> bool: ...
    @property
    def kill_reason(self) -> int: ...
    def set_kill_switch(self, on: bool, reason: int = 0) -> None: ...
    @property
    def config_generation(self) -> int: ...
    def bump_config_generation(self) -> int: ...
    @property
    def model_generation(self) -> int: ...
    def set_model_generation(self, generation: int) -> None: ...
    def register(self, index: int, name: str, pid: int) -> None: ...
    def set_state(self, index: int, state: str) -> None: ...
    def heartbeat(self, index: int) -> None: ...
    def daemons(self) -> list[dict[str, str | int | bool]]: ...

class LatencyLog:
    """Stage latency histograms written as an HDR interval log."""

    def __init__(
        self, daemon: str, path: str, max_ns: int = 10_000_000_000, significant_figures: int = 3
    ) -> None: ...
    def stage(self, name: str) -> int: ...
    def record(self, stage: int, ns: int) -> None: ...
    def write_interval(self) -> None: ...
    def prometheus(self) -> str: ...

_FillEvent = tuple[str, int, str, str, str, str, str, int]

class FillEngine:
    """The fill model of one instrument (shared with the backtester)."""

    def __init__(
        self,
        latency_ns: int = 0,
        max_fill_fraction_bps: int = 10_000,
        regulatory_fees: bool = False,
        per_share: str = "0",
        bps: int = 0,
    ) -> None: ...
    def submit(
        self,
        id: int,
        side: str,
        order_type: str,
        time_in_force: str,
        qty: str,
        limit: str | None = None,
        stop: str | None = None,
        now_ns: int = 0,
    ) -> None: ...
    def cancel(self, id: int) -> str | None: ...
    def replace(
        self, id: int, qty: str, limit: str | None = None, stop: str | None = None
    ) -> bool: ...
    def on_quote(
        self, bid: str, bid_size: str, ask: str, ask_size: str, now_ns: int
    ) -> list[_FillEvent]: ...
    def on_trade(self, price: str, size: str, now_ns: int) -> list[_FillEvent]: ...
    def open_orders(self) -> int: ...

def execution_fee(side: str, qty: str, price: str, regulatory_fees: bool = True) -> str: ...
