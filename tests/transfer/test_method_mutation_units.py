"""Behaviours of transfer/methods that the mutation run (bench/bench_mutation.py) found untested: option bounds
and defaults, the keep-the-source plumbing, loading, carried normalisation statistics, learning-rate scales and
the feature trunk — unit by unit on plain SB3 models (gymnasium classic control, no training)."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from simtransfer.envs.errors import SimtransferError
from simtransfer.transfer.keep import KeepSource
from simtransfer.transfer.layers import HEADS, chains
from simtransfer.transfer.methods import TransferMethod, TransferResult, get_method
from simtransfer.transfer.methods.common import (
    attach_keep,
    carry_normalization,
    freeze_statistics,
    load_source,
    normalization_arrays,
)
from simtransfer.transfer.methods.features import trunk_blocks
from simtransfer.transfer.methods.finetune import apply_lr_scales
from simtransfer.transfer.source import SourceRun
from simtransfer.transfer.weights import TransferReport

PEND_PRESET = "invpendulum_to_invdoublependulum"


def _venv(env_id: str = "Pendulum-v1", **normalize) -> DummyVecEnv | VecNormalize:
    venv = DummyVecEnv([lambda: gym.make(env_id)])
    return VecNormalize(venv, **normalize) if normalize else venv


def _ppo(venv=None) -> PPO:
    return PPO("MlpPolicy", venv or _venv(), n_steps=64, batch_size=32, seed=0,
               policy_kwargs={"net_arch": [8, 8]})


def _source(state_dict=None, algo: str = "ppo", **normalization) -> SourceRun:
    return SourceRun(path=Path("/nonexistent/src"), config={"algo": algo}, metadata={},
                     state_dict=dict(state_dict or {}), normalization=normalization)


def _stats(dim: int, count: float = 50.0, ret: bool = True) -> dict[str, torch.Tensor]:
    out = {"obs_rms.mean": torch.arange(1.0, dim + 1.0), "obs_rms.var": torch.arange(2.0, dim + 2.0),
           "obs_rms.count": torch.tensor([count])}
    if ret:
        out.update({"ret_rms.mean": torch.tensor(0.5), "ret_rms.var": torch.tensor(4.0),
                    "ret_rms.count": torch.tensor([count])})
    return out


# ----------------------------------------------------------------------------------- registry and options


def test_transfer_result_starts_with_its_own_empty_report_final_and_curves():
    a, b = TransferResult(Path("r"), "scratch"), TransferResult(Path("r"), "scratch")
    assert (a.report, a.final, a.curves) == ({}, {}, {})
    a.report["x"] = 1
    assert b.report == {}


def test_a_method_without_a_summary_describes_itself_with_an_empty_string():
    class Bare(TransferMethod):
        name = "bare"

    assert Bare().describe()["summary"] == ""


@pytest.mark.parametrize(("method", "option", "valid", "invalid"), [
    ("finetune", "critic_warmup", [0, 1], [-1]),
    ("finetune", "pull_coef", [0, 0.5], [-0.1]),
    ("finetune", "pull_decay_steps", [1, None], [0]),
    ("finetune", "lr_decay", [0.5, 1], [0, 1.5]),
    ("freeze", "depth", [1, None], [0]),
    ("l2sp", "alpha", [0, 0.5], [-0.1]),
    ("l2sp", "beta", [0, 0.5], [-0.1]),
    ("zeroshot", "episodes", [1, None], [0]),
])
def test_option_bounds_accept_their_smallest_valid_value(method, option, valid, invalid):
    m = get_method(method)
    for value in valid:
        assert getattr(m.parse_options({option: value}), option) == value
    for value in invalid:
        with pytest.raises(SimtransferError, match=f"^method '{method}': option {option}: "):
            m.parse_options({option: value})


def test_list_and_flag_options_default_to_empty_and_false():
    assert get_method("freeze").parse_options({}).layers == []
    assert get_method("freeze").parse_options({}).depth is None
    assert get_method("partial").parse_options({}).exclude == []
    assert get_method("partial").parse_options({}).freeze == []
    assert get_method("features").parse_options({}).train_critic is False
    assert get_method("zeroshot").parse_options({}).episodes is None
    assert get_method("finetune").parse_options({}).lr_scales == {}


def _config(env: str = "InvertedPendulumBulletEnv-v0"):
    from simtransfer.experiments.config import resolve_train_config

    return resolve_train_config({"env": env, "algo": "ppo", "tracking": {"mode": "disabled"}}, use_defaults=False)


def test_configure_applies_the_adapter_preset():
    m = get_method("finetune")
    cfg = m.configure(_config("InvertedDoublePendulumBulletEnv-v0"), [], m.parse_options({"adapter": PEND_PRESET}))
    assert [a.type for a in cfg.adapters] == ["simtransfer.transfer.adapters:ObsIndexMap"]
    learned = m.configure(_config("InvertedDoublePendulumBulletEnv-v0"), [],
                          m.parse_options({"adapter": PEND_PRESET, "adapter_mode": "learned"}))
    assert learned.policy.features_extractor_class == "simtransfer.transfer.adapters:LinearObsProjection"


def test_zeroshot_takes_an_index_adapter_and_ignores_the_mode_without_one():
    m = get_method("zeroshot")
    cfg = m.configure(_config(), [], m.parse_options({"adapter": PEND_PRESET}))
    assert [a.type for a in cfg.adapters] == ["simtransfer.transfer.adapters:ObsIndexMap"]
    assert m.configure(_config(), [], m.parse_options({"adapter_mode": "learned"})) == _config()


# ------------------------------------------------------------------------------- keeping the source policy


def test_default_options_pull_toward_the_source_without_warmup():
    report = TransferReport()
    keep = attach_keep(_ppo(), get_method("finetune").parse_options({}), report)
    assert isinstance(keep, KeepSource) and (keep.coef, keep.warmup_steps, keep.kind) == (10.0, 0, "kl")
    assert report.notes == ["pull toward the source policy: kl x 10.0"]


def test_critic_warmup_alone_is_attached_without_a_pull():
    report = TransferReport()
    keep = attach_keep(_ppo(), get_method("finetune").parse_options({"critic_warmup": 32, "pull_coef": 0}), report)
    assert isinstance(keep, KeepSource) and (keep.warmup_steps, keep.coef, keep.source) == (32, 0.0, None)
    assert report.notes == ["critic warm-up: only the critic learns for the first 32 steps"]


def test_no_warmup_and_no_pull_attach_nothing():
    report = TransferReport()
    assert attach_keep(_ppo(), get_method("finetune").parse_options({"pull_coef": 0}), report) is None
    assert report.notes == []


def test_a_decaying_pull_says_over_how_many_steps():
    report = TransferReport()
    keep = attach_keep(_ppo(), get_method("l2sp").parse_options({"pull_kind": "bc", "pull_decay_steps": 100}), report)
    assert keep.decay_steps == 100 and keep.kind == "bc"
    assert report.notes == ["pull toward the source policy: bc x 10.0, decaying to 0 over 100 steps"]


def test_an_explicit_pull_without_an_actor_is_an_error_and_the_default_a_note():
    dqn = DQN("MlpPolicy", _venv("CartPole-v1"), learning_starts=0, seed=0, policy_kwargs={"net_arch": [8]})
    with pytest.raises(SimtransferError, match="^pull_coef need an actor-critic algorithm .*not DQN$"):
        attach_keep(dqn, get_method("finetune").parse_options({"pull_coef": 1.0}), TransferReport())
    report = TransferReport()
    assert attach_keep(dqn, get_method("finetune").parse_options({}), report) is None
    assert report.notes == ["no pull toward the source: DQN has no actor"]


# ----------------------------------------------------------------------------------------------- loading


def test_reinit_head_excludes_the_heads_as_well_as_the_excluded_layers():
    model, donor = _ppo(), _ppo()
    opts = get_method("partial").parse_options({"reinit_head": True})
    report = load_source(model, _source(donor.policy.state_dict()), opts, TransferReport(), strict=False,
                         exclude=["mlp_extractor.policy_net.0.weight"])
    assert "mlp_extractor.policy_net.0.weight" not in report.loaded
    assert not {"action_net.weight", "value_net.weight"} & set(report.loaded)
    assert "mlp_extractor.value_net.0.weight" in report.loaded


def test_loading_nothing_is_an_error_by_default():
    foreign = _source({"encoder.weight": torch.zeros(3, 3)}, algo="sac")
    with pytest.raises(SimtransferError, match=r"^no tensor of source run .* \(source algo sac, target PPO\)"):
        load_source(_ppo(), foreign, get_method("finetune").parse_options({}), TransferReport())
    load_source(_ppo(), foreign, get_method("partial").parse_options({}), TransferReport(), strict=False)


# ------------------------------------------------------------------------------ carried normalisation


def test_a_target_without_normalisation_reports_off_and_notes_the_unused_source_statistics():
    model, opts = _ppo(), get_method("finetune").parse_options
    report = TransferReport()
    carry_normalization(model, model.get_env(), _source(**_stats(3)), opts({}), report)
    assert report.normalization == "off"
    assert report.notes == ["source has normalisation statistics but the target run does not normalise"]
    for source, options in ((_source(), {}), (_source(**_stats(3)), {"normalization": "reestimate"})):
        report = TransferReport()
        carry_normalization(model, model.get_env(), source, opts(options), report)
        assert (report.normalization, report.notes) == ("off", [])


def test_a_source_without_statistics_is_reestimated_on_the_target():
    venv = _venv(norm_obs=True, norm_reward=True)
    report = TransferReport()
    carry_normalization(_ppo(venv), venv, _source(), get_method("finetune").parse_options({}), report)
    assert report.normalization == "reestimate"
    assert report.notes == ["source saved no normalisation statistics: re-estimating on the target"]
    assert venv.obs_rms.count == pytest.approx(1e-4)


def test_carried_statistics_are_reported_as_carried():
    venv = _venv(norm_obs=True, norm_reward=True)
    report = TransferReport()
    carry_normalization(_ppo(venv), venv, _source(**_stats(3)), get_method("finetune").parse_options({}), report)
    assert report.normalization == "carry"
    np.testing.assert_array_equal(venv.obs_rms.mean, [1.0, 2.0, 3.0])
    assert venv.ret_rms.var == 4.0


def test_only_the_statistics_the_target_normalises_are_carried():
    obs_only = _venv(norm_obs=True, norm_reward=False)
    carry_normalization(_ppo(obs_only), obs_only, _source(**_stats(3)), get_method("finetune").parse_options({}),
                        TransferReport())
    np.testing.assert_array_equal(obs_only.obs_rms.mean, [1.0, 2.0, 3.0])
    assert (obs_only.ret_rms.mean, obs_only.ret_rms.var) == (0.0, 1.0)  # the target's fresh return statistics
    reward_only = _venv(norm_obs=False, norm_reward=True)
    report = TransferReport()
    carry_normalization(_ppo(reward_only), reward_only, _source(**_stats(3)),
                        get_method("finetune").parse_options({}), report)
    assert reward_only.ret_rms.var == 4.0 and report.normalization == "carry"
    assert not hasattr(reward_only, "obs_rms")


@pytest.mark.parametrize("method", ["finetune", "freeze", "features", "partial", "l2sp"])
def test_carried_statistics_are_frozen_by_default_and_count_when_unfrozen(method):
    opts = get_method(method).parse_options
    for options, frozen in (({}, True), ({"freeze_obs_stats": False, "freeze_reward_stats": False}, False)):
        venv = _venv(norm_obs=True, norm_reward=True)
        report = TransferReport()
        carry_normalization(_ppo(venv), venv, _source(**_stats(3)), opts(options), report)
        venv.obs_rms.update(np.zeros((4, 3)))
        venv.ret_rms.update(np.zeros(4))
        assert (venv.obs_rms.count == 50.0, venv.ret_rms.count == 50.0) == (frozen, frozen), options
        assert any(n.startswith("carried normalisation statistics frozen") for n in report.notes) == frozen


def test_freezing_only_the_reward_statistics_leaves_the_observation_statistics_counting():
    venv = _venv(norm_obs=True, norm_reward=True)
    assert freeze_statistics(venv, obs=False, reward=True) == ["reward"]
    venv.obs_rms.update(np.ones((4, 3)))
    venv.ret_rms.update(np.ones(4))
    assert venv.obs_rms.count > 4 and venv.ret_rms.count == pytest.approx(1e-4)


def test_statistics_are_read_from_the_obs_dot_key_layout_too():
    stats = normalization_arrays(_source(**{"obs.mean": torch.tensor([1.0]), "obs.var": torch.tensor([2.0]),
                                            "obs.count": torch.tensor([3.0])}))
    assert set(stats) == {"obs"} and stats["obs"][2] == 3.0
    np.testing.assert_array_equal(stats["obs"][1], [2.0])


def _projection_model(target_env: str, preset: str | None):
    """A PPO on ``target_env`` whose features extractor is the learned adapter of ``preset`` (if any)."""
    from simtransfer.transfer.adapters import LinearObsProjection

    venv = _venv(target_env, norm_obs=True, norm_reward=True)
    kwargs = {"features_extractor_class": LinearObsProjection, "features_extractor_kwargs": {"preset": preset}} \
        if preset else {}
    return PPO("MlpPolicy", venv, n_steps=64, batch_size=32, seed=0, policy_kwargs={"net_arch": [8], **kwargs}), venv


def test_carried_statistics_follow_a_learned_adapters_index_map():
    import simtransfer.envs  # noqa: F401  (registers the PyBullet ids)
    from simtransfer.transfer.adapters import get_preset

    model, venv = _projection_model("InvertedDoublePendulumBulletEnv-v0", PEND_PRESET)
    index = list(get_preset(PEND_PRESET).obs_index)
    src_dim, dst_dim = len(index), venv.obs_rms.mean.shape[0]
    assert src_dim != dst_dim
    carry_normalization(model, venv, _source(**_stats(src_dim)), get_method("finetune").parse_options({}),
                        TransferReport())
    mean, var = np.zeros(dst_dim), np.ones(dst_dim)
    for i, j in enumerate(index):
        if j is not None:
            mean[j], var[j] = i + 1.0, i + 2.0
    np.testing.assert_array_equal(venv.obs_rms.mean, mean)
    np.testing.assert_array_equal(venv.obs_rms.var, var)


def test_statistics_of_another_shape_without_an_adapter_are_a_one_line_error():
    venv = _venv(norm_obs=True, norm_reward=True)
    with pytest.raises(SimtransferError, match=r"^cannot carry normalisation statistics: source observation shape "
                                               r"\(5,\) != target \(3,\)"):
        carry_normalization(_ppo(venv), venv, _source(**_stats(5)), get_method("finetune").parse_options({}),
                            TransferReport())


def test_statistics_longer_than_the_adapters_index_map_are_a_one_line_error():
    import simtransfer.envs  # noqa: F401

    model, venv = _projection_model("InvertedDoublePendulumBulletEnv-v0", PEND_PRESET)
    with pytest.raises(SimtransferError, match="^cannot carry normalisation statistics"):
        carry_normalization(model, venv, _source(**_stats(7)), get_method("finetune").parse_options({}),
                            TransferReport())


def test_partial_falls_back_to_reestimating_when_statistics_cannot_be_carried():
    venv = _venv(norm_obs=True, norm_reward=True)
    model, donor = _ppo(venv), _ppo()
    m = get_method("partial")
    report = m.prepare_model(model, venv, [_source(donor.policy.state_dict(), **_stats(5))], m.parse_options({}))
    assert report.normalization == "reestimate"
    assert report.notes[-1].startswith("normalisation not carried: cannot carry normalisation statistics")
    report = m.prepare_model(model, venv, [_source(donor.policy.state_dict(), **_stats(3))], m.parse_options({}))
    assert report.normalization == "carry"


# ------------------------------------------------------------------------------- learning rates, trunk


def test_lr_scales_rebuild_the_optimizer_and_report_only_the_changed_factors():
    model = _ppo()
    report = TransferReport()
    apply_lr_scales(model, get_method("finetune").parse_options({"lr_scales": {"pi.0": 0.1, "vf.0": 1.0}}), report)
    assert report.lr_scales == {"mlp_extractor.policy_net.0.weight": 0.1, "mlp_extractor.policy_net.0.bias": 0.1}
    assert sorted(g["lr_scale"] for g in model.policy.optimizer.param_groups) == [0.1, 1.0]


def test_lr_decay_scales_shallow_blocks_down():
    model = _ppo()
    report = TransferReport()
    apply_lr_scales(model, get_method("finetune").parse_options({"lr_decay": 0.5}), report)
    assert report.lr_scales["mlp_extractor.policy_net.0.weight"] == 0.25
    assert report.lr_scales["mlp_extractor.policy_net.2.weight"] == 0.5  # pi.1 (policy_net.1 is the Tanh)
    assert "action_net.weight" not in report.lr_scales  # heads learn at the full rate
    nothing = TransferReport()
    apply_lr_scales(model, get_method("finetune").parse_options({}), nothing)
    assert nothing.lr_scales == {}


def test_the_trunk_is_every_hidden_block_once_and_no_head():
    model = _ppo()
    blocks = trunk_blocks(model)
    assert blocks == trunk_blocks(model, train_critic=False) == ["pi.0", "pi.1", "vf.0", "vf.1"]
    assert trunk_blocks(model, train_critic=True) == ["pi.0", "pi.1"]
    assert not set(HEADS) & set(blocks)


def test_a_shared_features_block_is_in_the_trunk_once():
    import simtransfer.envs  # noqa: F401

    model, _ = _projection_model("InvertedDoublePendulumBulletEnv-v0", PEND_PRESET)
    assert "features" in chains(model.policy)["actor"] and "features" in chains(model.policy)["critic"]
    blocks = trunk_blocks(model)
    assert blocks.count("features") == 1 and not set(HEADS) & set(blocks)
