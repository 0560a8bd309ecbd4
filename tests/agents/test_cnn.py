"""SmallCNN: shapes on small images, bad spaces fail, and SB3 builds and trains a CnnPolicy with it."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from simtransfer.agents.cnn import SmallCNN
from simtransfer.envs.errors import SimtransferError


@pytest.mark.parametrize("shape", [(6, 32, 32), (2, 24, 24), (3, 48, 40), (6, 16, 16)])
def test_features_have_the_requested_size(shape):
    net = SmallCNN(gym.spaces.Box(0, 255, shape, np.uint8), features_dim=48)
    out = net(torch.rand(5, *shape))
    assert out.shape == (5, 48) and net.features_dim == 48
    assert (out >= 0).all()  # ReLU output


def test_edge_front_end_ignores_colour_and_sees_geometry():
    space = gym.spaces.Box(0, 255, (6, 16, 16), np.uint8)
    net = SmallCNN(space, features_dim=8, edges=True)
    img = torch.zeros(1, 6, 16, 16)
    img[:, :, 4:12, 7] = 1.0  # a vertical bar in every channel
    recoloured = img * torch.tensor([0.2, 0.9, 0.5, 0.2, 0.9, 0.5]).view(1, 6, 1, 1) + 0.1
    assert torch.allclose(net._front(img), net._front(recoloured), atol=1e-2)  # same geometry, other colours
    moved = torch.roll(img, 2, dims=3)
    assert not torch.allclose(net._front(img), net._front(moved))
    assert net._front(img).shape == (1, 2, 16, 16) and net(img).shape == (1, 8)
    with pytest.raises(SimtransferError, match="whole frames"):
        SmallCNN(gym.spaces.Box(0, 255, (4, 16, 16), np.uint8), edges=True)


def test_bad_spaces_and_args_fail():
    with pytest.raises(SimtransferError, match="image space"):
        SmallCNN(gym.spaces.Box(-1, 1, (8,), np.float32))
    with pytest.raises(SimtransferError, match="uint8"):
        SmallCNN(gym.spaces.Box(-1, 1, (3, 32, 32), np.float32))
    with pytest.raises(SimtransferError, match="channel-first"):
        SmallCNN(gym.spaces.Box(0, 255, (32, 32, 6), np.uint8))  # HWC: SB3 transposes before the extractor
    with pytest.raises(SimtransferError, match="channels"):
        SmallCNN(gym.spaces.Box(0, 255, (3, 32, 32), np.uint8), channels=(16, 0))


def test_ppo_cnn_policy_trains_with_it_on_hwc_images():
    from stable_baselines3 import PPO

    from simtransfer.envs.pixels import register_pixel_envs

    register_pixel_envs()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    env = gym.make("simtransfer/InvertedPendulumPixels-v0", width=32, height=32, max_episode_steps=50)
    model = PPO("CnnPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu",
                policy_kwargs={"features_extractor_class": SmallCNN,
                               "features_extractor_kwargs": {"features_dim": 32}})
    before = [p.detach().clone() for p in model.policy.features_extractor.parameters()]
    model.learn(128)
    after = list(model.policy.features_extractor.parameters())
    assert model.num_timesteps == 128 and isinstance(model.policy.features_extractor, SmallCNN)
    assert any(not torch.equal(a, b) for a, b in zip(after, before, strict=True))  # the CNN was trained
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert action.shape == (1,) and env.action_space.contains(action)
    env.close()
    torch.set_num_threads(threads)
