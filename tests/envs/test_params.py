"""Parameter space, sampler, selector and held-out splits."""

from __future__ import annotations

import numpy as np
import pytest

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.params import ParameterSpace, Selector, build_parameter, make_targets
from simtransfer.envs.randomization import parse_randomization

SPACE = {
    "mass": {"dist": "uniform", "low": 0.8, "high": 1.2},
    "motor_gain": {"dist": "loguniform", "low": 0.8, "high": 1.25},
    "gravity": {"dist": "normal", "mean": 9.8, "std": 0.3},
    "restitution": {"dist": "categorical", "choices": [0.0, 0.1], "extrap_choices": [0.5]},
    "lateral_friction@floor": {"low": 0.5, "high": 1.5},
}


def space() -> ParameterSpace:
    return ParameterSpace.from_mapping(SPACE)


def test_sampler_stays_in_training_ranges_and_is_seeded() -> None:
    s = space()
    draws = [s.sample(np.random.default_rng(i)) for i in range(200)]
    assert all(s.in_train_range(d) for d in draws)
    assert s.sample(np.random.default_rng(3)) == s.sample(np.random.default_rng(3))
    assert s.sample(np.random.default_rng(3)) != s.sample(np.random.default_rng(4))
    g = [d["gravity"] for d in draws]
    assert 9.2 <= min(g) and max(g) <= 10.4 and abs(np.mean(g) - 9.8) < 0.1  # truncated at mean +- 2 std
    assert {d["restitution"] for d in draws} == {0.0, 0.1}


def test_nominal_and_modes() -> None:
    s = space()
    assert s.nominal() == {"mass": 1.0, "motor_gain": 1.0, "gravity": 9.8, "restitution": 0.0,
                           "lateral_friction@floor": 1.0}
    rows = {r["name"]: r for r in s.describe()}
    assert rows["mass"]["mode"] == "relative" and rows["gravity"]["mode"] == "absolute"
    assert rows["lateral_friction@floor"]["links"] == ["floor"]


@pytest.mark.parametrize("split", ["interp", "extrap"])
def test_targets_reproducible_and_seed_dependent(split: str) -> None:
    s = space()
    a, b = make_targets(s, split, seed=7, n=6), make_targets(s, split, seed=7, n=6)
    assert a == b and len(a) == 6
    assert make_targets(s, split, seed=8, n=6) != a


def test_splits_are_disjoint_interp_inside_extrap_outside() -> None:
    s = space()
    interp = make_targets(s, "interp", seed=0, n=50)
    extrap = make_targets(s, "extrap", seed=0, n=50)
    assert all(s.in_train_range(v) and s.in_valid_bounds(v) for v in interp)
    for v in extrap:
        assert s.in_valid_bounds(v)
        for p in s.params:  # every parameter with room is outside its training range
            if p.extrap_sides() or p.extrap_choices:
                assert not p.in_train_range(v[p.name]), (p.name, v[p.name])
    keys = lambda vs: {tuple(sorted(v.items())) for v in vs}  # noqa: E731
    assert not keys(interp) & keys(extrap)
    train = [s.sample(np.random.default_rng(i)) for i in range(50)]
    assert not keys(train) & keys(interp) and not keys(train) & keys(extrap)


def test_extrap_respects_valid_bounds_on_one_sided_room() -> None:
    s = ParameterSpace.from_mapping({"restitution": {"low": 0.0, "high": 0.6}})
    vals = [t["restitution"] for t in make_targets(s, "extrap", seed=1, n=30)]
    assert all(0.6 < v <= 1.0 for v in vals)  # no room below 0, capped at the valid bound 1


def test_no_room_for_extrapolation_is_an_error() -> None:
    s = ParameterSpace.from_mapping({"restitution": {"low": 0.0, "high": 1.0}})
    with pytest.raises(SimtransferError, match="no parameter has room"):
        make_targets(s, "extrap", seed=0, n=3)


def test_selector_cycles_restarts_and_samples() -> None:
    s = space()
    sel = Selector(s, "interp", split_seed=0, n_targets=3)
    rng = np.random.default_rng(0)
    ids = [sel.select(rng)[0] for _ in range(4)]
    assert ids == [0, 1, 2, 0]
    assert sel.select(rng, restart=True)[0] == 0
    cid, v = Selector(s, "train").select(rng)
    assert cid == -1 and s.in_train_range(v)
    rand = Selector(s, "extrap", n_targets=5, mode="random")
    assert {rand.select(rng)[0] for _ in range(40)} == set(range(5))


@pytest.mark.parametrize(("name", "spec", "msg"), [
    ("masss", {"low": 0.5, "high": 1.0}, "unknown parameter 'masss'"),
    ("mass", {"low": 0.5, "high": 300.0}, "high=300 is outside the valid bounds"),
    ("restitution", {"low": -0.1, "high": 0.5}, "low=-0.1 is outside the valid bounds"),
    ("gravity", {"low": 10.0, "high": 9.0}, "must be below"),
    ("mass", {"dist": "loguniform", "low": 0.0, "high": 1.0}, "loguniform needs low > 0"),
    ("motor_gain", {"low": 0.5, "high": 1.0, "relative": False}, "cannot be absolute"),
    ("mass", {"low": 1.0, "high": 2.0, "relative": False}, "needs an explicit 'nominal'"),
    ("mass", {"dist": "normal", "mean": 1.0}, "normal needs"),
    ("mass", {"dist": "categorical"}, "categorical needs"),
    ("mass", {"low": 1.0}, "needs 'low' and 'high'"),
    ("gravity@floor", {"low": 9.0, "high": 10.0}, "global"),
    ("mass", {"low": 0.5, "high": 1.0, "lo": 3}, "lo: unknown key"),
])
def test_bad_parameters_give_one_line_errors(name: str, spec: dict, msg: str) -> None:
    with pytest.raises(SimtransferError, match=msg) as exc:
        build_parameter(name, spec)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(("mapping", "msg"), [
    ({"params": {"mas": {"low": 1, "high": 2}}}, "unknown parameter 'mas'"),
    ({"params": {}, "split": "test"}, "split"),
    ({"params": {}, "resample_every": 0}, "resample_every"),
    ({"params": {}, "bogus": 1}, "bogus: unknown key"),
    ({"params": {"mass": {"dist": "gaussian"}}}, "params.mass.dist"),
    ("mass", "expected a mapping"),
])
def test_bad_randomization_specs(mapping, msg: str) -> None:
    with pytest.raises(SimtransferError, match=msg) as exc:
        parse_randomization(mapping)
    assert "\n" not in str(exc.value)


def test_block_sampler_matches_the_training_distribution() -> None:
    s = space()
    rows = s.sample_block(np.random.default_rng(0), 500)
    assert rows == s.sample_block(np.random.default_rng(0), 500)
    assert all(s.in_train_range(r) and list(r) == s.names for r in rows)
    m = np.array([r["mass"] for r in rows])
    assert abs(m.mean() - 1.0) < 0.02 and m.min() < 0.81 and m.max() > 1.19
    g = np.log([r["motor_gain"] for r in rows])  # log-uniform: uniform in log space
    assert abs(g.mean() - 0.5 * (np.log(0.8) + np.log(1.25))) < 0.02


def test_valid_bounds_can_be_narrowed_per_parameter() -> None:
    space = ParameterSpace.from_mapping({"gravity": {"low": 8.0, "high": 11.0, "valid_low": 1.0, "valid_high": 11.9}})
    assert space.by_name["gravity"].valid == (1.0, 11.9)
    assert space.by_name["gravity"].extrap == (5.0, 11.9)  # the default extrapolation region is clipped to them
    with pytest.raises(SimtransferError, match="inside the absolute gravity bounds"):
        ParameterSpace.from_mapping({"gravity": {"low": 8.0, "high": 11.0, "valid_high": 60.0}})
    with pytest.raises(SimtransferError, match="high=11 is outside the valid bounds"):
        ParameterSpace.from_mapping({"gravity": {"low": 8.0, "high": 11.0, "valid_high": 10.0}})


def test_game_kinds_are_absolute_and_not_for_pybullet() -> None:
    import gymnasium as gym

    from simtransfer.envs.randomization import apply_randomization

    with pytest.raises(SimtransferError, match="wind_power cannot be relative"):
        ParameterSpace.from_mapping({"wind_power": {"low": 0.5, "high": 1.0, "relative": True}})
    env = apply_randomization(gym.make("simtransfer/InvertedPendulum-v0"),
                              {"params": {"wind_power": {"low": 0.0, "high": 5.0}}})
    with pytest.raises(SimtransferError, match="Box2D game setting"):
        env.reset(seed=0)
    env.close()
