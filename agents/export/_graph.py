"""Torch modules for an exported policy: raw observation (+ state) → the action sent to the robot (+ state).

Every stage mirrors, op for op, what the framework does in numpy at inference time, so the exported file and
``LoadedPolicy.predict`` agree to float32 rounding:

* observation adapters (``ObsIndexMap``), history stacks (``HistoryObservation``), innermost first;
* VecNormalize (in float64, like :class:`~simtransfer.agents.vecenv.ObsNormalizer`);
* the SB3 policy's deterministic action (``policy._predict``; an explicit LSTM step for RecurrentPPO);
* SB3's post-processing: unscaling for squashed policies (SAC/TD3), clipping otherwise, argmax for Discrete;
* action adapters (``ActionIndexMap``, ``ClipAction``), outermost first; a history stack records the action
  that reaches it.

State (history buffers, LSTM states) is explicit: batch-first inputs ``*_in`` and outputs ``*_out``, reset where
``episode_start`` is 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from stable_baselines3.common.policies import BaseModel
from torch import nn


def _t(a: Any, dtype: torch.dtype) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=dtype).clone()


class ObsIndexStage(nn.Module):
    """``out[i] = obs[index[i]]`` (``fill`` where index is None), float32 — ``ObsIndexMap.observation``."""

    def __init__(self, index: list[int | None], fill: float) -> None:
        super().__init__()
        self.register_buffer("src", torch.tensor([i if i is not None else 0 for i in index], dtype=torch.long))
        self.register_buffer("mask", torch.tensor([i is not None for i in index], dtype=torch.bool))
        self.fill = float(fill)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        picked = torch.index_select(x, 1, self.src)
        return torch.where(self.mask, picked, torch.full_like(picked, self.fill)).to(torch.float32)


class ActionIndexStage(nn.Module):
    """``act[j] = scale[j] * a[index[j]]`` (``fill`` where None), clipped to the env's bounds — ``ActionIndexMap``."""

    def __init__(self, index: list[int | None], scale: np.ndarray, fill: float, low: np.ndarray, high: np.ndarray,
                 dtype: torch.dtype) -> None:
        super().__init__()
        self.register_buffer("src", torch.tensor([i if i is not None else 0 for i in index], dtype=torch.long))
        self.register_buffer("mask", torch.tensor([i is not None for i in index], dtype=torch.bool))
        self.register_buffer("scale", _t(scale, torch.float64))
        self.register_buffer("low", _t(low, torch.float64))
        self.register_buffer("high", _t(high, torch.float64))
        self.fill, self.dtype = float(fill), dtype

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        a = a.reshape(a.shape[0], -1).to(torch.float64)
        out = self.scale * torch.index_select(a, 1, self.src)
        out = torch.where(self.mask, out, torch.full_like(out, self.fill))
        return torch.minimum(torch.maximum(out, self.low), self.high).to(self.dtype)


class ClipStage(nn.Module):
    """``np.clip(action, low, high)`` — gymnasium's ``ClipAction``."""

    def __init__(self, low: np.ndarray, high: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("low", _t(low, torch.float32))
        self.register_buffer("high", _t(high, torch.float32))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return torch.minimum(torch.maximum(a.to(torch.float32), self.low), self.high)


class HistoryStage(nn.Module):
    """``HistoryObservation``: the last ``k`` observations and actions (oldest first), state in/out."""

    def __init__(self, k: int, obs_dim: int, act_dim: int, discrete: bool, include_actions: bool) -> None:
        super().__init__()
        self.k, self.obs_dim, self.act_dim = k, obs_dim, act_dim
        self.discrete, self.include_actions = discrete, include_actions

    def observe(self, x: torch.Tensor, obs_buf: torch.Tensor, act_buf: torch.Tensor, start: torch.Tensor):
        x = x.to(torch.float32)
        s = start.reshape(-1, 1, 1)
        obs_buf = torch.where(s > 0.5, x.unsqueeze(1).expand(-1, self.k, -1), obs_buf)
        act_buf = torch.where(s > 0.5, torch.zeros_like(act_buf), act_buf)
        obs_buf = torch.cat([obs_buf[:, 1:], x.unsqueeze(1)], dim=1)
        parts = [obs_buf.reshape(x.shape[0], -1)]
        if self.include_actions:
            parts.append(act_buf.reshape(x.shape[0], -1))
        return torch.cat(parts, dim=1), obs_buf, act_buf

    def record(self, a: torch.Tensor, act_buf: torch.Tensor) -> torch.Tensor:
        if self.discrete:
            enc = nn.functional.one_hot(a.reshape(-1).to(torch.long), self.act_dim).to(torch.float32)
        else:
            enc = a.reshape(a.shape[0], -1).to(torch.float32)
        return torch.cat([act_buf[:, 1:], enc.unsqueeze(1)], dim=1)


class Normalize(nn.Module):
    """VecNormalize's observation scaling in float64, then float32 (as ``ObsNormalizer``)."""

    def __init__(self, mean: np.ndarray, var: np.ndarray, clip_obs: float, epsilon: float) -> None:
        super().__init__()
        self.register_buffer("mean", _t(mean, torch.float64))
        self.register_buffer("std", torch.sqrt(_t(var, torch.float64) + float(epsilon)))
        self.clip = float(clip_obs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = (x.to(torch.float64) - self.mean) / self.std
        return torch.clamp(out, -self.clip, self.clip).to(torch.float32)


class PolicyCore(nn.Module):
    """SB3's deterministic ``predict`` for a feed-forward policy, without numpy: ``_predict`` + unscale/clip."""

    def __init__(self, policy: nn.Module, box: tuple[np.ndarray, np.ndarray] | None, squash: bool,
                 action_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.policy, self.squash, self.action_shape = policy, squash, tuple(action_shape)
        self.box = box is not None
        if box is not None:
            self.register_buffer("low", _t(box[0], torch.float32))
            self.register_buffer("high", _t(box[1], torch.float32))

    def post(self, a: torch.Tensor) -> torch.Tensor:
        if not self.box:  # Discrete: (B,); MultiDiscrete: (B, components) — SB3's argmax per component
            return a.reshape((a.shape[0],) + self.action_shape).to(torch.long)
        a = a.reshape((a.shape[0],) + self.action_shape)
        if self.squash:
            return self.low + (0.5 * (a + 1.0) * (self.high - self.low))
        return torch.minimum(torch.maximum(a, self.low), self.high)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.post(self.policy._predict(obs, deterministic=True))


class RecurrentCore(PolicyCore):
    """RecurrentPPO's actor: features → one LSTM step (reset where ``episode_start``) → deterministic action."""

    def step(self, obs: torch.Tensor, h: torch.Tensor, c: torch.Tensor, start: torch.Tensor):
        p = self.policy
        features = BaseModel.extract_features(p, obs, p.pi_features_extractor)  # as get_distribution does
        keep = (1.0 - start.to(torch.float32)).reshape(1, -1, 1)
        h0, c0 = keep * h.transpose(0, 1), keep * c.transpose(0, 1)
        out, (h1, c1) = p.lstm_actor(features.unsqueeze(0), (h0, c0))
        latent = p.mlp_extractor.forward_actor(out.squeeze(0))
        action = p._get_action_dist_from_latent(latent).get_actions(deterministic=True)
        return self.post(action), h1.transpose(0, 1), c1.transpose(0, 1)


class ExportedGraph(nn.Module):
    """The whole path; ``forward(obs, episode_start, *state) -> (action, *state)`` (only ``obs`` when stateless).

    ``stages``: the run's adapters innermost first, each ``("obs", m)``, ``("act", m)`` or ``("history", m)``.
    """

    def __init__(self, stages: list[tuple[str, nn.Module]], normalize: nn.Module | None, core: PolicyCore,
                 recurrent: bool) -> None:
        super().__init__()
        self.kinds = [kind for kind, _ in stages]
        self.stages = nn.ModuleList([m for _, m in stages])
        self.normalize = normalize
        self.core = core
        self.recurrent = recurrent

    @property
    def stateful(self) -> bool:
        return self.recurrent or "history" in self.kinds

    def state_names(self) -> list[str]:
        names = [f"history{i}_{part}" for i, kind in enumerate(self.kinds) if kind == "history"
                 for part in ("obs", "act")]
        return names + (["lstm_h", "lstm_c"] if self.recurrent else [])

    def initial_state(self, batch: int = 1) -> list[torch.Tensor]:
        out: list[torch.Tensor] = []
        for kind, m in zip(self.kinds, self.stages):
            if kind == "history":
                out += [torch.zeros(batch, m.k, m.obs_dim), torch.zeros(batch, m.k, m.act_dim)]
        if self.recurrent:
            lstm = self.core.policy.lstm_actor
            out += [torch.zeros(batch, lstm.num_layers, lstm.hidden_size)] * 2
        return out

    def forward(self, obs: torch.Tensor, *args: torch.Tensor):
        start = args[0] if self.stateful else torch.zeros(obs.shape[0])
        state = list(args[1:])
        new_state: dict[int, list[torch.Tensor]] = {}
        x, slot = obs, 0
        for i, (kind, m) in enumerate(zip(self.kinds, self.stages)):
            if kind == "obs":
                x = m(x)
            elif kind == "history":
                x, obs_buf, act_buf = m.observe(x, state[slot], state[slot + 1], start)
                new_state[i] = [obs_buf, act_buf]
                slot += 2
        if self.normalize is not None:
            x = self.normalize(x)
        lstm_out: list[torch.Tensor] = []
        if self.recurrent:
            a, h, c = self.core.step(x, state[slot], state[slot + 1], start)
            lstm_out = [h, c]
        else:
            a = self.core(x)
        for i in reversed(range(len(self.kinds))):
            kind, m = self.kinds[i], self.stages[i]
            if kind == "act":
                a = m(a)
            elif kind == "history":
                new_state[i][1] = m.record(a, new_state[i][1])
        if not self.stateful:
            return a
        flat = [t for i in sorted(new_state) for t in new_state[i]]
        return tuple([a] + flat + lstm_out)
