"""Videos of a policy: one deterministic episode per target as an MP4 (imageio-ffmpeg ships its own ffmpeg) and a
PNG frame strip for reports; rgb_array rendering (PyBullet: offscreen TinyRenderer; MuJoCo: EGL unless
``MUJOCO_GL`` says otherwise; Box2D: pygame surfaces).

>>> from simtransfer.experiments.video import record_episode
>>> record_episode(load_policy("runs/pend"), "simtransfer/InvertedPendulumExtrap-v0", "videos")   # doctest: +SKIP
{'video': 'videos/InvertedPendulumExtrap-v0.mp4', 'strip': 'videos/InvertedPendulumExtrap-v0.png', ...}
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from simtransfer.agents.policy_io import LoadedPolicy
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.spec import apply_wrappers, make_env, parse_env_spec

os.environ.setdefault("MUJOCO_GL", "egl")  # headless MuJoCo rendering (read when its renderer is first imported)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "target"


def frame_strip(frames: list[np.ndarray], n: int = 6) -> np.ndarray:
    """``n`` evenly spaced frames side by side (one image)."""
    idx = np.linspace(0, len(frames) - 1, num=min(n, len(frames))).round().astype(int)
    return np.concatenate([frames[i] for i in idx], axis=1)


def record_episode(policy: LoadedPolicy, target: Any, out_dir: str | Path, *, seed: int = 0,
                   max_steps: int = 1000, fps: int | None = None) -> dict[str, Any]:
    """Run one deterministic episode of ``policy`` on ``target`` (its adapters applied) and write
    ``<target>.mp4`` and ``<target>.png`` (frame strip) into ``out_dir``."""
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
    name = _slug(spec.name or spec.id.split("/")[-1].split(":")[-1])
    video, strip = out / f"{name}.mp4", out / f"{name}.png"
    with imageio.get_writer(video, fps=fps, codec="libx264", macro_block_size=1, quality=6) as w:
        for f in frames:
            w.append_data(f)
    imageio.imwrite(strip, frame_strip(frames))
    return {"target": spec.name or spec.id, "video": str(video), "strip": str(strip), "frames": len(frames),
            "return": total, "fps": fps}
