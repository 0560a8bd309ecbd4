"""The typed training config (``TrainConfig``) and how a YAML file becomes one.

Override order, lowest to highest priority:

1. field defaults of :class:`TrainConfig`;
2. the per-env defaults file ``experiments/configs/hyperparams/<algo>.yaml`` (RL Zoo style: top-level keys are
   env ids, each holding any ``TrainConfig`` fields, e.g. ``hyperparams``, ``n_envs``, ``normalize``);
3. the config file;
4. ``--set key.sub=value`` overrides (values parsed as bounded YAML), then ``--seed``.

Mappings merge key by key; lists and scalars replace.

>>> from simtransfer.agents.config import TrainConfig
>>> cfg = TrainConfig(env={"id": "CartPole-v1"}, algo="ppo", total_timesteps=1000)
>>> cfg.policy.policy_class is None
True
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from simtransfer.agents.adversary_config import AdversaryConfig
from simtransfer.agents.algos import check_hyperparams
from simtransfer.envs.errors import SimtransferError, validation_error
from simtransfer.envs.multitask import MultiTaskConfig
from simtransfer.envs.spec import EnvSpec, WrapperSpec, load_yaml
from simtransfer.envs.yaml_io import parse_yaml

# data, not code: the per-env defaults ship beside the example configs (simtransfer/experiments/configs/)
DEFAULTS_DIR = Path(__file__).resolve().parent.parent / "experiments" / "configs" / "hyperparams"
# optional feature blocks left out of a dumped config when unset (old run configs and fingerprints unchanged)
OPTIONAL_BLOCKS = ("adversary", "multitask")
Algo = Literal["ppo", "sac", "td3", "a2c", "dqn", "recurrent_ppo"]


class PolicyConfig(BaseModel):
    """A standard SB3 policy described by JSON-serializable kwargs (or a custom policy class by dotted path)."""

    model_config = ConfigDict(extra="forbid")

    policy_class: str | None = Field(
        default=None, description="'pkg.mod:Class' of a custom SB3 policy (default: the algorithm's MlpPolicy)")
    net_arch: list[int] | dict[str, list[int]] | None = Field(
        default=None, description="hidden layer sizes, e.g. [64, 64] or {pi: [64, 64], vf: [64, 64]}")
    activation_fn: str | None = Field(
        default=None, description="activation by name (tanh, relu, elu, leaky_relu, gelu, silu) or dotted path")
    features_extractor_class: str | None = Field(
        default=None, description="'pkg.mod:Class' of a features extractor (default: SB3's)")
    features_extractor_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="keyword arguments for the features extractor")
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="further policy_kwargs passed through (log_std_init, ortho_init, ...)")


class NormalizeConfig(BaseModel):
    """``VecNormalize`` settings; its statistics are saved with the policy (``vecnormalize.*`` tensors)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=False, description="wrap the training env in VecNormalize")
    norm_obs: bool = Field(default=True, description="normalize observations with running mean/std")
    norm_reward: bool = Field(default=True, description="scale rewards by the running std of the return")
    clip_obs: float = Field(default=10.0, gt=0, description="clip normalized observations to ±clip_obs")
    clip_reward: float = Field(default=10.0, gt=0, description="clip normalized rewards to ±clip_reward")

    @model_validator(mode="before")
    @classmethod
    def _from_bool(cls, value: Any) -> Any:
        return {"enabled": value} if isinstance(value, bool) else value


class EvalConfig(BaseModel):
    """Periodic and final evaluation on the training distribution and held-out targets."""

    model_config = ConfigDict(extra="forbid")

    every: int = Field(default=10_000, ge=0, description="evaluate every N environment steps (0: only at the end)")
    episodes: int = Field(default=10, ge=1, description="episodes per target at each periodic evaluation")
    final_episodes: int | None = Field(
        default=None, ge=1, description="episodes per target at the final evaluation (default: episodes)")
    seed: int = Field(default=1_000_000, ge=0, description="episode i of an evaluation resets with seed+i")
    train: bool = Field(default=True, description="also score the training distribution (name 'train')")
    at_start: bool = Field(
        default=False, description="also evaluate before any training, at t=0 (transfer runs: jumpstart needs it)")
    targets: list[EnvSpec] = Field(default_factory=list, description="held-out target envs scored alongside")
    stop_at: float | None = Field(
        default=None, description="stop early once the training-distribution mean return reaches this (None: never)")

    @field_validator("targets", mode="before")
    @classmethod
    def _ids_to_specs(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"id": v} if isinstance(v, str) else v for v in value]
        return value


class TrackingConfig(BaseModel):
    """Weights & Biases tracking; offline by default (no account, no network; ``wandb sync`` later)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["offline", "online", "disabled"] = Field(
        default="offline", description="W&B mode; the WANDB_MODE environment variable takes precedence")
    project: str = Field(default="simtransfer", description="W&B project name")
    entity: str | None = Field(default=None, description="W&B entity (team/user); None: the default")
    group: str | None = Field(default=None, description="W&B group (e.g. the experiment name)")
    tags: list[str] = Field(default_factory=list, description="W&B tags")
    log_artifact: bool = Field(default=True, description="upload the policy (weights + metadata) as an artifact")
    system_metrics: bool = Field(
        default=False, description="let W&B sample CPU/memory usage and capture the console (costs throughput)")


class TrainConfig(BaseModel):
    """One training run: env, algorithm, hyperparameters, policy, evaluation, checkpoints, tracking."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        default=None, description="run name, the directory under runs/ (default: {env}__{algo}__{seed}__{time})")
    env: EnvSpec = Field(description="training environment (id, kwargs, randomization, wrappers)")
    algo: Algo = Field(default="ppo", description="algorithm: ppo, sac, td3, a2c, dqn or recurrent_ppo")
    seed: int = Field(default=0, ge=0, description="seed for the model, the training envs and evaluation")
    total_timesteps: int = Field(default=100_000, gt=0, description="environment steps to train for")
    n_envs: int = Field(default=1, ge=1, description="parallel training environments")
    vec_env: Literal["dummy", "subproc"] = Field(
        default="dummy", description="vectorization: dummy (in process, fastest for cheap envs) or subproc")
    hyperparams: dict[str, Any] = Field(
        default_factory=dict, description="algorithm constructor arguments (learning_rate, n_steps, ...)")
    policy: PolicyConfig = Field(default_factory=PolicyConfig, description="policy network (SB3 policy_kwargs)")
    normalize: NormalizeConfig = Field(default_factory=NormalizeConfig, description="VecNormalize settings")
    adapters: list[WrapperSpec] = Field(
        default_factory=list, description="wrappers applied to every env the policy acts in (train and targets)")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="evaluation during and after training")
    checkpoint_every: int = Field(default=10_000, ge=0, description="atomic checkpoint every N steps (0: off)")
    keep_checkpoints: int = Field(default=2, ge=1, description="how many recent checkpoints to keep")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="W&B tracking")
    device: str = Field(default="cpu", description="torch device (cpu is deterministic and usually fastest here)")
    torch_threads: int | None = Field(default=1, ge=1, description="torch.set_num_threads (None: leave as is)")
    progress: bool = Field(default=True, description="show a progress bar on stderr")
    log_interval: int | None = Field(
        default=None, ge=1, description="SB3 log_interval (iterations or episodes; None: the algorithm's default)")
    adversary: AdversaryConfig | None = Field(
        default=None, description="RARL: train against an adversary that pushes links (agents/rarl.py; None: none)")
    multitask: MultiTaskConfig | None = Field(
        default=None, description="several training tasks (env: omitted or the first task); docs/multitask.md")

    @model_validator(mode="before")
    @classmethod
    def _first_task_as_env(cls, value: Any) -> Any:
        return MultiTaskConfig.fill_env(value)

    @model_validator(mode="after")
    def _check_multitask(self) -> TrainConfig:
        if self.multitask is not None:
            self.multitask.check_train_config(self)
        return self

    @field_validator("env", mode="before")
    @classmethod
    def _id_to_spec(cls, value: Any) -> Any:
        return {"id": value} if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        """A plain directory name: ``runs/{name}`` must stay under ``runs/`` (no ``..``, separators, absolute)."""
        if value is not None and (value.strip() in ("", ".", "..") or any(c in value for c in "/\\\0")):
            raise ValueError("must be a plain directory name under runs/ (no '/', '\\' or '..'; "
                             "--out puts a run elsewhere)")
        return value

    @field_validator("hyperparams")
    @classmethod
    def _check_hyperparams(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if "algo" in info.data:
            check_hyperparams(info.data["algo"], value)
        return value

    @model_serializer(mode="wrap")
    def _omit_unused_blocks(self, handler: Any) -> dict[str, Any]:
        """No ``adversary`` / ``multitask`` key when unused: configs (and the runner's fingerprints) of plain
        runs read as before those features existed."""
        data = handler(self)
        if isinstance(data, dict):
            for key in OPTIONAL_BLOCKS:
                if getattr(self, key) is None:
                    data.pop(key, None)
        return data

    def to_yaml(self) -> str:
        """The fully resolved config as YAML (what ``config.yaml`` in a run directory holds)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: mappings merge recursively, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _list_index(item: str, node: list[Any], part: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise SimtransferError(f"bad --set '{item}': '{part}' is not an index of a {len(node)}-item list")
    return int(part)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b=c`` strings (values parsed as bounded YAML) to a nested mapping; a numeric part
    indexes a list (``env.wrappers.0.kwargs.threshold_high=1500``)."""
    out = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not p for p in key.split(".")):
            raise SimtransferError(f"bad --set '{item}': expected key.sub=value")
        value = parse_yaml(text, source=f"--set {key}") if text.strip() else None  # bounded: sets come from files too
        node: Any = out
        *path, leaf = key.split(".")
        for part in path:
            if isinstance(node, list):  # a list element by index: env.wrappers.0.kwargs.delta=0.5
                child = node[_list_index(item, node, part)]
            else:
                child = node.get(part)
                if child is None:
                    child = node[part] = {}
            if not isinstance(child, (dict, list)):
                raise SimtransferError(f"bad --set '{item}': '{part}' is not a mapping")
            node = child
        if isinstance(node, list):
            node[_list_index(item, node, leaf)] = value
        else:
            node[leaf] = value
    return out


def algo_defaults(algo: str, env_id: str) -> dict[str, Any]:
    """The entry for ``env_id`` in ``configs/hyperparams/<algo>.yaml`` ({} if there is none)."""
    path = DEFAULTS_DIR / f"{algo}.yaml"
    if not path.is_file():
        return {}
    table = load_yaml(path) or {}
    entry = table.get(env_id) or {}
    if not isinstance(entry, dict):
        raise SimtransferError(f"{path}: entry '{env_id}' must be a mapping")
    return entry


def resolve_train_config(raw: Any, overrides: list[str] | None = None, *, source: str = "config",
                         seed: int | None = None, use_defaults: bool = True) -> TrainConfig:
    """Defaults file → ``raw`` mapping → ``--set`` overrides → ``seed``; validated into a :class:`TrainConfig`."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SimtransferError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
    raw = apply_overrides(raw, overrides or [])
    if seed is not None:
        raw["seed"] = seed
    if use_defaults:
        env = raw.get("env") or MultiTaskConfig.first_task(raw)
        env_id = env.get("id") if isinstance(env, dict) else env
        algo = raw.get("algo", "ppo")
        if isinstance(env_id, str) and isinstance(algo, str):
            raw = deep_merge(algo_defaults(algo, env_id), raw)
    try:
        return TrainConfig(**raw)
    except ValidationError as exc:
        raise validation_error(exc, source) from None
    except SimtransferError as exc:
        raise SimtransferError(f"{source}: {exc}") from None


def load_train_config(path: str | Path, overrides: list[str] | None = None, *, seed: int | None = None,
                      use_defaults: bool = True) -> TrainConfig:
    """Read a config YAML and resolve it (see the module docstring for the override order)."""
    return resolve_train_config(load_yaml(path), overrides, source=str(path), seed=seed, use_defaults=use_defaults)


def update_config(config: TrainConfig, updates: dict[str, Any]) -> TrainConfig:
    """A re-validated copy of ``config`` with dotted keys set (``{"hyperparams.learning_rate": 1e-4}``)."""
    raw = config.model_dump(mode="json")
    for key, value in updates.items():
        node = raw
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = copy.deepcopy(value)
    return resolve_train_config(raw, source="transfer config", use_defaults=False)


def field_reference(model: type[BaseModel] = TrainConfig, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) for every field, nested sections expanded — for docs/training.md."""
    rows = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        key = f"{prefix}{name}"
        if isinstance(ann, type) and issubclass(ann, BaseModel) and ann is not EnvSpec:
            rows.append((key, ann.__name__, "", field.description or ""))
            rows.extend(field_reference(ann, prefix=f"{key}."))
            continue
        tname = getattr(ann, "__name__", None) or str(ann).replace("typing.", "")
        if field.is_required():
            default = "required"
        elif field.default_factory is not None:
            default = repr(field.default_factory())
        else:
            default = repr(field.default)
        rows.append((key, str(tname), default, field.description or ""))
    return rows
