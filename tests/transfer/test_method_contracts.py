"""One contract per transfer method: each test fails when the method's defining behaviour is removed.

Real PyBullet + SB3 PPO on tiny budgets, seeded.  ``_spy`` wraps a method's ``prepare_model`` (the method
object handed to the public ``transfer(...)``) to snapshot the policy right after preparation, i.e. the
weights training starts from; the run directory gives the weights it ended with.  Progressive is checked
through the run directory only (its internals are another module's business).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from simtransfer.transfer.methods import available_methods, get_method

PEND, DOUBLE = "InvertedPendulumBulletEnv-v0", "InvertedDoublePendulumBulletEnv-v0"
STEPS = 64
PPO = {"n_steps": 64, "batch_size": 32, "n_epochs": 2}
TRUNK = re.compile(r"^mlp_extractor\.")  # hidden layers of actor and critic; the rest are heads (+ log_std)
HEADS = ("action_net.weight", "action_net.bias", "value_net.weight", "value_net.bias")

CONTRACTS = {  # method -> the test below that pins its defining behaviour
    "scratch": "test_scratch_loads_nothing",
    "zeroshot": "test_zeroshot_is_the_source_bit_for_bit",
    "finetune": "test_finetune_starts_from_the_whole_source_and_trains_it",
    "freeze": "test_freeze_keeps_frozen_tensors_bit_identical_and_trains_the_rest",
    "features": "test_features_keeps_the_trunk_and_reinitialises_the_heads",
    "partial": "test_partial_loads_by_mapped_name_and_shape",
    "l2sp": "test_l2sp_ends_closer_to_the_source_than_finetune",
    "progressive": "test_progressive_source_columns_frozen_and_laterals_trained",
}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    from simtransfer.experiments.config import resolve_train_config
    from simtransfer.experiments.train import train

    raw = {"env": PEND, "algo": "ppo", "seed": 0, "checkpoint_every": 0, "progress": False,
           "eval": {"every": 0, "episodes": 2}, "tracking": {"mode": "disabled"},
           "hyperparams": PPO, "total_timesteps": STEPS, "policy": {"net_arch": [16, 16]}}
    out = tmp_path_factory.mktemp("contracts") / "src"
    train(resolve_train_config(raw, use_defaults=False), out)
    return out


def _weights(run: Path) -> dict[str, torch.Tensor]:
    from simtransfer.agents.policy_io import read_weights

    return {k: v for k, v in read_weights(run / "policy.safetensors")[0].items() if not k.startswith("vecnormalize.")}


def _spy(name: str) -> tuple[Any, dict[str, Any]]:
    """The registered method, with ``prepare_model`` wrapped to record the prepared policy's tensors."""
    meth = copy.copy(get_method(name))
    seen: dict[str, Any] = {}
    real = meth.prepare_model

    def prepare_model(model, vec_env, sources, options):
        report = real(model, vec_env, sources, options)
        seen["initial"] = {k: v.detach().clone() for k, v in model.policy.state_dict().items()}
        seen["trainable"] = {n for n, p in model.policy.named_parameters() if p.requires_grad}
        return report

    meth.prepare_model = prepare_model
    return meth, seen


def _run(source: Path, out: Path, method: Any, target: str = PEND, options: dict | None = None,
         steps: int = STEPS) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, Any]]:
    from simtransfer.transfer.api import transfer

    transfer(source, target, method, out_dir=out, timesteps=steps, seed=1, options=options, quiet=True)
    report = json.loads((out / "transfer_report.json").read_text())
    return report, _weights(out), json.loads((out / "eval.json").read_text())


def _distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], names) -> float:
    return float(sum(float(((a[n] - b[n]) ** 2).sum()) for n in names) ** 0.5)


def test_every_method_has_a_contract():
    assert set(available_methods()) == set(CONTRACTS)
    tests = {n for n in globals() if n.startswith("test_")}
    assert set(CONTRACTS.values()) <= tests


def test_scratch_loads_nothing(source, tmp_path):
    src = _weights(source)
    meth, seen = _spy("scratch")
    report, final, _ = _run(source, tmp_path / "scratch", meth)
    assert report["loaded"] == [] and report["frozen"] == []
    assert set(report["new"]) == set(src)
    matrices = [n for n, t in src.items() if t.ndim == 2]
    assert matrices and all(not torch.equal(seen["initial"][n], src[n]) for n in matrices)
    assert seen["trainable"] == set(src)


def test_zeroshot_is_the_source_bit_for_bit(source, tmp_path):
    out = tmp_path / "zeroshot"
    report, _, evals = _run(source, out, "zeroshot")
    assert (out / "policy.safetensors").read_bytes() == (source / "policy.safetensors").read_bytes()
    assert report["loaded"] == sorted(_weights(source))
    assert evals["curves"]["train"]["timesteps"] == [0]  # evaluated, never trained
    lineage = json.loads((out / "metadata.json").read_text())["lineage"]
    assert lineage["report"]["notes"] == ["zero-shot: source weights evaluated unchanged"]


def test_finetune_starts_from_the_whole_source_and_trains_it(source, tmp_path):
    src = _weights(source)
    meth, seen = _spy("finetune")
    report, final, evals = _run(source, tmp_path / "finetune", meth)
    assert sorted(report["loaded"]) == sorted(src) and report["new"] == [] and report["frozen"] == []
    for n, t in src.items():  # training starts from the source, bit for bit
        assert torch.equal(seen["initial"][n], t), n
    assert seen["trainable"] == set(src)  # and everything trains
    assert all(not torch.equal(final[n], src[n]) for n in src if src[n].ndim == 2)
    # its score before target training is the zero-shot score, episode by episode
    _, _, zero = _run(source, tmp_path / "zeroshot", "zeroshot")
    assert evals["curves"]["train"]["timesteps"][0] == 0
    assert evals["curves"]["train"]["mean_return"][0] == zero["final"]["train"]["mean_return"]


def test_freeze_keeps_frozen_tensors_bit_identical_and_trains_the_rest(source, tmp_path):
    src = _weights(source)
    meth, seen = _spy("freeze")
    report, final, _ = _run(source, tmp_path / "freeze", meth)
    first = ["mlp_extractor.policy_net.0.weight", "mlp_extractor.policy_net.0.bias",
             "mlp_extractor.value_net.0.weight", "mlp_extractor.value_net.0.bias"]
    assert sorted(report["frozen"]) == sorted(first)  # default: the first block of every chain
    assert sorted(report["loaded"]) == sorted(src)
    assert seen["trainable"] == set(src) - set(first)
    for n in first:
        assert torch.equal(final[n], src[n]), n
    for n in set(src) - set(first):
        if src[n].ndim == 2:
            assert torch.equal(seen["initial"][n], src[n]) and not torch.equal(final[n], src[n]), n


def test_freeze_layers_option_freezes_exactly_those(source, tmp_path):
    src = _weights(source)
    report, final, _ = _run(source, tmp_path / "freeze", "freeze", options={"layers": ["pi.1"]})
    chosen = ["mlp_extractor.policy_net.2.weight", "mlp_extractor.policy_net.2.bias"]
    assert sorted(report["frozen"]) == sorted(chosen)
    assert all(torch.equal(final[n], src[n]) for n in chosen)
    assert not torch.equal(final["mlp_extractor.policy_net.0.weight"], src["mlp_extractor.policy_net.0.weight"])


def test_features_keeps_the_trunk_and_reinitialises_the_heads(source, tmp_path):
    src = _weights(source)
    meth, seen = _spy("features")
    report, final, _ = _run(source, tmp_path / "features", meth)
    trunk = sorted(n for n in src if TRUNK.match(n))
    assert sorted(report["frozen"]) == trunk
    assert set(report["reinitialized"]) == {*HEADS, "log_std"}
    assert seen["trainable"] == set(src) - set(trunk)
    for n in trunk:  # kept from the source, and never trained
        assert torch.equal(seen["initial"][n], src[n]) and torch.equal(final[n], src[n]), n
    for n in ("action_net.weight", "value_net.weight"):  # new heads, trained on top
        assert not torch.equal(seen["initial"][n], src[n]), n
        assert not torch.equal(final[n], seen["initial"][n]), n


def test_features_train_critic_keeps_the_critic_trainable(source, tmp_path):
    report, _, _ = _run(source, tmp_path / "features", "features", options={"train_critic": True})
    assert report["frozen"] and all(n.startswith("mlp_extractor.policy_net.") for n in report["frozen"])


def test_partial_loads_by_mapped_name_and_shape(source, tmp_path):
    src = _weights(source)
    swap = [[r"^mlp_extractor\.policy_net\.", "mlp_extractor.TMP."],
            [r"^mlp_extractor\.value_net\.", "mlp_extractor.policy_net."],
            [r"^mlp_extractor\.TMP\.", "mlp_extractor.value_net."]]
    meth, seen = _spy("partial")
    report, _, _ = _run(source, tmp_path / "partial", meth, target=DOUBLE, options={"key_map": swap})
    init = seen["initial"]
    # first layers: 5 inputs in the source, 9 in the target -> skipped for shape, freshly initialised
    assert {s["target"] for s in report["skipped_shape"]} == {"mlp_extractor.policy_net.0.weight",
                                                               "mlp_extractor.value_net.0.weight"}
    assert {"mlp_extractor.policy_net.0.weight", "mlp_extractor.value_net.0.weight"} <= set(report["new"])
    # the key map swapped actor and critic hidden layers
    assert report["renamed"]["mlp_extractor.policy_net.2.weight"] == "mlp_extractor.value_net.2.weight"
    assert torch.equal(init["mlp_extractor.policy_net.2.weight"], src["mlp_extractor.value_net.2.weight"])
    assert torch.equal(init["mlp_extractor.value_net.2.bias"], src["mlp_extractor.policy_net.2.bias"])
    assert torch.equal(init["mlp_extractor.policy_net.0.bias"], src["mlp_extractor.value_net.0.bias"])
    for n in HEADS:  # unmapped names load as they are
        assert n in report["loaded"] and torch.equal(init[n], src[n]), n
    assert report["frozen"] == []


def test_partial_exclude_and_freeze(source, tmp_path):
    src = _weights(source)
    meth, seen = _spy("partial")
    report, final, _ = _run(source, tmp_path / "partial", meth,
                            options={"exclude": ["heads"], "freeze": ["pi.0"]})
    assert set(HEADS) <= set(report["reinitialized"]) and not set(HEADS) & set(report["loaded"])
    assert not torch.equal(seen["initial"]["action_net.weight"], src["action_net.weight"])
    assert sorted(report["frozen"]) == ["mlp_extractor.policy_net.0.bias", "mlp_extractor.policy_net.0.weight"]
    assert torch.equal(final["mlp_extractor.policy_net.0.weight"], src["mlp_extractor.policy_net.0.weight"])


def test_l2sp_ends_closer_to_the_source_than_finetune(source, tmp_path):
    src = _weights(source)
    names = [n for n in src if src[n].ndim == 2]
    _, tuned, _ = _run(source, tmp_path / "finetune", "finetune", steps=2 * STEPS)
    report, pulled, _ = _run(source, tmp_path / "l2sp", "l2sp", options={"alpha": 1000.0}, steps=2 * STEPS)
    assert sorted(report["loaded"]) == sorted(src)
    d_tuned, d_pulled = _distance(tuned, src, names), _distance(pulled, src, names)
    assert 0 < d_pulled < 0.5 * d_tuned, (d_pulled, d_tuned)
    assert any("alpha=1000.0" in note for note in report["notes"])


def test_l2sp_alpha_zero_is_finetune(source, tmp_path):
    src = _weights(source)
    _, tuned, _ = _run(source, tmp_path / "finetune", "finetune")
    _, free, _ = _run(source, tmp_path / "l2sp", "l2sp", options={"alpha": 0.0})
    assert all(torch.equal(tuned[n], free[n]) for n in src)


def test_progressive_source_columns_frozen_and_laterals_trained(source, tmp_path):
    src = _weights(source)
    report, short, _ = _run(source, tmp_path / "short", "progressive", options={"alpha_init": 0.25})
    _, long, _ = _run(source, tmp_path / "long", "progressive", options={"alpha_init": 0.25}, steps=2 * STEPS)
    column = {f"mlp_extractor.{tower}_tower.columns.0.layers.{i}.{p}": f"mlp_extractor.{net}.{2 * i}.{p}"
              for tower, net in (("policy", "policy_net"), ("value", "value_net")) for i in (0, 1)
              for p in ("weight", "bias")}
    column.update({f"source_heads.0.{n}": n for n in HEADS})
    assert set(column) <= set(report["frozen"])
    for col, orig in column.items():  # the source column is the source, and stays it
        assert torch.equal(short[col], src[orig]) and torch.equal(long[col], src[orig]), col
    laterals = [n for n in short if ".laterals." in n or ".head." in n]
    assert laterals and set(laterals) <= set(report["new"])
    alphas = [n for n in laterals if n.endswith(".alpha")]
    assert alphas and all(not torch.equal(short[n], torch.full_like(short[n], 0.25)) for n in alphas)
    moved = [n for n in laterals if n.endswith(".weight") and not torch.equal(short[n], long[n])]
    assert sorted(moved) == sorted(n for n in laterals if n.endswith(".weight"))
