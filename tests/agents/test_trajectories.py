"""The trajectory format: writer/reader round trip, converters from plain npz/CSV, one-line errors."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

from simtransfer.agents.trajectories import TrajectoryWriter, convert_arrays, read_trajectories
from simtransfer.envs.errors import SimtransferError

OBS = gym.spaces.Box(-np.inf, np.inf, (3,), np.float64)
ACT = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)


def _write(path, lengths=(4, 3), **kw):
    rng = np.random.default_rng(0)
    with TrajectoryWriter(path, env_id="demo-v0", observation_space=OBS, action_space=ACT, control_period=0.05,
                          metadata={"robot": "r1"}, **kw) as w:
        for T in lengths:
            w.start_episode(rng.normal(size=3), t=1.0)
            for k in range(T):
                w.add_step(rng.uniform(-1, 1, 1), rng.normal(size=3), 1.0, k == T - 1, False, t=1.0 + 0.05 * (k + 1))
            w.end_episode()
    return path


def test_round_trip_keeps_every_field_and_the_metadata(tmp_path):
    data = read_trajectories(_write(tmp_path / "log"))
    assert [len(e) for e in data.episodes] == [4, 3]
    ep = data.episodes[0]
    assert ep.observations.shape == (5, 3) and ep.actions.shape == (4, 1) and ep.timestamps.shape == (5,)
    np.testing.assert_allclose(ep.timestamps, 1.0 + 0.05 * np.arange(5))
    assert ep.terminations.tolist() == [False, False, False, True] and not ep.truncations.any()
    assert data.metadata["env_id"] == "demo-v0" and data.metadata["control_period"] == 0.05
    assert data.metadata["robot"] == "r1" and data.total_steps == 7


def test_the_dataset_is_a_minari_dataset(tmp_path):
    from minari.dataset.minari_storage import MinariStorage

    storage = MinariStorage.read(str(_write(tmp_path / "log")))
    assert storage.total_episodes == 2 and storage.total_steps == 7


def test_an_open_episode_is_written_as_truncated_on_close(tmp_path):
    with TrajectoryWriter(tmp_path / "log", env_id="demo-v0", observation_space=OBS, action_space=ACT) as w:
        w.start_episode(np.zeros(3))
        w.add_step([0.5], np.ones(3), 0.0, False, False, t=0.1)
    ep = read_trajectories(tmp_path / "log").episodes[0]
    assert ep.truncations.tolist() == [True]


def test_an_existing_path_is_never_overwritten(tmp_path):
    _write(tmp_path / "log")
    before = (tmp_path / "log" / "main_data.hdf5").read_bytes()
    with pytest.raises(SimtransferError, match="already exists"):
        _write(tmp_path / "log")
    assert (tmp_path / "log" / "main_data.hdf5").read_bytes() == before


def test_a_wrong_observation_shape_is_refused(tmp_path):
    with TrajectoryWriter(tmp_path / "log", env_id="demo-v0", observation_space=OBS, action_space=ACT) as w:
        with pytest.raises(SimtransferError, match=r"observation has shape \(2,\)"):
            w.start_episode(np.zeros(2))


def test_missing_env_id_and_not_a_dataset_are_one_line_errors(tmp_path):
    with pytest.raises(SimtransferError, match="not a trajectory dataset"):
        read_trajectories(tmp_path)
    log = _write(tmp_path / "log")
    meta = json.loads((log / "metadata.json").read_text())
    meta["simtransfer"] = json.dumps({"format": "x"})
    (log / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(SimtransferError, match="env_id"):
        read_trajectories(log)


def _plain(n_eps=2, T=5, obs_dim=3):
    rng = np.random.default_rng(1)
    rows = {"episode": [], "t": [], "observations": [], "actions": [], "reward": [], "terminated": [], "truncated": []}
    for e in range(n_eps):
        for k in range(T + 1):
            last = k == T
            rows["episode"].append(e)
            rows["t"].append(0.02 * k)
            rows["observations"].append(rng.normal(size=obs_dim))
            rows["actions"].append([np.nan] if last else rng.uniform(-1, 1, 1))
            rows["reward"].append(np.nan if last else 1.0)
            rows["terminated"].append(0.0)
            rows["truncated"].append(1.0 if k == T - 1 else 0.0)
    return {k: np.asarray(v, dtype=np.float64) for k, v in rows.items()}


def test_convert_a_plain_npz(tmp_path):
    arrs = _plain()
    np.savez(tmp_path / "log.npz", **arrs)
    data = convert_arrays(tmp_path / "log.npz", tmp_path / "data", env_id="demo-v0", control_period=0.02)
    assert [len(e) for e in data.episodes] == [5, 5]
    np.testing.assert_allclose(data.episodes[1].observations, arrs["observations"][6:12])
    np.testing.assert_allclose(data.episodes[0].actions, arrs["actions"][:5])
    assert data.episodes[0].truncations[-1] and read_trajectories(tmp_path / "data").metadata["env_id"] == "demo-v0"


def test_convert_a_plain_csv(tmp_path):
    arrs = _plain(obs_dim=2)
    header = ["episode", "t", "obs_0", "obs_1", "act_0", "reward", "terminated", "truncated"]
    lines = [",".join(header)]
    for i in range(len(arrs["episode"])):
        act = "" if np.isnan(arrs["actions"][i, 0]) else repr(float(arrs["actions"][i, 0]))
        rew = "" if np.isnan(arrs["reward"][i]) else "1.0"
        lines.append(",".join([f"{arrs['episode'][i]:g}", repr(float(arrs["t"][i])), repr(float(arrs["observations"][i, 0])),
                               repr(float(arrs["observations"][i, 1])), act, rew, "0", f"{arrs['truncated'][i]:g}"]))
    (tmp_path / "log.csv").write_text("\n".join(lines) + "\n")
    data = convert_arrays(tmp_path / "log.csv", tmp_path / "data", env_id="demo-v0")
    np.testing.assert_allclose(data.episodes[0].observations, arrs["observations"][:6])
    assert data.episodes[0].actions.shape == (5, 1)


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda a: a.pop("actions"), "field 'actions' is missing"),
    (lambda a: a.__setitem__("reward", a["reward"][:-1]), "field 'reward' has shape"),
    (lambda a: a["observations"].__setitem__((3, 1), np.nan), "field 'observations' holds NaN"),
    (lambda a: a["actions"].__setitem__((2, 0), np.nan), "field 'actions' holds NaN"),
    (lambda a: a.__setitem__("episode", np.r_[0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1]), "not contiguous"),
    (lambda a: a.__setitem__("t", np.zeros(12)), "field 't' is not strictly increasing"),
])
def test_malformed_plain_arrays_are_one_line_errors_naming_file_and_field(tmp_path, mutate, message):
    arrs = _plain()
    mutate(arrs)
    np.savez(tmp_path / "log.npz", **arrs)
    with pytest.raises(SimtransferError, match=message) as err:
        convert_arrays(tmp_path / "log.npz", tmp_path / "data", env_id="demo-v0")
    assert "log.npz" in str(err.value) or "data" in str(err.value)
    assert not (tmp_path / "data").exists() and not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_an_npz_holding_pickled_objects_is_refused(tmp_path):
    arrs = _plain()
    arrs["episode"] = np.array([object()] * 12, dtype=object)
    np.savez(tmp_path / "log.npz", **arrs)
    with pytest.raises(SimtransferError, match="log.npz"):
        convert_arrays(tmp_path / "log.npz", tmp_path / "data", env_id="demo-v0")


def test_convert_never_overwrites(tmp_path):
    np.savez(tmp_path / "log.npz", **_plain())
    _write(tmp_path / "data")
    with pytest.raises(SimtransferError, match="already exists"):
        convert_arrays(tmp_path / "log.npz", tmp_path / "data", env_id="demo-v0")
    assert read_trajectories(tmp_path / "data").metadata["robot"] == "r1"
