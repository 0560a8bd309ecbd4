"""Hardware-in-the-loop stand-in: a PyBullet simulation running in real time in another process, behind the
robot interface of :mod:`simtransfer.agents.robot`, over a loopback TCP socket.

The plant steps at its own control period in wall-clock time whatever the controller does (zero-order hold:
the last action received is applied at each physics tick); the controller reads the latest observation and
sends actions whenever it likes — as with a real robot. Everything is bounded: the server exits after
``lifetime`` seconds, when the client disconnects, or on ``close()``; it listens on 127.0.0.1 only.

>>> robot = pendulum()                        # doctest: +SKIP
>>> obs = robot.read_observation(); robot.send_action([0.0]); robot.stop(); robot.close()   # doctest: +SKIP
"""

from __future__ import annotations

import json
import select
import socket
import struct
import subprocess
import sys
import time
from typing import Any

import numpy as np

from simtransfer.agents.realtime import check_realtime, realtime_scheduling
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.spec import make_env

HOST = "127.0.0.1"
_HEAD = struct.Struct("<dd??q")  # reward, sim time, terminated, truncated, physics steps; then float64 obs
PENDULUM = "simtransfer/InvertedPendulumNominal-v0"


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("hil: connection closed")
        buf += chunk
    return bytes(buf)


def _serve(env_spec: Any, lifetime: float, seed: int, realtime: int | None = None, cpu: int | None = None) -> None:
    """The plant (runs in the child process: python -m ...hil); under SCHED_FIFO ``realtime`` on ``cpu`` if asked,
    as a robot's own controller runs on its own hardware."""
    try:
        with realtime_scheduling(realtime, cpu):
            _plant(env_spec, lifetime, seed)
    except SimtransferError as exc:
        print("HIL-ERROR " + str(exc), flush=True)


def _plant(env_spec: Any, lifetime: float, seed: int) -> None:
    env = make_env(env_spec, seed=seed)
    obs, _ = env.reset(seed=seed)
    u = env.unwrapped
    period = float(getattr(getattr(u, "scene", None), "dt", None) or getattr(u, "dt", None) or 1 / 60)
    act_dim = int(np.prod(env.action_space.shape))
    hold = np.zeros(act_dim, dtype=np.float32)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind((HOST, 0))
    srv.listen(1)
    hello = {"port": srv.getsockname()[1], "period": period, "obs_dim": int(np.prod(np.shape(obs))),
             "act_dim": act_dim}
    print("HIL " + json.dumps(hello), flush=True)  # pybullet prints on stdout too: the prefix marks ours
    srv.settimeout(min(lifetime, 30.0))
    try:
        sock, _ = srv.accept()
    except OSError:
        return
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    end = time.monotonic() + lifetime
    reward, terminated, steps, stopped, episodes = 0.0, False, 0, False, 0
    t0 = next_tick = time.monotonic()
    try:
        while time.monotonic() < end:
            timeout = max(0.0, next_tick - time.monotonic())
            ready, _, _ = select.select([sock], [], [], timeout)
            if ready:
                cmd = _recv_exact(sock, 1)
                if cmd == b"O":
                    head = _HEAD.pack(reward, time.monotonic() - t0, terminated, False, steps)
                    sock.sendall(head + np.asarray(obs, dtype=np.float64).tobytes())
                elif cmd == b"A":
                    hold = np.frombuffer(_recv_exact(sock, 4 * act_dim), dtype=np.float32).copy()
                    stopped = False
                elif cmd == b"R":
                    obs, _ = env.reset(seed=seed + episodes + 1)
                    episodes += 1
                    reward, terminated, hold, stopped = 0.0, False, np.zeros(act_dim, np.float32), False
                    sock.sendall(b"k")
                elif cmd == b"S":
                    hold, stopped = np.zeros(act_dim, np.float32), True
                    sock.sendall(b"k")
                else:  # b"Q" or garbage: quit
                    break
                continue
            next_tick += period
            if not terminated:
                action = np.zeros(act_dim, np.float32) if stopped else hold
                obs, reward, terminated, _, _ = env.step(action.reshape(env.action_space.shape))
                steps += 1
            if next_tick < time.monotonic() - 10 * period:  # fell far behind (machine loaded): resynchronise
                next_tick = time.monotonic()
    except (ConnectionError, OSError):
        pass
    finally:
        sock.close()
        srv.close()
        env.close()


class HilRobot:
    """Client side: the robot interface over the socket (see module docstring)."""

    def __init__(self, env_spec: Any = PENDULUM, *, lifetime: float = 600.0, seed: int = 0,
                 timeout: float = 5.0, realtime: int | None = None, cpu: int | None = None) -> None:
        check_realtime(realtime, cpu)
        cmd = [sys.executable, "-m", "simtransfer.agents.hil", json.dumps(env_spec), str(float(lifetime)),
               str(int(seed)), json.dumps({"realtime": realtime, "cpu": cpu})]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        hello = None
        deadline = time.monotonic() + 120
        while hello is None and time.monotonic() < deadline:
            line = self._proc.stdout.readline()
            if not line:  # the child died
                break
            if line.startswith("HIL "):
                hello = json.loads(line[4:])
            elif line.startswith("HIL-ERROR "):
                self._proc.wait()
                raise SimtransferError(f"hil: {line[len('HIL-ERROR '):].strip()}")
        if hello is None:
            self._proc.kill()
            self._proc.wait()
            raise SimtransferError(f"hil: the simulation process for {env_spec!r} did not start")
        self._proc.stdout.close()
        self.period, self.obs_dim, self.act_dim = hello["period"], hello["obs_dim"], hello["act_dim"]
        self._sock = socket.create_connection((HOST, hello["port"]), timeout=timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.terminated, self.last_reward, self.sim_time, self.physics_steps = False, 0.0, 0.0, 0
        self.terminations = 0

    def read_observation(self) -> np.ndarray:
        self._sock.sendall(b"O")
        reward, self.sim_time, terminated, _, self.physics_steps = _HEAD.unpack(_recv_exact(self._sock, _HEAD.size))
        obs = np.frombuffer(_recv_exact(self._sock, 8 * self.obs_dim), dtype=np.float64)
        if terminated and not self.terminated:
            self.terminations += 1
        self.terminated, self.last_reward = bool(terminated), float(reward)
        return obs.astype(np.float32)

    def send_action(self, action: Any) -> None:
        a = np.asarray(action, dtype=np.float32).reshape(self.act_dim)
        self._sock.sendall(b"A" + a.tobytes())

    def done(self) -> tuple[bool, bool]:
        return self.terminated, False

    def reward(self) -> float:
        return self.last_reward

    def reset(self) -> None:
        self._sock.sendall(b"R")
        _recv_exact(self._sock, 1)
        self.terminated = False

    def stop(self) -> None:
        self._sock.sendall(b"S")
        _recv_exact(self._sock, 1)

    def close(self) -> None:
        try:
            self._sock.sendall(b"Q")
        except OSError:
            pass
        self._sock.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def pendulum(lifetime: float = 600.0, seed: int = 0, realtime: int | None = None, cpu: int | None = None) -> HilRobot:
    """The real-time Bullet InvertedPendulum (nominal physics) stand-in: ``--robot simtransfer.agents.hil:pendulum``
    (``--robot-arg realtime=60`` runs the plant under SCHED_FIFO 60, see :mod:`simtransfer.agents.realtime`)."""
    return HilRobot(PENDULUM, lifetime=lifetime, seed=seed, realtime=realtime, cpu=cpu)


def env(id: str = PENDULUM, lifetime: float = 600.0, seed: int = 0,  # noqa: A002
        realtime: int | None = None, cpu: int | None = None) -> HilRobot:
    """Any env spec id as a real-time stand-in: ``--robot simtransfer.agents.hil:env --robot-arg id=...``."""
    return HilRobot(id, lifetime=lifetime, seed=seed, realtime=realtime, cpu=cpu)


if __name__ == "__main__":  # the server process: python -m simtransfer.agents.hil SPEC_JSON LIFETIME SEED [OPTIONS]
    _options = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    _serve(json.loads(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), _options.get("realtime"),
           _options.get("cpu"))
