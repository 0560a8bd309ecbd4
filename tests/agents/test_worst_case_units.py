"""The worst-case search's parts without a policy: the searched box (presets, mappings, YAML files, bounds), the
unit-cube <-> parameter map, and CMA-ES on an objective whose minimum is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simtransfer.agents.worst_case import _Box, _search_cma, _search_random, resolve_ranges
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.params import ParameterSpace

SPACE = {
    "mass": {"low": 0.8, "high": 1.2},                                             # uniform
    "motor_gain": {"dist": "loguniform", "low": 0.5, "high": 2.0},                 # extrap: [0.125, 8]
    "action_latency": {"dist": "categorical", "choices": [0, 1], "extrap_choices": [3, 5]},
    "obs_latency": {"dist": "categorical", "choices": [1, 2]},                     # no extrapolation choices
}


@pytest.fixture(scope="module")
def space() -> ParameterSpace:
    return ParameterSpace.from_mapping(SPACE)


def test_preset_splits_cover_every_parameter(space):
    train = {"mass": (0.8, 1.2), "motor_gain": (0.5, 2.0), "action_latency": (0.0, 1.0), "obs_latency": (1.0, 2.0)}
    assert resolve_ranges(space, "train") == train == resolve_ranges(space, "interp") == resolve_ranges(space)
    extrap = resolve_ranges(space, "extrap")
    assert extrap["mass"] == pytest.approx((0.4, 1.6)) and extrap["motor_gain"] == pytest.approx((0.125, 8.0))
    assert extrap["action_latency"] == (3.0, 5.0)   # the extrapolation choices
    assert extrap["obs_latency"] == (1.0, 2.0)      # none: the training choices


def test_range_mappings_and_yaml_files(space, tmp_path):
    expected = {"mass": (0.5, 2.0), "motor_gain": (1.5, 1.5)}
    assert resolve_ranges(space, {"mass": [0.5, 2], "motor_gain": 1.5}) == expected
    assert resolve_ranges(space, {"mass": {"low": 0.5, "high": 2}, "motor_gain": [1.5, 1.5]}) == expected
    (tmp_path / "flat.yaml").write_text("mass: [0.5, 2]\nmotor_gain: 1.5\n")
    (tmp_path / "nested.yaml").write_text("params:\n  mass: {low: 0.5, high: 2}\n  motor_gain: 1.5\n")
    assert resolve_ranges(space, tmp_path / "flat.yaml") == expected == resolve_ranges(space, str(tmp_path / "nested.yaml"))
    assert resolve_ranges(space, {"mass": [0.01, 100.0]}) == {"mass": (0.01, 100.0)}  # the valid bounds themselves


@pytest.mark.parametrize("ranges,match", [
    ({}, "expected a non-empty mapping"),
    ([["mass", 1.0]], "expected a non-empty mapping"),
    ({"mass": True}, r"expected \[low, high\]"),
    ({"mass": {"low": 1.0}}, r"expected \[low, high\]"),
    ({"mass": {"low": 1.0, "high": 2.0, "mid": 1.5}}, r"expected \[low, high\]"),
    ({"mass": [1.0, 2.0, 3.0]}, r"expected \[low, high\]"),
    ({"mass": [1.0, math.inf]}, "must not be above"),
    ({"mass": [math.nan, 1.0]}, "must not be above"),
    ({"mass": [0.005, 1.0]}, r"outside the valid physics \[0.01, 100\]"),
    ({"mass": [1.0, 100.5]}, r"outside the valid physics \[0.01, 100\]"),
    ({"gravity": [9.0, 10.0]}, "unknown parameter 'gravity' .*mass, motor_gain"),
])
def test_bad_ranges_are_one_line_errors(space, ranges, match):
    with pytest.raises(SimtransferError, match=match) as info:
        resolve_ranges(space, ranges)
    assert "\n" not in str(info.value)


def test_a_yaml_file_that_is_not_a_mapping_is_a_one_line_error(space, tmp_path):
    (tmp_path / "list.yaml").write_text("- mass\n")
    with pytest.raises(SimtransferError, match="expected a non-empty mapping"):
        resolve_ranges(space, tmp_path / "list.yaml")


def test_the_unit_box_maps_linearly_and_log_uniform_parameters_logarithmically(space):
    box = _Box(space, {"mass": (0.8, 1.2), "motor_gain": (0.5, 2.0), "obs_latency": (2.0, 2.0)})
    assert box.names == ["mass", "motor_gain"] and box.fixed == {"obs_latency": 2.0}
    mid = box.values(np.array([0.5, 0.5]))
    assert mid == pytest.approx({"obs_latency": 2.0, "mass": 1.0, "motor_gain": 1.0})  # geometric centre of [0.5, 2]
    assert box.values(np.array([0.0, 0.25])) == pytest.approx({"obs_latency": 2.0, "mass": 0.8,
                                                               "motor_gain": 0.5 * 4 ** 0.25})
    # outside the cube: clipped to the range; a trailing (dummy) coordinate is ignored
    assert box.values(np.array([-0.5, 7.0, 0.3])) == pytest.approx({"obs_latency": 2.0, "mass": 0.8, "motor_gain": 2.0})


def test_whole_step_kinds_come_out_whole_and_a_log_range_from_zero_is_linear():
    space = ParameterSpace.from_mapping({"action_latency": {"dist": "categorical", "choices": [0, 4]},
                                         "mass": {"low": 0.8, "high": 1.2}})
    box = _Box(space, {"action_latency": (0.0, 4.0), "mass": (0.8, 1.2)})
    assert box.values(np.array([0.3, 0.3])) == pytest.approx({"action_latency": 1.0, "mass": 0.92})
    log = ParameterSpace.from_mapping({"motor_gain": {"dist": "loguniform", "low": 0.5, "high": 2.0}})
    assert _Box(log, {"motor_gain": (0.0, 2.0)}).values(np.array([0.5])) == {"motor_gain": 1.0}


class Bowl:
    """An objective with a known minimum: squared distance to ``target`` (the search's ``_Objective`` protocol)."""

    def __init__(self, target: dict[str, float]) -> None:
        self.target, self.trace = target, []

    def __call__(self, values: dict[str, float]) -> float:
        f = sum((values[k] - v) ** 2 for k, v in self.target.items())
        self.trace.append({"params": dict(values), "return": f})
        return f


def test_cma_finds_a_known_minimum_inside_the_box_and_uses_the_whole_budget():
    space = ParameterSpace.from_mapping({"mass": {"low": 0.8, "high": 1.2}, "gravity": {"low": 9.0, "high": 10.0}})
    box = _Box(space, {"mass": (0.0, 10.0), "gravity": (0.0, 10.0)})
    bowl = Bowl({"mass": 9.5, "gravity": 2.0})  # near an edge of the box
    _search_cma(bowl, box, budget=100, search_seed=0, sigma0=0.3)
    assert len(bowl.trace) == 100  # 100 is no whole number of generations: the last one is cut short
    best = min(bowl.trace, key=lambda t: t["return"])
    assert best["params"] == pytest.approx({"mass": 9.5, "gravity": 2.0}, abs=0.05)
    again = Bowl(bowl.target)
    _search_cma(again, box, budget=100, search_seed=0, sigma0=0.3)
    assert again.trace == bowl.trace  # search seed 0 is a seed (cma reads 0 as "seed from the clock")


def test_cma_starts_at_the_centre_with_steps_of_sigma0(capsys):
    space = ParameterSpace.from_mapping({"mass": {"low": 0.8, "high": 1.2}})
    box = _Box(space, {"mass": (0.0, 10.0)})
    tight, wide = Bowl({"mass": 0.0}), Bowl({"mass": 0.0})
    _search_cma(tight, box, budget=6, search_seed=3, sigma0=1e-6)
    _search_cma(wide, box, budget=6, search_seed=3, sigma0=0.3)
    assert [t["params"]["mass"] for t in tight.trace] == pytest.approx([5.0] * 6, abs=1e-3)
    spread = np.std([t["params"]["mass"] for t in wide.trace])
    assert 0.5 < spread < 6.0  # sigma0 = 0.3 of the unit box is 3 units of mass
    assert capsys.readouterr().out == ""  # cma stays silent: a library call leaves stdout to its caller


def test_random_search_draws_uniformly_from_the_box_and_is_seeded():
    space = ParameterSpace.from_mapping({"mass": {"low": 0.8, "high": 1.2}})
    box = _Box(space, {"mass": (2.0, 4.0)})
    a, b, c = Bowl({"mass": 0.0}), Bowl({"mass": 0.0}), Bowl({"mass": 0.0})
    _search_random(a, box, budget=400, search_seed=0)
    _search_random(b, box, budget=400, search_seed=0)
    _search_random(c, box, budget=400, search_seed=1)
    draws = np.array([t["params"]["mass"] for t in a.trace])
    assert a.trace == b.trace and a.trace != c.trace
    assert draws.min() >= 2.0 and draws.max() <= 4.0
    assert abs(draws.mean() - 3.0) < 0.1 and np.quantile(draws, 0.25) == pytest.approx(2.5, abs=0.15)
