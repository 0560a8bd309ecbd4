"""Related-game targets: LunarLander physics variants with action adapters, BipedalWalker Hardcore."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.registration import load_env_creator

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.games import (
    DISCRETE_TO_CONTINUOUS,
    LUNAR_VARIANTS,
    ContinuousToDiscreteAction,
    DiscreteToContinuousAction,
    game_ids,
    make_lunar_lander,
    register_game_envs,
)
from tests.checkers import check_env_strict

pytest.importorskip("Box2D")
pytest.importorskip("pygame")
register_game_envs()


@pytest.mark.parametrize("env_id", game_ids())
def test_every_game_target_passes_check_env(env_id: str) -> None:
    spec = gym.spec(env_id)
    env = load_env_creator(spec.entry_point)(**spec.kwargs)  # our stack: GameParams(adapter(game))
    check_env_strict(env, allow=["wrapped"], sb3=False)  # we check the wrapper stack on purpose
    env.close()


@pytest.mark.parametrize("variant", LUNAR_VARIANTS)
def test_variants_keep_the_source_spaces_and_report_params(variant: str) -> None:
    discrete = gym.make(f"simtransfer/LunarLander{variant}-v0")
    continuous = gym.make(f"simtransfer/LunarLanderContinuous{variant}-v0")
    assert discrete.observation_space == gym.make("LunarLander-v3").observation_space
    assert discrete.action_space == gym.spaces.Discrete(4)
    assert continuous.action_space == gym.make("LunarLanderContinuous-v3").action_space
    _, info = continuous.reset(seed=0)
    assert info["params"]["gravity"] == LUNAR_VARIANTS[variant]["gravity"]
    assert info["params"]["continuous"] == 1.0
    lander = continuous.unwrapped
    assert lander.gravity == LUNAR_VARIANTS[variant]["gravity"]
    assert lander.enable_wind == LUNAR_VARIANTS[variant]["enable_wind"]
    assert lander.world.gravity[1] == pytest.approx(LUNAR_VARIANTS[variant]["gravity"])


def test_discrete_policy_on_continuous_engines_is_the_same_game() -> None:
    """Same seed, discrete actions vs their continuous equivalents: identical trajectories and rewards."""
    discrete = gym.make("simtransfer/LunarLanderWind-v0")
    adapted = gym.make("simtransfer/LunarLanderContinuousWind-v0", action_space="discrete")
    assert adapted.action_space == discrete.action_space
    obs_d, _ = discrete.reset(seed=7)
    obs_a, _ = adapted.reset(seed=7)
    rng = np.random.default_rng(0)
    for _ in range(120):
        action = int(rng.integers(4))
        obs_d, r_d, term_d, trunc_d, _ = discrete.step(action)
        obs_a, r_a, term_a, trunc_a, _ = adapted.step(action)
        np.testing.assert_allclose(obs_a, obs_d, atol=1e-6)
        assert r_a == pytest.approx(r_d) and term_a == term_d
        if term_d:
            break


def test_continuous_to_discrete_rules() -> None:
    env = ContinuousToDiscreteAction(gym.make("LunarLander-v3"))
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    cases = {(-0.5, 0.0): 0, (0.5, 0.0): 2, (-1.0, -0.7): 1, (-1.0, 0.7): 3, (0.9, 0.6): 2, (0.1, -0.9): 1,
             (0.0, 0.5): 0, (3.0, 0.0): 2}
    for action, expected in cases.items():
        assert env.action(np.array(action)) == expected, action
    # round trip: every discrete action survives discrete -> continuous -> discrete
    assert [env.action(a) for a in DISCRETE_TO_CONTINUOUS] == [0, 1, 2, 3]


def test_continuous_policy_runs_on_discrete_variant() -> None:
    env = gym.make("simtransfer/LunarLanderHighGravity-v0", action_space="continuous", max_episode_steps=300)
    env.action_space.seed(0)
    env.reset(seed=0)
    for _ in range(300):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        if terminated or truncated:
            break
    assert terminated or truncated
    assert info["params"]["gravity"] == -11.5


def test_bipedal_walker_hardcore_matches_source_spaces() -> None:
    target, source = gym.make("simtransfer/BipedalWalkerHardcore-v0"), gym.make("BipedalWalker-v3")
    assert target.observation_space == source.observation_space
    assert target.action_space == source.action_space
    _, info = target.reset(seed=0)
    assert target.unwrapped.hardcore and info["params"] == {"hardcore": 1.0}
    obs, *_ = target.step(target.action_space.sample())
    assert target.observation_space.contains(obs)


def test_bad_input_raises_one_line_errors() -> None:
    with pytest.raises(SimtransferError, match="gravity must be in"):
        make_lunar_lander(gravity=-20.0)
    with pytest.raises(SimtransferError, match="unknown LunarLander parameter"):
        make_lunar_lander(moon=True)
    with pytest.raises(SimtransferError, match="action_space must be"):
        make_lunar_lander(action_space="both")
    with pytest.raises(SimtransferError, match="needs a Box"):
        DiscreteToContinuousAction(gym.make("LunarLander-v3"))
    assert register_game_envs() == register_game_envs() == game_ids()


# ------------------------------------------------------------------ randomized LunarLander (LunarLanderBinding)
LUNAR_SPEC = {"params": {
    "gravity": {"low": 8.0, "high": 11.5, "nominal": 10.0, "valid_low": 1.0, "valid_high": 11.9,
                "extrap_low": 4.0, "extrap_high": 11.5},
    "wind_power": {"low": 0.0, "high": 15.0, "extrap_high": 25.0},
    "turbulence_power": {"low": 0.0, "high": 1.5, "extrap_high": 2.5}}}


def _randomized_lander(spec: dict, env_id: str = "simtransfer/LunarLanderNominal-v0") -> gym.Env:
    from simtransfer.envs.randomization import apply_randomization

    return apply_randomization(gym.make(env_id), spec)


def test_randomized_lander_applies_params_from_the_first_episode() -> None:
    env = _randomized_lander(LUNAR_SPEC)
    seen = []
    for seed in range(6):
        _, info = env.reset(seed=seed)
        p, game = info["params"], env.unwrapped
        assert 8.0 <= p["gravity"] <= 11.5 and 0.0 <= p["wind_power"] <= 15.0
        assert game.world.gravity[1] == pytest.approx(-p["gravity"])  # the world the episode runs in
        assert game.enable_wind == (p["wind_power"] > 0.0) and game.wind_power == p["wind_power"]
        assert game.turbulence_power == p["turbulence_power"]
        _, _, _, _, step_info = env.step(0)
        assert step_info["params"]["gravity"] == pytest.approx(-p["gravity"])  # the game's keyword: negative
        assert step_info["params"]["wind_power"] == p["wind_power"]
        seen.append(p["gravity"])
    assert len(set(seen)) == 6
    env.close()


def test_wind_changes_the_trajectory() -> None:
    def final_x(wind: float) -> float:
        spec = {"params": {"wind_power": {"low": wind, "high": wind + 1e-6}}}
        env = _randomized_lander(spec)
        obs, _ = env.reset(seed=0)
        for _ in range(60):
            obs, *_ = env.step(0)
        env.close()
        return float(obs[0])

    calm, windy = final_x(0.0), final_x(20.0)
    assert abs(calm - windy) > 0.01


def test_lander_extrap_split_leaves_the_training_ranges() -> None:
    env = _randomized_lander({**LUNAR_SPEC, "split": "extrap", "n_targets": 8})
    env.reset(seed=0)
    outside = 0
    for _ in range(8):
        p = env.reset()[1]["params"]
        outside += not (8.0 <= p["gravity"] <= 11.5 and p["wind_power"] <= 15.0 and p["turbulence_power"] <= 1.5)
    assert outside == 8
    env.close()


def test_lander_adr_pins_boundaries_within_the_game_limits() -> None:
    from simtransfer.envs.adr import ADRRandomization

    env = ADRRandomization(_randomized_lander(LUNAR_SPEC), init="range", boundary_prob=1.0,
                           threshold_low=-1e9, threshold_high=-1e8)  # every result widens
    assert env.adr_param_space.by_name["gravity"].valid == (1.0, 11.9)
    for _ in range(40):
        env.reset()
        _, _, _, _, info = env.step(0)
        param, side, value = info["adr"]["param"], info["adr"]["side"], info["adr"]["value"]
        assert param in ("gravity", "wind_power", "turbulence_power") and side in ("low", "high")
        assert env.unwrapped.world.gravity[1] <= -1.0 and env.unwrapped.world.gravity[1] >= -11.9
        assert value == pytest.approx(env.randomizer.current_params[param])
    env.close()


@pytest.mark.parametrize("params,match", [
    ({"mass": {"low": 0.5, "high": 1.5}}, "supports gravity, wind_power, turbulence_power"),
    ({"gravity": {"low": 8.0, "high": 11.0}}, "gravity below 12; set valid_high"),
    ({"wind_power": {"low": 0.0, "high": 50.0}}, "outside the valid bounds"),
])
def test_lander_randomization_errors_are_one_line(params: dict, match: str) -> None:
    with pytest.raises(SimtransferError, match=match):
        _randomized_lander({"params": params})


def test_lander_randomization_from_the_shipped_preset_and_config() -> None:
    from simtransfer.envs.spec import make_env
    from simtransfer.experiments.config import load_train_config

    cfg = load_train_config("experiments/configs/lunar_lander_adr.yaml", [], seed=0)
    env = make_env(cfg.env)
    _, info = env.reset(seed=0)
    assert set(info["adr_ranges"]) == {"gravity", "wind_power", "turbulence_power"}
    assert info["adr_ranges"]["gravity"] == (8.0, 11.5)
    env.close()


@pytest.mark.parametrize("env_id", ["simtransfer/BipedalWalkerHardcore-v0", "simtransfer/LunarLanderContinuousWind-v0"])
def test_game_targets_pass_stable_baselines3_env_checker(env_id: str) -> None:
    """SB3's checker is stricter than Gymnasium's: the reward must be a Python float (BipedalWalker's is not)."""
    env = gym.make(env_id)
    check_env_strict(env, allow=["wrapped"])
    _, reward, *_ = env.step(env.action_space.sample())
    assert type(reward) is float
    env.close()
