"""Multi-task training: the ``multitask:`` block of TrainConfig, the mixed training env, per-task evaluation and
per-task heads (agents/vecenv.py, agents/train.py, agents/multitask/)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from simtransfer.agents.config import resolve_train_config
from simtransfer.agents.multitask import MultiTaskHeadsPolicy, TaskHeads
from simtransfer.agents.policy_io import load_policy
from simtransfer.agents.train import train
from simtransfer.agents.vecenv import make_training_env
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.multitask import ONEHOT
from simtransfer.experiments.cli import main as cli
from tests.agents.runs import tiny_config

TASKS = [{"id": "CartPole-v1", "name": "left"}, {"id": "CartPole-v1", "name": "mid"},
         {"id": "CartPole-v1", "name": "right"}]


def _config(**over):
    raw = {"multitask": {"tasks": TASKS, **over.pop("multitask", {})}}
    return tiny_config("ppo", env=None, **raw, **over)  # env: the first task


def test_env_is_the_first_task_and_onehot_is_added_once():
    cfg = _config(multitask={"task_id": "onehot"})
    assert cfg.env.display_name == "left"
    assert [a.type for a in cfg.adapters] == [ONEHOT]
    again = resolve_train_config(cfg.model_dump(mode="json"), use_defaults=False)  # config.yaml read back
    assert again == cfg and len(again.adapters) == 1


@pytest.mark.parametrize(("over", "message"), [
    ({"env": "Acrobot-v1"}, "env must be omitted or be the first of multitask.tasks"),
    ({"multitask": {"tasks": []}}, "at least 2 tasks"),
    ({"multitask": {"tasks": [TASKS[0], TASKS[0]]}}, "two tasks are named 'left'"),
    ({"multitask": {"mixing": "round_robin"}, "n_envs": 2}, "n_envs \\(2\\) must be at least the number of tasks"),
    ({"policy": {"policy_class": "multitask_heads"}}, "per-task heads .* need multitask.task_id: onehot"),
])
def test_bad_multitask_configs_are_one_line_errors(over, message):
    raw = {"multitask": {"tasks": TASKS, **over.pop("multitask", {})}, "algo": "ppo", **over}
    with pytest.raises(SimtransferError, match=message) as info:
        resolve_train_config(raw, source="cfg.yaml", use_defaults=False)
    assert "\n" not in str(info.value) and str(info.value).startswith("cfg.yaml: ")


def _tasks_per_env(cfg, steps=400):
    venv = make_training_env(cfg)
    venv.reset()
    seen = [set() for _ in range(cfg.n_envs)]
    for _ in range(steps):
        _, _, _, infos = venv.step(np.array([venv.action_space.sample() for _ in range(cfg.n_envs)]))
        for i, info in enumerate(infos):
            seen[i].add(info["task"])
    venv.close()
    return seen


def test_episode_mixing_visits_every_task_in_every_env():
    seen = _tasks_per_env(_config(n_envs=2))
    assert seen == [{"left", "mid", "right"}] * 2


def test_round_robin_fixes_one_task_per_env():
    seen = _tasks_per_env(_config(n_envs=4, multitask={"mixing": "round_robin"}), steps=100)
    assert seen == [{"left"}, {"mid"}, {"right"}, {"left"}]


def test_training_reports_every_task(tmp_path):
    res = train(_config(multitask={"task_id": "onehot"}), tmp_path / "run")
    ev = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert set(ev["final"]) == set(ev["curves"]) == {"train", "left", "mid", "right"}
    assert set(res.final) == {"train", "left", "mid", "right"}
    meta = json.loads((tmp_path / "run" / "metadata.json").read_text())
    assert meta["observation_space"]["shape"] == [4 + 3]  # CartPole's 4 + the one-hot


def test_incompatible_tasks_fail_before_writing(tmp_path, capsys):
    cfg = tiny_config("ppo", env=None, multitask={"tasks": [{"id": "CartPole-v1", "name": "cart"},
                                                  {"id": "Acrobot-v1", "name": "acro"}]})
    path = tmp_path / "cfg.yaml"
    path.write_text(cfg.to_yaml())
    assert cli(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tasks 'cart' and 'acro' have different observation spaces" in err[0]
    assert not (tmp_path / "run").exists()


def test_task_heads_pick_the_task_and_average_when_unknown():
    torch.manual_seed(0)
    heads = TaskHeads(in_dim=3, out_dim=2, n_tasks=3)
    latent = torch.randn(1, 3)
    outs = [heads(torch.cat([latent, torch.eye(3)[k:k + 1]], dim=1)) for k in range(3)]
    for k in range(3):  # the k-th row block of the weights is task k's head
        w, b = heads.weight[2 * k:2 * k + 2], heads.bias[2 * k:2 * k + 2]
        assert torch.allclose(outs[k], latent @ w.T + b)
    assert not torch.allclose(outs[0], outs[1])
    unknown = heads(torch.cat([latent, torch.zeros(1, 3)], dim=1))
    assert torch.allclose(unknown, sum(outs) / 3, atol=1e-6)
    normalised = heads(torch.cat([latent, torch.tensor([[-0.7, 1.4, -0.7]])], dim=1))  # VecNormalize'd one-hot
    assert torch.allclose(normalised, outs[1])


def test_heads_policy_trains_saves_and_reloads(tmp_path):
    cfg = _config(multitask={"task_id": "onehot"}, policy={"policy_class": "multitask_heads", "net_arch": [16]},
                  normalize=True)
    assert cfg.policy.kwargs["n_tasks"] == 3
    train(cfg, tmp_path / "run")
    loaded = load_policy(tmp_path / "run")
    assert isinstance(loaded.model.policy, MultiTaskHeadsPolicy)
    assert loaded.model.policy.action_net.weight.shape == (3 * 2, 16)  # 3 tasks x 2 CartPole actions
    meta = json.loads((tmp_path / "run" / "metadata.json").read_text())
    assert meta["network"]["policy_class"] == "multitask_heads"


ADR_TASK = {"id": "simtransfer/InvertedPendulum-v0", "name": "adr",
            "wrappers": [{"type": "simtransfer.envs.adr:ADRRandomization", "kwargs": {"params": ["mass"], "threshold_low": 100, "threshold_high": 190}}]}


@pytest.mark.parametrize("mixing", ["episode", "round_robin"])
def test_a_task_with_adr_is_one_line_error(mixing):
    cfg = tiny_config("ppo", env=None, n_envs=2, multitask={"mixing": mixing, "tasks": [
        {"id": "simtransfer/InvertedPendulumNominal-v0", "name": "plain"}, ADR_TASK]})
    with pytest.raises(SimtransferError, match="uses ADR or a curriculum, which multi-task training does not drive"):
        make_training_env(cfg)
