"""Weights + metadata round trips: custom policy classes, VecNormalize statistics, spaces, corruption."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gymnasium import spaces
from safetensors.numpy import load_file
from stable_baselines3.common.policies import ActorCriticPolicy

from simtransfer.agents.policy_io import (
    load_policy,
    read_weights,
    space_from_json,
    space_to_json,
    spaces_compatible,
)
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.trust import trusting
from simtransfer.experiments.train import train
from tests.agents.runs import tiny_config


class TaggedPolicy(ActorCriticPolicy):
    """A custom policy class plugged in by dotted path (as progressive nets do)."""

    def __init__(self, *args, tag: str = "none", **kwargs):
        self.tag = tag
        super().__init__(*args, **kwargs)


def test_custom_policy_class_is_rebuilt_with_its_kwargs(tmp_path):
    cfg = tiny_config("ppo", policy={"policy_class": "tests.agents.test_policy_io:TaggedPolicy",
                                     "kwargs": {"tag": "column-2"}, "activation_fn": "relu"})
    with trusting("tests.agents"):  # code outside simtransfer runs only from trusted modules
        train(cfg, tmp_path / "run")
        loaded = load_policy(tmp_path / "run")
    with pytest.raises(SimtransferError, match="--trust tests.agents.test_policy_io"):
        load_policy(tmp_path / "run")
    assert type(loaded.model.policy).__name__ == "TaggedPolicy" and loaded.model.policy.tag == "column-2"
    meta = json.loads((tmp_path / "run" / "metadata.json").read_text())
    assert meta["network"]["policy_class"] == "tests.agents.test_policy_io:TaggedPolicy"
    assert meta["policy"]["kwargs"] == {"tag": "column-2"}


def test_vecnormalize_statistics_travel_with_the_policy(tmp_path):
    seen = {}
    train(tiny_config("ppo", normalize=True), tmp_path / "run",
          prepare_model=lambda model, venv: seen.update(venv=venv))
    arrays = load_file(str(tmp_path / "run" / "policy.safetensors"))
    vn_keys = sorted(k for k in arrays if k.startswith("vecnormalize."))
    assert "vecnormalize.obs_rms.mean" in vn_keys and "vecnormalize.ret_rms.var" in vn_keys
    loaded = load_policy(tmp_path / "run")
    venv = seen["venv"]
    np.testing.assert_allclose(loaded.obs_rms.mean, venv.obs_rms.mean)
    np.testing.assert_allclose(loaded.obs_rms.var, venv.obs_rms.var)
    assert loaded.obs_rms.count == venv.obs_rms.count and loaded.ret_rms.count == venv.ret_rms.count
    obs = np.array([0.1, 0.2, -0.1, 0.3], dtype=np.float32)
    expected = np.clip((obs - venv.obs_rms.mean) / np.sqrt(venv.obs_rms.var + venv.epsilon), -10, 10)
    np.testing.assert_allclose(loaded.normalizer(obs), expected, rtol=1e-5)
    from stable_baselines3.common.vec_env import VecNormalize

    fresh = VecNormalize(venv.venv)
    loaded.apply_normalization(fresh)
    np.testing.assert_allclose(fresh.normalize_obs(obs), expected, rtol=1e-5)
    meta = json.loads((tmp_path / "run" / "metadata.json").read_text())
    assert meta["normalization"]["enabled"] and meta["normalization"]["vecnormalize"]["clip_obs"] == 10.0


def test_spaces_round_trip_through_json():
    box = spaces.Box(low=np.array([-1.0, -np.inf], dtype=np.float32), high=np.array([1.0, np.inf], dtype=np.float32))
    for space in (box, spaces.Discrete(3), spaces.MultiDiscrete([2, 3]), spaces.Dict({"a": box})):
        back = space_from_json(json.loads(json.dumps(space_to_json(space))))
        assert back == space
    assert not spaces_compatible(spaces.Box(-1, 1, (4,)), spaces.Box(-1, 1, (5,)))
    assert spaces_compatible(spaces.Box(-1, 1, (4,)), spaces.Box(-2, 2, (4,)))
    assert not spaces_compatible(spaces.Discrete(2), spaces.Box(-1, 1, (1,)))
    assert not spaces_compatible(spaces.Box(-1, 1, (4,)), spaces.Box(-2, 2, (4,)), bounds=True)  # action ranges
    assert not spaces_compatible(spaces.Box(-1, 1, (4,)), spaces.Box(-0.5, 0.5, (4,)), bounds=True)
    assert spaces_compatible(spaces.Box(-1, 1, (4,)), spaces.Box(-1, 1, (4,)), bounds=True)


def test_channel_last_images_match_the_transposed_policy_space():
    """SB3 feeds a CnnPolicy channel-first images (VecTransposeImage): (H, W, C) envs fit a (C, H, W) policy."""
    from simtransfer.agents.policy_io import describe_space

    env_space = spaces.Box(0, 255, (24, 32, 6), np.uint8)
    policy_space = spaces.Box(0, 255, (6, 24, 32), np.uint8)
    assert spaces_compatible(policy_space, env_space)
    assert spaces_compatible(env_space, env_space)
    assert not spaces_compatible(policy_space, spaces.Box(0, 255, (24, 32, 3), np.uint8))
    assert not spaces_compatible(spaces.Box(-1, 1, (6, 24, 32)), spaces.Box(-1, 1, (24, 32, 6)))  # not images
    assert describe_space(spaces.Box(-2, 2, (1,)), bounds=True) == "Box(1,) in [-2, 2]"
    assert describe_space(spaces.Box(np.array([-1, 0]), np.array([1, 2])), True) == "Box(2,) in [[-1, 0], [1, 2]]"


def test_truncated_and_modified_weights_are_one_line_errors(tmp_path):
    train(tiny_config("ppo"), tmp_path / "run")
    weights = tmp_path / "run" / "policy.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(SimtransferError, match="corrupt"):
        load_policy(tmp_path / "run")
    with pytest.raises(SimtransferError, match="corrupt or truncated"):
        read_weights(weights)
    flipped = bytearray(data)
    flipped[-5] ^= 0xFF
    weights.write_bytes(bytes(flipped))
    with pytest.raises(SimtransferError, match="sha256"):
        load_policy(tmp_path / "run")


def test_missing_run_is_an_error(tmp_path):
    with pytest.raises(SimtransferError, match="not found"):
        load_policy(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    with pytest.raises(SimtransferError, match="not a finished run"):
        load_policy(tmp_path / "half")
