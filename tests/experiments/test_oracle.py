"""Oracle-normalised scores: the oracle is left out of the ranking, methods are fractions of it, and a target
without a clear winner is told apart as physics-capped, saturated or undecided."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from simtransfer.experiments.leaderboard import judge_target, leaderboard
from simtransfer.experiments.oracle import (
    oracle_fraction,
    oracle_reports,
    seeds_to_decide,
    target_status,
    without,
)
from simtransfer.experiments.results import Results, TargetData
from simtransfer.transfer.stats import Estimate, RunResult

REPO = Path(__file__).resolve().parents[2]


def _results(cells: dict[str, list[float]]) -> Results:
    methods = {m: [RunResult(seed=k, final_return=v) for k, v in enumerate(vals)] for m, vals in cells.items()}
    return Results(root=Path("/nonexistent"), name="t", targets={"extrap": TargetData("extrap", methods)})


def test_the_oracle_is_left_out_of_the_ranking_and_each_method_is_a_fraction_of_it():
    res = _results({"zeroshot": [400.0, 420, 410], "finetune": [800.0, 820, 810], "oracle": [1000.0, 1000, 1000]})
    assert leaderboard(res, reps=200)[0].winner == "oracle"  # ranked, the oracle would win: it must not be
    ranked = without(res, {"oracle"})
    assert set(ranked.targets["extrap"].methods) == {"zeroshot", "finetune"}
    assert "oracle" in res.targets["extrap"].methods  # the input is not modified
    verdicts = leaderboard(ranked, reps=200)
    assert verdicts[0].winner == "finetune" and verdicts[0].clear
    (report,) = oracle_reports(res, verdicts, {"extrap": "oracle"}, bar=950.0, reps=200)
    assert report.oracle == "oracle" and report.score.value == 1000.0
    assert set(report.fractions) == {"finetune", "zeroshot"}
    assert math.isclose(report.fractions["finetune"].value, 0.81)
    assert report.status == "clear win"
    assert oracle_reports(res, verdicts, {"other": "oracle"}, reps=50) == []  # a target without an oracle: none


def test_oracle_fraction_has_an_interval_and_is_undefined_for_a_non_positive_oracle():
    e = oracle_fraction(np.array([500.0, 900, 700]), np.array([1000.0, 1000, 1000]), reps=300, seed=0)
    assert math.isclose(e.value, 0.7) and e.low < 0.7 < e.high
    assert math.isnan(oracle_fraction(np.array([5.0, 6.0]), np.array([-1.0, -2.0]), reps=50).value)


def test_a_target_where_even_the_oracle_is_low_is_physics_capped():
    scores = {"zeroshot": (np.array([300.0, 310, 305]), False), "dr": (np.array([305.0, 300, 310]), False)}
    v = judge_target("extrap", scores, reps=300)
    oracle = Estimate(320.0, 300.0, 340.0, 3)
    fractions = {"zeroshot": Estimate(0.95, 0.9, 1.0, 3), "dr": Estimate(0.95, 0.9, 1.0, 3)}
    assert target_status(v, oracle, fractions, bar=950.0)[0] == "physics-capped"
    # an oracle that a method beats is no upper bound: it cannot show a cap
    beaten = {"zeroshot": Estimate(3.0, 2.5, 3.5, 3), "dr": Estimate(3.0, 2.5, 3.5, 3)}
    status, reason = target_status(v, Estimate(100.0, 90.0, 110.0, 3), beaten, bar=950.0)
    assert status != "physics-capped" and "too weak to show a cap" in reason
    # the same target with an oracle at the bar: both methods reach it -> saturated, not capped
    status, reason = target_status(v, Estimate(960.0, 950.0, 970.0, 3), fractions, bar=950.0)
    assert status == "saturated" and "2 methods" in reason


def test_a_tie_below_the_oracle_is_undecided_and_says_how_many_seeds_would_decide_it():
    scores = {"finetune": (np.array([600.0, 900, 750]), True), "freeze": (np.array([500.0, 800, 550]), True)}
    v = judge_target("extrap", scores, reps=300)
    assert not v.clear
    fractions = {"finetune": Estimate(0.75, 0.6, 0.9, 3), "freeze": Estimate(0.6, 0.5, 0.8, 3)}
    status, reason = target_status(v, Estimate(1000.0, 1000.0, 1000.0, 3), fractions, bar=950.0)
    assert status == "undecided" and f"about {seeds_to_decide(v.margin)} seeds" in reason
    assert seeds_to_decide(Estimate(100.0, -50.0, 250.0, 3)) == 7  # 3 * (150 / 100)^2 = 6.75
    assert seeds_to_decide(Estimate(-5.0, -50.0, 40.0, 3)) is None


def test_suite_renders_the_oracle_section_and_the_readme_verdict():
    sys.path.insert(0, str(REPO / "bench"))
    from render_suite import oracle_markdown, winners_table

    est = {"value": 0.95, "low": 0.92, "high": 1.0, "n": 3}
    low = {"value": 0.5, "low": 0.3, "high": 0.7, "n": 3}
    d = {"family": "f", "methods": {"scratch": "scratch", "dr": "zeroshot", "adr": "zeroshot"},
         "oracles": {"extrap": "zeroshot from source 'oracle'"}, "oracle_robust": ["dr", "adr", "dr_history"],
         "oracle": [{"target": "extrap", "oracle": "oracle", "score": {"value": 1000.0, "low": 990.0, "high": 1000.0,
                                                                       "n": 3},
                     "bar": 950.0, "fractions": {"scratch": low, "dr": est, "adr": low}, "status": "saturated",
                     "reason": "2 methods reach"}],
         "verdicts": [{"target": "extrap", "scores": [{"method": "dr", "n": 3, "score": est, "trained": False}],
                       "winner": "dr", "tied": ["adr"], "margin": low}]}
    text = "\n".join(oracle_markdown(d))
    assert "| extrap | `oracle` = zeroshot from source 'oracle' | 1000 [990, 1000] | 950 | **saturated** |" in text
    assert "| dr | 0.950 [0.920, 1] (goal met) |" in text
    assert "| adr | 0.500 [0.300, 0.700] (below goal) |" in text
    assert "| dr_history | not in this setting |" in text
    assert oracle_markdown({"methods": {}}) == []
    d["oracle"][0]["fractions"]["dr"] = {"value": 2.0, "low": 1.5, "high": 2.5, "n": 3}  # a method beats the oracle
    assert "| dr | 2 [1.5, 2.5] (no verdict: a method beats the oracle) |" in "\n".join(oracle_markdown(d))
    assert "no clear winner (saturated)" in winners_table([d])[-1]
    assert winners_table([{**d, "smoke": "sources below bar"}])[-1].startswith("| f (smoke) | extrap |")
