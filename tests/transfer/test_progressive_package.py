"""The progressive package as a component: no global state on import or use, the opt-in speed-ups match the
plain path, run files store registered short names, and runs written with the old dotted paths still load."""

from __future__ import annotations

import copy
import inspect
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np
import pybullet_envs_gymnasium  # noqa: F401  (registers the Bullet envs)
import pytest
import torch
import yaml
from safetensors.torch import save_file
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from simtransfer.agents.policy_io import space_to_json
from simtransfer.envs.components import COMPONENTS, LEGACY_PATHS, registered_path, short_name
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.trust import import_object, resolve_component
from simtransfer.transfer.progressive import (
    POLICY_CLASSES,
    FrozenRowCache,
    IndexedRolloutBuffer,
    ProgressiveActorCriticPolicy,
)
from simtransfer.transfer.progressive._cache import tensor_versions
from tests.transfer.test_progressive import ENV, SMALL, plain_source, progressive_model

# what the package could leave behind in torch/SB3/the process: torch's global hook tables, the classes it
# subclasses (monkey-patches), thread-locals in its modules
GLOBAL_STATE = textwrap.dedent("""
    import json, sys, threading
    import torch.nn.modules.module as M
    from stable_baselines3.common import buffers, policies
    from torch import nn

    def snapshot():
        hooks = {k: len(v) for k, v in vars(M).items() if k.startswith("_global") and isinstance(v, dict)}
        classes = {c.__name__: {k: id(v) for k, v in vars(c).items()}
                   for c in (nn.Module, buffers.RolloutBuffer, policies.ActorCriticPolicy, torch.Tensor)}
        return {"hooks": hooks, "classes": classes}

    import torch
    before = snapshot()
    import simtransfer.transfer.progressive as pkg
    after_import = snapshot()
    locals_ = [f"{m}.{k}" for m, mod in sys.modules.items() if m.startswith("simtransfer.transfer.progressive")
               for k, v in vars(mod).items() if isinstance(v, threading.local)]
    {use}
    print(json.dumps({"before": before, "after_import": after_import, "after_use": snapshot(), "locals": locals_}))
""")

USE_FAST_MODEL = textwrap.dedent("""
    import gymnasium as gym, pybullet_envs_gymnasium
    from tests.transfer.test_progressive import plain_source, progressive_model
    import pathlib, tempfile
    run = plain_source(pathlib.Path(tempfile.mkdtemp()), "ppo")
    model, _, _ = progressive_model("ppo", [run], gym.make("InvertedPendulumBulletEnv-v0"), net_arch=[8], fast=True)
    model.learn(128)
""")


def test_importing_and_using_the_package_leaves_no_global_state():
    root = Path(__file__).resolve().parents[2]
    code = GLOBAL_STATE.replace("{use}", USE_FAST_MODEL)
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=240,
                         env={"WANDB_MODE": "disabled", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["before"]["hooks"] and all(n == 0 for n in res["before"]["hooks"].values())
    assert res["after_import"] == res["before"]  # no torch hooks, no patched torch/SB3 classes
    assert res["after_use"] == res["before"]  # ... nor after training a model with every speed-up on
    assert res["locals"] == []  # no thread-local side channel


def test_fast_path_matches_the_plain_path(tmp_path, monkeypatch):
    """Same weights, fast on vs off: rollout outputs and evaluate_actions agree to 1e-6, and the fast path is
    really taken (fused rollout towers, frozen rows served from the per-rollout cache)."""
    run = plain_source(tmp_path, "ppo")
    fast, _, _ = progressive_model("ppo", [run], gym.make(ENV), seed=2, net_arch=[8], fast=True)
    plain, _, _ = progressive_model("ppo", [run], gym.make(ENV), seed=2, net_arch=[8])
    assert isinstance(fast.rollout_buffer, IndexedRolloutBuffer) and type(plain.rollout_buffer) is RolloutBuffer
    twin = copy.deepcopy(fast.policy)  # a copy is not linked to the original's buffer
    assert twin._watched is None and fast.policy._watched() is fast.rollout_buffer
    fast.learn(SMALL["ppo"]["n_steps"])  # fills the buffer (and the cache, once)
    with torch.no_grad():
        for t in [*fast.policy.parameters(), *fast.policy.buffers()]:
            if t.dtype.is_floating_point:
                t.add_(0.3 * torch.randn_like(t))  # away from init: the adapters and α matter
    plain.policy.load_state_dict(fast.policy.state_dict())
    fast.policy.set_training_mode(False)
    plain.policy.set_training_mode(False)
    obs = torch.as_tensor(np.random.default_rng(0).normal(size=(7, 5)), dtype=torch.float32)
    for batch in (obs[:1], obs):
        with torch.no_grad():
            a_fast, v_fast, _ = fast.policy.forward(batch, deterministic=True)
            a_plain, v_plain, _ = plain.policy.forward(batch, deterministic=True)
        torch.testing.assert_close(a_fast, a_plain, rtol=0, atol=1e-6)
        torch.testing.assert_close(v_fast, v_plain, rtol=0, atol=1e-6)
    assert fast.policy.mlp_extractor._fused is not None and plain.policy.mlp_extractor._fused is None

    fills = []
    fill = FrozenRowCache._fill
    monkeypatch.setattr(FrozenRowCache, "_fill", lambda self, *a: fills.append(1) or fill(self, *a))
    batch = next(fast.rollout_buffer.get(16))
    got = fast.policy.evaluate_actions(batch.observations, batch.actions)
    want = plain.policy.evaluate_actions(batch.observations, batch.actions)
    assert fills == [1]  # the frozen weights changed since the rollout: refilled once, rows served from the cache
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-6)


def test_sb3_rollout_buffer_serves_minibatches_via_get_samples():
    """The one private SB3 seam the fast path uses: ``RolloutBuffer.get`` yields ``_get_samples(rows)``.

    Checked against stable-baselines3 2.4-2.9.2; if this fails, update ``_served_minibatch`` in
    ``transfer/progressive/_cache.py``."""
    assert list(inspect.signature(RolloutBuffer._get_samples).parameters) == ["self", "batch_inds", "env"]
    space = gym.spaces.Box(-1, 1, (3,))
    buf = IndexedRolloutBuffer(8, space, gym.spaces.Box(-1, 1, (1,)), n_envs=1)
    rng = np.random.default_rng(0)
    for _ in range(8):
        buf.add(rng.normal(size=(1, 3)), rng.normal(size=(1, 1)), np.zeros(1), np.zeros(1), torch.zeros(1),
                torch.zeros(1))
    buf.compute_returns_and_advantage(torch.zeros(1), np.zeros(1))
    seen = []
    for batch in buf.get(3):
        rows = buf.rows_of(batch.observations)
        assert rows is not None
        torch.testing.assert_close(batch.observations, buf.to_torch(buf.observations[rows]))
        seen.extend(rows.tolist())
    assert sorted(seen) == list(range(8))
    assert buf.rows_of(batch.observations.clone()) is None  # only the very tensor it served


def test_tensor_versions_follow_in_place_changes():
    """``Tensor._version`` (the one private torch attribute read) is bumped by in-place ops and optimizer steps."""
    p = torch.nn.Parameter(torch.zeros(3))
    v0 = tensor_versions([p])
    with torch.no_grad():
        p.add_(1.0)
    p.grad = torch.ones(3)
    torch.optim.SGD([p], lr=0.1).step()
    assert tensor_versions([p])[0] >= v0[0] + 2


def test_registered_short_names_round_trip():
    for name, path in COMPONENTS.items():
        cls = import_object(name)
        assert f"{cls.__module__.rpartition('.')[0]}:{cls.__qualname__}" == path  # exported by the package
        assert short_name(cls) == name and short_name(path) == name and registered_path(name) == path
    assert set(POLICY_CLASSES.values()) <= set(COMPONENTS)
    for name in POLICY_CLASSES.values():
        assert resolve_component(name, BasePolicy, field="policy.policy_class") is import_object(name)
    assert resolve_component("progressive_cnn_extractor", BaseFeaturesExtractor, field="f").__name__ == "ProgressiveCnnExtractor"
    with pytest.raises(SimtransferError, match="is not a BaseFeaturesExtractor"):  # the kind check still applies
        resolve_component("progressive_sac", BaseFeaturesExtractor, field="policy.features_extractor_class")
    for old, name in LEGACY_PATHS.items():  # every old spelling: with/without simtransfer., ':' or '.'
        module, _, attr = old.partition(":")
        for spelled in (old, f"{module}.{attr}", f"simtransfer.{old}", f"simtransfer.{module}.{attr}"):
            assert resolve_component(spelled, (BasePolicy, BaseFeaturesExtractor), field="f") is import_object(name)
    assert short_name(dict) is None and registered_path("simtransfer.transfer.progressive:Nothing") is None


def test_progressive_run_files_store_the_short_name(tmp_path):
    from simtransfer.agents.policy_io import load_policy
    from simtransfer.experiments.config import resolve_train_config
    from simtransfer.experiments.train import train
    from simtransfer.transfer.api import transfer

    raw = {"env": ENV, "algo": "ppo", "seed": 0, "checkpoint_every": 0, "progress": False, "total_timesteps": 64,
           "eval": {"every": 0, "episodes": 1, "train": False}, "tracking": {"mode": "disabled"},
           "hyperparams": {"n_steps": 64, "batch_size": 32, "n_epochs": 1}, "policy": {"net_arch": [16, 16]}}
    train(resolve_train_config(raw, use_defaults=False), tmp_path / "a")
    res = transfer(tmp_path / "a", ENV, "progressive", out_dir=tmp_path / "b", timesteps=64, seed=1, quiet=True,
                   options={"fast": True})
    config = yaml.safe_load((res.run_dir / "config.yaml").read_text())
    meta = json.loads((res.run_dir / "metadata.json").read_text())
    assert config["policy"]["policy_class"] == "progressive_actor_critic"
    assert meta["policy"]["policy_class"] == meta["network"]["policy_class"] == "progressive_actor_critic"
    assert config["policy"]["kwargs"]["fast"] is True
    loaded = load_policy(res.run_dir)
    assert type(loaded.model.policy) is ProgressiveActorCriticPolicy and loaded.model.policy.fast


OLD_CONFIG = """\
env: InvertedPendulumBulletEnv-v0
algo: ppo
seed: 0
hyperparams: {{n_steps: 64, batch_size: 32, n_epochs: 1}}
policy:
  policy_class: {policy_class}
  net_arch: [8]
  activation_fn: tanh
  kwargs:
    columns:
    - {{algo: ppo, activation_fn: tanh, lateral_from: [], pi: [16, 16], vf: [16, 16], obs_dim: 5,
       action_dim: 1, action_kind: box, obs_index_map: null, origin: {{run: 0, column: null}}}}
    alpha_init: 0.01
    adapter_width: null
    head_laterals: true
"""


@pytest.mark.parametrize("policy_class", [
    "transfer.progressive_policies:ProgressiveActorCriticPolicy",  # runs from before the one import name
    "simtransfer.transfer.progressive_policies.ProgressiveActorCriticPolicy",  # runs from before the subpackage
])
def test_run_written_with_old_dotted_paths_still_loads_and_evaluates(tmp_path, policy_class):
    from simtransfer.experiments.evaluate import evaluate_run

    run = tmp_path / "old"
    run.mkdir()
    (run / "config.yaml").write_text(OLD_CONFIG.format(policy_class=policy_class))
    env = gym.make(ENV)
    (run / "metadata.json").write_text(json.dumps({
        "algo": "ppo", "observation_space": space_to_json(env.observation_space),
        "action_space": space_to_json(env.action_space),
        "policy": {"policy_class": policy_class}, "network": {"policy_class": policy_class.replace(".Prog", ":Prog")}}))
    cfg = yaml.safe_load(OLD_CONFIG.format(policy_class="progressive_actor_critic"))["policy"]
    torch.manual_seed(0)
    policy = ProgressiveActorCriticPolicy(env.observation_space, env.action_space, lambda _: 3e-4,
                                          net_arch=cfg["net_arch"], **cfg["kwargs"])
    state = {k: v.contiguous() for k, v in policy.state_dict().items()}
    assert "mlp_extractor.policy_tower.columns.0.layers.1.weight" in state and "source_heads.0.action_net.weight" in state
    save_file(state, str(run / "policy.safetensors"))
    res = evaluate_run(run, ENV, episodes=1, seed=3)
    assert res.episodes == 1 and np.isfinite(res.mean_return)
