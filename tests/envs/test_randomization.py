"""The generic PyBullet randomizer really changes the physics, survives resets and is reproducible."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pybullet_envs_gymnasium  # noqa: F401
import pytest

from simtransfer import envs  # noqa: F401
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.randomization import PhysicsRandomizer, apply_randomization

ALL = {
    "mass": {"low": 0.5, "high": 2.0},
    "lateral_friction": {"low": 0.3, "high": 0.6},
    "spinning_friction": {"low": 0.01, "high": 0.05},
    "rolling_friction": {"low": 0.01, "high": 0.05},
    "restitution": {"low": 0.1, "high": 0.9},
    "joint_damping": {"low": 0.1, "high": 0.5},
    "gravity": {"low": 5.0, "high": 15.0},
    "motor_gain": {"low": 1.5, "high": 2.0},
}


def randomized(base: str, params: dict | None = None, **extra) -> PhysicsRandomizer:
    return PhysicsRandomizer(gym.make(base).unwrapped, {"params": params or ALL, **extra})


def readback(env: PhysicsRandomizer) -> list[tuple[str, tuple]]:
    p, b = env.unwrapped._p, env.binding
    return [(li.name, p.getDynamicsInfo(li.body, li.link)) for li in b.links]


@pytest.mark.parametrize("base", ["HopperBulletEnv-v0", "InvertedPendulumBulletEnv-v0", "AntBulletEnv-v0"])
def test_parameters_are_written_and_survive_reset(base: str) -> None:
    env = randomized(base)
    for seed in (0, None, None):  # the second and third reset restore the env's saved state
        _, info = env.reset(seed=seed)
        v = info["params"]
        p = env.unwrapped._p
        checked = 0
        for li, (_, d) in zip(env.binding.links, readback(env)):
            if li.native["mass"] > 0 and li.body in env.unwrapped.robot.objects:
                assert d[0] == pytest.approx(li.native["mass"] * v["mass"], rel=1e-5)
                assert np.allclose(d[2], np.array(li.inertia) * v["mass"], rtol=1e-4)
                assert d[1] == pytest.approx(li.native["lateral_friction"] * v["lateral_friction"], rel=1e-5)
                assert d[5] == pytest.approx(v["restitution"], rel=1e-5)
                assert d[6] == pytest.approx(v["rolling_friction"], rel=1e-5)
                assert d[7] == pytest.approx(v["spinning_friction"], rel=1e-5)
                checked += 1
        assert checked >= 2
        assert p.getPhysicsEngineParameters()["gravityAccelerationZ"] == pytest.approx(-v["gravity"])
        assert env.unwrapped.scene.cpp_world.gravity == pytest.approx(v["gravity"])
        assert all(c.gain == v["motor_gain"] for c in env.binding.joints.values())
        env.step(env.action_space.sample())
    env.close()


def test_per_link_selection_changes_only_that_link() -> None:
    env = randomized("HopperBulletEnv-v0", {"mass@foot": {"low": 2.0, "high": 3.0},
                                            "lateral_friction": {"low": 0.2, "high": 0.3, "links": ["floor"]}})
    _, info = env.reset(seed=1)
    for li, (name, d) in zip(env.binding.links, readback(env)):
        if name == "foot":
            assert d[0] == pytest.approx(li.native["mass"] * info["params"]["mass@foot"], rel=1e-5)
        elif name == "floor":
            assert d[1] == pytest.approx(0.8 * info["params"]["lateral_friction"], rel=1e-5)
        else:
            assert d[0] == pytest.approx(li.native["mass"]) and d[1] == pytest.approx(li.native["lateral_friction"])
    env.close()


def test_specific_selection_overrides_general() -> None:
    env = randomized("HopperBulletEnv-v0", {"mass@torso": {"low": 3.0, "high": 4.0}, "mass": {"low": 0.5, "high": 0.6}})
    _, info = env.reset(seed=0)
    masses = {name: d[0] for name, d in readback(env)}
    native = {li.name: li.native["mass"] for li in env.binding.links}
    assert masses["torso"] == pytest.approx(native["torso"] * info["params"]["mass@torso"], rel=1e-5)
    assert masses["thigh"] == pytest.approx(native["thigh"] * info["params"]["mass"], rel=1e-5)
    env.close()


def _cart_speed(params: dict, seed: int = 3, steps: int = 5) -> float:
    env = randomized("InvertedPendulumBulletEnv-v0", params)
    env.reset(seed=seed)
    for _ in range(steps):
        obs, *_ = env.step(np.array([1.0], dtype=np.float32))
    env.close()
    return float(obs[1])


def test_motor_gain_above_one_applies_more_torque() -> None:
    # the env clips actions to +-1, so only a torque-side gain can make the cart accelerate faster
    v1 = _cart_speed({"motor_gain": {"dist": "categorical", "choices": [1.0]}})
    v2 = _cart_speed({"motor_gain": {"dist": "categorical", "choices": [2.0]}})
    assert v2 == pytest.approx(2 * v1, rel=0.05)


def test_joint_damping_slows_joints() -> None:
    free = _cart_speed({"joint_damping": {"dist": "categorical", "choices": [0.0]}}, steps=20)
    damped = _cart_speed({"joint_damping": {"dist": "categorical", "choices": [20.0]}}, steps=20)
    assert damped < 0.9 * free


def test_heavier_pendulum_falls_the_same_but_gravity_matters() -> None:
    def pole_speed(g: float) -> float:
        env = randomized("InvertedPendulumBulletEnv-v0", {"gravity": {"dist": "categorical", "choices": [g]}})
        env.reset(seed=5)
        for _ in range(10):
            obs, *_ = env.step(np.zeros(1, dtype=np.float32))
        env.close()
        return abs(float(obs[4]))

    assert pole_speed(20.0) > 1.5 * pole_speed(5.0)


def test_same_seed_same_params_and_trajectory_different_seed_differs() -> None:
    def rollout(seed: int) -> tuple[list, np.ndarray]:
        env = gym.make("simtransfer/Hopper-v0")
        env.action_space.seed(seed)
        params, obs = [], []
        for ep in range(2):
            o, info = env.reset(seed=seed if ep == 0 else None)
            params.append(info["params"])
            for _ in range(15):
                o, *_ = env.step(env.action_space.sample())
                obs.append(o)
        env.close()
        return params, np.array(obs)

    pa, oa = rollout(0)
    pb, ob = rollout(0)
    pc, oc = rollout(1)
    assert pa == pb and np.array_equal(oa, ob)
    assert pa[0] != pa[1]  # a new sample every episode
    assert pa != pc and not np.array_equal(oa, oc)


def test_nominal_split_writes_nothing() -> None:
    env = randomized("HopperBulletEnv-v0", split="nominal")
    _, info = env.reset(seed=0)
    assert info["params"] == env.space.nominal() and info["context_id"] == 0
    for li, (_, d) in zip(env.binding.links, readback(env)):
        assert d[0] == li.native["mass"] and d[1] == li.native["lateral_friction"] and d[5] == li.native["restitution"]
    assert env.unwrapped._p.getPhysicsEngineParameters()["gravityAccelerationZ"] == pytest.approx(-9.8)
    env.close()


def test_resample_every_n_steps() -> None:
    env = randomized("InvertedPendulumBulletEnv-v0", {"mass": {"low": 0.5, "high": 2.0}}, resample_every=3)
    _, info = env.reset(seed=0)
    seen = [info["params"]["mass"]]
    for t in range(1, 7):
        _, _, term, trunc, info = env.step(np.zeros(1, dtype=np.float32))
        assert ("params" in info) == (t % 3 == 0)
        if "params" in info:
            seen.append(info["params"]["mass"])
            cart = next(li for li in env.binding.links if li.name == "cart")
            assert env.unwrapped._p.getDynamicsInfo(cart.body, cart.link)[0] == pytest.approx(
                cart.native["mass"] * seen[-1], rel=1e-5)
    assert len(set(seen)) == 3
    env.close()


def test_held_out_ids_are_fixed_sets_and_split_seed_changes_them() -> None:
    def first(env_id: str, n: int = 3, **kw) -> list[dict]:
        env = gym.make(env_id, **kw)
        out = [env.reset(seed=0 if i == 0 else None)[1]["params"] for i in range(n)]
        env.close()
        return out

    a = first("simtransfer/InvertedPendulumExtrap-v0")
    assert a == first("simtransfer/InvertedPendulumExtrap-v0")
    assert a != first("simtransfer/InvertedPendulumExtrap-v0", split_seed=1)
    assert first("simtransfer/InvertedPendulumInterp-v0", n=1) != first("simtransfer/InvertedPendulumExtrap-v0", n=1)


def test_context_in_obs_extends_box() -> None:
    env = gym.make("simtransfer/InvertedPendulum-v0", context_in_obs=True)
    obs, info = env.reset(seed=0)
    assert env.observation_space.shape == (5 + len(info["params"]),)
    assert np.allclose(obs[5:], list(info["params"].values()))
    assert env.observation_space.contains(obs)
    env.close()


def test_bad_link_pattern_and_non_bullet_env() -> None:
    env = randomized("HopperBulletEnv-v0", {"mass@wing": {"low": 1.0, "high": 2.0}})
    with pytest.raises(SimtransferError, match="no name matches"):
        env.reset(seed=0)
    env.close()
    plain = apply_randomization(gym.make("CartPole-v1"), {"params": {"mass": {"low": 1.0, "high": 2.0}}})
    with pytest.raises(SimtransferError, match="no PyBullet client"):
        plain.reset(seed=0)
