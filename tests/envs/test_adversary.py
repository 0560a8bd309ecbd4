"""The RARL disturbance wrappers (envs/adversary.py) at the physics level: which link is pushed, where, along which
axis and how hard; links of a robot that pybullet_envs did not build; the bounds and defaults of both views."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pybullet
import pytest
from pybullet_utils.bullet_client import BulletClient

from simtransfer.envs.adversary import AdversaryControl, AdversaryForce
from simtransfer.envs.errors import SimtransferError

IDP = "simtransfer/InvertedDoublePendulumNominal-v0"
DT = 1.0 / 240.0  # PyBullet's default time step
INERTIA = '<inertia ixx="0.1" iyy="0.1" izz="0.1" ixy="0" ixz="0" iyz="0"/>'
# a free 1 kg crate (its robot name differs from its base link's name) ...
CRATE = f"""<robot name="crate"><link name="chassis"><inertial><mass value="1"/>{INERTIA}</inertial></link></robot>"""
# ... and a fixed post with a 1 kg arm on a hinge about z, the arm's centre of mass 1 m from the hinge along x
RIG = f"""<robot name="rig">
  <link name="post"><inertial><mass value="0"/>{INERTIA}</inertial></link>
  <link name="arm"><inertial><origin xyz="1 0 0"/><mass value="1"/>{INERTIA}</inertial></link>
  <joint name="hinge" type="continuous"><parent link="post"/><child link="arm"/><axis xyz="0 0 1"/></joint>
</robot>"""


class Rig(gym.Env):
    """Not a pybullet_envs robot (no ``robot.parts``): the crate floats at z = 1 m, no gravity, no contact, so
    a push is the only force. Observation: the crate's linear and angular velocity, the hinge's speed."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (7,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, folder: Path) -> None:
        self.folder, self._p = folder, None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if self._p is None:
            self._p = BulletClient(pybullet.DIRECT)
        p = self._p
        p.resetSimulation()
        p.setGravity(0, 0, 0)
        inertia = p.URDF_USE_INERTIA_FROM_FILE  # not from the (absent) collision shapes
        self.crate = p.loadURDF(str(self.folder / "crate.urdf"), [0, 0, 1], flags=inertia)
        self.rig = p.loadURDF(str(self.folder / "rig.urdf"), [0, 0, 0], useFixedBase=True, flags=inertia)
        p.setJointMotorControl2(self.rig, 0, p.VELOCITY_CONTROL, force=0)  # a free hinge
        return self._observe(), {}

    def step(self, action: Any):
        self._p.stepSimulation()
        return self._observe(), 0.0, False, False, {}

    def _observe(self) -> np.ndarray:
        linear, angular = self._p.getBaseVelocity(self.crate)
        return np.array([*linear, *angular, self._p.getJointState(self.rig, 0)[1]], dtype=np.float32)

    def close(self) -> None:
        if self._p is not None:
            self._p.disconnect()
            self._p = None


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    (tmp_path / "crate.urdf").write_text(CRATE)
    (tmp_path / "rig.urdf").write_text(RIG)
    return Rig(tmp_path)


def _push(env: gym.Env, disturbance: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """One step of ``env`` (an AdversaryForce) with a constant adversary."""
    env.set_adversary(lambda obs: np.asarray(disturbance, dtype=np.float32))
    env.reset(seed=0)
    obs, _, _, _, info = env.step(np.zeros(1, np.float32))
    return obs, info


def test_links_are_found_by_name_in_a_world_pybullet_envs_did_not_build(rig):
    """A body's base by its base link's name (not the robot's name), a joint's child link by its name."""
    env = AdversaryForce(rig, links=["chassis", "arm"], max_force=2.0, force_axes=["y"])
    obs, info = _push(env, [1.0, 1.0])
    assert info["disturbance"].tolist() == [2.0, 2.0]
    assert obs[1] == pytest.approx(2.0 * DT, rel=1e-3)  # the crate's base: v = F dt / m along +y
    assert obs[6] == pytest.approx(2.0 * DT / 1.1, rel=1e-2)  # the arm, pushed 1 m from its hinge, turns about +z
    with pytest.raises(SimtransferError, match=r"no link named 'crate' in Rig \(links: arm, chassis, post\)"):
        AdversaryForce(rig, links=["crate"]).reset(seed=0)


def test_the_force_acts_at_the_links_centre_of_mass_along_the_named_axis(rig):
    """At the centre of mass a push translates and does not spin; along y it moves along y only."""
    obs, _ = _push(AdversaryForce(rig, links=["chassis"], max_force=3.0, force_axes=["y"]), [1.0])
    assert obs[1] == pytest.approx(3.0 * DT, rel=1e-3)
    np.testing.assert_allclose(obs[[0, 2, 3, 4, 5]], 0.0, atol=1e-6)  # no x, no z, no turn
    obs, _ = _push(AdversaryForce(rig, links=["chassis"], max_force=3.0, force_axes=["z", "x"]), [1.0, -1.0])
    np.testing.assert_allclose(obs[:3], [-3.0 * DT, 0.0, 3.0 * DT], rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(obs[3:6], 0.0, atol=1e-6)
    # a link of an articulated body: the push at the arm's centre of mass turns it about the hinge by
    # the torque F * 1 m (at the hinge's own position it would not turn at all)
    arm, _ = _push(AdversaryForce(rig, links=["arm"], max_force=3.0, force_axes=["y"]), [1.0])
    assert arm[6] == pytest.approx(3.0 * DT / 1.1, rel=1e-2)  # I = m r^2 + I_zz = 1.1 kg m^2
    arm, _ = _push(AdversaryForce(rig, links=["arm"], max_force=3.0, force_axes=["x"]), [1.0])
    assert arm[6] == pytest.approx(0.0, abs=1e-6)  # along the arm, through the hinge: no turn


def test_torques_turn_the_link_about_the_named_axis(rig):
    env = AdversaryForce(rig, links=["chassis"], max_force=1.0, max_torque=0.5, force_axes=[], torque_axes=["y"])
    obs, info = _push(env, [1.0])
    assert info["disturbance"].tolist() == [0.5]
    np.testing.assert_allclose(obs[:6], [0, 0, 0, 0, 0.5 * DT / 0.1, 0], rtol=1e-3, atol=1e-6)  # I_yy = 0.1


def test_disturbances_are_clipped_to_the_unit_box_on_both_sides(rig):
    env = AdversaryControl(rig, links=["chassis"], max_force=4.0, force_axes=["x", "y"])
    assert env.action_space.low.tolist() == [-1.0, -1.0] and env.action_space.high.tolist() == [1.0, 1.0]
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([-3.0, 0.25], np.float32))
    assert info["disturbance"].tolist() == [-4.0, 1.0]


def test_default_bound_is_ten_newtons(rig):
    _, info = _push(AdversaryForce(rig, links=["chassis"]), [1.0, 1.0, 1.0])
    assert info["disturbance"].tolist() == [10.0, 10.0, 10.0]
    control = AdversaryControl(rig, links=["chassis"])
    control.reset(seed=0)
    assert control.step(-np.ones(3, np.float32))[4]["disturbance"].tolist() == [-10.0, -10.0, -10.0]


def test_without_a_protagonist_the_adversary_view_acts_with_zero_actions():
    plain = gym.make(IDP)
    plain.reset(seed=0)
    expected = plain.step(np.zeros(1, np.float32))[0]
    env = AdversaryControl(gym.make(IDP), links=["pole2"], max_force=5.0)
    env.reset(seed=0)
    obs, reward, _, _, info = env.step(np.zeros(3, np.float32))  # no push, no protagonist
    np.testing.assert_array_equal(obs, expected)
    assert reward == -info["protagonist_reward"]


def test_the_adversary_is_not_consulted_before_the_first_reset(rig):
    calls: list[Any] = []
    env = AdversaryForce(gym.wrappers.OrderEnforcing(rig), links=["chassis"])
    env.set_adversary(lambda obs: calls.append(obs) or np.ones(3))
    with pytest.raises(gym.error.ResetNeeded):
        env.step(np.zeros(1, np.float32))
    assert calls == []


VIEWS = [(AdversaryForce, "adversary_force"), (AdversaryControl, "adversary_control")]  # the short names in specs


@pytest.mark.parametrize("cls,kind", VIEWS)
@pytest.mark.parametrize("kwargs,match", [
    ({"links": "chassis"}, "'links' must be a non-empty list of link names"),  # a string, not a list
    ({"links": []}, "'links' must be a non-empty list"),
    ({"max_torque": 0.0}, "max_force and max_torque must be > 0"),
    ({"max_torque": -1.0}, "max_force and max_torque must be > 0"),
    ({"max_force": -1.0}, "max_force and max_torque must be > 0"),
    ({"force_axes": ["x", "x"]}, "force_axes: expected distinct axes"),
    ({"force_axes": [], "torque_axes": ["y"]}, "no force or torque axis"),  # torques need a max_torque
])
def test_bad_bounds_are_one_line_errors_naming_the_wrapper(rig, cls, kind, kwargs, match):
    with pytest.raises(SimtransferError, match=f"^{kind}.*{match}") as info:
        cls(rig, **{"links": ["chassis"], **kwargs})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("cls,kind", VIEWS)
def test_an_unknown_link_names_the_wrapper(rig, cls, kind):
    with pytest.raises(SimtransferError, match=rf"^{kind} links: no link named 'torso'"):
        cls(rig).reset(seed=0)
