"""IQM, stratified bootstrap and aggregation over seeds."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from simtransfer.envs.errors import SimtransferError
from simtransfer.transfer.metrics import Curve
from simtransfer.transfer.stats import (
    Estimate,
    RunResult,
    aggregate,
    bootstrap_iqm,
    format_number,
    iqm,
    iqm_band,
    negative_transfer_reasons,
    percentile_interval,
    stratified_bootstrap,
)


@pytest.mark.parametrize("values,expected", [
    ([7.0], 7.0),
    ([1.0, 5.0], 3.0),
    ([1.0, 2.0, 9.0], 4.0),                 # n < 4: nothing trimmed (as scipy.stats.trim_mean / rliable)
    ([4.0, 1.0, 3.0, 100.0], 3.5),          # n = 4: middle two
    ([1.0, 2.0, 3.0, 4.0, 100.0], 3.0),     # n = 5: middle three
    ([1, 2, 3, 4, 5, 6, 7, 100], 4.5),      # n = 8: two trimmed each side
])
def test_iqm_hand_values(values, expected):
    assert iqm(values) == pytest.approx(expected)


def test_iqm_axis_and_infinity():
    x = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]])
    np.testing.assert_allclose(iqm(x, axis=1), [2.5, 25.0])
    np.testing.assert_allclose(iqm(x, axis=0), [5.5, 11.0, 16.5, 22.0])
    assert iqm([1.0, 2.0, 3.0, np.inf]) == 2.5          # trimmed away
    assert iqm([1.0, np.inf, np.inf]) == np.inf
    with pytest.raises(SimtransferError):
        iqm([])


def test_bootstrap_ci_contains_iqm_and_narrows_with_more_seeds():
    rng = np.random.default_rng(0)
    few = rng.normal(100.0, 20.0, size=5)
    many = rng.normal(100.0, 20.0, size=100)
    e_few, e_many = bootstrap_iqm(few, seed=1), bootstrap_iqm(many, seed=1)
    for e, x in ((e_few, few), (e_many, many)):
        assert e.value == pytest.approx(iqm(x))
        assert e.low <= e.value <= e.high
        assert e.n == len(x)
    assert (e_many.high - e_many.low) < 0.6 * (e_few.high - e_few.low)


def test_bootstrap_is_seeded():
    x = np.arange(6.0)
    assert bootstrap_iqm(x, seed=3) == bootstrap_iqm(x, seed=3)
    assert bootstrap_iqm(x, seed=3) != bootstrap_iqm(x, seed=4)


def test_strata_are_resampled_separately():
    a, b = np.zeros(4), np.ones(7)
    e = stratified_bootstrap([a, b], lambda x, y: x.mean(axis=1) - y.mean(axis=1), reps=500, seed=0)
    assert (e.value, e.low, e.high, e.n) == (-1.0, -1.0, -1.0, 4)
    with pytest.raises(SimtransferError):
        stratified_bootstrap([np.array([])], lambda x: x.mean(axis=1))
    with pytest.raises(SimtransferError):
        stratified_bootstrap([a], lambda x: x.mean(axis=1), reps=0)


def test_bootstrap_2000_reps_over_5_seeds_takes_milliseconds():
    x = np.random.default_rng(0).normal(size=5)
    bootstrap_iqm(x)  # warm-up
    start = time.perf_counter()
    for _ in range(10):
        bootstrap_iqm(x, reps=2000)
    per_call = (time.perf_counter() - start) / 10
    assert per_call < 0.05, f"{per_call * 1e3:.1f} ms per 2000-rep bootstrap"


def test_percentile_interval_handles_inf_and_nan():
    lo, hi = percentile_interval(np.r_[np.ones(90), np.full(10, np.inf)], 0.9)
    assert lo == 1.0 and hi == np.inf
    assert all(math.isnan(v) for v in percentile_interval(np.r_[np.ones(4), np.full(6, np.nan)]))
    lo, hi = percentile_interval(np.r_[np.arange(101.0), np.nan], 0.9)
    assert (lo, hi) == pytest.approx((5.0, 95.0))


def test_iqm_band_shapes():
    v = np.array([[0.0, 1.0, 2.0], [0.0, 2.0, 4.0], [0.0, 3.0, 6.0]])
    mid, low, high = iqm_band(v, reps=200)
    np.testing.assert_allclose(mid, [0.0, 2.0, 4.0])
    assert np.all(low <= mid) and np.all(mid <= high) and low[0] == high[0] == 0.0


def test_estimate_flags_and_format():
    assert Estimate(0.5, 0.4, 0.9, 5).entirely_below(1.0)
    assert not Estimate(0.8, 0.5, 1.1, 5).entirely_below(1.0)
    assert not Estimate(math.nan, math.nan, math.nan, 5).entirely_below(1.0)
    assert Estimate(1.5, 1.2, 1.8, 5).entirely_above(1.0)
    assert Estimate(1.27, 1.25, 1.3, 5).format() == "1.27 [1.25, 1.3]"
    assert format_number(12500.0) == "12.5k" and format_number(4096.0) == "4096" and format_number(math.inf) == "∞"
    assert format_number(2.5e6) == "2.5M"
    assert format_number(math.nan) == "n/a" and format_number(0.5341) == "0.534"


def test_negative_transfer_reasons():
    below, straddle = Estimate(0.5, 0.4, 0.9, 5), Estimate(0.9, 0.7, 1.1, 5)
    assert negative_transfer_reasons(below, None) == ("transfer_ratio",)
    assert negative_transfer_reasons(straddle, Estimate(-5, -8, -1, 5)) == ("jumpstart",)
    assert negative_transfer_reasons(straddle, Estimate(-5, -8, 1, 5)) == ()


# -------------------------------------------------------------------------------------------- aggregate
GRID = np.arange(0, 50, 10)


def _runs(base, offsets=(-5.0, 0.0, 5.0)):
    return [RunResult(i, Curve(GRID, np.asarray(base, float) + o), float(base[-1] + o))
            for i, o in enumerate(offsets)]


SCRATCH = _runs([0, 20, 40, 60, 80])


def test_aggregate_hand_computed():
    s = aggregate("T", "finetune", _runs([40, 60, 80, 80, 80]), SCRATCH, random_returns=[-1.0, 0.0, 1.0],
                  threshold=60.0, reps=300)
    assert s.reference == 0.0 and s.reference_source == "random policy"
    assert s.jumpstart.value == pytest.approx(40.0)
    assert s.asymptotic.value == pytest.approx(80.0)
    assert s.asymptotic_gain.value == pytest.approx(20.0)
    assert s.transfer_ratio.value == pytest.approx(70.0 / 40.0)   # mean returns over [0, 40]
    # per seed (offsets -5, 0, +5) transfer reaches 60 at t=20, 10, 10; scratch at 40, 30, 30
    assert s.time_to_threshold.value == pytest.approx(40.0 / 3)
    assert s.time_to_threshold_ratio.value == pytest.approx((100.0 / 3) / (40.0 / 3))
    assert s.zero_shot.value == pytest.approx(40.0)
    assert s.relatedness.value == pytest.approx(0.5)
    assert not s.negative_transfer
    for e in (s.jumpstart, s.transfer_ratio, s.relatedness):
        assert e.low <= e.value <= e.high


def test_aggregate_flags_negative_transfer():
    worse = aggregate("T", "freeze", _runs([0, 5, 10, 15, 20]), SCRATCH, threshold=60.0, reps=300)
    assert worse.transfer_ratio.value == pytest.approx(10.0 / 40.0)
    assert worse.transfer_ratio.high < 1.0
    assert worse.time_to_threshold.value == math.inf and worse.time_to_threshold_ratio.value == 0.0
    assert worse.negative_reasons == ("transfer_ratio",)  # jumpstart interval straddles 0
    assert worse.reference_source == "scratch at t=0"
    # same area as scratch: interval straddles 1 -> no flag
    same = aggregate("T", "finetune", _runs([0, 20, 40, 60, 80], (-4.0, 1.0, 6.0)), SCRATCH, reps=300)
    assert same.transfer_ratio.low < 1.0 < same.transfer_ratio.high and not same.negative_transfer
    # a consistently worse start is flagged through the jumpstart
    bad_start = aggregate("T", "features", _runs([-30, 20, 40, 60, 80]), SCRATCH, reps=300)
    assert "jumpstart" in bad_start.negative_reasons


def test_aggregate_zeroshot_scratch_and_default_threshold():
    zs = aggregate("T", "zeroshot", [RunResult(i, None, 40.0 + i) for i in range(3)], SCRATCH, reps=300)
    assert zs.zero_shot.value == pytest.approx(41.0)
    assert zs.jumpstart.value == pytest.approx(41.0)
    assert zs.transfer_ratio is None and zs.asymptotic is None
    assert zs.relatedness.value == pytest.approx(41.0 / 80.0)
    base = aggregate("T", "scratch", SCRATCH, SCRATCH, reps=300)
    assert base.jumpstart is None and base.transfer_ratio is None and not base.negative_transfer
    assert base.threshold == pytest.approx(0.8 * 80.0)   # default: 80% from reference (0) to scratch final
    assert base.time_to_threshold.value == pytest.approx((40.0 + 40.0 + 30.0) / 3)  # 64 reached at t=40, 40, 30
    with pytest.raises(SimtransferError, match="mixes"):
        aggregate("T", "m", [SCRATCH[0], RunResult(5, None, 1.0)], SCRATCH)
    with pytest.raises(SimtransferError, match="scratch"):
        aggregate("T", "m", SCRATCH, [])


def test_single_seed_has_no_interval_and_no_flag():
    s = aggregate("T", "freeze", _runs([0, 5, 10, 15, 20], (0.0,)), SCRATCH, reps=100)
    assert s.transfer_ratio.value == pytest.approx(10.0 / 40.0)
    assert math.isnan(s.transfer_ratio.low) and math.isnan(s.transfer_ratio.high)
    assert not s.negative_transfer
