"""Sim-to-sim targets: MuJoCo v5 tasks exposed in the PyBullet source's observation/action layout."""

from __future__ import annotations

import math

import gymnasium as gym
import mujoco
import numpy as np
import pybullet
import pybullet_envs_gymnasium  # noqa: F401  (registers the Bullet ids)
import pytest

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.sim2sim import (
    BULLET_IDS,
    TASKS,
    BulletLayoutMuJoCoEnv,
    register_sim2sim_envs,
    target_id,
)
from simtransfer.envs.sim2sim_obs import rpy_from_quat
from tests.checkers import check_env_strict

register_sim2sim_envs()


# --- copying a Bullet state into MuJoCo -------------------------------------------------------------------------
def refresh_bullet_kinematics(bullet_env: gym.Env) -> None:
    """Re-set every joint to its own state so ``getLinkState`` reports the current pose, not the last substep's."""
    client, body = bullet_env.unwrapped._p, np.atleast_1d(bullet_env.unwrapped.robot.objects)[-1]
    for k in range(client.getNumJoints(body)):
        q, qd = client.getJointState(body, k)[:2]
        client.resetJointState(body, k, q, qd)


def body_com_velocity(model: mujoco.MjModel, data: mujoco.MjData, body: int) -> np.ndarray:
    vel = np.zeros(6)
    mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_BODY, body, vel, 0)
    return vel[3:]


def copy_bullet_state(bullet_env: gym.Env, target: BulletLayoutMuJoCoEnv) -> None:
    """Set the target's qpos/qvel to the Bullet state. Joints are copied by name; Bullet's planar root hinge
    pivots about another point (PyBullet reads the ``ignore*`` joints' ``pos`` globally), so the planar root
    slides are solved from the observed body's centre-of-mass position and velocity."""
    client, robot = bullet_env.unwrapped._p, bullet_env.unwrapped.robot
    body = np.atleast_1d(robot.objects)[-1]
    model, data = target.model, target.data
    named = {}
    for k in range(client.getNumJoints(body)):
        info = client.getJointInfo(body, k)
        if info[2] != pybullet.JOINT_FIXED:
            named[info[1].decode("utf8")] = (info[2], *client.getJointState(body, k)[:2])
    slides = []
    for j in range(model.njnt):
        name, adr, dof = model.joint(j).name, model.jnt_qposadr[j], model.jnt_dofadr[j]
        if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE:  # Ant: Bullet's base is free-floating
            pos, (x, y, z, w) = client.getBasePositionAndOrientation(body)
            lin, ang = client.getBaseVelocity(body)
            rot = np.array(client.getMatrixFromQuaternion([x, y, z, w])).reshape(3, 3)
            data.qpos[adr : adr + 7] = [*pos, w, x, y, z]
            data.qvel[dof : dof + 6] = [*lin, *(rot.T @ np.asarray(ang))]
        elif name in named:
            data.qpos[adr], data.qvel[dof] = named[name][1], named[name][2]
        elif model.jnt_type[j] == mujoco.mjtJoint.mjJNT_SLIDE:
            data.qpos[adr], data.qvel[dof] = model.qpos0[adr], 0.0
            slides.append(j)
        else:  # planar root pitch: same axis as Bullet's ignore* hinge
            hinge = [v for n, v in named.items() if n.startswith("ignore") and v[0] == pybullet.JOINT_REVOLUTE]
            data.qpos[adr], data.qvel[dof] = hinge[0][1], hinge[0][2]
    mujoco.mj_forward(model, data)
    if slides:
        state = client.getLinkState(
            body, robot.robot_body.bodyPartIndex, computeLinkVelocity=1, computeForwardKinematics=1
        )
        mj_body = model.body(target.reference.body_name).id
        dpos = np.asarray(state[0]) - data.xipos[mj_body]
        dvel = np.asarray(state[6]) - body_com_velocity(model, data, mj_body)
        for j in slides:
            axis = int(np.argmax(np.abs(model.jnt_axis[j])))
            data.qpos[model.jnt_qposadr[j]] += dpos[axis]
            data.qvel[model.jnt_dofadr[j]] += dvel[axis]
        mujoco.mj_forward(model, data)


# --- tests ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("task", TASKS)
def test_target_passes_check_env(task: str) -> None:
    env = gym.make(target_id(task))
    check_env_strict(env.unwrapped, allow=["unbounded_obs"], sb3=False)
    env.close()


@pytest.mark.parametrize("task", TASKS)
def test_spaces_equal_bullet_source(task: str) -> None:
    bullet, target = gym.make(BULLET_IDS[task]), gym.make(target_id(task))
    assert target.observation_space == bullet.observation_space
    assert target.action_space == bullet.action_space
    obs, info = target.reset(seed=0)
    assert target.observation_space.contains(obs)
    assert info["sim"] == "mujoco" and info["source"] == BULLET_IDS[task]
    assert info["params"]["dt"] == pytest.approx(info["params"]["timestep"] * info["params"]["frame_skip"])
    bullet.close()
    target.close()


@pytest.mark.parametrize("task", TASKS)
def test_mapped_observation_equals_bullet_observation_on_same_state(task: str) -> None:
    """Drive Bullet to a non-trivial state, copy it into MuJoCo: every continuous field must agree."""
    bullet = gym.make(BULLET_IDS[task])
    target = gym.make(target_id(task)).unwrapped
    bullet.reset(seed=1)
    target.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(12):
        bullet.step(rng.uniform(-1, 1, bullet.action_space.shape).astype(np.float32))
    refresh_bullet_kinematics(bullet)
    expected = bullet.unwrapped.robot.calc_state()
    copy_bullet_state(bullet, target)
    layout = target.layout
    if hasattr(layout, "initial_z"):
        layout.initial_z = bullet.unwrapped.robot.initial_z
        n_feet = len(layout.feet_contact)
        layout.feet_contact[:] = expected[-n_feet:]
        got = layout.observe(target.data, update_contacts=False)
    else:
        got = layout.observe(target.data)
    assert not np.allclose(expected, np.round(expected))  # a state with moving, bent joints
    np.testing.assert_allclose(got, expected, atol=1e-5)
    bullet.close()


def test_pendulum_fields_from_known_state() -> None:
    env = gym.make(target_id("InvertedPendulum")).unwrapped
    env.reset(seed=0)
    env.data.qpos[:] = [0.25, 0.3]
    env.data.qvel[:] = [-0.5, 1.5]
    mujoco.mj_forward(env.model, env.data)
    np.testing.assert_allclose(env.layout.observe(env.data), [0.25, -0.5, math.cos(0.3), math.sin(0.3), 1.5], atol=1e-6)


def test_double_pendulum_pole2_x_is_its_centre_of_mass() -> None:
    env = gym.make(target_id("InvertedDoublePendulum")).unwrapped
    env.reset(seed=0)
    env.data.qpos[:] = [0.1, 0.2, -0.4]
    env.data.qvel[:] = [0.0, 0.0, 0.0]
    mujoco.mj_forward(env.model, env.data)
    obs = env.layout.observe(env.data)
    # pole 1 is 0.6 long; pole 2's centre of mass is 0.3 along it; hinges rotate about +y (x grows with sin).
    assert obs[2] == pytest.approx(0.1 + 0.6 * math.sin(0.2) + 0.3 * math.sin(0.2 - 0.4), abs=1e-5)
    np.testing.assert_allclose(obs[3:], [math.cos(0.2), math.sin(0.2), 0, math.cos(-0.4), math.sin(-0.4), 0], atol=1e-6)


def test_hopper_fields_from_known_state() -> None:
    env = gym.make(target_id("Hopper")).unwrapped
    env.reset(seed=0)
    layout, ref = env.layout, env.reference
    layout.initial_z = 1.25
    # rootx, rootz (torso height), rooty (pitch), thigh, leg, foot
    env.data.qpos[:] = [0.5, 1.2, 0.2, -1.0, -0.5, 0.3]
    env.data.qvel[:] = [1.0, -0.5, 0.0, 2.0, -3.0, 4.0]
    mujoco.mj_forward(env.model, env.data)
    obs = layout.observe(env.data, update_contacts=False)
    lo, hi = ref.joint_lower, ref.joint_upper
    q = np.array([-1.0, -0.5, 0.3])
    expected = [1.2 - 1.25, 0.0, 1.0, 0.3 * 1.0, 0.0, 0.3 * -0.5, 0.0, 0.2]
    for k in range(3):
        expected += [2 * (q[k] - lo[k]) / (hi[k] - lo[k]) - 1, 0.1 * env.data.qvel[3 + k]]
    np.testing.assert_allclose(obs, [*expected, 0.0], atol=1e-5)
    assert (lo[0], hi[0]) == pytest.approx((-math.radians(150), 0.0))


def test_ant_velocity_is_rotated_into_yaw_frame() -> None:
    env = gym.make(target_id("Ant")).unwrapped
    env.reset(seed=0)
    yaw = 0.7
    env.data.qpos[:7] = [0.0, 0.0, 0.6, math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]
    env.data.qvel[:] = 0.0
    env.data.qvel[:3] = [1.0, 2.0, 0.5]
    mujoco.mj_forward(env.model, env.data)
    obs = env.layout.observe(env.data, update_contacts=False)
    vx = math.cos(yaw) * 1.0 + math.sin(yaw) * 2.0
    vy = -math.sin(yaw) * 1.0 + math.cos(yaw) * 2.0
    np.testing.assert_allclose(obs[3:8], [0.3 * vx, 0.3 * vy, 0.3 * 0.5, 0.0, 0.0], atol=1e-5)
    x, y = env.layout.body_xy(env.data)
    angle = math.atan2(-y, 1e3 - x) - yaw
    np.testing.assert_allclose(obs[1:3], [math.sin(angle), math.cos(angle)], atol=1e-5)


def test_feet_contacts_come_from_mujoco_contacts_one_step_late() -> None:
    env = gym.make(target_id("Hopper")).unwrapped
    env.reset(seed=0)
    layout = env.layout
    env.data.qpos[:] = env.model.qpos0
    env.data.qpos[1] = 3.0  # far above the floor
    mujoco.mj_forward(env.model, env.data)
    assert layout.contacts(env.data).tolist() == [0.0]
    env.data.qpos[1] = 1.25 - 0.06  # foot capsule (bottom at z=0.04 in qpos0) pushed 2 cm into the floor
    mujoco.mj_forward(env.model, env.data)
    assert layout.contacts(env.data).tolist() == [1.0]
    assert layout.observe(env.data)[-1] == 0.0  # shows the previous flags, as Bullet's calc_state does
    assert layout.observe(env.data)[-1] == 1.0


def bullet_torques(bullet_env: gym.Env, action: np.ndarray) -> dict[str, float]:
    """Torque per joint name that Bullet's ``apply_action`` sends to ``setJointMotorControl2``."""
    raw = bullet_env.unwrapped
    client, sent = raw._p, {}
    names = {(j.bodies[j.bodyIndex], j.jointIndex): j.joint_name for j in raw.robot.ordered_joints}
    original = client.setJointMotorControl2

    def record(*args, **kwargs):
        body = kwargs.get("bodyIndex", args[0] if args else None)
        joint = kwargs.get("jointIndex", args[1] if len(args) > 1 else None)
        if kwargs.get("controlMode") == pybullet.TORQUE_CONTROL:
            sent[names[(body, joint)]] = kwargs["force"]
        return original(*args, **kwargs)

    client.setJointMotorControl2 = record
    try:
        raw.robot.apply_action(action)
    finally:
        client.setJointMotorControl2 = original
    return sent


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("level", [1.0, -0.4, 3.0])
def test_applied_torque_equals_bullet_torque(task: str, level: float) -> None:
    bullet, target = gym.make(BULLET_IDS[task]), gym.make(target_id(task)).unwrapped
    bullet.reset(seed=0)
    target.reset(seed=0)
    action = np.full(bullet.action_space.shape, level, dtype=np.float32)
    expected = bullet_torques(bullet, action)
    target.data.ctrl[:] = target.actions(action)
    mujoco.mj_forward(target.model, target.data)
    assert expected
    for name, torque in expected.items():
        dof = target.model.joint(name).dofadr[0]
        assert target.data.qfrc_actuator[dof] == pytest.approx(torque, rel=1e-6), name
    bullet.close()


def test_match_torque_false_keeps_mujoco_actuator_limits() -> None:
    env = gym.make(target_id("Ant"), match_torque=False).unwrapped
    env.reset(seed=0)
    env.data.ctrl[:] = env.actions(np.ones(8))
    mujoco.mj_forward(env.model, env.data)
    hip = env.model.joint("hip_1").dofadr[0]
    assert env.data.qfrc_actuator[hip] == pytest.approx(150.0)  # Ant-v5 gear 150, ctrlrange ±1 (Bullet: 250)


@pytest.mark.parametrize("task", TASKS)
def test_random_bullet_policy_runs_episodes_to_the_end(task: str) -> None:
    env = gym.make(target_id(task), max_episode_steps=200)
    env.action_space.seed(0)
    for episode in range(2):
        obs, _ = env.reset(seed=episode)
        for _ in range(201):
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            assert env.observation_space.contains(obs) and math.isfinite(reward)
            if terminated or truncated:
                break
        assert terminated or truncated
    env.close()


def test_reset_is_seeded() -> None:
    env = gym.make(target_id("Walker2D"))
    first, _ = env.reset(seed=3)
    env.step(env.action_space.sample())
    again, _ = env.reset(seed=3)
    np.testing.assert_array_equal(first, again)


def test_rpy_matches_pybullet(rng: np.random.Generator) -> None:
    for _ in range(20):
        x, y, z, w = rng.normal(size=4) / np.linalg.norm(rng.normal(size=4))
        q = np.array([x, y, z, w]) / np.linalg.norm([x, y, z, w])
        np.testing.assert_allclose(rpy_from_quat(q[3], *q[:3]), pybullet.getEulerFromQuaternion(q), atol=1e-6)


def test_registration_is_idempotent_and_errors_are_one_line() -> None:
    assert register_sim2sim_envs() == register_sim2sim_envs() == [target_id(t) for t in TASKS]
    with pytest.raises(SimtransferError, match="unknown sim-to-sim task"):
        BulletLayoutMuJoCoEnv("CartPole")
    with pytest.raises(SimtransferError, match="bad keyword argument"):
        gym.make(target_id("Hopper"), no_such_option=1)
