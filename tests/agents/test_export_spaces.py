"""`simtransfer export` of Dict observations (one flat input, split by the graph in the documented key order)
and MultiDiscrete actions (argmax per component): parity ≤ 1e-5 over 1000 real observations on ONNX Runtime and
TorchScript, and one-line errors for what stays unexportable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simtransfer.envs.errors import SimtransferError
from tests.agents.export_envs import DICT_ENV, MULTI_ENV
from tests.agents.runs import tiny_config
from tests.agents.test_export import PARITY_STEPS, parity

RUNS = {  # name -> (algo, config overrides)
    "dict_ppo": ("ppo", {"env": DICT_ENV, "normalize": True}),
    "dict_sac": ("sac", {"env": DICT_ENV, "normalize": True}),
    "multi_ppo": ("ppo", {"env": MULTI_ENV, "normalize": True}),
    "multi_a2c": ("a2c", {"env": MULTI_ENV}),
    "multi_recurrent": ("recurrent_ppo", {"env": MULTI_ENV}),
}


@pytest.fixture(scope="module", autouse=True)
def trusted():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIMTRANSFER_TRUST", "tests.agents.runs,tests.agents.export_envs")
        yield


@pytest.fixture(scope="module")
def runs(tmp_path_factory, trusted) -> dict[str, Path]:
    from simtransfer.agents.train import train

    root = tmp_path_factory.mktemp("export_space_runs")
    for name, (algo, over) in RUNS.items():
        train(tiny_config(algo, **over), root / name)
    return {name: root / name for name in RUNS}


@pytest.mark.parametrize("name", list(RUNS))
def test_parity_dict_observations_and_multidiscrete_actions(runs, tmp_path, name):
    diffs = parity(runs[name], tmp_path, PARITY_STEPS)
    assert max(diffs.values()) <= 1e-5, diffs


def test_dict_input_is_flat_in_the_documented_key_order(runs, tmp_path):
    from simtransfer.agents.export import export_run
    from simtransfer.agents.export.runtime import ExportedPolicy
    from simtransfer.agents.policy_io import load_policy

    meta = export_run(runs["dict_ppo"], "onnx", tmp_path / "d.onnx")
    assert meta["observation"]["keys"] == [{"name": "angle", "shape": [2]}, {"name": "velocity", "shape": [1]}]
    assert meta["observation"]["shape"] == [3] and meta["stages"] == ["dict"]
    policy, pol = load_policy(runs["dict_ppo"]), ExportedPolicy(tmp_path / "d.onnx")
    rng = np.random.default_rng(0)
    for _ in range(20):
        obs = {"angle": rng.uniform(-1, 1, 2).astype(np.float32), "velocity": rng.uniform(-8, 8, 1).astype(np.float32)}
        flat = np.concatenate([obs["angle"], obs["velocity"]])
        want = policy.predict(obs, deterministic=True)[0]
        assert np.allclose(pol.act(obs), want, atol=1e-5) and np.allclose(pol.act(flat), want, atol=1e-5)


def test_multidiscrete_actions_are_an_argmax_per_component(runs, tmp_path):
    from simtransfer.agents.export import export_run
    from simtransfer.agents.export.parity import reference_rollout
    from simtransfer.agents.export.runtime import ExportedPolicy
    from simtransfer.agents.policy_io import load_policy

    meta = export_run(runs["multi_ppo"], "torchscript", tmp_path / "m.pt")
    assert meta["action"]["dtype"] == "int64" and meta["action"]["shape"] == [2]
    pol = ExportedPolicy(tmp_path / "m.pt")
    obs, _, ref = reference_rollout(load_policy(runs["multi_ppo"]), 400)
    got = np.array([pol.act(x) for x in obs])
    assert got.dtype == np.int64 and got.shape == (400, 2) and np.array_equal(got, ref)
    assert len(np.unique(ref[:, 0])) > 1  # the rollout exercises more than one level of a component


def test_unexportable_dict_entries_and_bad_dict_input_are_one_line_errors(runs, tmp_path):
    from simtransfer.agents.export import export_run
    from simtransfer.agents.export.runtime import ExportedPolicy
    from simtransfer.agents.train import train

    run = tmp_path / "mode"
    train(tiny_config("ppo", env={"id": DICT_ENV, "kwargs": {"mode": True}}, total_timesteps=64), run)
    with pytest.raises(SimtransferError, match=r"cannot export Dict observation key 'mode' \(Discrete\(2\)\)") as e:
        export_run(run, "onnx", tmp_path / "x.onnx")
    assert "\n" not in str(e.value) and not (tmp_path / "x.onnx").exists()
    export_run(runs["dict_ppo"], "onnx", tmp_path / "d.onnx")
    pol = ExportedPolicy(tmp_path / "d.onnx")
    with pytest.raises(SimtransferError, match="observation lacks key 'velocity'"):
        pol.act({"angle": [1.0, 0.0]})
    with pytest.raises(SimtransferError, match=r"observation key 'angle' has shape \(3,\); the exported policy "
                                               r"expects \(2,\)"):
        pol.act({"angle": [1.0, 0.0, 0.0], "velocity": [0.0]})
    export_run(runs["multi_a2c"], "onnx", tmp_path / "m.onnx")
    with pytest.raises(SimtransferError, match="observation is a dict; the exported policy expects one flat array"):
        ExportedPolicy(tmp_path / "m.onnx").act({"angle": [1.0, 0.0]})


def test_context_observations_are_refused_in_one_line(tmp_path):
    from simtransfer.agents.export import export_run
    from simtransfer.agents.train import train

    run = tmp_path / "context"
    train(tiny_config("ppo", env={"id": "simtransfer/InvertedPendulum-v0", "kwargs": {"context_in_obs": True}},
                      total_timesteps=64), run)
    with pytest.raises(SimtransferError, match=r"cannot export a context-conditioned policy .*true parameters "
                                               r"\(\d+ values\), which a robot does not measure") as e:
        export_run(run, "torchscript", tmp_path / "x.pt")
    assert "\n" not in str(e.value) and not (tmp_path / "x.pt").exists()
