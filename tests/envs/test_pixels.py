"""Pixel observations with visual randomization: env checker, colours, held-out hues, determinism, CNN policy."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from simtransfer import envs  # noqa: F401
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.pixels import (
    HELDOUT_HUE,
    PIXEL_IDS,
    PixelObservation,
    in_heldout_band,
    register_pixel_envs,
)
from tests.checkers import check_env_strict

register_pixel_envs()
TRAIN_ID, HELDOUT_ID = list(PIXEL_IDS)


def _frames(eid: str, seeds: list[int], steps: int = 3) -> tuple[list[np.ndarray], list[dict]]:
    env = gym.make(eid)
    frames, infos = [], []
    for s in seeds:
        obs, info = env.reset(seed=s)
        for _ in range(steps):
            obs, *_ = env.step(np.zeros(1, dtype=np.float32))
        frames.append(obs)
        infos.append(info)
    env.close()
    return frames, infos


@pytest.mark.parametrize("eid", list(PIXEL_IDS))
def test_pixel_envs_pass_the_env_checker(eid):
    env = gym.make(eid)
    assert env.observation_space == gym.spaces.Box(0, 255, (64, 64, 6), np.uint8)
    check_env_strict(env, allow=["wrapped"], sb3=False)
    env.close()


def test_register_is_idempotent():
    register_pixel_envs()
    register_pixel_envs()
    assert TRAIN_ID in gym.registry and HELDOUT_ID in gym.registry


def test_colours_change_between_episodes_and_same_seed_repeats():
    frames, infos = _frames(TRAIN_ID, [0, 1, 2, 0])
    means = [f[:, :, 3:].reshape(-1, 3).mean(axis=0) for f in frames]
    assert np.abs(means[0] - means[1]).max() > 10 and np.abs(means[1] - means[2]).max() > 10
    assert np.array_equal(frames[0], frames[3])  # reset(seed=...) makes visuals and physics reproducible
    assert infos[0]["visual"] == infos[3]["visual"]
    assert infos[0]["visual"]["camera"] != infos[1]["visual"]["camera"]
    assert infos[0]["visual"]["light_direction"] != infos[1]["visual"]["light_direction"]
    assert infos[0]["params"] != infos[1]["params"]  # physics randomized too (train split)


def test_heldout_hues_never_appear_in_training():
    _, train = _frames(TRAIN_ID, list(range(12)), steps=0)
    _, held = _frames(HELDOUT_ID, list(range(6)), steps=0)
    train_hues = [h for i in train for h in i["visual"]["hues"]]
    held_hues = [h for i in held for h in i["visual"]["hues"]]
    assert len(train_hues) >= 12 * 4 and not any(in_heldout_band(h) for h in train_hues)
    assert all(in_heldout_band(h) for h in held_hues)
    assert min(train_hues) < HELDOUT_HUE[0] and max(train_hues) > HELDOUT_HUE[1]  # both sides of the band
    assert held[0]["params"]["mass"] == 1.0  # held-out visuals on nominal physics


def test_frames_stack_and_the_scene_moves():
    env = gym.make(TRAIN_ID)
    obs, _ = env.reset(seed=5)
    assert np.array_equal(obs[:, :, :3], obs[:, :, 3:])  # the first frame fills the stack
    first = obs
    for _ in range(8):
        prev = obs
        obs, *_ = env.step(np.ones(1, dtype=np.float32))
        assert np.array_equal(obs[:, :, :3], prev[:, :, 3:])  # the newest frame becomes the older one
    assert not np.array_equal(obs[:, :, 3:], first[:, :, 3:])  # the cart moved
    env.close()


def _luma_gap(env: gym.Env) -> float:
    """Smallest brightness gap between a robot colour and a scenery colour (floor, backdrop, rail) now."""
    from simtransfer.envs.bullet import bullet_client
    from simtransfer.envs.pixels import _luma

    p = bullet_client(env)
    robot, scenery = [], []
    for i in range(p.getNumBodies()):
        body = p.getBodyUniqueId(i)
        lumas = [_luma(d[7]) for d in p.getVisualShapeData(body)]
        (robot if p.getNumJoints(body) > 0 else scenery).extend(lumas)
    assert robot and len(scenery) == 3
    return min(abs(r - s) for r in robot for s in scenery)


def test_min_contrast_keeps_the_robot_apart_from_the_scenery():
    """Independent colours often put the pole at the backdrop's brightness; min_contrast never does (64 redraws
    per robot shape, the best kept: with three scenery colours a 0.25 gap is not always possible)."""
    free, kept = gym.make(TRAIN_ID), gym.make(TRAIN_ID, min_contrast=0.25)
    free_gaps, kept_gaps = [], []
    for seed in range(30):
        free.reset(seed=seed)
        kept.reset(seed=seed)
        free_gaps.append(_luma_gap(free))
        kept_gaps.append(_luma_gap(kept))
    assert np.mean(np.array(free_gaps) < 0.05) > 0.3
    assert np.mean(np.array(kept_gaps) >= 0.25) > 0.6 and min(kept_gaps) > 0.1
    a, info_a = kept.reset(seed=3)
    b, info_b = kept.reset(seed=3)
    assert np.array_equal(a, b) and info_a["visual"] == info_b["visual"]  # still reproducible
    free.close()
    kept.close()
    with pytest.raises(SimtransferError, match="min_contrast"):
        gym.make(TRAIN_ID, min_contrast=0.9)


def test_unrandomized_view_is_fixed_and_bad_args_fail():
    env = PixelObservation(gym.make("simtransfer/InvertedPendulumNominal-v0"), randomize=False, frames=1,
                           width=32, height=48)
    a, info = env.reset(seed=0)
    b, _ = env.reset(seed=1)
    assert a.shape == (48, 32, 3) and info["visual"]["hues"] == []
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 3  # only the small initial pole angle differs
    env.close()
    with pytest.raises(SimtransferError, match="frames"):
        PixelObservation(gym.make("simtransfer/InvertedPendulumNominal-v0"), frames=0)
    with pytest.raises(SimtransferError, match="heldout_hue"):
        PixelObservation(gym.make("simtransfer/InvertedPendulumNominal-v0"), heldout_hue=(0.8, 0.2))
    with pytest.raises(SimtransferError, match="context_in_obs"):
        gym.make(TRAIN_ID, randomization={"params": {"mass": {"low": 0.5, "high": 2}}, "context_in_obs": True})


def test_cnn_policy_trains_on_pixels():
    import torch
    from stable_baselines3 import PPO

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 threads on a busy 2-core machine are several times slower

    env = gym.make(TRAIN_ID, max_episode_steps=50)
    model = PPO("CnnPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu",
                policy_kwargs={"features_extractor_kwargs": {"features_dim": 64}})
    model.learn(128)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert action.shape == (1,) and model.num_timesteps == 128
    env.close()
    torch.set_num_threads(threads)


def test_small_grayscale_repeated_pixels_pass_the_checker_and_keep_the_physics_budget():
    env = gym.make(TRAIN_ID, width=24, height=24, frames=3, grayscale=True, action_repeat=2)
    assert env.observation_space == gym.spaces.Box(0, 255, (24, 24, 3), np.uint8)
    check_env_strict(env, allow=["wrapped"], sb3=False)
    obs, info = env.reset(seed=0)
    assert info["state"].shape == (5,) and info["state"].dtype == np.float32
    obs2, reward, *_, info2 = env.step(np.zeros(1, dtype=np.float32))
    assert reward == 2.0  # two physics steps, one reward each
    assert np.array_equal(obs2[:, :, :2], obs[:, :, 1:])  # one luma channel per frame
    assert not np.array_equal(info2["state"], info["state"])
    env.close()
    rgb = gym.make(TRAIN_ID, width=24, height=24, frames=1)
    gray = gym.make(TRAIN_ID, width=24, height=24, frames=1, grayscale=True)
    a, _ = rgb.reset(seed=3)
    b, _ = gray.reset(seed=3)
    luma = a.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    assert np.abs(luma - b[:, :, 0]).max() <= 1.0  # the same view, converted
    rgb.close()
    gray.close()


def test_action_repeat_episodes_end_at_the_physics_step_limit():
    # an episode is capped in physics steps, so returns under action_repeat stay comparable
    env = gym.make(TRAIN_ID, width=16, height=16, action_repeat=3, max_physics_steps=10, split="nominal")
    env.reset(seed=0)
    total, steps, done = 0.0, 0, False
    while not done:
        _, r, term, trunc, _ = env.step(np.zeros(1, dtype=np.float32))
        total, steps, done = total + r, steps + 1, term or trunc
    assert steps == 4 and total == 10.0 and trunc and not term  # 3 + 3 + 3 + 1 physics steps
    env.close()
    with pytest.raises(SimtransferError, match="action_repeat"):
        gym.make(TRAIN_ID, action_repeat=0)
    with pytest.raises(SimtransferError, match="max_physics_steps"):
        gym.make(TRAIN_ID, max_physics_steps=0)
