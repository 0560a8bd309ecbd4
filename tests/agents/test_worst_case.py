"""Worst-case physics search, CVaR and the randomizer's pin seam: deterministic, within the ranges, one-line errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from simtransfer.agents.evaluation import EvalResult, cvar, summarize
from simtransfer.agents.worst_case import find_physics_randomizer, search_worst_case
from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.train import train
from tests.agents.runs import tiny_config

TARGET = "simtransfer/InvertedPendulum-v0"


@pytest.fixture(scope="module")
def pend_run(tmp_path_factory):
    """A tiny PPO policy on the Bullet pendulum: untrained enough that physics changes its return."""
    cfg = tiny_config("ppo", env=TARGET, total_timesteps=256, eval={"every": 0, "episodes": 1})
    return train(cfg, tmp_path_factory.mktemp("worst") / "run").run_dir


def test_cvar_is_the_mean_of_the_worst_ceil_alpha_n():
    assert cvar(list(range(10))) == 0.0                       # 10 episodes: the single worst
    assert cvar(list(range(25))) == pytest.approx(1.0)          # 25 episodes: worst 3 -> (0+1+2)/3
    assert cvar([5.0, 1.0, 3.0], alpha=1.0) == pytest.approx(3.0)
    assert cvar([4.0, -2.0], alpha=0.01) == -2.0                # at least one episode
    with pytest.raises(SimtransferError, match="at least one"):
        cvar([])
    with pytest.raises(SimtransferError, match=r"alpha must be in \(0, 1\]"):
        cvar([1.0], alpha=0.0)


def test_every_eval_result_carries_cvar_next_to_the_mean():
    res = summarize("t", [10.0, 2.0, 8.0, 6.0])
    assert res.cvar_10 == 2.0 and res.to_dict()["cvar_10"] == 2.0
    # rebuilt from an eval.json written before CVaR existed: filled in from the returns
    assert EvalResult("t", 2, 1.5, 0.5, returns=[1.0, 2.0]).cvar_10 == 1.0


def _rollout(env, seed, n=30):
    obs, info = env.reset(seed=seed)
    out = [obs]
    for _ in range(n):
        obs, *_ = env.step(np.array([0.3], dtype=np.float32))
        out.append(obs)
    return info, np.array(out)


def test_pin_applies_exact_physics_and_common_random_numbers():
    env = gym.make("simtransfer/InvertedPendulumNominal-v0")
    rnd = find_physics_randomizer(env, "t")
    _, native = _rollout(env, 3)
    rnd.pin({"motor_gain": 2.0, "gravity": 9.8})
    info, strong = _rollout(env, 3)
    assert info["params"]["motor_gain"] == 2.0 and info["params"]["mass"] == 1.0   # left out: nominal
    _, again = _rollout(env, 3)
    np.testing.assert_array_equal(strong, again)            # same pin, same seed: identical episode
    assert not np.allclose(strong, native)                   # the stronger motor moved the cart differently
    rnd.pin(None)                                            # back to the native physics
    _, back = _rollout(env, 3)
    np.testing.assert_allclose(back, native)
    with pytest.raises(SimtransferError, match="unknown parameter 'mass@nope'"):
        rnd.pin({"mass@nope": 1.0})
    with pytest.raises(SimtransferError, match="outside its valid bounds"):
        rnd.pin({"gravity": -1.0})
    env.close()


def test_cma_search_finds_a_worse_vector_than_nominal_and_is_deterministic(pend_run):
    ranges = {"motor_gain": [0.5, 2.0], "gravity": [8.8, 10.8]}
    res = search_worst_case(pend_run, TARGET, ranges=ranges, budget=12, episodes=2, seed=0, search_seed=1)
    again = search_worst_case(pend_run, TARGET, ranges=ranges, budget=12, episodes=2, seed=0, search_seed=1)
    assert res.to_dict() | {"wall_time_s": 0} == again.to_dict() | {"wall_time_s": 0}
    assert res.evaluations == 12 == len(res.trace)
    returns = [t["return"] for t in res.trace]
    assert res.worst_return == min(returns) and res.trace[-1]["best_return"] == min(returns)
    assert set(res.worst_params) >= set(ranges)
    for name, (lo, hi) in ranges.items():
        assert lo <= res.worst_params[name] <= hi
    assert res.worst_params["mass"] == 1.0                  # not searched: nominal
    assert res.worst_cvar_10 == min(res.worst_returns)
    # the searched physics hurt: worse than the policy at the nominal vector with the same episodes
    nominal = search_worst_case(pend_run, TARGET, ranges={"motor_gain": 1.0}, budget=1, episodes=2, seed=0)
    assert nominal.evaluations == 1 and res.worst_return < nominal.worst_return
    rnd = search_worst_case(pend_run, TARGET, ranges=ranges, budget=5, episodes=2, method="random")
    assert rnd.evaluations == 5 and rnd.method == "random"


def test_the_trace_numbers_every_evaluation_and_keeps_the_first_worst(pend_run):
    res = search_worst_case(pend_run, TARGET, ranges={"gravity": [8.8, 10.8]}, budget=7, episodes=1,
                            method="random", search_seed=2)
    assert res.target == TARGET and 0 < res.wall_time_s < 300
    assert [t["evaluation"] for t in res.trace] == list(range(1, 8))
    returns = [t["return"] for t in res.trace]
    assert [t["best_return"] for t in res.trace] == [min(returns[:i + 1]) for i in range(7)]
    # parameters this policy does not feel: every vector ties, and the first one stays the reported worst
    flat = {"rolling_friction": [0.0, 0.02], "restitution": [0.0, 0.4]}
    tied = search_worst_case(pend_run, TARGET, ranges=flat, budget=4, episodes=1, method="random", search_seed=2)
    assert len({t["return"] for t in tied.trace}) == 1
    assert {k: tied.worst_params[k] for k in flat} == tied.trace[0]["params"]
    other = search_worst_case(pend_run, TARGET, ranges=flat, budget=4, episodes=1, method="random", search_seed=3)
    assert [t["params"] for t in other.trace] != [t["params"] for t in tied.trace]  # the search seed is used


def test_method_picks_the_search(pend_run):
    """CMA-ES starts at the centre of the box (the geometric one for log-uniform motor_gain) with steps of sigma0;
    random draws ignore sigma0."""
    kwargs = {"ranges": {"motor_gain": [0.5, 2.0]}, "budget": 4, "episodes": 1, "sigma0": 1e-6}
    cma = search_worst_case(pend_run, TARGET, **kwargs)
    assert [t["params"]["motor_gain"] for t in cma.trace] == pytest.approx([1.0] * 4, abs=1e-4)
    rnd = search_worst_case(pend_run, TARGET, method="random", **kwargs)
    assert np.ptp([t["params"]["motor_gain"] for t in rnd.trace]) > 0.1


def test_defaults_are_a_cma_search_of_100_vectors_of_5_episodes(pend_run):
    """``evaluate --worst-case`` leaves method and sigma0 to these defaults."""
    nominal = search_worst_case(pend_run, TARGET, ranges={"motor_gain": 1.0})  # one vector whatever the budget
    assert (nominal.method, nominal.budget, nominal.episodes, nominal.seed, nominal.search_seed) == ("cma", 100, 5, 0, 0)
    assert len(nominal.worst_returns) == 5
    short = {"ranges": {"motor_gain": [0.5, 2.0]}, "budget": 3, "episodes": 1}
    explicit = search_worst_case(pend_run, TARGET, method="cma", sigma0=0.3, seed=0, search_seed=0, **short)
    assert search_worst_case(pend_run, TARGET, **short).trace == explicit.trace


def test_preset_ranges_cover_every_parameter(pend_run):
    res = search_worst_case(pend_run, "simtransfer/InvertedPendulumExtrap-v0", ranges="extrap", budget=3,
                            episodes=1)
    assert res.ranges["motor_gain"] == [0.5, 4.0] and res.ranges["control_period"] == [1.0, 1.0]
    assert res.evaluations == 3


def test_whole_step_parameters_are_searched_and_reported_as_whole_steps(pend_run):
    """Latency counts control steps: every candidate (and the reported worst vector) holds the value the env applies."""
    res = search_worst_case(pend_run, TARGET, ranges={"action_latency": [0.0, 3.0], "obs_latency": [0.0, 2.0]},
                            budget=6, episodes=1)
    values = [res.worst_params["action_latency"], res.worst_params["obs_latency"]]
    values += [t["params"][k] for t in res.trace for k in ("action_latency", "obs_latency")]
    assert all(float(v).is_integer() for v in values)


@pytest.mark.parametrize("kwargs,match", [
    ({"ranges": {"gravity": [0.0, 80.0]}}, r"outside the valid physics \[0, 50\]"),
    ({"ranges": {"mass": [-1.0, 1.0]}}, "outside the valid physics"),
    ({"ranges": {"wingspan": [1.0, 2.0]}}, "unknown parameter 'wingspan'"),
    ({"ranges": {"gravity": [10.0, 9.0]}}, "must not be above"),
    ({"ranges": {"gravity": "heavy"}}, "expected \\[low, high\\]"),
    ({"ranges": "nosuchsplit"}, "neither a split"),
    ({"budget": 0}, "budget must be at least 1"),
    ({"budget": True}, "budget must be at least 1"),
    ({"budget": 2.5}, "budget must be at least 1"),
    ({"episodes": 0}, "episodes must be at least 1"),
    ({"method": "grid"}, "unknown worst-case search method"),
])
def test_bad_input_is_one_line(pend_run, kwargs, match):
    with pytest.raises(SimtransferError, match=match) as info:
        search_worst_case(pend_run, TARGET, **{"budget": 2, "episodes": 1, **kwargs})
    assert "\n" not in str(info.value)


def test_target_without_physics_is_one_line(tmp_path):
    run = train(tiny_config("ppo"), tmp_path / "run").run_dir
    with pytest.raises(SimtransferError, match="no randomizable physics"):
        search_worst_case(run, "CartPole-v1", budget=2, episodes=1)
