"""``simtransfer export``: the exported file gives the framework's actions (≤ 1e-5 over ≥ 1000 real observations)
for every algorithm, history and recurrent state included, on ONNX Runtime and TorchScript."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simtransfer.envs.errors import SimtransferError
from tests.agents.runs import tiny_config

HISTORY = "simtransfer.envs.history:HistoryObservation"
PARITY_STEPS = 1000
RUNS = {  # name -> (algo, config overrides)
    "ppo": ("ppo", {"normalize": True}),
    "ppo_box": ("ppo", {"env": "Pendulum-v1", "normalize": True}),
    "a2c": ("a2c", {"env": "Pendulum-v1"}),
    "sac": ("sac", {"normalize": True}),
    "td3": ("td3", {}),
    "dqn": ("dqn", {}),
    "recurrent_ppo": ("recurrent_ppo", {"env": "Pendulum-v1", "normalize": True}),
    "history_ppo": ("ppo", {"env": "Pendulum-v1", "normalize": True,
                            "adapters": [{"type": HISTORY, "kwargs": {"k": 3}}]}),
    "history_dqn": ("dqn", {"adapters": [{"type": HISTORY, "kwargs": {"k": 2}}]}),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    from simtransfer.agents.train import train

    root = tmp_path_factory.mktemp("export_runs")
    for name, (algo, over) in RUNS.items():
        train(tiny_config(algo, **over), root / name)
    return {name: root / name for name in RUNS}


def parity(run: Path, tmp: Path, steps: int = PARITY_STEPS) -> dict[str, float]:
    """max |exported - framework| per backend over ``steps`` observations of real episodes."""
    from simtransfer.agents.export import export_run
    from simtransfer.agents.export.parity import exported_actions, reference_rollout
    from simtransfer.agents.export.runtime import ExportedPolicy
    from simtransfer.agents.policy_io import load_policy

    policy = load_policy(run)
    obs, starts, ref = reference_rollout(policy, steps, seed=0)
    assert len(ref) >= steps and starts.sum() >= 1
    out = {}
    for fmt in ("onnx", "torchscript"):
        path = tmp / f"{run.name}.{fmt}"
        export_run(policy, fmt, path)
        got = exported_actions(ExportedPolicy(path), obs, starts)
        out[fmt] = float(np.abs(got.astype(np.float64).reshape(len(ref), -1)
                                - ref.astype(np.float64).reshape(len(ref), -1)).max())
    return out


@pytest.mark.parametrize("name", list(RUNS))
def test_parity_every_algorithm(runs, tmp_path, name):
    diffs = parity(runs[name], tmp_path)
    assert max(diffs.values()) <= 1e-5, diffs


def test_state_is_explicit_and_reset(runs, tmp_path):
    from simtransfer.agents.export import export_run
    from simtransfer.agents.export.runtime import ExportedPolicy

    for name, state in (("recurrent_ppo", ["lstm_h", "lstm_c"]), ("history_ppo", ["history0_obs", "history0_act"]),
                        ("ppo_box", [])):
        meta = export_run(runs[name], "onnx", tmp_path / f"{name}.onnx")
        assert [s["name"] for s in meta["state"]] == state
        assert meta["inputs"][0] == "observation" and ("episode_start" in meta["inputs"]) == bool(state)
    pol = ExportedPolicy(tmp_path / "history_ppo.onnx")
    obs = np.array([1.0, 0.0, 0.5], dtype=np.float32)
    first = pol.act(obs)
    pol.act(-obs)
    assert all(np.abs(s).sum() > 0 for s in pol._state)  # the stacks carry observations and actions
    pol.reset()
    assert np.array_equal(pol.act(obs), first)  # reset: the same first action again


def test_metadata_embedded_in_both_formats(runs, tmp_path):
    from simtransfer.agents.export import export_run, read_metadata
    from simtransfer.agents.policy_io import read_run_metadata

    run_meta = read_run_metadata(runs["sac"])
    for fmt in ("onnx", "torchscript"):
        path = tmp_path / f"sac.{fmt}"
        export_run(runs["sac"], fmt, path)
        meta = read_metadata(path)
        assert meta["format"] == "simtransfer-export/1" and meta["file_format"] == fmt
        assert meta["observation"]["shape"] == [3] and meta["action"]["space"]["low"] == [-2.0]
        assert meta["control_period"] == pytest.approx(0.05)  # Pendulum's dt
        assert meta["source"]["run_weights_sha256"] == run_meta["weights_sha256"]
        assert len(meta["weights_sha256"]) == 64 and meta["stages"] == ["normalize"]


def test_cli_export_and_one_line_errors(runs, tmp_path, capsys):
    from simtransfer.experiments.cli import main

    out = tmp_path / "p.onnx"
    assert main(["export", str(runs["ppo_box"]), "--format", "onnx", "--out", str(out), "--check", "200",
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["parity"]["max_abs_diff"] <= 1e-5 and res["parity"]["steps"] == 200
    before = out.read_bytes()
    assert main(["export", str(runs["ppo_box"]), "--format", "onnx", "--out", str(out)]) == 2  # kept
    assert "exists" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["export", str(tmp_path / "nope"), "--format", "onnx", "--out", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("simtransfer: error: run directory not found") and err.count("\n") == 1


def test_unexportable_run_is_one_line_error(tmp_path):
    from simtransfer.agents.export import export_run
    from simtransfer.agents.train import train

    run = tmp_path / "noisy"
    train(tiny_config("ppo", env="Pendulum-v1", total_timesteps=64,
                      adapters=[{"type": "obs_noise", "kwargs": {"std": 0.1}}]), run)
    with pytest.raises(SimtransferError, match=r"cannot export adapter ObservationNoise") as info:
        export_run(run, "onnx", tmp_path / "x.onnx")
    assert "\n" not in str(info.value) and not (tmp_path / "x.onnx").exists()


def test_runtime_rejects_bad_observations(runs, tmp_path):
    from simtransfer.agents.export import export_run
    from simtransfer.agents.export.runtime import ExportedPolicy

    export_run(runs["td3"], "torchscript", tmp_path / "td3.pt")
    pol = ExportedPolicy(tmp_path / "td3.pt")
    with pytest.raises(SimtransferError, match=r"observation has shape \(4,\); the exported policy expects \(3,\)"):
        pol.act(np.zeros(4))
    with pytest.raises(SimtransferError, match="NaN or inf"):
        pol.act([0.0, np.nan, 0.0])
    with pytest.raises(SimtransferError, match="not found"):
        ExportedPolicy(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00garbage")
    with pytest.raises(SimtransferError, match="not a readable exported policy"):
        ExportedPolicy(tmp_path / "junk.onnx")
