"""Space adapters: shapes, field maps against the raw Bullet observation, learned projection saved/loaded."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pybullet_envs_gymnasium  # noqa: F401
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO, SAC

from simtransfer.envs.errors import SimtransferError
from simtransfer.transfer.adapters import (
    PRESETS,
    ActionIndexMap,
    LinearObsProjection,
    ObsIndexMap,
    adapter_config,
    get_preset,
    projection_index,
    suggest_preset,
)
from tests.checkers import check_env_strict


class _Recorder(gym.Env):
    """Records the last action; observation = arange(n)."""

    def __init__(self, n_obs: int = 9, n_act: int = 6) -> None:
        self.observation_space = spaces.Box(-10, 10, (n_obs,), np.float32)
        self.action_space = spaces.Box(-1, 1, (n_act,), np.float32)
        self.last: np.ndarray | None = None

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.arange(self.observation_space.shape[0], dtype=np.float32), {}

    def step(self, action):
        self.last = np.asarray(action)
        return np.arange(self.observation_space.shape[0], dtype=np.float32), 0.0, False, False, {}


def test_presets_are_consistent_with_the_bullet_envs():
    for p in PRESETS.values():
        src, tgt = gym.make(p.source), gym.make(p.target)
        assert len(p.source_obs_fields) == len(p.obs_index) == src.observation_space.shape[0]
        assert len(p.target_obs_fields) == tgt.observation_space.shape[0]
        for i, j in enumerate(p.obs_index):  # the mapped fields carry the same name
            assert j is None or p.source_obs_fields[i] == p.target_obs_fields[j]
        assert len(p.action_index) == tgt.action_space.shape[0]
        src.close()
        tgt.close()


def test_pendulum_to_double_obs_map_reads_the_right_fields():
    raw = gym.make("InvertedDoublePendulumBulletEnv-v0")
    env = ObsIndexMap(gym.make("InvertedDoublePendulumBulletEnv-v0"), preset="invpendulum_to_invdoublependulum")
    assert env.observation_space.shape == (5,)
    o_raw, _ = raw.reset(seed=3)
    o, _ = env.reset(seed=3)
    np.testing.assert_allclose(o, o_raw[[0, 1, 3, 4, 5]], rtol=1e-6)  # x, vx, cos θ, sin θ, θ̇
    a = np.array([0.3], dtype=np.float32)
    np.testing.assert_allclose(env.step(a)[0], raw.step(a)[0][[0, 1, 3, 4, 5]], rtol=1e-5, atol=1e-6)
    check_env_strict(env, allow=["wrapped", "unbounded_obs"], sb3=False)


def test_hopper_to_walker_shapes_and_mirrored_actions():
    env = ActionIndexMap(ObsIndexMap(_Recorder(22, 6), preset="hopper_to_walker2d"), preset="hopper_to_walker2d")
    assert env.observation_space.shape == (15,)
    assert env.action_space.shape == (3,)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, list(range(14)) + [20])  # 8 torso fields, right-leg joints, right contact
    env.step(np.array([0.1, -0.2, 0.3], dtype=np.float32))
    np.testing.assert_allclose(env.unwrapped.last, [0.1, -0.2, 0.3, 0.1, -0.2, 0.3], rtol=1e-6)
    walker = ActionIndexMap(ObsIndexMap(gym.make("Walker2DBulletEnv-v0"), preset="hopper_to_walker2d"),
                            preset="hopper_to_walker2d")
    check_env_strict(walker, allow=["wrapped", "unbounded_obs"], sb3=False)


def test_action_scale_zero_fill_and_clip():
    env = ActionIndexMap(_Recorder(3, 3), index=[0, None, 1], scale=[2.0, 1.0, 0.5], fill=0.25)
    assert env.action_space.shape == (2,)
    env.reset()
    env.step(np.array([0.4, 1.0]))
    np.testing.assert_allclose(env.unwrapped.last, [0.8, 0.25, 0.5])
    env.step(np.array([0.9, -1.0]))
    np.testing.assert_allclose(env.unwrapped.last, [1.0, 0.25, -0.5])  # clipped to the env's bounds


def test_obs_padding_and_bad_index():
    env = ObsIndexMap(_Recorder(4, 1), index=[3, None, 0])
    obs, _ = env.reset()
    np.testing.assert_array_equal(obs, [3.0, 0.0, 0.0])
    with pytest.raises(SimtransferError, match="out of range"):
        ObsIndexMap(_Recorder(4, 1), index=[7])
    with pytest.raises(SimtransferError, match="unknown adapter preset"):
        get_preset("nope")


def test_learned_projection_starts_as_the_index_map_and_is_saved(tmp_path):
    from simtransfer.agents.policy_io import read_weights, save_weights

    env = gym.make("InvertedDoublePendulumBulletEnv-v0")
    kwargs = {"features_extractor_class": LinearObsProjection,
              "features_extractor_kwargs": {"preset": "invpendulum_to_invdoublependulum"}}
    model = PPO("MlpPolicy", env, device="cpu", seed=0, n_steps=64, batch_size=32, n_epochs=1, policy_kwargs=kwargs)
    assert projection_index(model) == [0, 1, 3, 4, 5]
    obs, _ = env.reset(seed=0)
    feats = model.policy.extract_features(torch.as_tensor(obs[None]), model.policy.features_extractor)
    np.testing.assert_allclose(feats.detach().numpy()[0], obs[[0, 1, 3, 4, 5]], rtol=1e-6)
    assert "features_extractor.proj.weight" in model.policy.state_dict()
    assert model.policy.mlp_extractor.policy_net[0].weight.shape == (64, 5)  # the source's first layer fits
    model.learn(64)
    w = model.policy.features_extractor.proj.weight.detach().clone()
    assert model.policy.features_extractor.proj.weight.requires_grad
    assert not torch.equal(w[:, [0, 1, 3, 4, 5]], torch.eye(5))  # it trained with the policy
    # saved in the policy's state dict and restored into a fresh model
    save_weights(tmp_path / "policy.safetensors", model)
    fresh = PPO("MlpPolicy", env, device="cpu", seed=5, policy_kwargs=kwargs)
    fresh.policy.load_state_dict(read_weights(tmp_path / "policy.safetensors")[0])
    assert torch.equal(fresh.policy.features_extractor.proj.weight, w)


def test_learned_projection_in_sac():
    kwargs = {"features_extractor_class": LinearObsProjection, "features_extractor_kwargs": {"index": [0, 1, 3, 4, 5]}}
    sac = SAC("MlpPolicy", gym.make("InvertedDoublePendulumBulletEnv-v0"), device="cpu", buffer_size=100,
              policy_kwargs=kwargs)
    assert sac.policy.actor.latent_pi[0].weight.shape[1] == 5
    assert sac.policy.critic.qf0[0].weight.shape[1] == 6  # 5 projected features + 1 action


def test_adapter_config_and_suggestions():
    wrappers, policy = adapter_config("hopper_to_walker2d", "index")
    assert [w["type"] for w in wrappers] == ["simtransfer.transfer.adapters:ObsIndexMap", "simtransfer.transfer.adapters:ActionIndexMap"]
    assert policy == {}
    wrappers, policy = adapter_config("invpendulum_to_invdoublependulum", "learned")
    assert wrappers == [] and policy["features_extractor_class"].endswith("LinearObsProjection")
    assert suggest_preset("simtransfer/Hopper-v0", "Walker2DBulletEnv-v0") == "hopper_to_walker2d"
    assert suggest_preset("simtransfer/InvertedPendulum-v0", "simtransfer/InvertedDoublePendulumNominal-v0") == \
        "invpendulum_to_invdoublependulum"
    assert suggest_preset("CartPole-v1", "Walker2DBulletEnv-v0") is None


def test_preset_goes_inside_the_sources_own_adapters():
    """target env -> preset (source layout) -> source's history adapter: the history sees source-layout obs."""
    from simtransfer.experiments.config import resolve_train_config
    from simtransfer.transfer.adapters import configure_adapters

    history = {"type": "simtransfer.envs.history:HistoryObservation", "kwargs": {"k": 2}}
    cfg = resolve_train_config({"env": {"id": "simtransfer/InvertedDoublePendulumNominal-v0"}, "algo": "ppo",
                                "adapters": [history]}, source="test", use_defaults=False)
    out = configure_adapters(cfg, "invpendulum_to_invdoublependulum")
    types = [a.type for a in out.adapters]
    assert types[-1] == "simtransfer.envs.history:HistoryObservation"
    assert types[0] == "simtransfer.transfer.adapters:ObsIndexMap"
    from simtransfer.agents.vecenv import make_single_env

    env = make_single_env(out.env, out.adapters, seed=0)
    assert env.observation_space.shape == (2 * (5 + 1),)  # 2 x (pendulum obs 5 + action 1)
    env.close()
