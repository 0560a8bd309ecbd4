"""`simtransfer evaluate` and evaluate_run: deterministic JSON output, any target, clear errors."""

from __future__ import annotations

import json

import pytest

from experiments.cli import main
from experiments.evaluate import evaluate_run
from experiments.train import train
from tests.agents.runs import tiny_config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train(tiny_config("ppo", normalize=True), tmp_path_factory.mktemp("eval") / "run").run_dir


def test_json_output_is_one_deterministic_object(run_dir, capsys):
    outs = []
    for _ in range(2):
        assert main(["evaluate", str(run_dir), "--target", "CartPole-v1", "--episodes", "3", "--seed", "7",
                     "--json"]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] and outs[0].count("\n") == 1
    obj = json.loads(outs[0])
    assert obj["target"] == "CartPole-v1" and obj["episodes"] == 3 and len(obj["returns"]) == 3
    assert obj["mean_return"] == pytest.approx(sum(obj["returns"]) / 3) and obj["std_return"] >= 0


def test_module_callable_target_and_python_api(run_dir):
    res = evaluate_run(run_dir, "gymnasium.envs.classic_control.cartpole:CartPoleEnv", episodes=2, seed=0)
    assert res.episodes == 2 and len(res.returns) == 2
    again = evaluate_run(run_dir, {"id": "gymnasium.envs.classic_control.cartpole:CartPoleEnv"}, 2, 0)
    assert again.returns == res.returns


def test_adapters_are_applied_to_targets(tmp_path):
    cfg = tiny_config("ppo", adapters=[{"type": "gymnasium.wrappers:TimeLimit", "kwargs": {"max_episode_steps": 5}}])
    run = train(cfg, tmp_path / "run").run_dir
    ev = json.loads((run / "eval.json").read_text())
    assert max(ev["final"]["train"]["returns"]) <= 5
    assert max(evaluate_run(run, "CartPole-v1", 3, 0).returns) <= 5


@pytest.mark.parametrize("target,match", [
    ("Pendulum-v1", "observation space Box(3,) but the policy"),
    ("NoSuchEnv-v0", "unknown env"),
    ("nosuch.module:make", "cannot import module"),
])
def test_bad_targets_exit_2(run_dir, capsys, target, match):
    assert main(["evaluate", str(run_dir), "--target", target, "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and match in err[0]


def test_corrupt_weights_exit_2_and_are_left_alone(tmp_path, capsys):
    run = train(tiny_config("ppo"), tmp_path / "run").run_dir
    weights = run / "policy.safetensors"
    truncated = weights.read_bytes()[:200]
    weights.write_bytes(truncated)
    assert main(["evaluate", str(run), "--target", "CartPole-v1"]) == 2
    assert "corrupt" in capsys.readouterr().err
    assert weights.read_bytes() == truncated
