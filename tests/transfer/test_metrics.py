"""Transfer metrics against hand-computed curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simtransfer.envs.errors import SimtransferError
from simtransfer.transfer import metrics as M
from simtransfer.transfer.metrics import Curve

T = [0, 10, 20]


def test_curve_validation():
    with pytest.raises(SimtransferError, match="as many returns"):
        Curve([0, 1, 2], [1.0, 2.0])
    with pytest.raises(SimtransferError, match="strictly increasing"):
        Curve([0, 2, 1], [1.0, 2.0, 3.0])
    with pytest.raises(SimtransferError, match="NaN"):
        Curve([0, 1], [1.0, float("nan")])
    with pytest.raises(SimtransferError, match="malformed curve"):
        Curve.from_dict({"timesteps": [0, 1]})
    c = Curve.from_dict({"timesteps": [0, 10], "mean_return": [0.0, 10.0], "std_return": [0, 0]})
    assert c.at(5) == pytest.approx(5.0)


def test_jumpstart_and_zero_shot():
    scratch, warm = Curve(T, [-3.0, 5.0, 10.0]), Curve(T, [4.0, 8.0, 10.0])
    assert M.jumpstart(warm, scratch) == 7.0
    assert M.jumpstart(scratch, warm) == -7.0
    assert M.compare(warm, scratch, threshold=8.0).zero_shot == 4.0


def test_mean_return_over_clips_and_interpolates():
    c = Curve([0, 10, 20, 40], [0.0, 10.0, 10.0, 30.0])
    # [0, 40]: areas 50 + 100 + 400 = 550 -> 13.75
    assert M.mean_return_over(c, 0, 40) == pytest.approx(13.75)
    # [5, 30]: value 5 at t=5, 20 at t=30: areas 37.5 + 100 + 150 = 287.5 over 25
    assert M.mean_return_over(c, 5, 30) == pytest.approx(11.5)
    assert M.mean_return_over(c, 15, 15) == pytest.approx(10.0)


def test_transfer_ratio_shifts_negative_returns_by_the_reference():
    scratch = Curve(T, [-100.0, -50.0, -10.0])
    transfer = Curve(T, [-60.0, -20.0, -10.0])
    # above -100: scratch (0+50)/2*10 + (50+90)/2*10 = 950 -> 47.5; transfer 600 + 850 = 1450 -> 72.5
    assert M.transfer_ratio(transfer, scratch, reference=-100.0) == pytest.approx(72.5 / 47.5)
    # default reference = scratch at t=0 (-100): the same here
    assert M.transfer_ratio(transfer, scratch) == pytest.approx(72.5 / 47.5)
    # the naive ratio of raw areas would call the better curve worse (-27.5 / -52.5 = 0.52)
    assert M.mean_return_over(transfer, 0, 20) / M.mean_return_over(scratch, 0, 20) < 1


def test_transfer_ratio_undefined_when_scratch_never_beats_reference():
    flat = Curve(T, [5.0, 5.0, 5.0])
    assert math.isnan(M.transfer_ratio(Curve(T, [6.0, 7.0, 8.0]), flat))
    assert math.isnan(M.transfer_ratio(Curve(T, [6.0, 7.0, 8.0]), flat, reference=9.0))
    # worse than the reference -> negative ratio, still well defined
    assert M.transfer_ratio(Curve(T, [-5.0, -5.0, -5.0]), Curve(T, [0.0, 10.0, 20.0]), reference=0.0) == \
        pytest.approx(-0.5)


def test_time_to_threshold_and_never_reached():
    c = Curve([0, 10, 20, 30], [0.0, 4.0, 9.0, 7.0])
    assert M.time_to_threshold(c, 4.0) == 10.0
    assert M.time_to_threshold(c, 8.5) == 20.0
    assert M.time_to_threshold(c, 0.0) == 0.0
    assert M.time_to_threshold(c, 10.0) == math.inf
    assert M.time_to_threshold(c, 8.5, until=15) == math.inf


@pytest.mark.parametrize("t_transfer,t_scratch,expected", [
    (10.0, 20.0, 2.0),
    (20.0, 10.0, 0.5),
    (math.inf, 10.0, 0.0),        # transfer never reaches it: infinitely slower
    (10.0, math.inf, math.inf),   # only transfer reaches it
    (math.inf, math.inf, math.nan),  # neither: undefined
    (0.0, 0.0, 1.0),
    (0.0, 10.0, math.inf),        # solved before training
    (10.0, 0.0, 0.0),
])
def test_time_to_threshold_ratio_conventions(t_transfer, t_scratch, expected):
    got = M.time_to_threshold_ratio(t_transfer, t_scratch)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


def test_time_to_threshold_ratio_vectorised():
    got = M.time_to_threshold_ratio(np.array([10.0, np.inf, 0.0]), np.array([20.0, np.inf, 0.0]))
    np.testing.assert_array_equal(got, [2.0, np.nan, 1.0])


def test_curves_on_different_grids():
    transfer = Curve([0, 5, 10, 15, 20], [10.0] * 5)
    scratch = Curve([0, 10, 20, 30], [0.0, 10.0, 20.0, 30.0])
    assert M.common_window([transfer, scratch]) == (0.0, 20.0)
    grid, values = M.resample([transfer, scratch])
    np.testing.assert_array_equal(grid, [0, 5, 10, 15, 20])
    np.testing.assert_allclose(values[1], [0, 5, 10, 15, 20])
    # both average 10 over [0, 20]; with reference -10: (10+10) / (10+10) = 1
    assert M.transfer_ratio(transfer, scratch, reference=-10.0) == pytest.approx(1.0)
    # asymptote inside the common window: scratch's last 2 evaluations up to t=20 are 10 and 20
    assert M.asymptotic_return(scratch, k=2, until=20) == 15.0
    assert M.asymptotic_gain(transfer, scratch, k=2) == pytest.approx(10.0 - 15.0)
    m = M.compare(transfer, scratch, threshold=10.0, reference=-10.0, k=2)
    assert (m.time_to_threshold, m.time_to_threshold_scratch, m.time_to_threshold_ratio) == (0.0, 10.0, math.inf)
    # time to threshold is measured inside the window: scratch reaches 25 only at t=30 -> never
    m = M.compare(transfer, scratch, threshold=25.0, reference=-10.0, k=2)
    assert m.time_to_threshold_scratch == math.inf and math.isnan(m.time_to_threshold_ratio)
    with pytest.raises(SimtransferError, match="do not overlap"):
        M.common_window([Curve([0, 10], [0, 0]), Curve([20, 30], [0, 0])])


def test_asymptotic_return_last_k():
    c = Curve([0, 1, 2, 3, 4], [0.0, 1.0, 2.0, 3.0, 4.0])
    assert M.asymptotic_return(c, k=3) == 3.0
    assert M.asymptotic_return(c, k=10) == 2.0
    with pytest.raises(SimtransferError):
        M.asymptotic_return(c, k=0)


def test_relatedness_normalisation():
    assert M.relatedness(zero_shot=60.0, random_return=20.0, scratch_final=100.0) == pytest.approx(0.5)
    assert M.relatedness(zero_shot=20.0, random_return=20.0, scratch_final=100.0) == 0.0
    assert M.relatedness(zero_shot=-10.0, random_return=-50.0, scratch_final=-10.0) == pytest.approx(1.0)
    assert math.isnan(M.relatedness(zero_shot=1.0, random_return=5.0, scratch_final=5.0))
