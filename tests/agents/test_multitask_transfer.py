"""A multi-task run as the source of every transfer method (transfer/api.py target_config, progressive's check)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.torch import load_file

from simtransfer.agents.train import train
from simtransfer.agents.vecenv import make_single_env
from simtransfer.envs.multitask import ONEHOT
from simtransfer.experiments.cli import main as cli
from simtransfer.transfer.api import transfer
from simtransfer.transfer.source import SourceRun
from tests.agents.runs import tiny_config

TASKS = [{"id": "CartPole-v1", "name": "left"}, {"id": "CartPole-v1", "name": "mid"},
         {"id": "CartPole-v1", "name": "right"}]
TARGET = {"id": "CartPole-v1", "name": "held_out"}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("mt_sources")
    trunk = tiny_config("ppo", env=None, multitask={"tasks": TASKS, "task_id": "onehot"}, normalize=True)
    heads = tiny_config("ppo", env=None, multitask={"tasks": TASKS, "task_id": "onehot"},
                        policy={"policy_class": "multitask_heads", "net_arch": [16]})
    train(trunk, root / "trunk")
    train(heads, root / "heads")
    return {"trunk": root / "trunk", "heads": root / "heads"}


@pytest.mark.parametrize("method", ["zeroshot", "finetune", "freeze", "features", "partial", "l2sp", "progressive"])
def test_every_method_takes_a_multitask_source(sources, tmp_path, method):
    res = transfer(sources["trunk"], TARGET, method, timesteps=64, out_dir=tmp_path / "run", quiet=True)
    cfg = (tmp_path / "run" / "config.yaml").read_text()
    assert "\nmultitask:" not in cfg and ONEHOT in cfg  # one task; the policy still sees the (unknown) task code
    assert set(res.final) == {"train"}
    meta = json.loads((tmp_path / "run" / "metadata.json").read_text())
    assert meta["observation_space"]["shape"] == [4 + 3]  # CartPole + the (all-zero) code of the 3 tasks
    env = make_single_env(TARGET, [{"type": ONEHOT, "kwargs": {"tasks": ["left", "mid", "right"]}}])
    obs, _ = env.reset(seed=0)
    assert obs.shape == (7,) and np.all(obs[4:] == 0.0)  # the held-out target: no task is active
    env.close()
    if method in ("finetune", "freeze", "features", "l2sp"):
        src = SourceRun.load(sources["trunk"]).state_dict
        assert set(res.report["loaded"]) >= {k for k in src if not k.startswith(("action_net", "value_net"))}
    if method == "progressive":
        assert res.report["frozen"]  # the multi-task source is a frozen column


@pytest.mark.parametrize("method", ["zeroshot", "finetune", "freeze"])
def test_per_task_heads_source_keeps_its_heads(sources, tmp_path, method):
    res = transfer(sources["heads"], TARGET, method, timesteps=64, out_dir=tmp_path / "run", quiet=True)
    assert "policy_class: multitask_heads" in (tmp_path / "run" / "config.yaml").read_text()
    if method != "zeroshot":
        tensors = load_file(str(tmp_path / "run" / "policy.safetensors"))
        assert tensors["action_net.weight"].shape[0] == 3 * 2
        assert "action_net.weight" in res.report["loaded"]


def test_per_task_heads_into_progressive_is_one_line_error(sources, tmp_path, capsys):
    out = tmp_path / "prog"
    code = cli(["transfer", str(sources["heads"]), "--target", "CartPole-v1", "--method", "progressive",
                "--timesteps", "64", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("simtransfer: error: method 'progressive' needs a source with one action head")
    assert not out.exists()
    assert json.loads((sources["heads"] / "metadata.json").read_text())["num_timesteps"] == 128  # source intact
