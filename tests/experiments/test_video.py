"""``simtransfer evaluate --video DIR``: an MP4 and a frame strip per target, for Bullet, MuJoCo and Box2D."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.agents.runs import tiny_config

TARGETS = {"bullet": ("InvertedPendulumBulletEnv-v0", "ppo"), "mujoco": ("InvertedPendulum-v5", "ppo"),
           "box2d": ("LunarLander-v3", "dqn")}


@pytest.mark.parametrize("family", list(TARGETS))
def test_video_per_family(tmp_path, family):
    import imageio.v2 as imageio

    from simtransfer.agents.policy_io import load_policy
    from simtransfer.agents.train import train
    from simtransfer.experiments.video import record_episode

    env, algo = TARGETS[family]
    train(tiny_config(algo, env=env, total_timesteps=64), tmp_path / "run")
    res = record_episode(load_policy(tmp_path / "run"), env, tmp_path / "videos", max_steps=12)
    assert 2 <= res["frames"] <= 12
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(res["video"])  # a real, decodable clip (its own ffmpeg binary)
    width, height = next(reader)["size"]
    assert sum(1 for _ in reader) == res["frames"]
    strip = imageio.imread(res["strip"])
    assert strip.shape[:2] == (height, width * min(6, res["frames"])) and np.asarray(strip).std() > 0


def test_cli_evaluate_video(tmp_path, capsys):
    from simtransfer.agents.train import train
    from simtransfer.experiments.cli import main

    train(tiny_config("ppo", total_timesteps=64), tmp_path / "run")
    assert main(["evaluate", str(tmp_path / "run"), "--target", "CartPole-v1", "--episodes", "1", "--json",
                 "--video", str(tmp_path / "v")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["video"]["video"].endswith("CartPole-v1.mp4") and (tmp_path / "v" / "CartPole-v1.png").is_file()
