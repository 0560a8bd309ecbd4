"""The method registry and options, unit by unit: names, aliases, one-line option errors, source counts,
and the small helpers the methods share (no training: milliseconds each)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from simtransfer.envs.errors import SimtransferError
from simtransfer.transfer.methods import (
    BUILTIN,
    MethodOptions,
    TransferMethod,
    available_methods,
    get_method,
    register,
)
from simtransfer.transfer.source import SourceRun


def _src(**normalization) -> SourceRun:
    return SourceRun(path=__import__("pathlib").Path("/nonexistent"), config={}, metadata={}, state_dict={},
                     normalization=normalization)


def test_builtin_names_resolve_to_their_own_method():
    assert available_methods() == sorted(BUILTIN)
    for name in BUILTIN:
        method = get_method(name)
        assert method.name == name and isinstance(method, TransferMethod)
        assert method.summary and type(method).__module__ == BUILTIN[name]


@pytest.mark.parametrize(("alias", "name"), [("zero-shot", "zeroshot"), ("fine_tune", "finetune"),
                                             (" Fine-Tune ", "finetune"), ("L2SP", "l2sp")])
def test_aliases(alias, name):
    assert get_method(alias).name == name


def test_unknown_method_lists_the_available_ones():
    with pytest.raises(SimtransferError, match=r"^unknown transfer method 'nope' \(available: features, finetune, "):
        get_method("nope")


def test_method_by_path_must_be_a_transfer_method():
    assert get_method("simtransfer.transfer.methods.freeze:Freeze").name == "freeze"
    with pytest.raises(SimtransferError):
        get_method("simtransfer.transfer.methods.common:load_source")


def test_register_needs_a_name():
    class Nameless(TransferMethod):
        pass

    with pytest.raises(ValueError, match="Nameless has no name"):
        register(Nameless)


def test_option_errors_are_one_line_and_name_the_method():
    m = get_method("freeze")
    with pytest.raises(SimtransferError) as exc:
        m.parse_options({"bogus": 1})
    msg = str(exc.value)
    assert msg.startswith("method 'freeze': option bogus: ") and "\n" not in msg
    assert msg.endswith("(options: normalization, freeze_obs_stats, freeze_reward_stats, reinit_head, learning_rate, "
                        "key_map, adapter, adapter_mode, critic_warmup, pull_coef, pull_kind, pull_decay_steps, layers, "
                        "depth)")
    with pytest.raises(SimtransferError, match=r"^method 'l2sp': option alpha: "):
        get_method("l2sp").parse_options({"alpha": -1})
    with pytest.raises(SimtransferError, match=r"^method 'freeze': option depth: "):
        m.parse_options({"depth": 0})
    parsed = m.parse_options({"layers": ["pi.0"]})
    assert m.parse_options(parsed) is parsed and m.parse_options(None).layers == []


def test_option_defaults_that_define_a_method():
    assert get_method("features").parse_options({}).reinit_head is True
    assert get_method("finetune").parse_options({}).reinit_head is False
    assert get_method("l2sp").parse_options({}).alpha == 0.01 and get_method("l2sp").parse_options({}).beta == 0.0
    assert get_method("progressive").parse_options({}).alpha_init == 0.01
    with pytest.raises(SimtransferError):
        get_method("finetune").parse_options({"lr_decay": 1.5})


def test_source_counts():
    for name in ("finetune", "freeze", "features", "partial", "l2sp", "zeroshot", "progressive"):
        with pytest.raises(SimtransferError, match=f"^method '{name}' needs a source run$"):
            get_method(name).check_sources([])
    get_method("scratch").check_sources([])
    with pytest.raises(SimtransferError, match=r"^method 'finetune' takes at most 1 source run\(s\), got 2$"):
        get_method("finetune").check_sources([_src(), _src()])
    get_method("progressive").check_sources([_src()] * 8)
    with pytest.raises(SimtransferError, match="at most 8"):
        get_method("progressive").check_sources([_src()] * 9)


def test_method_flags():
    flags = {n: (get_method(n).learns, get_method(n).uses_weights, get_method(n).requires_matching_spaces)
             for n in available_methods()}
    assert flags["zeroshot"] == (False, True, True)
    assert flags["scratch"] == (True, False, True)
    assert flags["partial"] == (True, True, False) and flags["progressive"] == (True, True, False)
    assert flags["finetune"] == flags["freeze"] == flags["features"] == flags["l2sp"] == (True, True, True)


def test_describe():
    d = get_method("l2sp").describe()
    assert d["name"] == "l2sp" and d["learns"] is True and d["summary"] == get_method("l2sp").summary
    assert d["options"]["alpha"] == "strength of the pull toward the source weights"


def test_configure_applies_learning_rate():
    from simtransfer.experiments.config import resolve_train_config

    cfg = resolve_train_config({"env": "CartPole-v1", "algo": "ppo", "tracking": {"mode": "disabled"}},
                               use_defaults=False)
    m = get_method("finetune")
    assert m.configure(cfg, [], m.parse_options({"learning_rate": 1e-5})).hyperparams["learning_rate"] == 1e-5
    assert m.configure(cfg, [], m.parse_options({})) == cfg


def test_zeroshot_refuses_a_learned_adapter():
    m = get_method("zeroshot")
    with pytest.raises(SimtransferError, match="zeroshot cannot use adapter_mode learned"):
        m.configure(None, [], m.parse_options({"adapter": "invpendulum_to_invdoublependulum",
                                                "adapter_mode": "learned"}))


def test_normalization_arrays():
    from simtransfer.transfer.methods.common import normalization_arrays

    stats = normalization_arrays(_src(**{"obs_rms.mean": torch.tensor([1.0, 2.0]), "obs_rms.var": torch.tensor([3.0, 4.0]),
                                         "obs_rms.count": torch.tensor([7.0]), "ret_rms.mean": torch.tensor(0.5),
                                         "ret_rms.var": torch.tensor(2.0)}))
    assert set(stats) == {"obs", "ret"}
    np.testing.assert_array_equal(stats["obs"][0], [1.0, 2.0])
    np.testing.assert_array_equal(stats["obs"][1], [3.0, 4.0])
    assert stats["obs"][2] == 7.0 and stats["ret"][2] == 1e4  # no count saved: a large default
    assert normalization_arrays(_src(**{"obs_rms.mean": torch.tensor([1.0])})) == {}  # no var: nothing


def test_method_options_are_strict():
    with pytest.raises(Exception, match="extra"):
        MethodOptions.model_validate({"nope": 1})


def test_common_option_defaults_and_descriptions():
    opts = MethodOptions()
    assert (opts.normalization, opts.reinit_head, opts.learning_rate, opts.key_map, opts.adapter,
            opts.adapter_mode) == ("carry", False, None, None, None, "index")
    for name in available_methods():  # every option of every method says what it does (the CLI lists them)
        described = get_method(name).describe()["options"]
        assert all(isinstance(text, str) and text for text in described.values()), name
    with pytest.raises(SimtransferError, match="option learning_rate"):
        get_method("finetune").parse_options({"learning_rate": 0})
