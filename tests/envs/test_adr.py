"""Automatic Domain Randomization: range logic on synthetic returns, the env wrapper, vectorized envs, JSON state."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

from simtransfer import envs  # noqa: F401  (registers simtransfer/* ids)
from simtransfer.envs.adr import ADRConfig, ADRRandomization, ADRState, parse_adr_config
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.params import ParameterSpace

SPACE = {"mass": {"low": 0.8, "high": 1.2}, "gravity": {"low": 9.0, "high": 10.6},
         "motor_gain": {"dist": "loguniform", "low": 0.8, "high": 1.25},
         "restitution": {"dist": "categorical", "choices": [0.0, 0.1]}}


def _state(**cfg) -> ADRState:
    base = {"threshold_low": 2.0, "threshold_high": 8.0, "buffer_size": 3, "boundary_prob": 1.0}
    return ADRState(ParameterSpace.from_mapping(SPACE), {**base, **cfg})


def _drive(state: ADRState, ret_fn, episodes: int, seed: int = 0) -> None:
    """Run the ADR loop with a synthetic return function of the pinned boundary value."""
    rng = np.random.default_rng(seed)
    for _ in range(episodes):
        values, pinned = state.sample(rng)
        if pinned is not None:
            name, side = pinned
            state.record(name, side, values[name], ret_fn(name, values[name]))


def test_starts_at_nominal_and_skips_categorical():
    st = _state()
    assert st.names == ["mass", "gravity", "motor_gain"]
    assert st.ranges == {"mass": (1.0, 1.0), "gravity": (9.8, 9.8), "motor_gain": (1.0, 1.0)}
    values, pinned = st.sample(np.random.default_rng(0))
    assert values["restitution"] in (0.0, 0.1) and pinned is not None


def test_widens_on_an_easy_task_within_valid_bounds():
    st = _state(delta=0.5)
    _drive(st, lambda n, v: 10.0, 4000)
    lo, hi = st.ranges["mass"]
    assert lo == pytest.approx(0.01) and hi > 1.5  # relative mass: valid lower bound 0.01
    assert st.ranges["gravity"][0] == 0.0  # absolute gravity: valid bounds [0, 50]
    assert st.ranges["gravity"][1] > 12.0
    assert st.n_updates > 20 and st.entropy() > 0


def test_loguniform_parameter_grows_multiplicatively():
    st = _state(delta=1.0)
    st.record("motor_gain", "high", 1.0, 10.0)
    st.record("motor_gain", "high", 1.0, 10.0)
    assert st.record("motor_gain", "high", 1.0, 10.0)
    assert st.ranges["motor_gain"][1] == pytest.approx(1.25 / 0.8)  # one step = configured log width
    st.record("motor_gain", "low", 1.0, 10.0)
    st.record("motor_gain", "low", 1.0, 10.0)
    st.record("motor_gain", "low", 1.0, 10.0)
    assert st.ranges["motor_gain"][0] == pytest.approx(0.8 / 1.25)


def test_narrows_on_an_impossible_task_down_to_the_anchor():
    st = _state(init="range")
    assert st.ranges["mass"] == (0.8, 1.2)
    _drive(st, lambda n, v: 0.0, 3000)
    assert st.ranges == {"mass": (1.0, 1.0), "gravity": (9.8, 9.8), "motor_gain": (1.0, 1.0)}


def test_grows_exactly_where_the_task_is_easy():
    """Returns fall off with heavier mass: ADR widens mass downward freely, upward only to where it gets hard."""
    st = _state(delta=0.5)
    _drive(st, lambda n, v: 10.0 if n != "mass" or v < 1.6 else 0.0, 4000)
    lo, hi = st.ranges["mass"]
    assert lo == pytest.approx(0.01)
    assert 1.4 <= hi <= 1.8


def test_deterministic_with_a_seed():
    a, b = _state(), _state()
    _drive(a, lambda n, v: 10.0 if v < 1.3 else 0.0, 500, seed=3)
    _drive(b, lambda n, v: 10.0 if v < 1.3 else 0.0, 500, seed=3)
    assert a.to_json() == b.to_json()


def test_between_thresholds_nothing_moves_and_stale_results_are_dropped():
    st = _state()
    for _ in range(6):
        assert not st.record("mass", "high", 1.0, 5.0)
    assert st.ranges["mass"] == (1.0, 1.0) and st.buffers["mass"]["high"] == []
    assert not st.record("mass", "high", 1.7, 10.0)  # not the current boundary value
    assert st.n_results == 6


def test_json_round_trip_keeps_ranges_buffers_and_config():
    st = _state(delta=0.3)
    _drive(st, lambda n, v: 10.0 if v < 1.5 else 0.0, 300)
    st.record("gravity", "low", st.ranges["gravity"][0], 9.0)  # a partly filled buffer
    back = ADRState.from_json(ParameterSpace.from_mapping(SPACE), st.to_json())
    assert back.to_json() == st.to_json()
    assert back.config == st.config and back.buffers == st.buffers
    with pytest.raises(SimtransferError, match="malformed"):
        ADRState.from_json(ParameterSpace.from_mapping(SPACE), "{not json")
    with pytest.raises(SimtransferError, match="controls"):
        _state().load_state_dict({"ranges": {"mass": [1, 1]}})


@pytest.mark.parametrize("bad, match", [
    ({"threshold_low": 5, "threshold_high": 5}, "must be below"),
    ({"threshold_high": 5}, "threshold_low: required"),
    ({"threshold_low": 0, "threshold_high": 5, "boundary_prob": 2}, "boundary_prob"),
    ({"threshold_low": 0, "threshold_high": 5, "typo": 1}, "typo"),
    ({"threshold_low": 0.5, "threshold_high": 0.9, "thresholds": "relative", "boundary_prob": 0.9}, "<= 1"),
    ({"threshold_low": 0.5, "threshold_high": 0.9, "thresholds": "ratio"}, "thresholds"),
    ({"threshold_low": 0.5, "threshold_high": 0.9, "reference_size": 0}, "reference_size"),
])
def test_bad_config_is_one_line_error(bad, match):
    with pytest.raises(SimtransferError, match=match):
        parse_adr_config(bad)


def test_bad_parameter_selection():
    space = ParameterSpace.from_mapping(SPACE)
    cfg = {"threshold_low": 0, "threshold_high": 1}
    with pytest.raises(SimtransferError, match="unknown parameter 'friction'"):
        ADRState(space, {**cfg, "params": ["friction"]})
    with pytest.raises(SimtransferError, match="categorical"):
        ADRState(space, {**cfg, "params": ["restitution"]})
    with pytest.raises(SimtransferError, match="deltas name"):
        ADRState(space, {**cfg, "params": ["mass"], "deltas": {"gravity": 0.1}})
    assert isinstance(parse_adr_config(ADRConfig(**cfg)), ADRConfig)


# relative thresholds -----------------------------------------------------------------------------------------

def _relative(**cfg) -> ADRState:
    return _state(thresholds="relative", threshold_low=0.5, threshold_high=0.9, reference_size=4,
                  boundary_prob=0.5, reference_prob=0.25, **cfg)


def _drive_with_reference(state: ADRState, ret_fn, usual: float, episodes: int, seed: int = 0) -> None:
    """Like _drive; reference episodes (every ADR parameter at its anchor) return ``usual``."""
    rng = np.random.default_rng(seed)
    for _ in range(episodes):
        values, pinned = state.sample(rng)
        if pinned == ("", "none"):
            assert (values["mass"], values["gravity"], values["motor_gain"]) == (1.0, 9.8, 1.0)
            state.record("", "none", 0.0, usual)
        elif pinned is not None:
            state.record(pinned[0], pinned[1], values[pinned[0]], ret_fn(pinned[0], values[pinned[0]]))


def test_relative_thresholds_wait_for_a_reference_then_scale_with_it():
    st = _relative()
    for _ in range(3):
        st.record("mass", "high", 1.0, 100.0)
    assert st.thresholds() is None and st.ranges["mass"] == (1.0, 1.0)  # no reference: no decision
    assert st.buffers["mass"]["high"] == []
    for ret in (10.0, 10.0, 10.0, 10.0, 20.0):  # the last 4 count: mean 12.5
        assert not st.record("", "none", 0.0, ret)
    assert st.reference_return() == pytest.approx(12.5)
    assert st.thresholds() == pytest.approx((6.25, 11.25))
    for _ in range(3):
        st.record("mass", "high", 1.0, 11.0)  # 0.88 of the reference: between the thresholds
    assert st.ranges["mass"] == (1.0, 1.0)
    for _ in range(3):
        st.record("mass", "high", 1.0, 11.5)
    assert st.ranges["mass"][1] > 1.0
    base = _relative(baseline=-10.0)
    for _ in range(4):
        base.record("", "none", 0.0, 10.0)
    assert base.thresholds() == pytest.approx((0.0, 8.0))  # fractions of the span above the baseline
    below = _relative(baseline=20.0)
    for _ in range(4):
        below.record("", "none", 0.0, 10.0)
    assert below.thresholds() is None  # not better than the baseline yet
    warm = _relative(min_reference=12.0)
    for _ in range(4):
        warm.record("", "none", 0.0, 10.0)
    assert warm.thresholds() is None  # the policy has not learned the nominal task yet
    for _ in range(3):
        warm.record("", "none", 0.0, 14.0)
    assert warm.reference_return() == pytest.approx(13.0) and warm.thresholds() == pytest.approx((6.5, 11.7))


def test_relative_widens_while_the_policy_keeps_its_return_and_narrows_where_it_does_not():
    """Return 10 everywhere except heavy mass (above 1.6): 2. Widening stops at the mass where the boundary
    return falls under 0.9 of the usual 10; the same policy at a usual return of 100 widens nothing."""
    st = _relative(delta=0.5)
    _drive_with_reference(st, lambda n, v: 10.0 if n != "mass" or v < 1.6 else 2.0, 10.0, 6000)
    assert 1.4 <= st.ranges["mass"][1] <= 1.8 and st.ranges["gravity"][1] > 12.0
    strict = _relative(delta=0.5, init="range")
    _drive_with_reference(strict, lambda n, v: 10.0, 100.0, 3000)
    assert strict.ranges == {"mass": (1.0, 1.0), "gravity": (9.8, 9.8), "motor_gain": (1.0, 1.0)}
    a, b = _relative(), _relative()
    _drive_with_reference(a, lambda n, v: 10.0 if v < 1.3 else 0.0, 10.0, 500, seed=3)
    _drive_with_reference(b, lambda n, v: 10.0 if v < 1.3 else 0.0, 10.0, 500, seed=3)
    assert a.to_json() == b.to_json()


def test_relative_reference_survives_the_json_round_trip():
    st = _relative()
    for ret in (1.0, 2.0, 3.0):
        st.record("", "none", 0.0, ret)
    back = ADRState.from_json(ParameterSpace.from_mapping(SPACE), st.to_json())
    assert back.reference == [1.0, 2.0, 3.0] and back.config.thresholds == "relative"
    back.record("", "none", 0.0, 4.0)
    assert back.reference_return() == pytest.approx(2.5)


# the wrapper on a real PyBullet env ------------------------------------------------------------------------

def _adr_env(max_steps: int = 15, **cfg) -> gym.Env:
    base = {"params": ["mass", "gravity", "motor_gain"], "threshold_low": 5.0, "threshold_high": 12.0,
            "buffer_size": 2, "boundary_prob": 1.0, "delta": 0.5}
    return ADRRandomization(gym.make("simtransfer/InvertedPendulum-v0", max_episode_steps=max_steps),
                            **{**base, **cfg})


def _episode(env: gym.Env, seed: int | None = None) -> tuple[dict, dict]:
    _, info0 = env.reset(seed=seed)
    done, info = False, {}
    while not done:
        _, _, term, trunc, info = env.step(np.zeros(1, dtype=np.float32))
        done = term or trunc
    return info0, info


def test_wrapper_pins_a_boundary_and_reports_it_at_episode_end():
    env = _adr_env()
    env.set_adr_ranges({"mass": (0.5, 1.5)})
    info0, info = _episode(env, seed=0)
    res = info["adr"]
    assert res["param"] in ("mass", "gravity", "motor_gain") and res["side"] in ("low", "high")
    assert info0["params"][res["param"]] == res["value"]
    assert res["return"] == pytest.approx(15.0)  # zero action keeps the pole up for 15 steps
    if res["param"] == "mass":
        assert res["value"] == (0.5 if res["side"] == "low" else 1.5)
    assert info0["adr_ranges"]["mass"] == (0.5, 1.5)
    env.close()


def test_wrapper_runs_reference_episodes_at_the_anchor_with_relative_thresholds():
    rel = _adr_env(thresholds="relative", threshold_low=0.5, threshold_high=0.9, boundary_prob=0.0,
                   reference_prob=1.0)
    rel.set_adr_ranges({"mass": (0.5, 1.5), "gravity": (5.0, 12.0)})
    info0, info = _episode(rel, seed=0)
    assert dict(info["adr"]) == {"param": "", "side": "none", "value": 0.0, "return": pytest.approx(15.0)}
    assert (info0["params"]["mass"], info0["params"]["gravity"], info0["params"]["motor_gain"]) == (1.0, 9.8, 1.0)
    rel.close()
    absolute = _adr_env(boundary_prob=0.0)
    _, info = _episode(absolute, seed=0)
    assert "adr" not in info
    absolute.close()


def test_wrapper_needs_a_training_randomizer():
    with pytest.raises(SimtransferError, match="split 'extrap'"):
        ADRRandomization(gym.make("simtransfer/InvertedPendulumExtrap-v0"), threshold_low=0, threshold_high=1)
    with pytest.raises(SimtransferError, match="physics randomizer"):
        ADRRandomization(gym.make("InvertedPendulumBulletEnv-v0"), threshold_low=0, threshold_high=1)


def _run_zero_policy(cfg: dict, steps: int = 600):
    """Two DummyVecEnv workers of ``_adr_env(**cfg)`` driven by the zero action, one ADRController; returns it
    after checking that both workers hold the shared ranges."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    from simtransfer.agents.adr_callback import ADRController

    venv = DummyVecEnv([lambda: _adr_env(**cfg), lambda: _adr_env(**cfg)])
    venv.seed(0)
    venv.reset()
    ctl = ADRController(venv)
    for _ in range(steps):
        _, _, dones, infos = venv.step(np.zeros((2, 1), dtype=np.float32))
        ctl.process(infos, dones)
    ranges = venv.env_method("get_adr_ranges")
    assert ranges[0] == ranges[1] == ctl.state.ranges  # workers got the shared ranges
    venv.close()
    return ctl


def test_real_env_easy_widens_impossible_narrows():
    """A fixed (zero-action) policy on the real Bullet pendulum, episodes cut at 15 steps (return 15)."""
    easy = _run_zero_policy({}).state
    assert easy.n_updates >= 10
    assert easy.ranges["mass"][1] > 1.3 and easy.ranges["gravity"][0] < 9.0
    hard = _run_zero_policy({"init": "range", "threshold_low": 1000.0, "threshold_high": 2000.0}).state
    assert hard.ranges["mass"] == (1.0, 1.0) and hard.ranges["gravity"] == (9.8, 9.8)
    assert math.isclose(hard.ranges["motor_gain"][0], 1.0)


def test_adr_result_is_read_only_and_cheap_to_copy():
    import copy
    import pickle

    from simtransfer.envs.adr import ADRResult

    res = ADRResult("mass", "low", 0.5, 12.0)
    assert dict(res) == {"param": "mass", "side": "low", "value": 0.5, "return": 12.0}
    assert copy.deepcopy(res) is res and copy.copy(res) is res  # DummyVecEnv deep-copies infos every step
    assert pickle.loads(pickle.dumps(res)) == res  # subprocess workers send it to the main process
    with pytest.raises(AttributeError):
        res.value = 1.0
    with pytest.raises(TypeError):
        res["value"] = 1.0


def test_real_env_relative_thresholds_through_the_controller():
    """Reference episodes from the workers form the reference; the zero-action policy returns 15 everywhere
    (episodes cut at 15 steps), so every boundary keeps its reference return and widens."""
    ctl = _run_zero_policy({"thresholds": "relative", "threshold_low": 0.5, "threshold_high": 0.9,
                            "boundary_prob": 0.5, "reference_size": 4})
    assert ctl.state.reference_return() == pytest.approx(15.0)
    assert ctl.state.n_updates >= 5 and ctl.state.ranges["mass"][1] > 1.0
    assert ctl.log_values()["adr/reference_return"] == pytest.approx(15.0)
