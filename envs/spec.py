"""One resolver for every command: turn an env spec into a ready ``gymnasium.Env``.

An env spec is a registered gymnasium id (``simtransfer/InvertedPendulum-v0``, ``HopperBulletEnv-v0``,
``Hopper-v5``), or ``package.module:callable`` returning a ``gymnasium.Env``, optionally with constructor
kwargs, a randomization spec (YAML file or mapping) and a list of wrappers named by dotted path + kwargs.

>>> from simtransfer.envs.spec import make_env
>>> env = make_env({"id": "simtransfer/InvertedPendulum-v0"}, seed=0)   # doctest: +SKIP
>>> obs, info = env.reset(seed=0)                                         # doctest: +SKIP
>>> sorted(info["params"])[:2]                                            # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import pybullet_envs_gymnasium  # noqa: F401  (registers the *BulletEnv-v0 ids; simtransfer/* ones: envs.registry)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from simtransfer.envs.errors import SimtransferError, validation_error
from simtransfer.envs.randomization import apply_randomization
from simtransfer.envs.tasks import ENTRY_POINT
from simtransfer.envs.trust import import_object, resolve_component
from simtransfer.envs.wrappers import WRAPPERS
from simtransfer.envs.yaml_io import load_yaml

__all__ = ["EnvSpec", "WrapperSpec", "import_object", "load_yaml", "make_env", "parse_env_spec"]

# gymnasium wrappers a config may name without --trust (plain transformations that write no files)
LIBRARY_WRAPPERS = frozenset({"gymnasium.wrappers:TimeLimit", "gymnasium.wrappers:ClipAction",
                              "gymnasium.wrappers:RescaleAction", "gymnasium.wrappers:FlattenObservation"})


class WrapperSpec(BaseModel):
    """A gymnasium wrapper named by short name (see ``simtransfer.envs.wrappers.WRAPPERS``) or dotted path, plus kwargs."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="short wrapper name (e.g. 'obs_noise') or 'package.module:Class'")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for the wrapper")


class EnvSpec(BaseModel):
    """Everything needed to build one environment, reproducibly."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="gymnasium id or 'package.module:callable' returning a gymnasium.Env")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for gym.make / the callable")
    randomization: str | dict[str, Any] | None = Field(
        default=None, description="randomization spec: path to a YAML file or an inline mapping (None: as registered)"
    )
    wrappers: list[WrapperSpec] = Field(default_factory=list, description="extra wrappers, applied in order")
    name: str | None = Field(default=None, description="short display name (default: derived from id)")

    @field_validator("id")
    @classmethod
    def _non_empty(cls, v: str) -> str:
        if not v or not v.strip():
            raise ValueError("env id must not be empty")
        return v.strip()

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        return self.id.split("/")[-1].split(":")[-1]


def parse_env_spec(spec: str | dict[str, Any] | EnvSpec) -> EnvSpec:
    """Accept a bare id string, a mapping or an :class:`EnvSpec`; raise a one-line error if malformed."""
    if isinstance(spec, EnvSpec):
        return spec
    if isinstance(spec, str):
        return EnvSpec(id=spec)
    if isinstance(spec, dict):
        try:
            return EnvSpec(**spec)
        except ValidationError as exc:
            raise validation_error(exc, "bad env spec") from None
    raise SimtransferError(f"bad env spec: expected an id string or a mapping, got {type(spec).__name__}")


def _spec_file(path: str) -> Path:
    """A randomization file: as given, else (a relative path) inside the simtransfer checkout (envs/presets/...)."""
    p = Path(path)
    if not p.is_file() and not p.is_absolute():
        packaged = Path(__file__).resolve().parent.parent / p
        if packaged.is_file():
            return packaged
    return p


def _make_base(spec: EnvSpec, render_mode: str | None) -> gym.Env:
    kwargs = dict(spec.kwargs)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    if ":" in spec.id:
        factory = resolve_component(spec.id, gym.Env, field="env.id", libraries=("gymnasium",))
        if not callable(factory):
            raise SimtransferError(f"'{spec.id}' is not callable")
        env = factory(**kwargs)
        if not isinstance(env, gym.Env):
            raise SimtransferError(f"'{spec.id}' returned {type(env).__name__}, not a gymnasium.Env")
        return env
    try:
        return gym.make(spec.id, **kwargs)
    except gym.error.Error as exc:  # unknown id, bad version, missing dependency
        raise SimtransferError(f"unknown env '{spec.id}': {str(exc).splitlines()[0]}") from None
    except TypeError as exc:
        raise SimtransferError(f"bad kwargs for env '{spec.id}': {exc}") from None


def _is_task_id(env_id: str) -> bool:
    """True for ids registered by ``simtransfer.envs.registry`` (their entry point accepts ``randomization=``)."""
    if ":" in env_id or not env_id.startswith("simtransfer/"):
        return False
    spec = gym.registry.get(env_id)
    return spec is not None and spec.entry_point == ENTRY_POINT


def apply_wrappers(env: gym.Env, wrappers: list[WrapperSpec]) -> gym.Env:
    """Wrap ``env`` with each spec in order (short names from ``simtransfer.envs.wrappers.WRAPPERS`` or dotted paths)."""
    for w in wrappers:
        cls = WRAPPERS[w.type] if w.type in WRAPPERS else \
            resolve_component(w.type, gym.Wrapper, field="wrapper type", exact=LIBRARY_WRAPPERS)
        try:
            env = cls(env, **w.kwargs)
        except TypeError as exc:
            raise SimtransferError(f"bad arguments for wrapper '{w.type}': {exc}") from None
    return env


def make_env(
    spec: str | dict[str, Any] | EnvSpec,
    *,
    seed: int | None = None,
    render_mode: str | None = None,
) -> gym.Env:
    """Build the env a spec describes: base env → randomization → wrappers.

    ``seed`` seeds the action/observation spaces; pass it to ``reset(seed=...)`` too for full determinism.
    """
    spec = parse_env_spec(spec)
    rand = None
    if spec.randomization is not None:
        rand = load_yaml(_spec_file(spec.randomization)) if isinstance(spec.randomization, str) else spec.randomization
        if _is_task_id(spec.id):  # a simtransfer task: the spec replaces its preset instead of stacking on it
            spec = spec.model_copy(update={"kwargs": {**spec.kwargs, "randomization": rand}})
            rand = None
    env = _make_base(spec, render_mode)
    if rand is not None:
        env = apply_randomization(env, rand)
    env = apply_wrappers(env, spec.wrappers)
    if seed is not None:
        env.action_space.seed(seed)
        env.observation_space.seed(seed)
    return env
