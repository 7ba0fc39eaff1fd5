"""The feature vector research trains on is the strategy daemon's own Rust code."""

from __future__ import annotations

import numpy as np
import pytest

from pyrt._core import features


def test_features_over_a_quote_series() -> None:
    n = 200
    rng = np.random.default_rng(7)
    mid = 100 + np.cumsum(rng.normal(0, 0.02, n))
    bid, ask = mid - 0.01, mid + 0.01
    bid_size = rng.uniform(100, 500, n)
    ask_size = rng.uniform(100, 500, n)
    out = features.quote_features(bid, ask, bid_size, ask_size)
    assert out.shape == (n, len(features.FEATURE_NAMES))
    assert out.dtype == np.float32
    warm = np.asarray(~np.isnan(out).any(axis=1), dtype=bool)
    assert not warm[:31].any()
    assert warm[31:].all()
    names = features.FEATURE_NAMES
    imbalance = out[warm, names.index("imbalance")]
    expected = (bid_size - ask_size) / (bid_size + ask_size)
    np.testing.assert_allclose(imbalance, expected[warm], rtol=1e-6)
    spread = out[warm, names.index("spread_bps")]
    np.testing.assert_allclose(spread, (0.02 / mid * 1e4)[warm], rtol=1e-5)


def test_mismatched_columns_are_refused() -> None:
    x = np.ones(5)
    with pytest.raises(ValueError, match="one length"):
        features.quote_features(x, x, x, np.ones(4))
