"""A compact CNN features extractor for small images (16-63 px), where SB3's NatureCNN (>= 36 px) is too big.

A 4x4 convolution with stride 4 (patchify), then 3x3 stride-2 convolutions (ReLU after each), then one linear
layer gives ``features_dim`` features. On 32x32x6 inputs a forward+backward pass of a 64-sample batch costs
about 25 ms on one busy core of this machine (three 3x3 stride-2 convolutions: ~52 ms; NatureCNN on
64x64x6: ~100 ms), which is what makes learning from pixels affordable on a CPU.
Pass it the SB3 way, by class and kwargs:

>>> import gymnasium as gym, numpy as np
>>> from stable_baselines3 import PPO
>>> env = gym.make("simtransfer/InvertedPendulumPixels-v0", width=32, height=32)   # doctest: +SKIP
>>> model = PPO("CnnPolicy", env, policy_kwargs={"features_extractor_class": SmallCNN,
...             "features_extractor_kwargs": {"features_dim": 64}})               # doctest: +SKIP
"""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from simtransfer.envs.errors import SimtransferError


class SmallCNN(BaseFeaturesExtractor):
    """Conv(4x4, s4) → Conv(3x3, s2) per further channel → flatten → Linear → ReLU, for channel-first uint8
    image spaces (SB3 transposes HWC images).

    :param observation_space: a ``(C, H, W)`` image Box (SB3's ``VecTransposeImage`` makes HWC envs CHW).
    :param features_dim: size of the output features.
    :param channels: output channels of the convolutions (the first one is the 4x4 stride-4 one).
    :param normalized_image: the space is already scaled to [0, 1] (SB3's ``normalize_images=False``).
    :param edges: a fixed colour-agnostic front end: per stacked frame (``frame_channels`` channels each), the
        gradient magnitude ``|dI/dx| + |dI/dy|`` summed over the frame's channels and scaled by its maximum.
        Under randomized colours it keeps the geometry (pole angle, cart position) and drops the hues.
    :param frame_channels: channels per stacked frame (3: RGB, 1: grayscale), used by ``edges``.
    """

    def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 64,
                 channels: tuple[int, ...] = (16, 32), normalized_image: bool = False, edges: bool = False,
                 frame_channels: int = 3) -> None:
        if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 3:
            raise SimtransferError(f"SmallCNN: needs a (C, H, W) image space, got {observation_space}")
        if not normalized_image and not is_image_space(observation_space, check_channels=False):
            raise SimtransferError(f"SmallCNN: needs a uint8 image space in [0, 255], got {observation_space}")
        if not 1 <= len(channels) <= 4 or min(channels) < 1 or int(features_dim) < 1:
            raise SimtransferError(f"SmallCNN: channels must be 1-4 positive ints and features_dim >= 1, got "
                                   f"{channels}, {features_dim}")
        c, h, w = observation_space.shape
        if min(h, w) < 8 or c > min(h, w):
            raise SimtransferError(f"SmallCNN: expects a channel-first image of at least 8x8 px, got shape "
                                   f"{observation_space.shape}")
        if edges and (int(frame_channels) < 1 or c % int(frame_channels)):
            raise SimtransferError(f"SmallCNN: {c} channels are not whole frames of {frame_channels} channels")
        super().__init__(observation_space, int(features_dim))
        self.edges, self.frame_channels = bool(edges), int(frame_channels)
        layers: list[nn.Module] = []
        in_ch = c // self.frame_channels if self.edges else c
        for i, out_ch in enumerate(channels):
            conv = (nn.Conv2d(in_ch, int(out_ch), kernel_size=4, stride=4) if i == 0
                    else nn.Conv2d(in_ch, int(out_ch), kernel_size=3, stride=2, padding=1))
            layers += [conv, nn.ReLU()]
            in_ch = int(out_ch)
        self.cnn = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():
            n_flat = self.cnn(self._front(torch.zeros(1, c, h, w))).shape[1]
        self.linear = nn.Sequential(nn.Linear(n_flat, int(features_dim)), nn.ReLU())

    def _front(self, x: torch.Tensor) -> torch.Tensor:
        if not self.edges:
            return x
        n, c, h, w = x.shape
        x = x.reshape(n, c // self.frame_channels, self.frame_channels, h, w)
        gx = torch.nn.functional.pad((x[..., :, 1:] - x[..., :, :-1]).abs(), (0, 1))
        gy = torch.nn.functional.pad((x[..., 1:, :] - x[..., :-1, :]).abs(), (0, 0, 0, 1))
        e = (gx + gy).sum(dim=2)
        return e / (e.amax(dim=(2, 3), keepdim=True) + 1e-3)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.linear(self.cnn(self._front(observations)))
