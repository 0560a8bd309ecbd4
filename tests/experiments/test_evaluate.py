"""`simtransfer evaluate` and evaluate_run: deterministic JSON output, any target, clear errors."""

from __future__ import annotations

import json

import pytest

from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.cli import main
from simtransfer.experiments.evaluate import evaluate_run
from simtransfer.experiments.train import train
from tests.agents.runs import NAN_ENV, action_range_target, tiny_config


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


@pytest.mark.usefixtures("trust_test_helpers")
def test_target_with_another_action_range_is_refused(tmp_path):
    """Pendulum's policy acts in [-2, 2]: a target claiming [-4, 4] (or [-1, 1]) is an error naming both ranges,
    in evaluate and in training's eval targets (before anything is written)."""
    run = train(tiny_config("sac", eval={"every": 0, "episodes": 1}), tmp_path / "run").run_dir
    for high in (4.0, 1.0):
        with pytest.raises(SimtransferError, match=rf"action space Box\(1,\) in \[-{high:g}, {high:g}\] but the "
                                                   r"policy .* expects Box\(1,\) in \[-2, 2\]"):
            evaluate_run(run, action_range_target("Pendulum-v1", high), episodes=1)
    assert evaluate_run(run, action_range_target("Pendulum-v1", 2.0), episodes=1).episodes == 1  # same range
    cfg = tiny_config("sac", eval={"every": 0, "episodes": 1, "targets": [action_range_target("Pendulum-v1", 4.0)]})
    with pytest.raises(SimtransferError, match=r"eval target 'range4' has action space Box\(1,\) in \[-4, 4\], "
                                               r"the policy expects Box\(1,\) in \[-2, 2\]"):
        train(cfg, tmp_path / "run2")
    assert not (tmp_path / "run2").exists()


def test_pixel_policy_trained_through_the_cli_evaluates_and_transfers_zero_shot(tmp_path, capsys):
    """SB3 trains image policies on channel-first (C, H, W) views of (H, W, C) envs: the space checks of train,
    evaluate and transfer must accept that transpose."""
    import yaml

    pixels = {"id": "simtransfer/InvertedPendulumPixels-v0", "kwargs": {"width": 16, "height": 16, "frames": 1},
              "wrappers": [{"type": "gymnasium.wrappers:TimeLimit", "kwargs": {"max_episode_steps": 20}}]}
    cfg = tiny_config("ppo", env=pixels, total_timesteps=32, eval={"every": 0, "episodes": 1},
                      hyperparams={"n_steps": 32, "batch_size": 16, "n_epochs": 1},
                      policy={"net_arch": [8], "features_extractor_class": "simtransfer.agents.cnn:SmallCNN",
                              "features_extractor_kwargs": {"features_dim": 8}})
    (tmp_path / "c.yaml").write_text(cfg.to_yaml())
    (tmp_path / "target.yaml").write_text(yaml.safe_dump({**pixels, "id": "simtransfer/InvertedPendulumPixelsHeldout-v0"}))
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "c.yaml"), "--out", str(run)]) == 0
    assert json.loads((run / "metadata.json").read_text())["observation_space"]["shape"] == [3, 16, 16]
    capsys.readouterr()
    assert main(["evaluate", str(run), "--target", str(tmp_path / "target.yaml"), "--episodes", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 1
    assert main(["transfer", str(run), "--target", "simtransfer/InvertedPendulumPixelsHeldout-v0", "--method",
                 "zeroshot", "--set", "env.kwargs={width: 16, height: 16, frames: 1}", "--set",
                 "env.wrappers=[{type: 'gymnasium.wrappers:TimeLimit', kwargs: {max_episode_steps: 20}}]",
                 "--episodes", "1", "--out", str(tmp_path / "zs"), "--json"]) == 0, capsys.readouterr().err
    assert (tmp_path / "zs" / "eval.json").is_file()


@pytest.mark.usefixtures("trust_test_helpers")
def test_nan_observation_is_one_line_naming_env_and_step(run_dir, capsys):
    with pytest.raises(SimtransferError, match=rf"env '{NAN_ENV}' returned a non-finite observation \(NaN or inf\) "
                                               r"at step 3 of an episode$"):
        evaluate_run(run_dir, NAN_ENV, episodes=1)
    assert main(["evaluate", str(run_dir), "--target", NAN_ENV]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "non-finite observation" in err[0], err
