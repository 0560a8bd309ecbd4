"""Register the ``simtransfer/*`` environments (idempotent: importing twice changes nothing).

For every task: ``simtransfer/<Task>-v0`` (training distribution, the task's preset in ``envs/presets``),
``<Task>Nominal-v0`` (unchanged physics; nominal ``info["params"]``), ``<Task>Interp-v0`` and
``<Task>Extrap-v0`` (fixed, seeded held-out target sets). Every id accepts ``split_seed=`` (another held-out
set), ``randomization=`` (a mapping or YAML path replacing the preset) and ``context_in_obs=``.

>>> import gymnasium as gym, simtransfer.envs
>>> env = gym.make("simtransfer/CartPole-v0")
>>> sorted(env.reset(seed=0)[1]["params"])[:2]
['gravity', 'joint_damping']
>>> env.close()
"""

from __future__ import annotations

import gymnasium as gym

from simtransfer.envs.quiet import quiet_pybullet
from simtransfer.envs.tasks import (  # the catalog, importable from here as before
    ENTRY_POINT,
    LUNAR_VARIANTS,
    MUJOCO_IDS,
    NAMESPACE,
    PIXEL_IDS,
    PRESETS,
    REALITY_TASKS,
    REALITY_VARIANTS,
    SIM2SIM_TASKS,
    TASKS,
    VARIANTS,
    Task,
    env_id,
    preset,
    registered_ids,
    target_id,
)

__all__ = ["ENTRY_POINT", "NAMESPACE", "PRESETS", "TASKS", "VARIANTS", "Task", "env_id", "game_ids", "preset",
           "register_all", "register_game_envs", "register_pixel_envs", "register_reality_envs",
           "register_sim2sim_envs", "registered_ids"]


def register_all() -> None:
    """Register every task x variant once; already-registered ids are left alone."""
    for task in TASKS.values():
        for variant, split in VARIANTS.items():
            eid = env_id(task.name, variant)
            if eid in gym.registry:
                continue
            gym.register(id=eid, entry_point=ENTRY_POINT, max_episode_steps=task.max_episode_steps,
                         reward_threshold=task.reward_threshold, kwargs={"task": task.name, "split": split})


def register_sim2sim_envs() -> list[str]:
    """Register ``simtransfer/<Task>MuJoCo-v0`` for every task (idempotent); returns the ids."""
    ids = []
    for task in SIM2SIM_TASKS:
        env_id = target_id(task)
        ids.append(env_id)
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point="simtransfer.envs.sim2sim:BulletLayoutMuJoCoEnv",
            kwargs={"task": task},
            max_episode_steps=gym.spec(MUJOCO_IDS[task]).max_episode_steps,
        )
    return ids


def game_ids() -> list[str]:
    """Every id :func:`register_game_envs` registers."""
    ids = []
    for variant in LUNAR_VARIANTS:
        ids += [f"simtransfer/LunarLander{variant}-v0", f"simtransfer/LunarLanderContinuous{variant}-v0"]
    return [*ids, "simtransfer/BipedalWalkerHardcore-v0"]


def register_game_envs() -> list[str]:
    """Register the LunarLander family and BipedalWalkerHardcore under ``simtransfer/`` (idempotent)."""
    lunar_steps = gym.spec("LunarLander-v3").max_episode_steps
    for variant, physics in LUNAR_VARIANTS.items():
        for continuous in (False, True):
            env_id = f"simtransfer/LunarLander{'Continuous' if continuous else ''}{variant}-v0"
            if env_id not in gym.registry:
                gym.register(
                    id=env_id,
                    entry_point="simtransfer.envs.games:make_lunar_lander",
                    kwargs={"continuous": continuous, **physics},
                    max_episode_steps=lunar_steps,
                )
    if "simtransfer/BipedalWalkerHardcore-v0" not in gym.registry:
        gym.register(
            id="simtransfer/BipedalWalkerHardcore-v0",
            entry_point="simtransfer.envs.games:make_bipedal_walker",
            kwargs={"hardcore": True},
            max_episode_steps=gym.spec("BipedalWalkerHardcore-v3").max_episode_steps,
        )
    return game_ids()


def register_reality_envs() -> list[str]:
    """Register the reality stand-ins ``simtransfer/<Task>Real-v0`` (idempotent); returns the ids."""
    ids = []
    for task in REALITY_TASKS:
        eid = env_id(task, "Real")
        ids.append(eid)
        if eid not in gym.registry:
            gym.register(id=eid, entry_point="simtransfer.envs.reality:make_reality_env",
                         max_episode_steps=TASKS[task].max_episode_steps, kwargs={"task": task})
    for name, (task, variant) in REALITY_VARIANTS.items():
        eid = env_id(task, variant)
        ids.append(eid)
        if eid not in gym.registry:
            gym.register(id=eid, entry_point="simtransfer.envs.reality:make_reality_env",
                         max_episode_steps=TASKS[task].max_episode_steps, kwargs={"task": task, "standin": name})
    return ids


def register_pixel_envs() -> None:
    """Register the pixel envs (``gymnasium.register``); already-registered ids are left alone."""
    for eid, kwargs in PIXEL_IDS.items():
        if eid not in gym.registry:
            gym.register(id=eid, entry_point="simtransfer.envs.pixels:make_pixel_pendulum", max_episode_steps=1000,
                         reward_threshold=950.0, kwargs=dict(kwargs))


quiet_pybullet()  # before any env module imports it: no build-time banner, no ``argv[0]=`` per connect
register_all()
register_sim2sim_envs()
register_game_envs()
register_pixel_envs()
register_reality_envs()
