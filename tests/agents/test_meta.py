"""RL² runs (RecurrentPPO + trial adapter) save, load and meta-test: the adaptation curve (agents/meta.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simtransfer.agents.meta import adaptation_curve, trial_adapter
from simtransfer.agents.policy_io import load_policy
from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.cli import main
from simtransfer.experiments.evaluate import evaluate_run
from simtransfer.experiments.train import train
from tests.agents.runs import tiny_config

TARGET = {"id": "simtransfer/CartPole-v0", "name": "cp", "kwargs": {"max_episode_steps": 15}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("meta")
    rl2 = tiny_config("recurrent_ppo", env=TARGET, adapters=[{"type": "trial", "kwargs": {"episodes": 2}}],
                      eval={"every": 0, "episodes": 1, "train": False})
    reactive = tiny_config("ppo", env=TARGET, eval={"every": 0, "episodes": 1, "train": False})
    return {"rl2": train(rl2, root / "rl2").run_dir, "ppo": train(reactive, root / "ppo").run_dir}


class Recorder:
    """Wrap a loaded policy's model.predict and record the episode_start flags it is given."""

    def __init__(self, model) -> None:
        self.model, self.starts = model, []
        self.observation_space, self.action_space = model.observation_space, model.action_space

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        self.starts.append(bool(np.asarray(episode_start).reshape(-1)[0]))
        return self.model.predict(obs, state=state, episode_start=episode_start, deterministic=deterministic)


def test_rl2_run_round_trips_and_carries_its_state_across_the_trial(runs: dict[str, Path]) -> None:
    policy = load_policy(runs["rl2"])
    assert trial_adapter(policy) is not None and hasattr(policy.model.policy, "lstm_actor")
    policy.model = Recorder(policy.model)
    curve = adaptation_curve(policy, TARGET, trials=2, seed=3)
    assert curve.meta and curve.trial_episodes == 2 and len(curve.returns) == 2
    assert all(len(r) == 2 for r in curve.returns)
    assert sum(policy.model.starts) == 2  # the LSTM is reset once per trial, never between its episodes
    # CartPole pays 1 per step: every step of the trial is counted in exactly one episode of the curve
    assert sum(sum(r) for r in curve.returns) == pytest.approx(len(policy.model.starts))


def test_k_overrides_the_trained_trial_length(runs: dict[str, Path]) -> None:
    curve = adaptation_curve(runs["rl2"], TARGET, episodes=4, trials=1, seed=0)
    assert curve.trial_episodes == 4 and len(curve.returns[0]) == 4 and len(curve.mean_per_episode) == 4


def test_reactive_policy_resets_its_state_every_episode_on_the_same_physics(runs: dict[str, Path]) -> None:
    policy = load_policy(runs["ppo"])
    policy.model = Recorder(policy.model)
    curve = adaptation_curve(policy, TARGET, episodes=3, trials=2, seed=0)
    assert not curve.meta and [len(r) for r in curve.returns] == [3, 3]
    assert sum(policy.model.starts) == 6
    again = adaptation_curve(runs["ppo"], TARGET, episodes=3, trials=2, seed=0)
    assert again.returns == curve.returns  # seeded


def test_reactive_policy_needs_k(runs: dict[str, Path]) -> None:
    with pytest.raises(SimtransferError, match="not trained on trials"):
        adaptation_curve(runs["ppo"], TARGET, trials=1)


@pytest.mark.parametrize("k", [0, -2])
def test_cli_k_below_one_is_a_one_line_error(runs: dict[str, Path], k: int, capsys) -> None:
    code = main(["evaluate", str(runs["rl2"]), "--target", "simtransfer/CartPole-v0", "--trial-episodes", str(k)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("simtransfer: error:") and "K) must be >= 1" in err[-1]


def test_cli_json_adaptation_curve(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    target = tmp_path / "t.yaml"
    target.write_text(json.dumps(TARGET))
    code = main(["evaluate", str(runs["rl2"]), "--target", str(target), "--trial-episodes", "3", "--episodes", "2",
                 "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["trial_episodes"] == 3 and len(out["mean_per_episode"]) == 3
    assert out["meta"] is True and len(out["returns"]) == 2


def test_plain_evaluate_scores_a_whole_trial_per_episode(runs: dict[str, Path]) -> None:
    res = evaluate_run(runs["rl2"], TARGET, episodes=2, seed=5)
    curve = adaptation_curve(runs["rl2"], TARGET, trials=2, seed=5)
    assert res.returns == pytest.approx([sum(r) for r in curve.returns])  # an RL² "episode" is its K-episode trial
