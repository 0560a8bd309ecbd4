"""``progressive``: frozen source column(s) + a new column with lateral adapters (Rusu et al. 2016).

``configure`` swaps the policy for a progressive one (:mod:`simtransfer.transfer.progressive`; kwargs built by
:func:`~simtransfer.transfer.progressive.progressive_policy_spec`, recorded in ``config.yaml``/``metadata.json``
under the class's registered short name, e.g. ``policy_class: progressive_actor_critic``, so ``load_policy``
rebuilds it); ``prepare_model`` copies the sources' weights into the frozen columns. Several source runs give
several columns; a source that is itself progressive brings its own columns (chains A → B → C). Options:
``alpha_init``, ``adapter_width``, ``head_laterals``, ``net_arch`` (new column), ``obs_index_maps`` /
``action_index_maps`` (one per source: target index or -1 for zero, for sources with other spaces), ``fast``
(opt-in speed-ups, same results up to float rounding), plus the common options (``normalization``,
``learning_rate``, ``adapter``).

>>> transfer(["runs/a", "runs/b"], "simtransfer/HopperExtrap-v0", "progressive",            # doctest: +SKIP
...          options={"alpha_init": 0.01}, timesteps=50_000)
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from simtransfer.agents.multitask import check_single_head
from simtransfer.agents.policy_io import describe_space, spaces_compatible
from simtransfer.agents.vecenv import make_single_env
from simtransfer.envs.errors import SimtransferError
from simtransfer.transfer.adapters import adapter_hint, get_preset
from simtransfer.transfer.api import _source_spaces, update_config
from simtransfer.transfer.methods import MethodOptions, SourceRun, TransferMethod, register
from simtransfer.transfer.methods.common import carry_normalization
from simtransfer.transfer.progressive import OFF_POLICY, load_source_columns, progressive_policy_spec
from simtransfer.transfer.weights import TransferReport


class ProgressiveOptions(MethodOptions):
    alpha_init: float = Field(default=0.01, description="initial value of the learned lateral scalars α")
    adapter_width: int | None = Field(
        default=None, ge=1, description="cap on the lateral adapters' reduced width (default: the column's width)"
    )
    head_laterals: bool = Field(default=True, description="feed the sources' last hidden layer into the new heads")
    net_arch: list[int] | dict[str, list[int]] | None = Field(
        default=None, description="hidden layers of the new column (default: the source's)"
    )
    obs_index_maps: list[list[int] | None] | None = Field(
        default=None, description="per source: target observation index for each source input, -1 for zero"
    )
    action_index_maps: list[list[int] | None] | None = Field(
        default=None, description="per source (SAC/TD3 critics): target action index per source action, -1 for zero"
    )
    fast: bool = Field(
        default=False,
        description="opt-in speed-ups: fused Adam, fused rollout towers, frozen columns once per rollout (PPO/A2C); "
                    "same results up to float rounding (~1e-6)")

    @model_validator(mode="after")
    def _adapter_to_index_maps(self) -> ProgressiveOptions:
        """An adapter preset becomes the source column's index maps: the new column keeps the full target
        observation instead of the preset's reduced one (the other methods' env-level adapter)."""
        if self.adapter is None:
            return self
        preset = get_preset(self.adapter)
        if self.obs_index_maps is None:
            self.obs_index_maps = [[-1 if i is None else int(i) for i in preset.obs_index]]
        if self.action_index_maps is None and preset.action_index is not None:
            first = {src: k for k, src in reversed(list(enumerate(preset.action_index))) if src is not None}
            n_source = max(first) + 1 if first else 0
            self.action_index_maps = [[first.get(j, -1) for j in range(n_source)]]
        self.adapter = None
        return self


def _check_spaces(sources: list[SourceRun], config: Any, options: Any, obs_space: Any, act_space: Any) -> None:
    """Without index maps, a source with other observations (or, for SAC/TD3 critics, other actions) is a
    one-line error naming the ``--adapter`` preset to use, as finetune's check does."""
    def mapped(maps: list | None, r: int) -> bool:
        return maps is not None and r < len(maps) and maps[r] is not None

    for r, src in enumerate(sources):
        s_obs, s_act = _source_spaces(src)
        if not (mapped(options.obs_index_maps, r) or spaces_compatible(s_obs, obs_space)):
            what, option, got, want = "observation", "obs_index_maps", s_obs, obs_space
        elif config.algo in OFF_POLICY and not (mapped(options.action_index_maps, r)
                                                or spaces_compatible(s_act, act_space)):
            what, option, got, want = "action", "action_index_maps", s_act, act_space
        else:
            continue
        fix = adapter_hint(src.env_id, config.env.id, fallback="an adapter preset (see docs/transfer.md)")
        raise SimtransferError(
            f"spaces differ: source {src.env_id} has {what} {describe_space(got)}, target {config.env.id} has "
            f"{what} {describe_space(want)} after adapters; use {fix} (progressive turns it into index maps) "
            f"or the {option} option")


@register
class Progressive(TransferMethod):
    name = "progressive"
    summary = "frozen source columns + a new column with lateral adapters (progressive networks)"
    Options = ProgressiveOptions
    max_sources = 8
    requires_matching_spaces = False  # index maps bridge the spaces; the spec checks them

    def configure(self, config: Any, sources: list[SourceRun], options: Any) -> Any:
        check_single_head(sources, self.name)  # a column is one MLP with one action head
        config = super().configure(config, sources, options)
        env = make_single_env(config.env, config.adapters, seed=config.seed)
        try:
            obs_space, act_space = env.observation_space, env.action_space
        finally:
            env.close()
        _check_spaces(sources, config, options, obs_space, act_space)
        path, kwargs = progressive_policy_spec(
            [s.path for s in sources],
            obs_space,
            act_space,
            config.algo,
            net_arch=options.net_arch,
            activation_fn=config.policy.activation_fn,
            alpha_init=options.alpha_init,
            adapter_width=options.adapter_width,
            head_laterals=options.head_laterals,
            obs_index_maps=options.obs_index_maps,
            action_index_maps=options.action_index_maps,
            fast=options.fast,
        )
        policy = {
            "policy_class": path,
            "net_arch": kwargs.pop("net_arch", config.policy.net_arch),
            "activation_fn": kwargs.pop("activation_fn"),
            "features_extractor_class": None,
            "features_extractor_kwargs": {},
            "kwargs": {**config.policy.kwargs, **kwargs},
        }
        return update_config(config, {"policy": policy})

    def prepare_model(self, model: Any, vec_env: Any, sources: list[SourceRun], options: Any) -> TransferReport:
        report = TransferReport(method=self.name)
        report.loaded = load_source_columns(model, [s.path for s in sources])
        report.frozen = list(report.loaded)
        loaded = set(report.loaded)
        report.new = [n for n in model.policy.state_dict() if n not in loaded]
        if len(sources) == 1 and not options.obs_index_maps:
            carry_normalization(model, vec_env, sources[0], options, report)
        else:
            report.notes.append("several sources or index maps: normalisation statistics re-estimated on the target")
            report.normalization = "reestimate"
        report.notes.append(f"{len(model.policy.columns)} frozen column(s); source weights are buffers, never trained")
        return report
