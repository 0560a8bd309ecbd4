"""The ``adversary:`` block of a :class:`~simtransfer.agents.config.TrainConfig`: Robust Adversarial RL (RARL).

With it, training alternates (``agents/rarl.py``): ``protagonist_steps`` steps of the protagonist against the
current adversary (forces on ``links``, ``envs/adversary.py``), then ``adversary_steps`` steps of the adversary
against the current protagonist, until the protagonist has ``total_timesteps``.

>>> cfg = AdversaryConfig(links=["pole2"], max_force=5.0)
>>> cfg.algo, cfg.adversary_steps is None
('ppo', True)
>>> from pydantic import ValidationError
>>> try:
...     AdversaryConfig(links=["pole2"], max_force=0)
... except ValidationError as exc:
...     print(exc.errors()[0]["loc"], exc.errors()[0]["msg"])
('max_force',) Input should be greater than 0
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from simtransfer.agents.algos import check_hyperparams

Axis = Literal["x", "y", "z"]


class AdversaryConfig(BaseModel):
    """A RARL adversary: bounded forces (and torques) on named links, an SB3 algorithm, the alternation."""

    model_config = ConfigDict(extra="forbid")

    links: list[str] = Field(min_length=1, description="robot links the adversary pushes, by name (e.g. [pole2])")
    max_force: float = Field(gt=0, description="bound on each force component, in newtons")
    max_torque: float | None = Field(
        default=None, gt=0, description="bound on each torque component, in newton-metres (None: no torques)")
    force_axes: list[Axis] = Field(
        default_factory=lambda: ["x", "y", "z"], description="world axes the forces act along")
    torque_axes: list[Axis] = Field(
        default_factory=lambda: ["x", "y", "z"], description="world axes the torques act about (with max_torque)")
    algo: Literal["ppo", "sac", "td3", "a2c"] = Field(default="ppo", description="the adversary's SB3 algorithm")
    protagonist_steps: int = Field(
        default=2048, gt=0, description="protagonist env steps per phase (switches at the next rollout end)")
    adversary_steps: int | None = Field(
        default=None, gt=0, description="adversary env steps per phase (None: protagonist_steps)")
    n_envs: int = Field(default=1, ge=1, description="parallel envs the adversary trains in")
    hyperparams: dict[str, Any] = Field(
        default_factory=dict, description="the adversary algorithm's constructor arguments (n_steps, ...)")
    net_arch: list[int] = Field(default_factory=lambda: [64, 64], description="the adversary's hidden layers")
    deterministic: bool = Field(
        default=False, description="the fixed opponent acts deterministically (default: it samples, as in RARL)")

    @field_validator("force_axes", "torque_axes")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"axes must be distinct (got {value})")
        return value

    @field_validator("hyperparams")
    @classmethod
    def _check_hyperparams(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if "algo" in info.data:
            check_hyperparams(info.data["algo"], value)
        return value

    def wrapper_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of both disturbance wrappers (``adversary_force`` / ``adversary_control``)."""
        return {"links": list(self.links), "max_force": self.max_force, "max_torque": self.max_torque,
                "force_axes": list(self.force_axes), "torque_axes": list(self.torque_axes)}
