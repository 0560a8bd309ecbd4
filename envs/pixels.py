"""Pixel observations with visual randomization for PyBullet tasks (TinyRenderer, CPU).

:class:`PixelObservation` replaces a Bullet env's observation with small uint8 HWC camera images (the last
``frames`` images stacked on the channel axis, so velocities are visible; RGB, or one luma channel per frame
with ``grayscale=True``) rendered by ``getCameraImage`` with ``ER_TINY_RENDERER``. With ``randomize=True``
every reset draws new visuals: the colour of every visual shape (robot links, floor, backdrop;
``changeVisualShape(rgbaColor=...)``), the light (``lightDirection``, ``lightColor``, ambient/diffuse/specular
coefficients) and a jittered camera pose. Hues come from the training band (the hue circle minus
``heldout_hue``); ``heldout=True`` draws every hue from the held-out band instead, so a held-out target shows
colours never seen in training. The applied visuals are in ``info["visual"]`` (at reset); every
``info["state"]`` holds the wrapped env's flat observation (privileged state, e.g. for a teacher).
``action_repeat`` holds each action for that many physics steps (rewards summed, one render per decision);
``supersample=k`` renders ``k`` times larger and averages ``k x k`` blocks (anti-aliasing).

Registered by :func:`register_pixel_envs` (idempotent):

* ``simtransfer/InvertedPendulumPixels-v0`` — randomized physics (the task preset) and training visuals;
* ``simtransfer/InvertedPendulumPixelsHeldout-v0`` — nominal physics, held-out hues (visual transfer only).

>>> import gymnasium as gym
>>> register_pixel_envs()
>>> env = gym.make("simtransfer/InvertedPendulumPixels-v0")
>>> obs, info = env.reset(seed=0)
>>> obs.shape, obs.dtype.name, sorted(info["visual"])[:2]
((64, 64, 6), 'uint8', ['ambient', 'camera'])
>>> env.close()
"""

from __future__ import annotations

import colorsys
import math
from typing import Any

import gymnasium as gym
import numpy as np
from pybullet_envs_gymnasium.env_bases import MJCFBaseBulletEnv
from pybullet_envs_gymnasium.gym_pendulum_envs import InvertedPendulumBulletEnv

from simtransfer.envs.bullet import bullet_client
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.randomization import apply_randomization
from simtransfer.envs.registry import register_pixel_envs  # noqa: F401  (re-exported: its ids live here)
from simtransfer.envs.tasks import PIXEL_IDS, preset  # noqa: F401  (PIXEL_IDS re-exported)

HELDOUT_HUE = (0.55, 0.72)  # blues/azures: never a training colour
# The configuration of the CPU learning runs (bench/bench_robustness.py --parts pixels): 32x32 RGB, two frames,
# a closer camera (the pole spans about 60% of the image height) and each action held for 2 physics steps.
SMALL_PIXELS: dict[str, Any] = {"width": 32, "height": 32, "frames": 2, "action_repeat": 2, "distance": 0.9,
                                "target": (0.0, 0.0, 0.3)}


class InvertedPendulumBackdropEnv(InvertedPendulumBulletEnv):
    """The Bullet InvertedPendulum with a visual-only floor and backdrop (no collision shapes: the physics is
    unchanged). They are created before the env saves its reset state, so ``restoreState`` keeps working."""

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        if self.stateId >= 0:
            self._p.restoreState(self.stateId)
        obs, info = MJCFBaseBulletEnv.reset(self, seed=seed, options=options)
        if self.stateId < 0:
            p = self._p
            floor = p.createVisualShape(p.GEOM_BOX, halfExtents=[4.0, 4.0, 0.01], rgbaColor=[0.5, 0.5, 0.5, 1])
            wall = p.createVisualShape(p.GEOM_BOX, halfExtents=[4.0, 0.01, 3.0], rgbaColor=[0.6, 0.6, 0.6, 1])
            p.createMultiBody(baseMass=0, baseCollisionShapeIndex=-1, baseVisualShapeIndex=floor,
                              basePosition=[0, 0, -0.25])
            p.createMultiBody(baseMass=0, baseCollisionShapeIndex=-1, baseVisualShapeIndex=wall,
                              basePosition=[0, 1.0, 0])
            self.stateId = p.saveState()
        return obs.astype(np.float32), info


def _luma(rgba: list[float]) -> float:
    """Rec. 601 luma of an RGB(A) colour in [0, 1]."""
    return 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]


def _in_band(h: float, band: tuple[float, float]) -> bool:
    return band[0] <= h % 1.0 <= band[1]


class PixelObservation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Observe a PyBullet env through a (randomized) camera: uint8 ``(height, width, 3 * frames)`` images.

    The wrapper's random stream is seeded by ``reset(seed=...)``; physics randomizers below keep theirs.
    Camera: looking along +y at ``target`` from ``distance`` (yaw/pitch in degrees), jittered per episode by
    up to ``yaw_jitter``/``pitch_jitter`` degrees, ``distance_jitter`` and ``target_jitter`` metres.
    ``min_contrast`` (luma, 0-0.6; default 0 = independent colours) keeps every robot colour at least that far
    in brightness from every scenery colour (floor, backdrop, rail), so the pole never vanishes into the wall.
    """

    def __init__(self, env: gym.Env, width: int = 64, height: int = 64, frames: int = 2, grayscale: bool = False,
                 action_repeat: int = 1, supersample: int = 1, randomize: bool = True, heldout: bool = False,
                 heldout_hue: tuple[float, float] = HELDOUT_HUE,
                 target: tuple[float, float, float] = (0.0, 0.0, 0.25), distance: float = 1.6, yaw: float = 0.0,
                 pitch: float = -10.0, fov: float = 60.0, yaw_jitter: float = 6.0, pitch_jitter: float = 4.0,
                 distance_jitter: float = 0.15, target_jitter: float = 0.05, min_contrast: float = 0.0) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, width=width, height=height, frames=frames, grayscale=grayscale, action_repeat=action_repeat,
            supersample=supersample, randomize=randomize, heldout=heldout,
            heldout_hue=heldout_hue, target=target, distance=distance, yaw=yaw, pitch=pitch, fov=fov,
            yaw_jitter=yaw_jitter, pitch_jitter=pitch_jitter, distance_jitter=distance_jitter,
            target_jitter=target_jitter, min_contrast=min_contrast)
        gym.Wrapper.__init__(self, env)
        if not (16 <= int(width) <= 512 and 16 <= int(height) <= 512):
            raise SimtransferError(f"pixels: width and height must be in [16, 512], got {width}x{height}")
        if int(frames) < 1:
            raise SimtransferError(f"pixels: frames must be >= 1, got {frames}")
        if int(action_repeat) < 1:
            raise SimtransferError(f"pixels: action_repeat must be >= 1, got {action_repeat}")
        if not 1 <= int(supersample) <= 4:
            raise SimtransferError(f"pixels: supersample must be in [1, 4], got {supersample}")
        if not 0.0 <= float(min_contrast) <= 0.6:
            raise SimtransferError(f"pixels: min_contrast must be in [0, 0.6] (luma units), got {min_contrast}")
        self.min_contrast = float(min_contrast)
        lo, hi = float(heldout_hue[0]), float(heldout_hue[1])
        if not 0.0 <= lo < hi <= 1.0 or hi - lo >= 1.0:
            raise SimtransferError(f"pixels: heldout_hue must be a band [lo, hi] inside [0, 1], got {heldout_hue}")
        self.width, self.height, self.frames = int(width), int(height), int(frames)
        self.grayscale, self.action_repeat, self.supersample = bool(grayscale), int(action_repeat), int(supersample)
        self._cpf = 1 if self.grayscale else 3  # channels per frame
        self.randomize, self.heldout, self.heldout_hue = bool(randomize), bool(heldout), (lo, hi)
        self.camera = {"target": tuple(float(x) for x in target), "distance": float(distance), "yaw": float(yaw),
                       "pitch": float(pitch)}
        self.fov = float(fov)
        self.jitter = {"yaw": float(yaw_jitter), "pitch": float(pitch_jitter), "distance": float(distance_jitter),
                       "target": float(target_jitter)}
        self.observation_space = gym.spaces.Box(0, 255, (self.height, self.width, self._cpf * self.frames),
                                                np.uint8)
        self._rng = np.random.default_rng()
        self._shapes: list[tuple[int, int, int]] | None = None  # (body, link, shape index)
        self._articulated: set[int] = set()  # bodies with joints (the robot); the others are scenery
        self._stack = np.zeros(self.observation_space.shape, dtype=np.uint8)
        self._view: list[float] = []
        self._proj: list[float] = []
        self._light: dict[str, Any] = {}
        self.visual: dict[str, Any] = {}

    # drawing visuals -----------------------------------------------------------------------------------
    def _hue(self) -> float:
        lo, hi = self.heldout_hue
        if self.heldout:
            return float(self._rng.uniform(lo, hi))
        h = float(self._rng.uniform(0.0, 1.0 - (hi - lo)))  # the complement of the band, unrolled
        return h if h < lo else h + (hi - lo) + 1e-9

    def _colour(self) -> tuple[list[float], float]:
        h = self._hue()
        s, v = float(self._rng.uniform(0.45, 1.0)), float(self._rng.uniform(0.35, 1.0))
        return [*colorsys.hsv_to_rgb(h, s, v), 1.0], h

    def _draw_colours(self) -> list[tuple[int, int, list[float], float]]:
        """A colour per visual shape, in shape order. With ``min_contrast`` the scenery (bodies without joints:
        floor, backdrop, rail) is drawn first, and each robot shape is redrawn (up to 64 times, then the best
        draw is kept) until its luma differs from every scenery colour's by at least ``min_contrast``, so the
        robot never vanishes into a background of the same brightness."""
        assert self._shapes is not None
        if self.min_contrast <= 0.0:
            return [(b, link, *self._colour()) for b, link, _ in self._shapes]
        order = sorted(range(len(self._shapes)), key=lambda i: self._shapes[i][0] in self._articulated)
        drawn: dict[int, tuple[list[float], float]] = {}
        scenery: list[float] = []
        for i in order:
            body = self._shapes[i][0]
            best, best_gap = None, -1.0
            for _ in range(64 if body in self._articulated and scenery else 1):
                rgba, h = self._colour()
                gap = min((abs(_luma(rgba) - y) for y in scenery), default=1.0)
                if gap > best_gap:
                    best, best_gap = (rgba, h), gap
                if gap >= self.min_contrast:
                    break
            assert best is not None
            drawn[i] = best
            if body not in self._articulated:
                scenery.append(_luma(best[0]))
        return [(b, link, *drawn[i]) for i, (b, link, _) in enumerate(self._shapes)]

    def _discover(self) -> None:
        p = bullet_client(self.env)
        shapes = []
        for i in range(p.getNumBodies()):
            body = p.getBodyUniqueId(i)
            seen: dict[int, int] = {}
            if p.getNumJoints(body) > 0:
                self._articulated.add(body)
            for data in p.getVisualShapeData(body):
                link = int(data[1])
                shapes.append((body, link, seen.get(link, 0)))
                seen[link] = seen.get(link, 0) + 1
        self._shapes = shapes

    def _draw_visuals(self) -> None:
        p = self.env.unwrapped._p
        assert self._shapes is not None
        cam = dict(self.camera)
        hues: list[float] = []
        if self.randomize:
            for body, link, rgba, h in self._draw_colours():
                p.changeVisualShape(body, link, rgbaColor=rgba)
                hues.append(h)
            az = self._rng.uniform(0, 2 * math.pi)
            el = self._rng.uniform(math.radians(25), math.radians(80))
            light_dir = [math.cos(az) * math.cos(el), math.sin(az) * math.cos(el), math.sin(el)]
            self._light = {"lightDirection": light_dir, "lightColor": self._rng.uniform(0.7, 1.0, 3).tolist(),
                           "lightAmbientCoeff": float(self._rng.uniform(0.3, 0.7)),
                           "lightDiffuseCoeff": float(self._rng.uniform(0.3, 0.8)),
                           "lightSpecularCoeff": float(self._rng.uniform(0.0, 0.3))}
            j = self.jitter
            cam["yaw"] += float(self._rng.uniform(-j["yaw"], j["yaw"]))
            cam["pitch"] += float(self._rng.uniform(-j["pitch"], j["pitch"]))
            cam["distance"] += float(self._rng.uniform(-j["distance"], j["distance"]))
            cam["target"] = tuple(float(t + self._rng.uniform(-j["target"], j["target"])) for t in cam["target"])
        else:
            self._light = {"lightDirection": [0.4, -0.6, 0.7], "lightColor": [1.0, 1.0, 1.0],
                           "lightAmbientCoeff": 0.5, "lightDiffuseCoeff": 0.6, "lightSpecularCoeff": 0.1}
        # yaw 0: the camera sits on the -y side looking along +y (at the backdrop); pitch < 0 looks down
        yaw, pitch = math.radians(cam["yaw"]), math.radians(cam["pitch"])
        tgt = list(cam["target"])
        d = cam["distance"]
        eye = [tgt[0] + d * math.sin(yaw) * math.cos(pitch), tgt[1] - d * math.cos(yaw) * math.cos(pitch),
               tgt[2] - d * math.sin(pitch)]
        self._view = p.computeViewMatrix(cameraEyePosition=eye, cameraTargetPosition=tgt, cameraUpVector=[0, 0, 1])
        self._proj = p.computeProjectionMatrixFOV(fov=self.fov, aspect=self.width / self.height, nearVal=0.05,
                                                  farVal=20.0)
        self.visual = {"hues": hues, "camera": cam, "light_direction": self._light["lightDirection"],
                       "light_color": self._light["lightColor"], "ambient": self._light["lightAmbientCoeff"],
                       "diffuse": self._light["lightDiffuseCoeff"], "specular": self._light["lightSpecularCoeff"],
                       "heldout": self.heldout}

    def render_frame(self) -> np.ndarray:
        """One ``(height, width, 3)`` uint8 image of the current state (``(height, width, 1)`` luma if
        ``grayscale``)."""
        p = self.env.unwrapped._p
        k = self.supersample
        w, h = self.width * k, self.height * k
        _, _, px, _, _ = p.getCameraImage(w, h, self._view, self._proj, shadow=0, renderer=p.ER_TINY_RENDERER,
                                          flags=p.ER_NO_SEGMENTATION_MASK, **self._light)
        rgb = np.reshape(np.asarray(px, dtype=np.uint8), (h, w, 4))[:, :, :3]
        if k > 1:  # box-filter k x k blocks: anti-aliased edges carry sub-pixel positions (e.g. a small tilt)
            blocks = rgb.reshape(self.height, k, self.width, k, 3).astype(np.float32).mean(axis=(1, 3))
            rgb = np.rint(blocks).astype(np.uint8)
        if not self.grayscale:
            return rgb
        luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[:, :, None]

    # gym API ---------------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._rng = np.random.default_rng([int(seed), 0x9E1])
        state, info = self.env.reset(seed=seed, options=options)
        if self._shapes is None:
            self._discover()
        self._draw_visuals()
        frame = self.render_frame()
        self._stack = np.concatenate([frame] * self.frames, axis=2)
        info = dict(info)
        info["visual"] = dict(self.visual)
        info["state"] = np.asarray(state, dtype=np.float32)
        return self._stack.copy(), info

    def step(self, action: Any):
        reward, terminated, truncated, info = 0.0, False, False, {}
        for _ in range(self.action_repeat):  # the same physics, fewer decisions and renders
            state, r, terminated, truncated, info = self.env.step(action)
            reward += float(r)
            if terminated or truncated:
                break
        frame = self.render_frame()
        if self.frames > 1:
            self._stack = np.concatenate([self._stack[:, :, self._cpf:], frame], axis=2)
        else:
            self._stack = frame
        info = dict(info)
        info["state"] = np.asarray(state, dtype=np.float32)
        return self._stack.copy(), reward, terminated, truncated, info


def make_pixel_pendulum(split: str = "nominal", heldout: bool = False, randomization: dict[str, Any] | None = None,
                        render_mode: str | None = None, max_physics_steps: int = 1000,
                        **pixel_kwargs: Any) -> gym.Env:
    """InvertedPendulum with backdrop → at most ``max_physics_steps`` physics steps per episode (so returns stay
    comparable under ``action_repeat``) → physics randomizer (preset, ``split``) → :class:`PixelObservation`."""
    mapping = dict(randomization) if randomization is not None else {**preset("InvertedPendulum"), "split": split}
    mapping.setdefault("split", split)
    if mapping.get("context_in_obs"):
        raise SimtransferError("pixels: context_in_obs needs a flat observation (use a state env for context)")
    if int(max_physics_steps) < 1:
        raise SimtransferError(f"pixels: max_physics_steps must be >= 1, got {max_physics_steps}")
    base = gym.wrappers.TimeLimit(InvertedPendulumBackdropEnv(render_mode=render_mode), int(max_physics_steps))
    env = apply_randomization(base, mapping)
    return PixelObservation(env, heldout=heldout, **pixel_kwargs)


def in_heldout_band(hue: float, band: tuple[float, float] = HELDOUT_HUE) -> bool:
    """Whether a hue lies in the held-out band (for checks on ``info["visual"]["hues"]``)."""
    return _in_band(hue, band)
