"""Progressive networks: frozen columns stay bit-identical, laterals learn, save/load, chains, maps, CNN."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pybullet_envs_gymnasium  # noqa: F401  (registers the Bullet envs)
import pytest
import torch
from safetensors.torch import load_file, save_file
from stable_baselines3 import PPO, SAC, TD3

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.spec import import_object
from simtransfer.transfer.progressive import (
    ProgressiveCnn,
    ProgressiveTower,
    load_source_columns,
    progressive_policy_spec,
)

ENV = "InvertedPendulumBulletEnv-v0"
ALGOS = {"ppo": PPO, "sac": SAC, "td3": TD3}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Two torch threads on a shared 2-core machine make SAC ~10x slower; restore afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


SMALL = {
    "ppo": {"n_steps": 128, "batch_size": 64, "n_epochs": 2},
    "sac": {"learning_starts": 64, "batch_size": 32},
    "td3": {"learning_starts": 64, "batch_size": 32},
}


def save_run(run_dir: Path, model, algo: str, policy: dict | None = None) -> Path:
    """A source run as the training pipeline writes it: policy.safetensors + metadata.json."""
    run_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone().contiguous() for k, v in model.policy.state_dict().items()}
    save_file(state, str(run_dir / "policy.safetensors"))
    cls = type(model.policy)
    meta = {"algo": algo, "policy": {"policy_class": f"{cls.__module__}:{cls.__qualname__}", **(policy or {})}}
    (run_dir / "metadata.json").write_text(json.dumps(meta))
    return run_dir


def plain_source(tmp_path: Path, algo: str, env_id: str = ENV, name: str = "src", arch=None, seed: int = 0) -> Path:
    env = gym.make(env_id)
    arch = arch or ([16, 16] if algo == "ppo" else [32, 32])
    model = ALGOS[algo]("MlpPolicy", env, policy_kwargs={"net_arch": arch}, seed=seed, **SMALL[algo])
    return save_run(tmp_path / name, model, algo, {"net_arch": arch})


def progressive_model(algo: str, runs: list[Path], env, seed: int = 0, **options):
    path, kwargs = progressive_policy_spec(runs, env.observation_space, env.action_space, algo, **options)
    kwargs = json.loads(json.dumps(kwargs))  # what the pipeline records and rebuilds from
    model = ALGOS[algo](import_object(path), env, policy_kwargs=kwargs, seed=seed, **SMALL[algo])
    load_source_columns(model, runs)
    return model, path, kwargs


def frozen(policy) -> dict[str, torch.Tensor]:
    """Every tensor of a frozen column (all columns but the last) and of the source heads."""
    n = len(policy.columns)
    pat = re.compile(r"(.*\.columns\.([0-9]+)\.|source_heads\.)")
    out = {}
    for name, t in policy.state_dict().items():
        m = pat.match(name)
        if m and (m.group(2) is None or int(m.group(2)) < n):
            out[name] = t.clone()
    return out


@pytest.mark.parametrize("algo", ["ppo", "sac", "td3"])
def test_source_columns_bit_identical_after_training(tmp_path, algo):
    run = plain_source(tmp_path, algo)
    env = gym.make(ENV)
    model, _, _ = progressive_model(algo, [run], env, net_arch=[8, 8])
    src = load_file(str(run / "policy.safetensors"))
    first_src = {"ppo": "mlp_extractor.policy_net.0.weight", "sac": "actor.latent_pi.0.weight", "td3": "actor.mu.0.weight"}[algo]
    first_ours = next(k for k in model.policy.state_dict() if ".columns.0.layers.0.weight" in k)
    assert torch.equal(model.policy.state_dict()[first_ours], src[first_src])
    before = frozen(model.policy)
    trainable_before = {n: p.detach().clone() for n, p in model.policy.named_parameters()}
    assert before and all(not t.requires_grad for t in before.values())
    model.learn(256)
    after = model.policy.state_dict()
    assert all(torch.equal(before[n], after[n]) for n in before), "a source column changed"
    assert any(not torch.equal(trainable_before[n], p) for n, p in model.policy.named_parameters())
    frozen_ptrs = {t.data_ptr() for n, t in model.policy.state_dict().items() if n in before}
    optimizers = [model.policy.optimizer] if algo == "ppo" else [model.actor.optimizer, model.critic.optimizer]
    for opt in optimizers:
        for group in opt.param_groups:
            assert all(p.requires_grad and p.data_ptr() not in frozen_ptrs for p in group["params"])


def test_gradients_reach_lateral_adapters_and_alpha(tmp_path):
    run = plain_source(tmp_path, "ppo")
    env = gym.make(ENV)
    model, _, _ = progressive_model("ppo", [run], env, alpha_init=0.5)
    obs = torch.as_tensor(np.random.default_rng(0).normal(size=(16, 5)), dtype=torch.float32)
    values, log_prob, _ = model.policy.evaluate_actions(obs, torch.zeros(16, 1))
    (values.sum() + log_prob.sum()).backward()
    lateral = {n: p for n, p in model.policy.named_parameters() if ".laterals." in n or ".head." in n}
    pre = "mlp_extractor.policy_tower.columns.1."
    for key in ("laterals.1.alpha", "laterals.1.reduce.weight", "laterals.1.project.weight", "head.alpha"):
        assert pre + key in lateral, key
    for name, p in lateral.items():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_forward_matches_hand_computation():
    rng = np.random.default_rng(1)
    tower = ProgressiveTower(2, [{"arch": [3, 3]}, {"arch": [2, 2]}], alpha_init=0.3)
    params = {n: rng.normal(size=t.shape).astype(np.float32) for n, t in tower.state_dict().items() if "alpha" not in n}
    with torch.no_grad():
        for name, t in tower.state_dict().items():
            if name in params:
                t.copy_(torch.from_numpy(params[name]))
    p = params
    x = rng.normal(size=(4, 2)).astype(np.float32)
    a1 = np.tanh(x @ p["columns.0.layers.0.weight"].T + p["columns.0.layers.0.bias"])
    a2 = np.tanh(a1 @ p["columns.0.layers.1.weight"].T + p["columns.0.layers.1.bias"])
    h1 = np.tanh(x @ p["columns.1.layers.0.weight"].T + p["columns.1.layers.0.bias"])
    lat = np.tanh((0.3 * a1) @ p["columns.1.laterals.1.reduce.weight"].T + p["columns.1.laterals.1.reduce.bias"])
    h2 = np.tanh(
        h1 @ p["columns.1.layers.1.weight"].T + p["columns.1.layers.1.bias"] + lat @ p["columns.1.laterals.1.project.weight"].T
    )
    head = np.tanh((0.3 * a2) @ p["columns.1.head.reduce.weight"].T + p["columns.1.head.reduce.bias"])
    expected = np.concatenate([h2, head], axis=1)
    got = tower(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_save_rebuild_load_acts_identically(tmp_path, algo):
    run = plain_source(tmp_path, algo)
    env = gym.make(ENV)
    model, path, kwargs = progressive_model(algo, [run], env, net_arch=[8])
    model.learn(96)
    out = save_run(tmp_path / "target", model, algo, {"kwargs": kwargs})
    rebuilt = ALGOS[algo](import_object(path), env, policy_kwargs=json.loads(json.dumps(kwargs)), seed=7, **SMALL[algo])
    rebuilt.policy.load_state_dict(load_file(str(out / "policy.safetensors")))
    obs = np.random.default_rng(2).normal(size=(8, 5)).astype(np.float32)
    a, _ = model.predict(obs, deterministic=True)
    b, _ = rebuilt.predict(obs, deterministic=True)
    np.testing.assert_array_equal(a, b)
    assert torch.equal(model.policy.source_column_forward(0, obs), rebuilt.policy.source_column_forward(0, obs))


def test_source_column_forward_is_the_source_policy(tmp_path):
    run = plain_source(tmp_path, "ppo")
    env = gym.make(ENV)
    source = PPO("MlpPolicy", env, policy_kwargs={"net_arch": [16, 16]}, seed=0)
    source.policy.load_state_dict(load_file(str(run / "policy.safetensors")))
    model, _, _ = progressive_model("ppo", [run], env)
    obs = torch.as_tensor(np.random.default_rng(3).normal(size=(8, 5)), dtype=torch.float32)
    with torch.no_grad():
        expected = source.policy._predict(obs, deterministic=True)
    assert torch.equal(model.policy.source_column_forward(0, obs), expected)


def test_chain_of_two_sources(tmp_path):
    env = gym.make(ENV)
    run_a = plain_source(tmp_path, "ppo", name="a")
    model_b, path, kwargs_b = progressive_model("ppo", [run_a], env, net_arch=[12, 12])
    model_b.learn(128)
    run_b = save_run(tmp_path / "b", model_b, "ppo", {"net_arch": [12, 12], "activation_fn": "tanh", "kwargs": kwargs_b})
    model_c, _, kwargs_c = progressive_model("ppo", [run_b], env, net_arch=[8, 8])
    cols = model_c.policy.columns
    assert len(cols) == 2 and cols[0]["lateral_from"] == [] and cols[1]["lateral_from"] == [0]
    assert "laterals" in dict(model_c.policy.mlp_extractor.policy_tower.columns[1].named_children())
    obs = torch.as_tensor(np.random.default_rng(4).normal(size=(8, 5)), dtype=torch.float32)
    with torch.no_grad():
        b_action = model_b.policy._predict(obs, deterministic=True)
    assert torch.equal(model_c.policy.source_column_forward(1, obs), b_action)
    assert torch.equal(model_c.policy.source_column_forward(0, obs), model_b.policy.source_column_forward(0, obs))
    before = frozen(model_c.policy)
    model_c.learn(128)
    assert all(torch.equal(t, model_c.policy.state_dict()[n]) for n, t in before.items())
    # two independent sources: both feed the new column, neither feeds the other
    run_x = plain_source(tmp_path, "ppo", name="x", seed=1)
    model_d, _, _ = progressive_model("ppo", [run_a, run_x], env)
    assert [c["lateral_from"] for c in model_d.policy.columns] == [[], []]
    assert model_d.policy.mlp_extractor.policy_tower.columns[2].laterals["1"].alpha.shape == (2,)


def test_different_observation_space_through_index_map(tmp_path):
    run = plain_source(tmp_path, "ppo", env_id="Pendulum-v1")  # 3-dim observations, 1-dim actions
    env = gym.make(ENV)  # 5-dim observations
    with pytest.raises(SimtransferError, match="index map"):
        progressive_policy_spec([run], env.observation_space, env.action_space, "ppo")
    with pytest.raises(SimtransferError, match="outside"):
        progressive_policy_spec([run], env.observation_space, env.action_space, "ppo", obs_index_maps=[[0, 9, -1]])
    model, _, kwargs = progressive_model("ppo", [run], env, obs_index_maps=[[0, 2, -1]])
    assert kwargs["columns"][0]["obs_index_map"] == [0, 2, -1]
    x = torch.arange(10, dtype=torch.float32).reshape(2, 5)
    mapped = model.policy.mlp_extractor.policy_tower.maps[0](x)
    assert mapped.tolist() == [[0.0, 2.0, 0.0], [5.0, 7.0, 0.0]]
    source = PPO("MlpPolicy", gym.make("Pendulum-v1"), policy_kwargs={"net_arch": [16, 16]}, seed=0)
    source.policy.load_state_dict(load_file(str(run / "policy.safetensors")))
    own = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model.policy.source_column_forward(0, own), source.policy._predict(own, deterministic=True))
    model.learn(128)


def test_bad_sources_are_one_line_errors(tmp_path):
    env = gym.make(ENV)
    run = plain_source(tmp_path, "ppo")
    with pytest.raises(SimtransferError, match="same-family"):
        progressive_policy_spec([run], env.observation_space, env.action_space, "sac")
    with pytest.raises(SimtransferError, match="no policy.safetensors"):
        progressive_policy_spec([tmp_path / "missing"], env.observation_space, env.action_space, "ppo")
    with pytest.raises(SimtransferError, match="at least one source"):
        progressive_policy_spec([], env.observation_space, env.action_space, "ppo")
    model, _, _ = progressive_model("ppo", [run], env)
    other = plain_source(tmp_path, "ppo", name="wide", arch=[32, 32])
    with pytest.raises(SimtransferError, match="shape"):
        load_source_columns(model, [other])


def test_cnn_columns_forward_backward_small_images():
    torch.manual_seed(0)
    small = [[4, 3, 2], [8, 3, 1]]
    cols = [{"conv_arch": small, "features_dim": 16}, {"conv_arch": small, "features_dim": 16}]
    net = ProgressiveCnn((3, 16, 16), cols, alpha_init=0.1, adapter_width=4)
    x = torch.rand(5, 3, 16, 16)
    out = net(x)
    assert out.shape == (5, 16 + 4)
    out.pow(2).sum().backward()
    grads = {n: p.grad for n, p in net.named_parameters()}
    assert all(n.startswith("columns.1.") for n in grads)
    for key in ("laterals.1.alpha", "laterals.2.alpha", "laterals.1.project.weight", "head.alpha"):
        assert grads[f"columns.1.{key}"].abs().sum() > 0, key
    assert not any(t.requires_grad for n, t in net.state_dict().items() if n.startswith("columns.0."))


class TinyImageEnv(gym.Env):
    """36x36 RGB observations (the smallest NatureCNN input), reward for matching the image's brightness."""

    observation_space = gym.spaces.Box(0, 255, (36, 36, 3), np.uint8)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._obs(), {}

    def _obs(self):
        self._level = float(self.np_random.uniform())
        return np.full((36, 36, 3), int(self._level * 255), np.uint8)

    def step(self, action):
        self._t += 1
        reward = -abs(float(action[0]) - self._level)
        return self._obs(), reward, False, self._t >= 16, {}


def test_cnn_progressive_ppo_from_sb3_cnn_source(tmp_path):
    env = TinyImageEnv()
    source = PPO("CnnPolicy", env, n_steps=32, batch_size=32, n_epochs=1, seed=0, policy_kwargs={"features_extractor_kwargs": {"features_dim": 32}})
    run = save_run(tmp_path / "cnn", source, "ppo")
    path, kwargs = progressive_policy_spec([run], env.observation_space, env.action_space, "ppo", features_dim=16)
    kwargs = json.loads(json.dumps(kwargs))
    model = PPO(import_object(path), env, policy_kwargs=kwargs, n_steps=32, batch_size=32, n_epochs=1, seed=0)
    load_source_columns(model, [run])
    obs = np.stack([env.reset(seed=i)[0] for i in range(4)])
    with torch.no_grad():
        expected = source.policy._predict(source.policy.obs_to_tensor(obs)[0], deterministic=True)
    assert torch.equal(model.policy.source_column_forward(0, model.policy.obs_to_tensor(obs)[0]), expected)
    before = frozen(model.policy)
    model.learn(64)
    assert all(torch.equal(t, model.policy.state_dict()[n]) for n, t in before.items())


def test_progressive_method_through_the_pipeline_and_a_chain(tmp_path):
    from simtransfer.agents.policy_io import load_policy
    from simtransfer.experiments.config import resolve_train_config
    from simtransfer.experiments.train import train
    from simtransfer.transfer.api import transfer

    raw = {"env": ENV, "algo": "ppo", "seed": 0, "checkpoint_every": 0, "progress": False, "total_timesteps": 64,
           "eval": {"every": 0, "episodes": 1}, "tracking": {"mode": "disabled"},
           "hyperparams": {"n_steps": 64, "batch_size": 32, "n_epochs": 1}, "policy": {"net_arch": [16, 16]}}
    train(resolve_train_config(raw, use_defaults=False), tmp_path / "a")
    res = transfer(tmp_path / "a", ENV, "progressive", out_dir=tmp_path / "b", timesteps=64, seed=1, quiet=True,
                   options={"alpha_init": 0.05})
    report = json.loads((res.run_dir / "transfer_report.json").read_text())
    assert report["loaded"] and set(report["frozen"]) == set(report["loaded"])
    b = load_policy(res.run_dir)  # rebuilt from config + metadata, weights from safetensors
    assert type(b.model.policy).__name__ == "ProgressiveActorCriticPolicy"
    src = load_file(str(tmp_path / "a" / "policy.safetensors"))
    ours = b.model.policy.state_dict()
    assert torch.equal(ours["mlp_extractor.policy_tower.columns.0.layers.1.weight"], src["mlp_extractor.policy_net.2.weight"])
    assert torch.equal(ours["source_heads.0.action_net.weight"], src["action_net.weight"])
    chain = transfer(res.run_dir, ENV, "progressive", out_dir=tmp_path / "c", timesteps=64, seed=2, quiet=True)
    c = load_policy(chain.run_dir)
    assert [col["lateral_from"] for col in c.model.policy.columns] == [[], [0]]
    obs = torch.as_tensor(np.random.default_rng(5).normal(size=(4, 5)), dtype=torch.float32)
    with torch.no_grad():
        b_action = b.model.policy._predict(obs, deterministic=True)
    assert torch.equal(c.model.policy.source_column_forward(1, obs), b_action)


def test_progressive_method_sac_through_the_pipeline(tmp_path):
    from simtransfer.agents.policy_io import load_policy
    from simtransfer.experiments.config import resolve_train_config
    from simtransfer.experiments.train import train
    from simtransfer.transfer.api import transfer

    raw = {"env": ENV, "algo": "sac", "seed": 0, "checkpoint_every": 0, "progress": False, "total_timesteps": 48,
           "eval": {"every": 0, "episodes": 1}, "tracking": {"mode": "disabled"},
           "hyperparams": {"learning_starts": 32, "batch_size": 16, "buffer_size": 500}, "policy": {"net_arch": [16, 16]}}
    train(resolve_train_config(raw, use_defaults=False), tmp_path / "a")
    res = transfer(tmp_path / "a", ENV, "progressive", out_dir=tmp_path / "b", timesteps=48, seed=1, quiet=True)
    b = load_policy(res.run_dir)
    assert type(b.model.policy).__name__ == "ProgressiveSACPolicy"
    src = load_file(str(tmp_path / "a" / "policy.safetensors"))
    ours = b.model.policy.state_dict()
    for prefix in ("critic", "critic_target"):
        assert torch.equal(ours[f"{prefix}.qf1.0.columns.0.layers.0.weight"], src["critic.qf1.0.weight"])
    obs = np.random.default_rng(6).normal(size=(3, 5)).astype(np.float32)
    a, _ = b.model.predict(obs, deterministic=True)
    assert a.shape == (3, 1) and np.all(np.abs(a) <= 1.0)


def test_progressive_to_other_observations_names_the_adapter(tmp_path):
    """Like finetune's space check, progressive's error names the preset (``--adapter``) that bridges the spaces."""
    from simtransfer.experiments.config import resolve_train_config
    from simtransfer.experiments.train import train
    from simtransfer.transfer.api import transfer

    raw = {"env": ENV, "algo": "ppo", "seed": 0, "checkpoint_every": 0, "progress": False, "total_timesteps": 64,
           "eval": {"every": 0, "episodes": 1, "train": False}, "tracking": {"mode": "disabled"},
           "hyperparams": {"n_steps": 64, "batch_size": 32, "n_epochs": 1}, "policy": {"net_arch": [16, 16]}}
    train(resolve_train_config(raw, use_defaults=False), tmp_path / "a")
    with pytest.raises(SimtransferError, match=r"spaces differ: source InvertedPendulumBulletEnv-v0 has observation "
                                               r"Box\(5,\), target InvertedDoublePendulumBulletEnv-v0 has observation "
                                               r"Box\(9,\) .*use --adapter invpendulum_to_invdoublependulum") as info:
        transfer(tmp_path / "a", "InvertedDoublePendulumBulletEnv-v0", "progressive", out_dir=tmp_path / "b",
                 timesteps=64, quiet=True)
    assert "\n" not in str(info.value) and not (tmp_path / "b").exists()
