"""Keep what the source knew while fine-tuning: critic warm-up and a KL / behaviour-cloning pull to the source.

* **critic warm-up** — for the first ``warmup_steps`` target steps only the value function (critic) learns:
  the actor's gradients are dropped before every optimizer step, so the source policy keeps acting while
  its value function adapts to the target (a source critic on new physics gives wrong advantages).
* **pull** — ``coef(t) · D(π_src ‖ π)`` on a minibatch of the run's own buffer (rollout buffer for PPO/A2C,
  replay buffer for SAC/TD3), added to every actor update: ``kl`` is the KL divergence of the action
  distributions, ``bc`` behaviour cloning (squared distance of the deterministic actions; for discrete
  actions the negative log-likelihood of the source's action).  ``coef(t)``
  decays linearly to 0 over ``decay_steps`` target steps (``None``: constant).

SB3's algorithms have no loss hook, so — as for :mod:`simtransfer.transfer.l2sp` — the extra term enters through
a public torch hook: ``Optimizer.register_step_pre_hook`` back-propagates the pull (its gradients add to the
algorithm's own) and drops the actor's gradients during warm-up, right before each step of the optimizer that
moves the actor.  Nothing of SB3 is patched; it works unchanged for PPO, A2C, SAC and TD3.  The pull's gradient
is added after the algorithm's gradient clipping.

>>> keep = KeepSource.attach(model, warmup_steps=1024, coef=1.0, kind="kl", decay_steps=4096)   # doctest: +SKIP
>>> keep.stats                                                                                 # doctest: +SKIP
{'pull_steps': 0, 'warmup_steps_skipped': 0, 'last_pull': None}
>>> keep.detach()                                                                              # doctest: +SKIP
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from simtransfer.envs.errors import SimtransferError
from simtransfer.transfer.layers import select_parameters

PullKind = Literal["kl", "bc"]


def has_actor(model: Any) -> bool:
    """Whether ``model`` has an actor to keep near the source (PPO, A2C, SAC, TD3 — not DQN)."""
    policy = model.policy
    return (hasattr(policy, "actor") and hasattr(policy.actor, "optimizer")) or (
        hasattr(policy, "optimizer") and hasattr(policy, "get_distribution"))


def _actor(model: Any) -> tuple[nn.Module, torch.optim.Optimizer, list[nn.Parameter]]:
    """(module holding the actor, the optimizer that moves it, its parameters)."""
    policy = model.policy
    if hasattr(policy, "actor") and hasattr(policy.actor, "optimizer"):  # SAC / TD3
        actor = policy.actor
        return actor, actor.optimizer, [p for p in actor.parameters() if p.requires_grad]
    if not hasattr(policy, "optimizer") or not hasattr(policy, "get_distribution"):
        raise SimtransferError(f"critic warm-up / pull need an actor-critic policy (got {type(policy).__name__})")
    named = dict(policy.named_parameters())
    names = select_parameters(policy, ["actor"])
    return policy, policy.optimizer, [named[n] for n in names if named[n].requires_grad]


def _observations(model: Any, batch_size: int) -> Any:
    """A random minibatch of observations from the run's own buffer (as the policy sees them), or None."""
    if hasattr(model, "replay_buffer") and model.replay_buffer is not None:
        if model.replay_buffer.size() == 0:
            return None
        return model.replay_buffer.sample(batch_size, env=model.get_vec_normalize_env()).observations
    buf = getattr(model, "rollout_buffer", None)
    if buf is None or not buf.full:
        return None
    return next(buf.get(batch_size)).observations


def _pull_loss(kind: PullKind, source: nn.Module, current: nn.Module, obs: Any) -> torch.Tensor:
    if hasattr(current, "get_distribution"):  # on-policy actor-critic
        with torch.no_grad():
            src = source.get_distribution(obs)
        cur = current.get_distribution(obs)
        if kind == "bc":  # continuous: squared distance of the means; discrete: NLL of the source's action
            target = src.mode()
            if not torch.is_floating_point(target):
                return -cur.log_prob(target).mean()
            diff = cur.mode() - target
            return (diff ** 2).reshape(diff.shape[0], -1).sum(-1).mean()
        kl = torch.distributions.kl_divergence(src.distribution, cur.distribution)
        return (kl.sum(-1) if kl.dim() > 1 else kl).mean()
    if kind == "kl" and hasattr(current, "get_action_dist_params"):  # SAC: the Gaussian before the tanh squash
        with torch.no_grad():
            mu_s, log_std_s, _ = source.get_action_dist_params(obs)
        mu, log_std, _ = current.get_action_dist_params(obs)
        kl = torch.distributions.kl_divergence(torch.distributions.Normal(mu_s, log_std_s.exp()),
                                               torch.distributions.Normal(mu, log_std.exp()))
        return kl.sum(-1).mean()
    with torch.no_grad():  # TD3 (deterministic actor) or bc on SAC: behaviour cloning of the actions
        target = source(obs)
    return ((current(obs) - target) ** 2).sum(-1).mean()


@dataclass
class KeepSource:
    """The hook on the actor's optimizer; ``stats`` says what it did."""

    model: Any
    warmup_steps: int = 0
    coef: float = 0.0
    kind: PullKind = "kl"
    decay_steps: int | None = None
    batch_size: int = 64
    source: nn.Module | None = None
    params: list[nn.Parameter] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=lambda: {"pull_steps": 0, "warmup_steps_skipped": 0,
                                                           "last_pull": None})
    handle: Any = None

    @classmethod
    def attach(cls, model: Any, *, warmup_steps: int = 0, coef: float = 0.0, kind: PullKind = "kl",
               decay_steps: int | None = None, batch_size: int | None = None) -> KeepSource:
        """Hook the actor's optimizer of ``model``; call right after the source is loaded (the pull's anchor is a
        frozen copy of the actor as it is now)."""
        module, optimizer, params = _actor(model)
        source = None
        if coef > 0:
            source = copy.deepcopy(module).eval()
            for p in source.parameters():
                p.requires_grad_(False)
        size = batch_size or int(getattr(model, "batch_size", None) or 64)
        keep = cls(model=model, warmup_steps=int(warmup_steps), coef=float(coef), kind=kind, decay_steps=decay_steps,
                   batch_size=size, source=source, params=params)
        keep.handle = optimizer.register_step_pre_hook(keep._before_step)
        return keep

    def coef_at(self, step: int) -> float:
        """The pull's coefficient after ``step`` target steps (linear decay to 0 over ``decay_steps``)."""
        if self.coef <= 0:
            return 0.0
        if not self.decay_steps:
            return self.coef
        return self.coef * max(0.0, 1.0 - step / self.decay_steps)

    def _before_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        step = int(self.model.num_timesteps)
        if step < self.warmup_steps:
            for p in self.params:
                p.grad = None  # Adam / RMSprop skip a parameter without gradient: the actor stays the source's
            self.stats["warmup_steps_skipped"] += 1
            return
        coef = self.coef_at(step)
        if coef <= 0 or self.source is None:
            return
        obs = _observations(self.model, self.batch_size)
        if obs is None:
            return
        module = _actor(self.model)[0]
        with torch.enable_grad():
            loss = coef * _pull_loss(self.kind, self.source, module, obs)
            loss.backward()
        self.stats["pull_steps"] += 1
        self.stats["last_pull"] = float(loss.detach()) / coef

    def detach(self) -> None:
        """Remove the hook."""
        if self.handle is not None:
            self.handle.remove()
            self.handle = None
