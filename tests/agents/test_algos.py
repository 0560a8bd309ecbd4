"""Every algorithm trains from config, saves safetensors weights and is rebuilt identically by load_policy."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from simtransfer.agents.algos import (
    block_name,
    linear_schedule,
    policy_kwargs_from_config,
    resolve_hyperparams,
)
from simtransfer.agents.policy_io import load_policy
from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.train import train
from tests.agents.runs import tiny_config

ALGOS = ["ppo", "a2c", "dqn", "sac", "td3", "recurrent_ppo"]


@pytest.mark.parametrize("algo", ALGOS)
def test_train_and_reload_every_algorithm(tmp_path, algo):
    result = train(tiny_config(algo), tmp_path / "run")
    run = result.run_dir
    for name in ("config.yaml", "policy.safetensors", "metadata.json", "model.zip", "progress.csv", "eval.json"):
        assert (run / name).is_file(), name
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["algo"] == algo
    assert meta["network"]["params"] and meta["network"]["blocks"]
    loaded = load_policy(run)
    assert type(loaded.model) is type(result_model_class(algo))
    trained = {k: v for k, v in loaded.model.policy.state_dict().items()}
    assert set(trained) == set(meta["network"]["params"])
    for k, shape in meta["network"]["params"].items():
        assert list(trained[k].shape) == shape
    obs = loaded.observation_space.sample()
    a1, _ = loaded.predict(obs)
    a2, _ = loaded.predict(obs)
    assert np.array_equal(a1, a2)


def result_model_class(algo: str):
    from simtransfer.agents.algos import algorithm_class

    return object.__new__(algorithm_class(algo))


def test_loaded_weights_equal_trained_weights(tmp_path):
    seen = {}

    def keep(model, vec_env):
        seen["model"] = model

    train(tiny_config("ppo"), tmp_path / "run", prepare_model=keep)
    loaded = load_policy(tmp_path / "run")
    for k, v in seen["model"].policy.state_dict().items():
        assert torch.equal(v, loaded.model.policy.state_dict()[k]), k


def test_policy_kwargs_by_name_and_dotted_path():
    kw = policy_kwargs_from_config({"net_arch": [8], "activation_fn": "relu",
                                    "features_extractor_class": "stable_baselines3.common.torch_layers:FlattenExtractor",
                                    "kwargs": {"ortho_init": False}})
    assert kw["activation_fn"] is torch.nn.ReLU and kw["ortho_init"] is False and kw["net_arch"] == [8]
    assert kw["features_extractor_class"].__name__ == "FlattenExtractor"
    assert policy_kwargs_from_config({"activation_fn": "torch.nn:GELU"})["activation_fn"] is torch.nn.GELU
    with pytest.raises(SimtransferError, match="nosuch"):
        policy_kwargs_from_config({"activation_fn": "torch.nn:nosuch"})


def test_hyperparam_resolution():
    hp = resolve_hyperparams({"learning_rate": "lin_0.001", "train_freq": [1, "episode"], "gamma": 0.9})
    assert hp["learning_rate"](0.5) == pytest.approx(0.0005) and hp["train_freq"] == (1, "episode")
    assert linear_schedule(2.0)(0.25) == 0.5
    with pytest.raises(SimtransferError, match="hyperparams.learning_rate"):
        resolve_hyperparams({"learning_rate": "fast"})


def test_linear_schedule_never_goes_negative_when_the_budget_is_not_a_multiple_of_the_rollout():
    """SB3 sets the rate after each rollout from ``1 - steps / budget``: 100 steps of 64-step rollouts end at 128,
    where an unclamped schedule gave -2.8e-4 — the last update climbed the loss (issue 19, reacher keep bench)."""
    from stable_baselines3 import PPO

    lr = resolve_hyperparams({"learning_rate": "lin_0.001"})["learning_rate"]
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=32, n_epochs=1, learning_rate=lr, seed=0,
                policy_kwargs={"net_arch": [8]})
    model.learn(total_timesteps=100)
    assert model.num_timesteps == 128
    assert model.policy.optimizer.param_groups[0]["lr"] == 0.0
    assert linear_schedule(0.2)(-0.5) == 0.0 and linear_schedule(0.2)(1.0) == pytest.approx(0.2)


def test_block_names():
    assert block_name("mlp_extractor.policy_net.0.weight") == "mlp_extractor.policy_net"
    assert block_name("actor.latent_pi.2.bias") == "actor.latent_pi"
    assert block_name("critic.qf0.0.weight") == "critic.qf0"
    assert block_name("log_std") == "log_std"
    assert block_name("lstm_actor.weight_ih_l0") == "lstm_actor"


def test_dqn_rejects_continuous_actions(tmp_path):
    cfg = tiny_config("dqn", env="Pendulum-v1")
    with pytest.raises(SimtransferError, match="Discrete action space"):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()
