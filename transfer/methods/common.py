"""Steps shared by the weight-reuse methods: load the source, re-sync targets, carry normalisation statistics."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field
from stable_baselines3.common.running_mean_std import RunningMeanStd

from simtransfer.agents.vecenv import find_vec_normalize
from simtransfer.envs.errors import SimtransferError
from simtransfer.transfer.adapters import projection_index
from simtransfer.transfer.keep import KeepSource, PullKind, has_actor
from simtransfer.transfer.layers import select_parameters
from simtransfer.transfer.methods import MethodOptions
from simtransfer.transfer.source import SourceRun
from simtransfer.transfer.weights import TransferReport, load_weights, sync_targets


class KeepOptions(MethodOptions):
    """Options of the methods that train the loaded source policy itself (finetune, freeze, l2sp)."""

    critic_warmup: int = Field(default=0, ge=0, description="target steps during which only the critic learns "
                               "(the actor keeps the source policy)")
    pull_coef: float = Field(default=10.0, ge=0, description="strength of the pull toward the source policy (0: off)")
    pull_kind: PullKind = Field(default="kl", description="kl: KL(source || current) of the action distributions; "
                                "bc: squared distance of the deterministic actions")
    pull_decay_steps: int | None = Field(default=None, gt=0, description="the pull decays linearly to 0 over this "
                                         "many target steps (None: constant)")


def attach_keep(model: Any, options: Any, report: TransferReport) -> KeepSource | None:
    """Critic warm-up and the pull toward the source, as asked by ``options`` (a :class:`KeepOptions`)."""
    if not options.critic_warmup and not options.pull_coef:
        return None
    if not has_actor(model):
        asked = {"critic_warmup", "pull_coef"} & options.model_fields_set
        if asked:
            raise SimtransferError(f"{' and '.join(sorted(asked))} need an actor-critic algorithm "
                                   f"(PPO, A2C, SAC, TD3), not {type(model).__name__}")
        report.notes.append(f"no pull toward the source: {type(model).__name__} has no actor")
        return None
    keep = KeepSource.attach(model, warmup_steps=options.critic_warmup, coef=options.pull_coef,
                             kind=options.pull_kind, decay_steps=options.pull_decay_steps)
    if options.critic_warmup:
        report.notes.append(f"critic warm-up: only the critic learns for the first {options.critic_warmup} steps")
    if options.pull_coef:
        decay = f", decaying to 0 over {options.pull_decay_steps} steps" if options.pull_decay_steps else ""
        report.notes.append(f"pull toward the source policy: {options.pull_kind} x {options.pull_coef}{decay}")
    return keep


def head_names(model: Any) -> list[str]:
    """Parameter names of the action and value heads."""
    return select_parameters(model.policy, ["heads"])


def load_source(
    model: Any,
    source: SourceRun,
    options: MethodOptions,
    report: TransferReport,
    *,
    strict: bool = True,
    exclude: list[str] | None = None,
) -> TransferReport:
    """Load ``source`` into ``model.policy`` (heads excluded if ``reinit_head``), sync targets, carry stats."""
    excluded = list(exclude or [])
    if options.reinit_head:
        excluded += head_names(model)
    load_weights(model.policy, source.state_dict, key_map=options.key_map, exclude=excluded, strict=strict,
                 report=report)
    if strict and not report.loaded:
        raise SimtransferError(
            f"no tensor of source run {source.path} matches the target policy "
            f"(source algo {source.algo or '?'}, target {type(model).__name__}); use a key_map or --method partial"
        )
    sync_targets(model, report)
    return report


def carry_normalization(model: Any, vec_env: Any, source: SourceRun, options: MethodOptions, report: TransferReport) -> None:
    """Copy the source's VecNormalize statistics into the target's, or leave them to be re-estimated."""
    vn = find_vec_normalize(vec_env)
    if vn is None:
        report.normalization = "off"
        if source.normalization and options.normalization == "carry":
            report.notes.append("source has normalisation statistics but the target run does not normalise")
        return
    if options.normalization == "reestimate":
        report.normalization = "reestimate"
        return
    stats = normalization_arrays(source)
    if not stats:
        report.normalization = "reestimate"
        report.notes.append("source saved no normalisation statistics: re-estimating on the target")
        return
    if vn.norm_obs and "obs" in stats:
        mean, var, count = stats["obs"]
        shape = np.shape(vn.obs_rms.mean)
        if mean.shape != shape:
            mean, var = _adapt_stats(mean, var, model, shape)
        vn.obs_rms.mean = mean.astype(np.float64)
        vn.obs_rms.var = var.astype(np.float64)
        vn.obs_rms.count = float(count)
    if vn.norm_reward and "ret" in stats:
        mean, var, count = stats["ret"]
        vn.ret_rms.mean = np.asarray(mean, dtype=np.float64).reshape(np.shape(vn.ret_rms.mean))
        vn.ret_rms.var = np.asarray(var, dtype=np.float64).reshape(np.shape(vn.ret_rms.var))
        vn.ret_rms.count = float(count)
    report.normalization = "carry"
    frozen = freeze_statistics(vn, obs=options.freeze_obs_stats, reward=options.freeze_reward_stats)
    if frozen:
        report.notes.append(f"carried normalisation statistics frozen on the target: {', '.join(frozen)}")


class FrozenRunningMeanStd(RunningMeanStd):
    """A ``RunningMeanStd`` whose ``update`` does nothing: the carried statistics stay what the source saw."""

    @classmethod
    def of(cls, rms: RunningMeanStd) -> FrozenRunningMeanStd:
        out = cls(shape=np.shape(rms.mean))
        out.mean, out.var, out.count = np.copy(rms.mean), np.copy(rms.var), rms.count
        return out

    def update(self, arr: np.ndarray) -> None:  # noqa: ARG002 - frozen on purpose
        return None


def freeze_statistics(vn: Any, *, obs: bool, reward: bool) -> list[str]:
    """Replace the VecNormalize running statistics chosen by ``obs`` / ``reward`` with frozen copies.

    Normalisation still applies (same mean/std as the source); only the running update stops.  Returns what
    was frozen (``["obs", "reward"]`` or a part of it).
    """
    frozen = []
    if obs and vn.norm_obs:
        rms = vn.obs_rms
        vn.obs_rms = {k: FrozenRunningMeanStd.of(r) for k, r in rms.items()} if isinstance(rms, dict) \
            else FrozenRunningMeanStd.of(rms)
        frozen.append("obs")
    if reward and vn.norm_reward:
        vn.ret_rms = FrozenRunningMeanStd.of(vn.ret_rms)
        frozen.append("reward")
    return frozen


def normalization_arrays(source: SourceRun) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """``{"obs": (mean, var, count), "ret": (...)}`` from the source's ``vecnormalize.*`` tensors."""
    out: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
    norm = {k: v.detach().cpu().numpy() for k, v in source.normalization.items()}
    for kind in ("obs", "ret"):
        keys = {k: v for k, v in norm.items() if k.startswith(f"{kind}_rms") or k.startswith(f"{kind}.")
                or k.startswith(f"{kind}_")}
        mean = next((v for k, v in keys.items() if k.endswith("mean")), None)
        var = next((v for k, v in keys.items() if k.endswith("var")), None)
        count = next((v for k, v in keys.items() if k.endswith("count")), None)
        if mean is not None and var is not None:
            out[kind] = (np.asarray(mean), np.asarray(var), float(np.asarray(count).reshape(-1)[0]) if count is not None
                         else 1e4)
    return out


def _adapt_stats(mean: np.ndarray, var: np.ndarray, model: Any, shape: tuple[int, ...]):
    """Source stats → target layout through a learned-projection index map (unmapped fields: mean 0, var 1)."""
    index = projection_index(model)
    if index is None or len(index) != mean.shape[0]:
        raise SimtransferError(
            f"cannot carry normalisation statistics: source observation shape {mean.shape} != target {shape} "
            "(use normalization: reestimate)"
        )
    new_mean, new_var = np.zeros(shape), np.ones(shape)
    for i, j in enumerate(index):
        if j is not None:
            new_mean[j], new_var[j] = mean[i], var[i]
    return new_mean, new_var
