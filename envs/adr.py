"""Automatic Domain Randomization (ADR; OpenAI et al. 2019, "Solving Rubik's Cube with a Robot Hand").

Every ADR-controlled parameter has a current range ``[low, high]`` that starts at its nominal value (or at the
configured training range). At each reset, with probability ``boundary_prob`` one parameter is *pinned* at one
of its boundaries (the others are drawn uniformly from their current ranges). The return of a pinned episode
goes into that boundary's buffer (length ``buffer_size``); when a buffer is full its mean decides: at or above
``threshold_high`` the boundary moves outward by ``delta``, at or below ``threshold_low`` it moves inward, and
the buffer is cleared. Ranges never leave the parameter's valid bounds and never stop containing the anchor
(the nominal value, or the middle of the configured range if the nominal lies outside it).

Absolute thresholds fit one training budget: a policy that keeps improving soon clears a fixed ``threshold_high``
far out where it is already poor. With ``thresholds: relative`` the thresholds are fractions of a *reference*:
with probability ``reference_prob`` an episode runs every ADR parameter at its anchor (nominal), and the mean
return of the last ``reference_size`` such episodes, measured above ``baseline`` (e.g. a random policy's
return), is the reference. A boundary then widens while the policy keeps ``threshold_high`` (say 0.9) of its
nominal return there — the robustness ratio itself — and the thresholds rise with its competence. No decision
is taken until the reference exists, exceeds the baseline and reaches ``min_reference`` if given (start at the
nominal value and let ADR begin once the policy has learned the nominal task). (The reference is not the mean of ordinary
episodes: those are drawn from the ranges being widened, so every widening would lower the bar for the next.)

Three pieces, so that vectorized training works (workers act, one process decides):

* :class:`ADRConfig` — the ``adr:`` section of a randomization spec (pydantic, one-line errors);
* :class:`ADRState` — ranges, boundary buffers and the reference; pure logic, JSON round trip
  (``to_json``/``from_json``). Both live in :mod:`simtransfer.envs.adr_state` and are re-exported here;
* :class:`ADRRandomization` — a wrapper over a :class:`~simtransfer.envs.randomization.PhysicsRandomizer` that samples from
  its (local copy of the) ranges and reports a pinned episode's return in ``info["adr"]`` (read at its end;
  with relative thresholds, reference episodes at the anchor are reported too, with side ``"none"``);
  the main process calls ``set_adr_ranges`` on every worker after an update
  (:class:`simtransfer.agents.adr_callback.ADRController`).

>>> import gymnasium as gym, simtransfer.envs
>>> env = ADRRandomization(gym.make("simtransfer/InvertedPendulum-v0"),
...                        params=["mass"], threshold_low=100, threshold_high=900)
>>> env.reset(seed=0)[1]["params"]["mass"]
1.0
>>> env.close()
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from simtransfer.envs.adr_state import REFERENCE, SIDES, ADRConfig, ADRState, parse_adr_config
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.params import ParameterSpace, Selector
from simtransfer.envs.randomizer import PhysicsRandomizer

__all__ = ["SIDES", "REFERENCE", "ADRConfig", "ADRState", "parse_adr_config", "ADRResult", "ADRRandomization",
           "find_randomizer", "adr_space"]


def find_randomizer(env: gym.Env, what: str) -> Any:
    """The :class:`~simtransfer.envs.randomization.PhysicsRandomizer` under ``env`` (one-line error if there is none)."""
    inner: Any = env
    while not isinstance(inner, PhysicsRandomizer):
        if not isinstance(inner, gym.Wrapper):
            raise SimtransferError(f"{what} needs a physics randomizer below it (a simtransfer env or a "
                                   "'randomization' spec)")
        inner = inner.env
    if inner.config.split != "train":
        raise SimtransferError(f"{what} changes the training distribution; the env uses split "
                               f"'{inner.config.split}'")

    if not isinstance(inner.selector, Selector):
        raise SimtransferError(f"{what}: the randomizer's ranges are already driven by "
                               f"{type(inner.selector).__name__} (use one of adr / curriculum)")
    return inner


class ADRResult(Mapping):
    """``info["adr"]`` of a pinned episode: ``{"param", "side", "value", "return"}``, read-only.

    Immutable, so ``copy.deepcopy`` (which SB3's ``DummyVecEnv`` applies to every step's infos) returns it
    as it is instead of rebuilding a dict on every step of every pinned episode.
    """

    __slots__ = ("_values",)
    _KEYS = ("param", "side", "value", "return")
    _INDEX = {k: i for i, k in enumerate(_KEYS)}

    def __init__(self, param: str, side: str, value: float, ret: float) -> None:
        object.__setattr__(self, "_values", (param, side, value, ret))

    def __getitem__(self, key: str) -> Any:
        return self._values[self._INDEX[key]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._KEYS)

    def __len__(self) -> int:
        return 4

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("ADRResult is read-only")

    def __deepcopy__(self, memo: dict) -> ADRResult:
        return self

    def __copy__(self) -> ADRResult:
        return self

    def __reduce__(self) -> tuple:
        return ADRResult, self._values

    def __repr__(self) -> str:
        return f"ADRResult({dict(self)})"


class _ADRSelector:
    """Stands in for the randomizer's :class:`~simtransfer.envs.params.Selector`: samples from the ADR ranges."""

    def __init__(self, state: ADRState) -> None:
        self.state = state
        self.pinned: tuple[str, str] | None = None
        self.pinned_value = 0.0

    def select(self, rng: np.random.Generator, *, restart: bool = False) -> tuple[int, dict[str, float]]:
        values, self.pinned = self.state.sample(rng)
        if self.pinned is not None:
            self.pinned_value = values.get(self.pinned[0], 0.0)  # (a reference episode pins no single value)
        return -1, values


class ADRRandomization(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Sample the physics randomizer's parameters from ADR ranges; report pinned episodes in ``info["adr"]``.

    Keyword arguments are the fields of :class:`ADRConfig`. Every step of a pinned episode has
    ``{"param", "side", "value", "return"}`` (return so far) under ``info["adr"]``; the consumer counts it
    when the episode ends (terminated or truncated by any wrapper, e.g. a ``TimeLimit`` outside this one).
    With ``thresholds="relative"`` reference episodes (every ADR parameter at its anchor) carry
    ``{"param": "", "side": "none", ...}``.
    Every reset's info holds the current ranges under ``"adr_ranges"``. ``set_adr_ranges`` installs ranges decided elsewhere (the main process).
    """

    def __init__(self, env: gym.Env, **adr: Any) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, **adr)
        gym.Wrapper.__init__(self, env)
        self.randomizer = find_randomizer(env, "adr")
        if self.randomizer.config.resample_every:
            raise SimtransferError("adr needs resample_every: null (a pinned boundary holds for a whole episode)")
        self.adr_config = parse_adr_config(adr)
        self.adr_param_space: ParameterSpace = self.randomizer.space
        self.state = ADRState(self.randomizer.space, self.adr_config)
        self._selector = _ADRSelector(self.state)
        self.randomizer.selector = self._selector
        self._return = 0.0

    def set_adr_ranges(self, ranges: dict[str, list[float] | tuple[float, float]]) -> None:
        """Install ranges (``{name: (low, high)}``) decided by the main process; used from the next reset."""
        for name, (lo, hi) in ranges.items():
            if name not in self.state.dims:
                raise SimtransferError(f"adr: unknown parameter '{name}' in pushed ranges")
            self.state.ranges[name] = (float(lo), float(hi))

    def get_adr_ranges(self) -> dict[str, tuple[float, float]]:
        return dict(self.state.ranges)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._return = 0.0
        info = dict(info)
        info["adr_ranges"] = dict(self.state.ranges)
        return obs, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._return += float(reward)
        pinned = self._selector.pinned
        if pinned is not None:
            # on every step, not only at the end: a TimeLimit outside this wrapper may end the episode
            result = ADRResult(pinned[0], pinned[1], self._selector.pinned_value, self._return)
            info = {**info, "adr": result}  # (a copy: the inner env may reuse its dict)
        return obs, reward, terminated, truncated, info


def adr_space(env: gym.Env) -> ParameterSpace:
    """The parameter space of the randomizer under ``env`` (for building an :class:`ADRState` elsewhere)."""
    return find_randomizer(env, "adr").space
