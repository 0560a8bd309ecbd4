"""Videos of a policy: one deterministic episode per target as an MP4 (imageio-ffmpeg ships its own ffmpeg) and a
PNG frame strip for reports; rgb_array rendering (PyBullet: offscreen TinyRenderer; MuJoCo: EGL unless
``MUJOCO_GL`` says otherwise; Box2D: pygame surfaces).

>>> from simtransfer.experiments.video import record_episode
>>> record_episode(load_policy("runs/pend"), "simtransfer/InvertedPendulumExtrap-v0", "videos")   # doctest: +SKIP
{'video': 'videos/InvertedPendulumExtrap-v0.mp4', 'strip': 'videos/InvertedPendulumExtrap-v0.png', ...}

In an experiment (``video:`` key, off by default) :func:`record_experiment_videos` films every finished cell of
one seed into ``OUT/videos/<target>/<method>.mp4`` (+ ``.png`` strip, ``OUT/videos/index.json``); the report
links them (:func:`video_lines`) and W&B receives them as ``wandb.Video`` (:func:`wandb_videos`).

>>> video_lines(Path("no/such/results"))
[]
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from simtransfer.agents.policy_io import LoadedPolicy, atomic_write_bytes, load_policy
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.spec import apply_wrappers, make_env, parse_env_spec
from simtransfer.experiments.experiment import ExperimentConfig
from simtransfer.experiments.jobs import Job

os.environ.setdefault("MUJOCO_GL", "egl")  # headless MuJoCo rendering (read when its renderer is first imported)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "target"


def frame_strip(frames: list[np.ndarray], n: int = 6) -> np.ndarray:
    """``n`` evenly spaced frames side by side (one image)."""
    idx = np.linspace(0, len(frames) - 1, num=min(n, len(frames))).round().astype(int)
    return np.concatenate([frames[i] for i in idx], axis=1)


def record_episode(policy: LoadedPolicy, target: Any, out_dir: str | Path, *, seed: int = 0,
                   max_steps: int = 1000, fps: int | None = None, name: str | None = None) -> dict[str, Any]:
    """Run one deterministic episode of ``policy`` on ``target`` (its adapters applied) and write
    ``<name>.mp4`` and ``<name>.png`` (frame strip) into ``out_dir`` (``name``: the target's, by default)."""
    import imageio.v2 as imageio

    spec = parse_env_spec(target)
    env = apply_wrappers(make_env(spec, seed=seed, render_mode="rgb_array"), list(policy.config.adapters))
    frames: list[np.ndarray] = []
    total = 0.0
    try:
        obs, _ = env.reset(seed=seed)
        state, start = None, np.ones((1,), dtype=bool)
        for _ in range(max_steps):
            frame = env.render()
            if frame is None:
                raise SimtransferError(f"target '{spec.id}' renders no rgb_array frames")
            frames.append(np.asarray(frame, dtype=np.uint8))
            x = policy.normalizer(obs) if policy.normalizer is not None else obs
            action, state = policy.model.predict(x, state=state, episode_start=start, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            start = np.zeros((1,), dtype=bool)
            if terminated or truncated:
                break
        fps = fps or int((env.metadata or {}).get("render_fps") or 30)
    finally:
        env.close()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = _slug(name or spec.name or spec.id.split("/")[-1].split(":")[-1])
    video, strip = out / f"{name}.mp4", out / f"{name}.png"
    with imageio.get_writer(video, fps=fps, codec="libx264", macro_block_size=1, quality=6) as w:
        for f in frames:
            w.append_data(f)
    imageio.imwrite(strip, frame_strip(frames))
    return {"target": spec.name or spec.id, "video": str(video), "strip": str(strip), "frames": len(frames),
            "return": total, "fps": fps}


# ------------------------------------------------------------------------------------------ experiments
INDEX = "index.json"


def _fingerprint(cell_dir: Path) -> str | None:
    try:
        return json.loads((cell_dir / "cell.json").read_text()).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return None


def record_experiment_videos(cfg: ExperimentConfig, out: Path, cells: list[Job],
                             say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Film each finished cell of ``cfg.video.seed`` (default: the first seed) on its target; a clip whose cell
    is unchanged (same fingerprint) is kept. Returns the index entries (also written to ``OUT/videos/index.json``)."""
    if cfg.video is None:
        return []
    v = cfg.video
    seed = v.seed if v.seed is not None else cfg.seed_list()[0]
    root = Path(out) / "videos"
    old = {(e["target"], e["method"]): e for e in read_index(out)}
    entries = []
    for job in cells:
        if job.kind != "cell" or job.seed != seed or not (Path(job.out_dir) / "cell.json").is_file():
            continue
        fp, prev = _fingerprint(Path(job.out_dir)), old.get((job.target, job.method))
        if prev and prev.get("fingerprint") == fp and (root / prev["video"]).is_file() and prev.get(
                "max_steps") == v.max_steps and prev.get("episode_seed") == v.episode_seed:
            entries.append(prev)
            continue
        target = next(t for t in cfg.targets if t.name == job.target)
        res = record_episode(load_policy(job.out_dir), target.env, root / _slug(job.target), seed=v.episode_seed,
                             max_steps=v.max_steps, name=job.method)
        rel = {k: str(Path(res[k]).relative_to(root)) for k in ("video", "strip")}
        entries.append({"target": job.target, "method": job.method, "seed": seed, **rel, "frames": res["frames"],
                        "return": res["return"], "fps": res["fps"], "fingerprint": fp, "max_steps": v.max_steps,
                        "episode_seed": v.episode_seed})
        say(f"video: {job.target}/{job.method}/seed{seed}: {res['frames']} frames → {res['video']}")
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(root / INDEX, json.dumps(entries, indent=1).encode())
    return entries


def read_index(results_dir: str | Path) -> list[dict[str, Any]]:
    """The clips of an experiment (``OUT/videos/index.json``); [] when it recorded none."""
    try:
        data = json.loads((Path(results_dir) / "videos" / INDEX).read_text())
    except (OSError, ValueError):
        return []
    return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []


def video_lines(results_dir: str | Path) -> list[str]:
    """The report's "Videos" section (links relative to ``OUT/report/``): a frame strip and the MP4 per cell."""
    entries = read_index(results_dir)
    if not entries:
        return []
    out = ["", "## Videos", "", f"One deterministic episode per method and target (seed {entries[0]['seed']}; "
           "frame strip, click for the MP4):", ""]
    for e in entries:
        out += [f"- `{e['method']}` on `{e['target']}` — return {e['return']:.1f} over {e['frames']} frames: "
                f"[MP4](../videos/{e['video']})", "", f"  [![{e['method']} on {e['target']}](../videos/{e['strip']})]"
                f"(../videos/{e['video']})", ""]
    return out[:-1]


def wandb_videos(results_dir: str | Path) -> dict[str, Any]:
    """``{"video/<target>/<method>": wandb.Video}`` for the report's W&B run (the MP4 files, no re-encoding)."""
    entries = read_index(results_dir)
    if not entries:
        return {}
    import wandb

    root = Path(results_dir) / "videos"
    return {f"video/{e['target']}/{e['method']}": wandb.Video(str(root / e["video"]), fps=e["fps"], format="mp4")
            for e in entries if (root / e["video"]).is_file()}
