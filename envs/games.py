"""Related-game targets from Gymnasium's own Box2D games: LunarLander under other physics, BipedalWalker Hardcore.

LunarLander family (source: ``LunarLander-v3`` or ``LunarLanderContinuous-v3``; targets differ in gravity, wind
and turbulence, the ``LunarLander-v3`` keyword arguments)::

    simtransfer/LunarLander<Variant>-v0            discrete engines, Discrete(4) actions
    simtransfer/LunarLanderContinuous<Variant>-v0  throttled engines, Box(2) actions

for Variant in :data:`LUNAR_VARIANTS` (Nominal, LowGravity, HighGravity, Wind, StrongWind, LowGravityWind).
``action_space="discrete"`` / ``"continuous"`` puts an action adapter in front, so a policy trained on one
action interface drives the other engine model:

- :class:`DiscreteToContinuousAction`: noop → ``[-1, 0]``, left → ``[-1, -1]``, main → ``[1, 0]``,
  right → ``[-1, 1]``. Exact: the continuous engine at these values fires at full power like the discrete one,
  so with the same seed both games produce the same trajectory.
- :class:`ContinuousToDiscreteAction`: main engine if ``a[0] > 0``, side engine if ``|a[1]| > 0.5``
  (left for negative); when both are asked for, the larger demand wins (main ``(a0+1)/2``, side ``|a1|``).
  Lossy: the discrete game has no throttle and one engine per step.

``simtransfer/BipedalWalkerHardcore-v0`` is the Hardcore course (stumps, pits, stairs) for policies trained on
``BipedalWalker-v3``; spaces are identical, no adapter needed.

Every env reports its game parameters in ``info["params"]``. Needs ``box2d`` (and ``pygame-ce``, which
``gymnasium.envs.box2d`` imports): ``pip install "gymnasium[box2d]"``.

>>> import gymnasium as gym
>>> ids = register_game_envs()
>>> env = gym.make("simtransfer/LunarLanderContinuousWind-v0", action_space="discrete")
>>> env.action_space, env.reset(seed=0)[1]["params"]["wind_power"]
(Discrete(4), 15.0)
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.params import KINDS
from simtransfer.envs.registry import game_ids, register_game_envs
from simtransfer.envs.tasks import LUNAR_VARIANTS

#: Continuous action equivalent to each discrete LunarLander action (noop, left, main, right).
DISCRETE_TO_CONTINUOUS = np.array([[-1.0, 0.0], [-1.0, -1.0], [1.0, 0.0], [-1.0, 1.0]], dtype=np.float32)


class DiscreteToContinuousAction(gym.ActionWrapper):
    """Drive a continuous LunarLander with the 4 discrete actions (exact, see module docstring).

    >>> env = DiscreteToContinuousAction(gym.make("LunarLanderContinuous-v3"))
    >>> env.action(2).tolist()
    [1.0, 0.0]
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        if env.action_space != gym.spaces.Box(-1.0, 1.0, (2,), np.float32):
            raise SimtransferError(f"DiscreteToContinuousAction needs a Box(-1, 1, (2,)) env, got {env.action_space}")
        self.action_space = gym.spaces.Discrete(4)

    def action(self, action: Any) -> np.ndarray:
        return DISCRETE_TO_CONTINUOUS[int(action)].copy()


class ContinuousToDiscreteAction(gym.ActionWrapper):
    """Drive a discrete LunarLander with a continuous ``[main, lateral]`` action (lossy, see module docstring).

    >>> env = ContinuousToDiscreteAction(gym.make("LunarLander-v3"))
    >>> env.action(np.array([0.8, -0.6])), env.action(np.array([0.0, 0.9])), env.action(np.array([-1.0, 0.2]))
    (2, 3, 0)
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        if env.action_space != gym.spaces.Discrete(4):
            raise SimtransferError(f"ContinuousToDiscreteAction needs a Discrete(4) env, got {env.action_space}")
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def action(self, action: Any) -> int:
        main, lateral = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
        main_demand = (main + 1.0) * 0.5 if main > 0.0 else 0.0
        side_demand = abs(lateral) if abs(lateral) > 0.5 else 0.0
        if main_demand == 0.0 and side_demand == 0.0:
            return 0
        if main_demand >= side_demand:
            return 2
        return 1 if lateral < 0 else 3


class GameParams(gym.Wrapper):
    """Put the game's parameters into ``info["params"]`` on every reset and step; rewards are Python floats
    (BipedalWalker returns numpy scalars, which stable-baselines3's env checker rejects).

    The values are read from the game itself each time (``env.unwrapped.<name>``), so a randomizer that
    changes them between episodes (:class:`LunarLanderBinding`) is reported as it is.
    """

    def __init__(self, env: gym.Env, params: dict[str, float]) -> None:
        super().__init__(env)
        self.names = tuple(params)

    @property
    def params(self) -> dict[str, float]:
        game = self.env.unwrapped
        return {k: float(getattr(game, k)) for k in self.names}

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return obs, {**info, "params": self.params}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, float(reward), terminated, truncated, {**info, "params": self.params}


#: LunarLander parameters a randomization spec may set (kinds of :data:`simtransfer.envs.params.KINDS`).
LUNAR_KINDS = ("gravity", "wind_power", "turbulence_power")


def is_lunar_lander(env: gym.Env) -> bool:
    """True if ``env`` wraps Gymnasium's LunarLander (checked without importing Box2D)."""
    return type(env.unwrapped).__module__ == "gymnasium.envs.box2d.lunar_lander"


class LunarLanderBinding:
    """Writes randomized parameters into a LunarLander (the Box2D counterpart of :class:`simtransfer.envs.bullet.BulletBinding`).

    ``gravity`` is the magnitude (the game's ``gravity`` keyword is its negative), ``wind_power`` 0 means no
    wind (any other value turns the game's wind on), ``turbulence_power`` the rotational gusts that come with
    wind. The game reads them when an episode starts (its reset rebuilds the Box2D world with ``self.gravity``
    and draws the wind phase), so :meth:`preset_before_reset` writes them before the reset; :meth:`apply` also
    writes the live world's gravity (a mid-episode resample). ``info["params"]`` of a reset holds these
    parameters; step infos keep the game's own keywords (``gravity`` negative), see :class:`GameParams`.

    >>> import gymnasium as gym
    >>> from simtransfer.envs.randomization import PhysicsRandomizer
    >>> env = PhysicsRandomizer(gym.make("LunarLander-v3"), {"params": {
    ...     "gravity": {"low": 4.0, "high": 6.0, "nominal": 10.0, "valid_high": 11.9}}})
    >>> g = env.reset(seed=0)[1]["params"]["gravity"]
    >>> 4.0 <= g <= 6.0 and abs(env.unwrapped.world.gravity[1] + g) < 1e-5    # Box2D keeps float32
    True
    """

    def __init__(self, env: gym.Env, space: Any) -> None:
        self.game = env.unwrapped
        self._by_kind: dict[str, Any] = {}
        for prm in space.params:
            if KINDS[prm.kind].target == "signal":  # actuators/sensors: envs.signals.SignalModel
                continue
            if prm.kind not in LUNAR_KINDS or prm.links is not None:
                raise SimtransferError(f"parameter '{prm.name}': LunarLander randomization supports "
                                       f"{', '.join(LUNAR_KINDS)} (global), not {KINDS[prm.kind].description}")
            if prm.kind in self._by_kind:
                raise SimtransferError(f"parameter '{prm.name}': {prm.kind} is given twice")
            self._by_kind[prm.kind] = prm
        g = self._by_kind.get("gravity")
        native_g = -float(self.game.gravity)
        if g is not None and (g.valid[1] * (native_g if g.relative else 1.0)) >= 12.0:
            raise SimtransferError(f"parameter '{g.name}': LunarLander needs gravity below 12; set valid_high "
                                   f"(e.g. 11.9{'/10' if g.relative else ''}) so that ADR cannot widen past it")
        wind_on = bool(self.game.enable_wind)
        self.native = {"gravity": native_g, "wind_power": float(self.game.wind_power) if wind_on else 0.0,
                       "turbulence_power": float(self.game.turbulence_power)}

    def _values(self, values: dict[str, float] | None) -> dict[str, float]:
        out = dict(self.native)
        if values is not None:
            for kind, prm in self._by_kind.items():
                v = values[prm.name]
                out[kind] = v * self.native[kind] if prm.relative else v
        return out

    def preset_before_reset(self, values: dict[str, float] | None) -> None:
        """Before the game's reset: set gravity, wind and turbulence for the episode it starts."""
        v = self._values(values)
        self.game.gravity = -v["gravity"]
        self.game.enable_wind = v["wind_power"] > 0.0
        self.game.wind_power = v["wind_power"]
        self.game.turbulence_power = v["turbulence_power"]

    def apply(self, values: dict[str, float] | None) -> int:
        """Write ``values`` (None: the game's own) now, the running world's gravity included."""
        self.preset_before_reset(values)
        world = getattr(self.game, "world", None)
        if world is not None:
            world.gravity = (0.0, self.game.gravity)
        if self.game.enable_wind and not hasattr(self.game, "wind_idx"):  # wind turned on mid-episode
            self.game.wind_idx = self.game.np_random.integers(-9999, 9999)
            self.game.torque_idx = self.game.np_random.integers(-9999, 9999)
        return 0


def _box2d() -> Any:
    try:
        from gymnasium.envs.box2d import bipedal_walker, lunar_lander
    except (ImportError, gym.error.DependencyNotInstalled) as exc:
        raise SimtransferError(f'Box2D games need box2d and pygame-ce: pip install "gymnasium[box2d]" ({exc})') from exc
    return lunar_lander, bipedal_walker


def make_lunar_lander(
    continuous: bool = False, action_space: str = "native", render_mode: str | None = None, **physics: Any
) -> gym.Env:
    """A LunarLander with ``physics`` (gravity, enable_wind, wind_power, turbulence_power) and an action adapter.

    ``action_space``: ``"native"`` (as ``continuous`` says), ``"discrete"`` or ``"continuous"``.
    """
    lunar_lander, _ = _box2d()
    params = {**LUNAR_VARIANTS["Nominal"], **physics}
    unknown = set(params) - set(LUNAR_VARIANTS["Nominal"])
    if unknown:
        raise SimtransferError(f"unknown LunarLander parameter(s): {', '.join(sorted(unknown))}")
    if not -12.0 < float(params["gravity"]) < 0.0:
        raise SimtransferError(f"LunarLander gravity must be in (-12, 0), got {params['gravity']}")
    if action_space not in ("native", "discrete", "continuous"):
        raise SimtransferError(f"action_space must be native, discrete or continuous, got {action_space!r}")
    env: gym.Env = lunar_lander.LunarLander(render_mode=render_mode, continuous=continuous, **params)
    if action_space == "discrete" and continuous:
        env = DiscreteToContinuousAction(env)
    elif action_space == "continuous" and not continuous:
        env = ContinuousToDiscreteAction(env)
    return GameParams(env, {**params, "continuous": continuous})


def make_bipedal_walker(hardcore: bool = True, render_mode: str | None = None) -> gym.Env:
    """BipedalWalker (Hardcore by default) with ``info["params"] = {"hardcore": ...}``."""
    _, bipedal_walker = _box2d()
    return GameParams(bipedal_walker.BipedalWalker(render_mode=render_mode, hardcore=hardcore), {"hardcore": hardcore})


__all__ = [
    "LUNAR_VARIANTS",
    "ContinuousToDiscreteAction",
    "DiscreteToContinuousAction",
    "GameParams",
    "LUNAR_KINDS",
    "LunarLanderBinding",
    "is_lunar_lander",
    "make_bipedal_walker",
    "make_lunar_lander",
    "game_ids",
    "register_game_envs",
]
