"""Robust Adversarial RL (Pinto et al. 2017): the protagonist and an adversary trained in alternation.

A :class:`~simtransfer.agents.config.TrainConfig` with an ``adversary:`` block trains through the ordinary
:func:`~simtransfer.agents.train.train`; this module adds three things to it:

* the protagonist's training envs get an ``adversary_force`` wrapper (:func:`protagonist_env_config`);
* a :class:`RarlCallback` on the protagonist: at the first rollout end after every ``protagonist_steps`` steps it
  trains the adversary (its own SB3 model, in ``adversary_control`` envs where the current protagonist acts)
  for ``adversary_steps`` steps, then gives the protagonist's envs the new adversary;
* the adversary's files: ``RUN/adversary/`` is a run directory of its own (``config.yaml``,
  ``policy.safetensors``, ``metadata.json``; checkpoints in ``RUN/adversary/checkpoints/`` next to the
  protagonist's, so ``--resume`` continues the alternation where it stopped).

The protagonist's run directory stays an ordinary run: ``evaluate``, ``transfer`` and ``export`` read it as any
other (its evaluations, like the paper's, run without the adversary).

Why hand-written: SB3 and sb3-contrib have no two-player training; the alternation is SB3's own
``learn(reset_num_timesteps=False)`` called in turn, the rest is the framework's training loop.

>>> from simtransfer.agents.config import TrainConfig
>>> cfg = TrainConfig(env="simtransfer/InvertedDoublePendulumNominal-v0",
...                   adversary={"links": ["pole2"], "max_force": 5.0})
>>> [w.type for w in protagonist_env_config(cfg).env.wrappers]
['adversary_force']
>>> adversary_env_spec(cfg).wrappers[-1].kwargs["links"]
['pole2']
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import DummyVecEnv

from simtransfer.agents import checkpoint as ckpt
from simtransfer.agents.algos import build_model
from simtransfer.agents.config import TrainConfig
from simtransfer.agents.metadata import build_metadata
from simtransfer.agents.policy_io import atomic_write_bytes, atomic_write_json, save_weights
from simtransfer.agents.vecenv import find_vec_normalize, make_single_env
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.spec import EnvSpec, WrapperSpec

ADVERSARY_DIR = "adversary"
SEED_OFFSET = 10_000  # the adversary's envs and model draw other random numbers than the protagonist's


def _with_wrapper(spec: EnvSpec, kind: str, cfg: TrainConfig) -> EnvSpec:
    assert cfg.adversary is not None
    extra = WrapperSpec(type=kind, kwargs=cfg.adversary.wrapper_kwargs())
    return spec.model_copy(update={"wrappers": [*spec.wrappers, extra]})


def protagonist_env_config(cfg: TrainConfig) -> TrainConfig:
    """The config the protagonist's training envs are built from: ``cfg`` itself without an adversary, else its
    env with an ``adversary_force`` wrapper on top (evaluation envs stay without one)."""
    if cfg.adversary is None:
        return cfg
    return cfg.model_copy(update={"env": _with_wrapper(cfg.env, "adversary_force", cfg)})


def adversary_env_spec(cfg: TrainConfig) -> EnvSpec:
    """The adversary's env: the protagonist's training env with an ``adversary_control`` wrapper on top."""
    return _with_wrapper(cfg.env, "adversary_control", cfg)


def adversary_config(cfg: TrainConfig, steps: int) -> TrainConfig:
    """The adversary as a training config of its own (its run directory's ``config.yaml``)."""
    adv = cfg.adversary
    assert adv is not None
    return TrainConfig(env=adversary_env_spec(cfg), algo=adv.algo, seed=cfg.seed + SEED_OFFSET,
                       total_timesteps=max(int(steps), 1), n_envs=adv.n_envs, hyperparams=adv.hyperparams,
                       policy={"net_arch": adv.net_arch}, eval={"every": 0, "train": False},
                       checkpoint_every=0, tracking={"mode": "disabled"}, progress=False, device=cfg.device)


def check_adversary(cfg: TrainConfig) -> None:
    """One-line errors for what RARL cannot combine with (before anything is built)."""
    if cfg.adversary is None:
        return
    if cfg.adapters:
        raise SimtransferError("adversary: cannot be combined with adapters (the adversary acts on the env's own "
                               "observations)")
    if cfg.vec_env == "subproc" and cfg.n_envs > 1:
        raise SimtransferError("adversary: needs vec_env: dummy (the adversary policy acts inside the training envs)")


class RarlCallback(BaseCallback):
    """Alternates the protagonist (the model this callback is on) and the adversary (``self.adversary``)."""

    def __init__(self, cfg: TrainConfig, protagonist: Any, vec_env: Any, run_dir: Path) -> None:
        super().__init__()
        assert cfg.adversary is not None
        self.cfg, self.adv, self.run_dir = cfg, cfg.adversary, Path(run_dir)
        self.protagonist, self.vec_env = protagonist, vec_env
        self.vec_norm = find_vec_normalize(vec_env)
        spec = adversary_env_spec(cfg).model_dump()
        seed = cfg.seed + SEED_OFFSET
        self.adv_env = DummyVecEnv([functools.partial(make_single_env, spec, [], seed=seed + i, monitor=True)
                                    for i in range(self.adv.n_envs)])
        self.adv_env.seed(seed)
        try:
            self.adv_env.reset()  # finds the links: a name the robot does not have fails here, before any file
            self.adversary = build_model(self.adv.algo, self.adv_env, hyperparams=self.adv.hyperparams,
                                         policy={"net_arch": self.adv.net_arch}, seed=seed, device=cfg.device)
        except Exception:
            self.adv_env.close()
            raise
        self.adversary.set_logger(Logger(folder=None, output_formats=[]))
        self.phases = 0
        self.next_switch = self.adv.protagonist_steps
        self.adv_env.env_method("set_protagonist", self._protagonist_act)
        vec_env.env_method("set_adversary", self._adversary_act)

    # the fixed opponents each view acts against
    def _protagonist_act(self, obs: Any) -> Any:
        if self.vec_norm is not None:
            obs = self.vec_norm.normalize_obs(obs)
        return self.protagonist.predict(obs, deterministic=self.adv.deterministic)[0]

    def _adversary_act(self, obs: Any) -> Any:
        return self.adversary.predict(obs, deterministic=self.adv.deterministic)[0]

    @property
    def adversary_steps(self) -> int:
        return self.adv.adversary_steps or self.adv.protagonist_steps

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        if self.num_timesteps < self.next_switch or self.num_timesteps >= self.model._total_timesteps:
            return  # not yet, or the protagonist is done: no adversary phase it would never face
        self.adversary.learn(total_timesteps=self.adversary_steps, reset_num_timesteps=False)
        self.phases += 1
        while self.next_switch <= self.num_timesteps:
            self.next_switch += self.adv.protagonist_steps
        episodes = [e["r"] for e in self.adversary.ep_info_buffer]
        self.logger.record("rarl/phases", self.phases)
        self.logger.record("rarl/adversary_timesteps", self.adversary.num_timesteps)
        if episodes:  # the adversary's reward is the protagonist's, negated
            self.logger.record("rarl/protagonist_return_vs_adversary", -sum(episodes) / len(episodes))

    # checkpoints: the adversary's model beside the protagonist's, its place in the alternation in the JSON state
    def state(self, step: int, keep: int) -> dict[str, Any]:
        """Write the adversary's checkpoint for protagonist step ``step``; the JSON state that finds it again."""
        directory = self.run_dir / ADVERSARY_DIR / "checkpoints"
        directory.mkdir(parents=True, exist_ok=True)
        path = ckpt.save_checkpoint(ckpt.checkpoint_path(directory, step), self.adversary)
        ckpt.prune_checkpoints(directory, keep)
        return {"checkpoint": path.name, "phases": self.phases, "next_switch": self.next_switch}

    def restore(self, state: dict[str, Any] | None) -> None:
        """Continue from :meth:`state`'s return value (call before the protagonist's checkpoint is restored:
        both restore the random number generators, the protagonist's last)."""
        if not state:
            return
        path = self.run_dir / ADVERSARY_DIR / "checkpoints" / str(state["checkpoint"])
        if not path.is_file():
            raise SimtransferError(f"cannot resume the adversary: {path} is missing")
        ckpt.restore_checkpoint(path, self.adversary)
        self.phases, self.next_switch = int(state["phases"]), int(state["next_switch"])

    def finish(self) -> Path:
        """Write ``RUN/adversary/`` (config.yaml, policy.safetensors, metadata.json); returns the directory."""
        out = self.run_dir / ADVERSARY_DIR
        out.mkdir(parents=True, exist_ok=True)
        cfg = adversary_config(self.cfg, self.adversary.num_timesteps)
        atomic_write_bytes(out / "config.yaml", cfg.to_yaml().encode())
        sha = save_weights(out / "policy.safetensors", self.adversary)
        meta = build_metadata(cfg, self.adversary, None, weights_sha256=sha, vec_env=self.adv_env,
                              extra={"rarl": {"phases": self.phases, "protagonist_steps": int(self.protagonist.num_timesteps),
                                              "role": "adversary"}})
        atomic_write_json(out / "metadata.json", meta)
        return out

    def close(self) -> None:
        self.adv_env.close()


def rarl_callback(cfg: TrainConfig, model: Any, vec_env: Any, run_dir: Path,
                  checkpoint_meta: dict[str, Any] | None = None) -> RarlCallback | None:
    """The RARL callback of a config with an ``adversary:`` block (None without one), resumed from a
    protagonist checkpoint's metadata if given."""
    if cfg.adversary is None:
        return None
    check_adversary(cfg)
    cb = RarlCallback(cfg, model, vec_env, run_dir)
    try:
        cb.restore(((checkpoint_meta or {}).get("extra") or {}).get("rarl"))
    except Exception:
        cb.close()
        raise
    return cb
