"""``zeroshot``: evaluate the source policy on the target as is — no learning.

The run directory holds the target config, the source's weights (byte-identical copy), metadata with lineage,
and ``eval.json`` with ``final`` and a single-point curve at t=0.  Adapters (``adapter`` option, index mode)
apply; the source's normalisation statistics are always carried (nothing to re-estimate them with).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field

from simtransfer.agents.config import TrainConfig
from simtransfer.agents.evaluation import run_episodes, summarize
from simtransfer.agents.policy_io import atomic_write_bytes, atomic_write_json, config_sha256, load_policy
from simtransfer.agents.rundirs import check_clearable, clear_run_dir
from simtransfer.agents.vecenv import make_single_env
from simtransfer.envs.errors import SimtransferError
from simtransfer.transfer.methods import MethodOptions, SourceRun, TransferMethod, TransferResult, register


class ZeroshotOptions(MethodOptions):
    episodes: int | None = Field(default=None, ge=1, description="evaluation episodes (default: eval.final_episodes)")


@register
class Zeroshot(TransferMethod):
    name = "zeroshot"
    summary = "evaluate the source policy on the target, no learning"
    Options = ZeroshotOptions
    learns = False

    def configure(self, config: TrainConfig, sources: list[SourceRun], options: Any) -> TrainConfig:
        if options.adapter and options.adapter_mode == "learned":
            raise SimtransferError("zeroshot cannot use adapter_mode learned (nothing would train the projection)")
        return super().configure(config, sources, options)

    def run(self, config: TrainConfig, sources: list[SourceRun], options: Any, run_dir: Any,
            metadata: dict[str, Any], *, force: bool = False) -> TransferResult:
        run_dir = Path(run_dir)
        if run_dir.is_dir() and any(p.name != ".lock" for p in run_dir.iterdir()) and not force:
            raise SimtransferError(f"run directory {run_dir} is not empty (use --force to overwrite it)")
        source = sources[0]
        policy = load_policy(source.path)
        episodes = options.episodes or config.eval.final_episodes or config.eval.episodes
        targets = {"train": config.env} if config.eval.train else {}
        targets.update({t.display_name: t for t in config.eval.targets})
        final: dict[str, Any] = {}
        for name, spec in targets.items():
            env = make_single_env(spec, config.adapters, seed=config.eval.seed)
            try:
                returns, lengths = run_episodes(env, policy.model, episodes=episodes, seed=config.eval.seed,
                                                normalizer=policy.normalizer)
            finally:
                env.close()
            final[name] = summarize(name, returns, lengths).to_dict()
        curves = {k: {"timesteps": [0], "mean_return": [v["mean_return"]], "std_return": [v["std_return"]]}
                  for k, v in final.items()}
        if run_dir.is_dir() and force:
            check_clearable(run_dir, [s.path for s in sources])
            clear_run_dir(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        config_text = config.to_yaml()
        atomic_write_bytes(run_dir / "config.yaml", config_text.encode())
        atomic_write_bytes(run_dir / "policy.safetensors", (source.path / "policy.safetensors").read_bytes())
        meta = dict(source.metadata)
        meta.update(metadata)
        meta["config_sha256"] = config_sha256(config_text)
        meta["lineage"]["report"] = {"normalization": "carry" if policy.normalizer is not None else "off",
                                     "notes": ["zero-shot: source weights evaluated unchanged"]}
        atomic_write_json(run_dir / "metadata.json", meta)
        atomic_write_json(run_dir / "eval.json", {"curves": curves, "final": final})
        report = {"method": self.name, "loaded": sorted(source.state_dict), "normalization":
                  meta["lineage"]["report"]["normalization"], "evaluated": list(final)}
        (run_dir / "transfer_report.json").write_text(json.dumps(report, indent=2))
        return TransferResult(run_dir=run_dir, method=self.name, report=report, final=final, curves=curves)
