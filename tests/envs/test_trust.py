"""The trust gate and the bounded YAML reader, unit by unit (the hostile-run tests drive them end to end)."""

from __future__ import annotations

import doctest

import gymnasium as gym
import pytest
import torch

from simtransfer.envs import trust as trust_module
from simtransfer.envs import yaml_io as yaml_io_module
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.trust import TRUST_ENV, is_trusted, resolve_component, trust, trusted_modules, trusting
from simtransfer.envs.yaml_io import MAX_BYTES, load_json, load_yaml, parse_yaml


@pytest.fixture(autouse=True)
def no_trust(monkeypatch):
    monkeypatch.delenv(TRUST_ENV, raising=False)


@pytest.mark.parametrize("module", [trust_module, yaml_io_module])
def test_docstring_examples_run(module):
    assert doctest.testmod(module, raise_on_error=False).failed == 0


def test_trust_is_by_module_prefix_not_by_string_prefix():
    with trusting("mylab.envs"):
        assert is_trusted("mylab.envs") and is_trusted("mylab.envs.arm")
        assert not is_trusted("mylab.envsevil") and not is_trusted("mylab")
    assert trusted_modules() == []


def test_trust_reaches_child_processes_through_the_environment(monkeypatch):
    trust(["a.b", "c"])
    trust(["c", "d"])
    import os

    assert os.environ[TRUST_ENV] == "a.b,c,d"


def test_trust_rejects_what_is_not_a_module_name():
    with pytest.raises(SimtransferError, match="expected a dotted module name"):
        trust(["os; rm -rf /"])


def test_project_classes_of_the_right_kind_pass_without_trust():
    from simtransfer.envs.history import HistoryObservation

    assert resolve_component("simtransfer.envs.history:HistoryObservation", gym.Wrapper, field="f") is HistoryObservation


def test_project_names_of_the_wrong_kind_are_refused():
    """Inside simtransfer's own packages only classes of the expected kind: no functions, no other classes."""
    with pytest.raises(SimtransferError, match="is not a Wrapper class"):
        resolve_component("simtransfer.envs.trust:trust", gym.Wrapper, field="adapters[0].type")
    with pytest.raises(SimtransferError, match="is not a Wrapper class"):
        resolve_component("simtransfer.envs.spec:EnvSpec", gym.Wrapper, field="adapters[0].type")


def test_libraries_only_where_a_call_site_allows_them():
    assert resolve_component("torch.nn:Mish", torch.nn.Module, field="f", libraries=("torch",)) is torch.nn.Mish
    with pytest.raises(SimtransferError, match="--trust torch.nn"):
        resolve_component("torch.nn:Mish", torch.nn.Module, field="f")
    with pytest.raises(SimtransferError, match="--trust gymnasium.wrappers"):
        resolve_component("gymnasium.wrappers:RecordVideo", gym.Wrapper, field="f")
    assert resolve_component("gymnasium.wrappers:RecordVideo", gym.Wrapper, field="f",
                             exact={"gymnasium.wrappers:RecordVideo"}) is gym.wrappers.RecordVideo


def test_outside_code_is_refused_before_it_is_imported():
    import sys

    sys.modules.pop("antigravity", None)  # importing it opens a web browser
    with pytest.raises(SimtransferError, match=r"env.id 'antigravity:geohash' names code outside.*--trust antigravity"):
        resolve_component("antigravity:geohash", gym.Env, field="env.id")
    assert "antigravity" not in sys.modules


def test_trusted_modules_may_name_anything():
    with trusting("os.path"):
        assert resolve_component("os.path:join", gym.Env, field="f") is __import__("os").path.join


def test_yaml_aliases_within_bounds_work_and_recursion_is_refused():
    assert parse_yaml("base: &b {lr: 0.1}\nrun: {<<: *b, seed: 1}") == {"base": {"lr": 0.1}, "run": {"lr": 0.1, "seed": 1}}
    with pytest.raises(SimtransferError, match="refers to itself"):
        parse_yaml("a: &a [1, *a]")


def test_yaml_errors_are_one_line_naming_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(SimtransferError, match=r"malformed YAML in .*bad.yaml \(line"):
        load_yaml(bad)
    with pytest.raises(SimtransferError, match="file not found"):
        load_yaml(tmp_path / "missing.yaml")
    two = tmp_path / "two.yaml"
    two.write_text("a: 1\n---\nb: 2\n")
    with pytest.raises(SimtransferError, match="malformed YAML"):
        load_yaml(two)


def test_oversized_files_are_refused_unread(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * MAX_BYTES)
    with pytest.raises(SimtransferError, match="more than a YAML file can be"):
        load_yaml(big)
    big_json = tmp_path / "big.json"
    big_json.write_text(" " * (MAX_BYTES + 1))
    with pytest.raises(SimtransferError, match="more than a JSON file can be"):
        load_json(big_json)
    with pytest.raises(SimtransferError, match="more than a config can be"):
        parse_yaml("x" * (MAX_BYTES + 1))


def test_names_written_before_the_single_namespace_still_load():
    from simtransfer.envs.history import HistoryObservation

    assert resolve_component("envs.history:HistoryObservation", gym.Wrapper, field="f") is HistoryObservation


# ------------------------------------------------------------ behaviour the mutation run (bench_mutation) probed
def test_paths_with_a_dot_before_the_name_resolve_like_colon_paths():
    from simtransfer.envs.history import HistoryObservation
    from simtransfer.envs.trust import split_path

    assert split_path("a.b.c") == ("a.b", "c") and split_path("a.b:c.d") == ("a.b", "c.d")
    assert resolve_component("simtransfer.envs.history.HistoryObservation", gym.Wrapper, field="f") is HistoryObservation
    for bad in ("nodots", "mod:", ":Name", ""):
        with pytest.raises(SimtransferError, match="expected 'package.module:name'"):
            split_path(bad)


def test_nested_trusting_restores_the_outer_trust():
    with trusting("outer.pkg"):
        with trusting("inner.pkg"):
            assert is_trusted("outer.pkg") and is_trusted("inner.pkg")
        assert is_trusted("outer.pkg") and not is_trusted("inner.pkg")
    assert trusted_modules() == []


def test_expanded_size_counts_every_node_once_per_alias_use():
    import yaml

    from simtransfer.envs.yaml_io import _expanded_size

    node = yaml.compose("a: &x [1, 2]\nb: *x")
    # mapping 1 + key a 1 + sequence (1 + 2 items) + key b 1 + the aliased sequence again (3) = 9
    assert _expanded_size(node, "t") == 9
    # outer map 1 + key k 1 + inner map (1 + x and 1: 2 + key y 1 + sequence 1 + 3)
    assert _expanded_size(yaml.compose("{k: {x: 1, y: [1, 2, 3]}}"), "t") == 1 + 1 + (1 + 2 + 1 + 4)


def test_node_and_size_bounds_are_inclusive(monkeypatch, tmp_path):
    monkeypatch.setattr(yaml_io_module, "MAX_NODES", 9)
    assert parse_yaml("a: &x [1, 2]\nb: *x") == {"a": [1, 2], "b": [1, 2]}  # exactly 9 nodes
    with pytest.raises(SimtransferError, match="expands to more than 9 nodes"):
        parse_yaml("a: &x [1, 2]\nb: *x\nc: 1")
    monkeypatch.setattr(yaml_io_module, "MAX_BYTES", 8)
    assert parse_yaml("a: 12345") == {"a": 12345}  # exactly 8 characters
    with pytest.raises(SimtransferError, match="more than a config can be"):
        parse_yaml("a: 123456")
    exact = tmp_path / "exact.yaml"
    exact.write_text("a: 12345")
    assert load_yaml(exact) == {"a": 12345}
    exact.write_text("a: 123456")
    with pytest.raises(SimtransferError, match="more than a YAML file can be"):
        load_yaml(exact)


def test_error_lines_name_the_place_and_the_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(SimtransferError) as info:
        load_yaml(bad)
    assert str(info.value) == f"malformed YAML in {bad} (line 2, column 1): expected ',' or ']', but got '<stream end>'"
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{bad")
    with pytest.raises(SimtransferError) as info:
        load_json(bad_json)
    assert str(info.value) == (f"corrupt JSON in {bad_json}: Expecting property name enclosed in double quotes: "
                               "line 1 column 2 (char 1)")
