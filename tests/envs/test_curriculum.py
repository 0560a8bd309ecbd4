"""Scheduled curricula: schedules, range scaling, the wrapper, and the callback driving a vectorized env."""

from __future__ import annotations

import math

import gymnasium as gym
import pytest

from simtransfer import envs  # noqa: F401
from simtransfer.envs.curriculum import (
    CurriculumRandomization,
    CurriculumSchedule,
    parse_schedule,
    scale_parameter,
)
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.params import build_parameter


def test_linear_schedule():
    s = CurriculumSchedule(kind="linear", start=100, end=300, initial=0.2, final=1.0)
    assert [s.fraction(t) for t in (0, 100, 200, 300, 10_000)] == pytest.approx([0.2, 0.2, 0.6, 1.0, 1.0])


def test_step_schedule():
    s = CurriculumSchedule(kind="step", initial=0.1, milestones=[[1000, 0.5], [2000, 1.0]])
    assert [s.fraction(t) for t in (0, 999, 1000, 1999, 2000, 5000)] == [0.1, 0.1, 0.5, 0.5, 1.0, 1.0]


@pytest.mark.parametrize("bad, match", [
    ({"kind": "linear", "start": 10, "end": 10}, "must be after start"),
    ({"kind": "step"}, "needs milestones"),
    ({"kind": "step", "milestones": [[10, 0.5], [5, 1.0]]}, "sorted"),
    ({"kind": "step", "milestones": [[10, 1.5]]}, "in \\[0, 1\\]"),
    ({"kind": "cosine"}, "kind"),
    ({"final": 2}, "final"),
])
def test_bad_schedule(bad, match):
    with pytest.raises(SimtransferError, match=match):
        parse_schedule(bad)


def test_scale_parameter_linear_log_normal():
    p = build_parameter("mass", {"low": 0.6, "high": 1.4})
    assert (scale_parameter(p, 0.5).low, scale_parameter(p, 0.5).high) == pytest.approx((0.8, 1.2))
    assert scale_parameter(p, 1.0) is p
    g = build_parameter("motor_gain", {"dist": "loguniform", "low": 0.5, "high": 2.0})
    half = scale_parameter(g, 0.5)
    assert (half.low, half.high) == pytest.approx((math.sqrt(0.5), math.sqrt(2.0)))
    n = build_parameter("gravity", {"dist": "normal", "mean": 9.8, "std": 0.5})
    assert scale_parameter(n, 0.5).std == pytest.approx(0.25)
    # a nominal outside the configured range: the curriculum grows from the middle of the range
    d = build_parameter("joint_damping", {"low": 0.1, "high": 0.3})
    assert (scale_parameter(d, 0.0).low, scale_parameter(d, 0.0).high) == pytest.approx((0.2, 0.2))


def test_adr_and_curriculum_do_not_stack():
    from simtransfer.envs.adr import ADRRandomization

    env = CurriculumRandomization(gym.make("simtransfer/InvertedPendulum-v0"), kind="linear", end=10)
    with pytest.raises(SimtransferError, match="already driven"):
        ADRRandomization(env, threshold_low=0, threshold_high=1)
    env.close()


def test_wrapper_scales_the_sampled_ranges():
    env = CurriculumRandomization(gym.make("simtransfer/InvertedPendulum-v0"), kind="linear", end=1000)
    _, info = env.reset(seed=0)
    assert info["curriculum_fraction"] == 0.0
    assert info["params"]["mass"] == 1.0 and info["params"]["gravity"] == 9.8
    env.set_curriculum_fraction(0.5)
    assert env.current_ranges()["mass"] == pytest.approx((0.85, 1.15))
    masses = [env.reset(seed=s)[1]["params"]["mass"] for s in range(30)]
    assert 0.85 <= min(masses) < 0.95 and 1.05 < max(masses) <= 1.15
    env.set_curriculum_fraction(1.0)
    masses = [env.reset(seed=s)[1]["params"]["mass"] for s in range(30)]
    assert min(masses) < 0.8 and max(masses) > 1.2
    with pytest.raises(SimtransferError, match="fraction"):
        env.set_curriculum_fraction(1.5)
    env.close()



def test_callback_drives_the_fraction_during_learning(tmp_path, one_thread):
    import pandas as pd
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.vec_env import DummyVecEnv

    from simtransfer.agents.adr_callback import CurriculumCallback, range_callbacks

    def make():
        return CurriculumRandomization(gym.make("simtransfer/InvertedPendulum-v0"), kind="step",
                                       milestones=[[128, 0.5], [256, 1.0]])

    venv = DummyVecEnv([make, make])
    cbs = range_callbacks(venv)
    assert len(cbs) == 1 and isinstance(cbs[0], CurriculumCallback)
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.set_logger(configure(str(tmp_path), ["csv"]))
    assert venv.get_attr("curriculum_fraction") == [0.0, 0.0]  # the schedule's value at timestep 0
    model.learn(384, callback=cbs)
    assert venv.get_attr("curriculum_fraction") == [1.0, 1.0]
    frac = pd.read_csv(tmp_path / "progress.csv")["curriculum/fraction"].tolist()
    assert frac == sorted(frac) and frac[0] < 1.0 and frac[-1] == 1.0
    venv.close()
