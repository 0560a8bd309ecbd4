"""Stable-Baselines3 policies made of progressive columns (see :mod:`simtransfer.transfer.progressive`).

Every constructor argument is JSON-serialisable: ``columns`` lists the frozen source columns (plain dicts),
the new column is the usual ``net_arch`` / ``activation_fn`` (a name), and the adapters are set by
``alpha_init``, ``adapter_width`` and ``head_laterals``. Build the kwargs with
:func:`~simtransfer.transfer.progressive.progressive_policy_spec`, then fill the frozen columns with
:func:`~simtransfer.transfer.progressive.load_source_columns`. Run files name the classes by their registered
short names (:data:`POLICY_CLASSES`, resolved through :mod:`simtransfer.envs.components`).

``fast=True`` (off by default; the ``progressive`` method's ``fast`` option) turns on the speed-ups that are not
bit-identical to the plain path, all per model: Adam's fused kernel, the pi and vf towers fused into a few
wide layers at rollout time, and (PPO/A2C, after :func:`use_indexed_rollout_buffer`) the frozen columns
computed once per rollout. Outputs agree with the plain path to ≤1e-6.

Source column dict (MLP): ``pi``/``vf`` (on-policy) or ``pi``/``qf`` (SAC/TD3) hidden widths,
``activation_fn``, ``obs_dim``, ``obs_index_map`` (per source input: target obs index or -1 for zero),
``action_dim``, ``action_index_map`` (off-policy critics), ``action_kind`` (``box``/``discrete``),
``algo``, ``lateral_from`` (earlier column ids), ``lateral_obs_maps`` (their maps from this column's
own observations, for :meth:`source_column_forward`), ``origin`` (where its weights come from).
CNN source columns (PPO/A2C) have ``conv_arch`` and ``features_dim`` instead of ``pi``/``vf``.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.preprocessing import preprocess_obs
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.sac.policies import SACPolicy
from stable_baselines3.td3.policies import TD3Policy
from torch import nn

from simtransfer.envs.errors import SimtransferError
from simtransfer.transfer.progressive._cache import FrozenRowCache, IndexedRolloutBuffer
from simtransfer.transfer.progressive._columns import (
    ACTIVATIONS,
    IndexMap,
    activation_name,
    freeze_to_buffers,
)
from simtransfer.transfer.progressive._extractors import (
    ProgressiveCnnExtractor,
    ProgressiveMlpExtractor,
    _lateral_from,
    _tower_columns,
)
from simtransfer.transfer.progressive._tower import ProgressiveTower

# per algorithm, the registered short name run files store (see simtransfer.envs.components.COMPONENTS)
POLICY_CLASSES = {
    "ppo": "progressive_actor_critic",
    "a2c": "progressive_actor_critic",
    "sac": "progressive_sac",
    "td3": "progressive_td3",
}


def _source_inputs(maps_from_own: list[Any], lateral: list[int], k: int, obs: torch.Tensor) -> dict:
    inputs = {k: obs}
    for j, m in zip(lateral, maps_from_own):
        inputs[j] = IndexMap(obs.shape[-1], m).to(obs.device)(obs)
    return inputs


def _fast_adam(kwargs: dict[str, Any], default: dict[str, Any], fast: bool) -> None:
    """With ``fast``: run Adam's fused implementation (one kernel over all tensors) unless the caller chose otherwise.

    The adapters make a progressive policy's parameter list twice as long as a plain one's (α, V, c, U per
    lateral), and the per-tensor loop PyTorch picks on CPU costs per tensor, not per number. ``fused`` does
    the same update in one kernel (values equal the loop's up to float rounding, about 1e-7; pass
    ``foreach=True`` for bit-identical updates, or ``fused=False`` for the loop). ``default`` is SB3's
    own default kwargs.
    """
    if fast and kwargs.get("optimizer_class", torch.optim.Adam) is torch.optim.Adam:
        given = kwargs.get("optimizer_kwargs")
        kwargs["optimizer_kwargs"] = {**(default if given is None else given)}
        if "foreach" not in kwargs["optimizer_kwargs"]:
            kwargs["optimizer_kwargs"].setdefault("fused", True)


def _frozen_linear(n_in: int, n_out: int) -> nn.Linear:
    return freeze_to_buffers(nn.Linear(n_in, n_out))


class _SourceColumns:
    """Mixin: shared checks and :meth:`source_column_forward` plumbing."""

    columns: list[dict[str, Any]]
    source_heads: nn.ModuleList

    def _check_sources(self, columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
        columns = [dict(c) for c in (columns or [])]
        for k, col in enumerate(columns):
            if any(not 0 <= j < k for j in _lateral_from(columns, k)):
                raise SimtransferError(f"source column {k}: lateral_from must name earlier columns")
            if len(col.get("lateral_obs_maps", [])) not in (0, len(_lateral_from(columns, k))):
                raise SimtransferError(f"source column {k}: one lateral_obs_map per lateral_from entry")
        return columns

    def _column_index(self, k: int) -> int:
        if not 0 <= k < len(self.columns):
            raise SimtransferError(f"no source column {k} (this policy has {len(self.columns)})")
        return k

    def _own_inputs(self, k: int, obs: torch.Tensor) -> dict[int, torch.Tensor]:
        col = self.columns[k]
        lateral = _lateral_from(self.columns, k)
        maps = col.get("lateral_obs_maps") or [None] * len(lateral)
        return _source_inputs(maps, lateral, k, obs)


class ProgressiveActorCriticPolicy(_SourceColumns, ActorCriticPolicy):
    """PPO/A2C policy: frozen source columns + a new actor-critic column with lateral adapters.

    Image observations use CNN columns (give ``conv_arch``/``features_dim`` in each source column dict
    and, for the new column, ``conv_arch`` and ``features_dim`` kwargs); the MLP on top is plain.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Any,
        columns: list[dict[str, Any]] | None = None,
        net_arch: Any = None,
        activation_fn: str | type[nn.Module] = "tanh",
        alpha_init: float = 0.01,
        adapter_width: int | None = None,
        head_laterals: bool = True,
        conv_arch: list[list[int]] | None = None,
        features_dim: int = 512,
        fast: bool = False,
        **kwargs: Any,
    ) -> None:
        self.fast = bool(fast)
        self._columns = self._check_sources(columns)
        self._act_name = activation_name(activation_fn)
        self._adapt = {"alpha_init": float(alpha_init), "adapter_width": adapter_width, "head_laterals": head_laterals}
        self._cnn = any("conv_arch" in c for c in self._columns) or conv_arch is not None
        _fast_adam(kwargs, {"eps": 1e-5}, self.fast)  # (SB3's ActorCriticPolicy default for Adam)
        if self._cnn:
            if kwargs.get("features_extractor_class") not in (None, ProgressiveCnnExtractor):
                raise SimtransferError("progressive CNN policies build their own features extractor")
            kwargs["features_extractor_class"] = ProgressiveCnnExtractor
            kwargs["features_extractor_kwargs"] = {
                "columns": [{k: c[k] for k in ("conv_arch", "features_dim", "lateral_from") if k in c} for c in self._columns],
                "conv_arch": conv_arch,
                "features_dim": features_dim,
                **self._adapt,
            }
            kwargs["share_features_extractor"] = True
            net_arch = [] if net_arch is None else net_arch
        elif net_arch is None:
            net_arch = {"pi": [64, 64], "vf": [64, 64]}
        super().__init__(
            observation_space, action_space, lr_schedule, net_arch=net_arch, activation_fn=ACTIVATIONS[self._act_name], **kwargs
        )
        self.columns = self._columns
        self.source_heads = nn.ModuleList(self._source_head(k) for k in range(len(self.columns)))
        self._watched: weakref.ref | None = None  # the IndexedRolloutBuffer this policy trains from (fast only)
        self._frozen_cache: FrozenRowCache | None = None

    def _build_mlp_extractor(self) -> None:
        if self._cnn:
            return super()._build_mlp_extractor()
        self.mlp_extractor = ProgressiveMlpExtractor(
            self.features_dim, self._columns, self.net_arch, self._act_name, fused_rollout=self.fast, **self._adapt
        ).to(self.device)

    def watch_rollout_buffer(self, buffer: IndexedRolloutBuffer) -> None:
        """Train from ``buffer``'s rows: with ``fast``, a minibatch it served takes the frozen columns'
        activations from a per-rollout cache (called by :func:`use_indexed_rollout_buffer`)."""
        self._watched = weakref.ref(buffer)

    def __getstate__(self) -> dict[str, Any]:  # copies/pickles drop the per-model link to a buffer (a weakref)
        return {**self.__dict__, "_watched": None, "_frozen_cache": None}

    def _served_rows(self, obs: torch.Tensor) -> tuple[IndexedRolloutBuffer, Any] | None:
        buffer = None if self._watched is None else self._watched()
        if not self.fast or self._cnn or not self.share_features_extractor or buffer is None:
            return None
        rows = buffer.rows_of(obs)
        return None if rows is None else (buffer, rows)

    def evaluate_actions(self, obs: torch.Tensor, actions: torch.Tensor):
        """SB3's; with ``fast``, a minibatch of the watched :class:`IndexedRolloutBuffer` takes the frozen
        columns' activations from a per-rollout cache (computed once for all epochs)."""
        served = self._served_rows(obs)
        if served is None:
            return super().evaluate_actions(obs, actions)
        buffer, inds = served
        if self._frozen_cache is None:
            self._frozen_cache = FrozenRowCache([self.mlp_extractor.policy_tower, self.mlp_extractor.value_tower])

        def all_features() -> torch.Tensor:
            with torch.no_grad():
                return self.extract_features(buffer.to_torch(buffer.observations))

        with self.mlp_extractor.frozen_rows(self._frozen_cache.rows(all_features, buffer, inds)):
            return super().evaluate_actions(obs, actions)

    def _source_head(self, k: int) -> nn.Module:
        col = self._columns[k]
        if self._cnn:
            col_net = self.features_extractor.net.columns[k]
            lat_pi = lat_vf = col_net.out_dim
        else:
            lat_pi = self.mlp_extractor.policy_tower.columns[k].out_dim
            lat_vf = self.mlp_extractor.value_tower.columns[k].out_dim
        head = nn.Module()
        head.action_net = _frozen_linear(lat_pi, int(col["action_dim"]))
        head.value_net = _frozen_linear(lat_vf, 1)
        if col.get("action_kind", "box") == "box":
            head.register_buffer("log_std", torch.zeros(int(col["action_dim"])))
        return head

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.pop("features_extractor_class", None)
        data.pop("features_extractor_kwargs", None)
        data.update(columns=self.columns, activation_fn=self._act_name, fast=self.fast, **self._adapt)
        if self._cnn:
            fe = self.features_extractor_kwargs
            data.update(conv_arch=fe["conv_arch"], features_dim=fe["features_dim"])
        return data

    def source_column_forward(self, k: int, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        """Source column ``k`` acting on its own task: ``obs`` in that column's own observation space.

        Returns the deterministic action (Box: the mean, unclipped; Discrete: the argmax).
        """
        k = self._column_index(k)
        obs = torch.as_tensor(obs, device=self.device)
        if not self._cnn:
            obs = obs.float()
        with torch.no_grad():
            if self._cnn:
                obs = preprocess_obs(obs, self.observation_space, normalize_images=self.normalize_images)
                inputs = dict.fromkeys([k, *_lateral_from(self.columns, k)], obs)
                latent = self.features_extractor.net.column_latent(k, inputs)
            else:
                latent = self.mlp_extractor.policy_tower.column_latent(k, self._own_inputs(k, obs.flatten(1)))
            out = self.source_heads[k].action_net(latent)
        if self.columns[k].get("action_kind", "box") == "discrete":
            return out.argmax(-1)
        return out


class _OffPolicyColumns(_SourceColumns):
    """Shared by the SAC and TD3 policies: progressive actor tower and progressive critics."""

    _algo_default_act = "relu"

    def _setup_columns(self, columns: Any, activation_fn: Any, alpha_init: float, adapter_width: Any, head_laterals: bool,
                       fast: bool):
        self.fast = bool(fast)
        self._columns = self._check_sources(columns)
        if any("conv_arch" in c for c in self._columns):
            raise SimtransferError("progressive SAC/TD3 policies support MLP columns only")
        self._act_name = activation_name(activation_fn)
        self._adapt = {"alpha_init": float(alpha_init), "adapter_width": adapter_width, "head_laterals": head_laterals}
        return ACTIVATIONS[self._act_name]

    def _actor_tower(self, features_dim: int, net_arch: list[int]) -> ProgressiveTower:
        cols = _tower_columns(self._columns, "pi", net_arch, self._act_name)
        return ProgressiveTower(features_dim, cols, **self._adapt)

    def _critic_tower(self, features_dim: int, action_dim: int, net_arch: list[int]) -> ProgressiveTower:
        cols = _tower_columns(self._columns, "qf", net_arch, self._act_name, n_obs=features_dim)
        return ProgressiveTower(features_dim + action_dim, cols, **self._adapt)

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None):
        critic = super().make_critic(features_extractor)
        action_dim = int(self.action_space.shape[0])
        critic.q_networks = []
        for idx in range(critic.n_critics):
            tower = self._critic_tower(critic.features_extractor.features_dim, action_dim, self.critic_kwargs["net_arch"])
            q_net = nn.Sequential(tower, nn.Linear(tower.latent_dim, 1)).to(self.device)
            setattr(critic, f"qf{idx}", q_net)
            critic.q_networks.append(q_net)
        return critic

    def _finish(self) -> None:
        self.columns = self._columns
        heads = []
        for k, col in enumerate(self.columns):
            head = nn.Module()
            head.mu = _frozen_linear(self._actor_latent(self.actor).columns[k].out_dim, int(col["action_dim"]))
            if col.get("algo", "sac") == "sac":
                head.log_std = _frozen_linear(self._actor_latent(self.actor).columns[k].out_dim, int(col["action_dim"]))
            heads.append(head)
        self.source_heads = nn.ModuleList(heads).to(self.device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(columns=self.columns, activation_fn=self._act_name, fast=self.fast, **self._adapt)
        return data

    def source_column_forward(self, k: int, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        """Source column ``k`` on its own task: its deterministic squashed action in [-1, 1]."""
        k = self._column_index(k)
        obs = torch.as_tensor(obs, dtype=torch.float32, device=self.device).flatten(1)
        with torch.no_grad():
            latent = self._actor_latent(self.actor).column_latent(k, self._own_inputs(k, obs))
            return torch.tanh(self.source_heads[k].mu(latent))


class ProgressiveSACPolicy(_OffPolicyColumns, SACPolicy):
    """SAC policy: progressive actor (``actor.latent_pi``) and progressive critics (``critic.qf*``)."""

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Any,
        columns: list[dict[str, Any]] | None = None,
        net_arch: Any = None,
        activation_fn: str | type[nn.Module] = "relu",
        alpha_init: float = 0.01,
        adapter_width: int | None = None,
        head_laterals: bool = True,
        fast: bool = False,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("use_sde"):
            raise SimtransferError("progressive SAC policies do not support gSDE (use_sde)")
        act = self._setup_columns(columns, activation_fn, alpha_init, adapter_width, head_laterals, fast)
        _fast_adam(kwargs, {}, self.fast)
        super().__init__(observation_space, action_space, lr_schedule, net_arch=net_arch, activation_fn=act, **kwargs)
        self._finish()

    @staticmethod
    def _actor_latent(actor: nn.Module) -> ProgressiveTower:
        return actor.latent_pi

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None):
        actor = super().make_actor(features_extractor)
        tower = self._actor_tower(actor.features_dim, self.actor_kwargs["net_arch"])
        action_dim = int(self.action_space.shape[0])
        actor.latent_pi = tower
        actor.mu = nn.Linear(tower.latent_dim, action_dim)
        actor.log_std = nn.Linear(tower.latent_dim, action_dim)
        return actor.to(self.device)


class ProgressiveTD3Policy(_OffPolicyColumns, TD3Policy):
    """TD3 policy: progressive actor (``actor.mu.0`` tower, ``actor.mu.1`` head) and critics."""

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Any,
        columns: list[dict[str, Any]] | None = None,
        net_arch: Any = None,
        activation_fn: str | type[nn.Module] = "relu",
        alpha_init: float = 0.01,
        adapter_width: int | None = None,
        head_laterals: bool = True,
        fast: bool = False,
        **kwargs: Any,
    ) -> None:
        act = self._setup_columns(columns, activation_fn, alpha_init, adapter_width, head_laterals, fast)
        _fast_adam(kwargs, {}, self.fast)
        super().__init__(observation_space, action_space, lr_schedule, net_arch=net_arch, activation_fn=act, **kwargs)
        self._finish()

    @staticmethod
    def _actor_latent(actor: nn.Module) -> ProgressiveTower:
        return actor.mu[0]

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None):
        actor = super().make_actor(features_extractor)
        tower = self._actor_tower(actor.features_dim, self.actor_kwargs["net_arch"])
        actor.mu = nn.Sequential(tower, nn.Linear(tower.latent_dim, int(self.action_space.shape[0])), nn.Tanh())
        return actor.to(self.device)
