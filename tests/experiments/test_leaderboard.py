"""The leaderboard: winner, ties and margins from per-seed final returns; robustness ratios from source jobs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from simtransfer.experiments.leaderboard import judge_target, probability_of_improvement, source_robustness


def test_probability_of_improvement_counts_ties_half():
    assert probability_of_improvement(np.array([2.0]), np.array([1.0])) == 1.0
    assert probability_of_improvement(np.array([1.0]), np.array([1.0])) == 0.5
    assert probability_of_improvement(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == 0.5


def test_clear_winner_when_the_margin_interval_is_above_zero():
    scores = {"scratch": (np.array([100.0, 110, 120, 105, 115]), True),
              "finetune": (np.array([900.0, 950, 920, 940, 910]), True),
              "zeroshot": (np.array([300.0, 320, 310, 305, 315]), False)}
    v = judge_target("extrap", scores, reps=500)
    assert v.winner == "finetune" and v.runner_up == "zeroshot"
    assert v.clear and v.tied == []
    assert v.margin.low > 0 and v.p_improvement == 1.0
    assert [s.method for s in v.scores] == ["finetune", "zeroshot", "scratch"]
    assert v.scratch == pytest.approx(110.0)
    assert not next(s for s in v.scores if s.method == "zeroshot").trained


def test_overlapping_methods_are_tied_not_won():
    rng = np.random.default_rng(0)
    a, b = rng.normal(500, 100, 5), rng.normal(510, 100, 5)
    v = judge_target("t", {"scratch": (a, True), "finetune": (b, True)}, reps=500)
    assert not v.clear and v.tied == [v.runner_up]
    assert v.margin.low < 0 < v.margin.high


def test_one_seed_is_never_a_clear_win():
    v = judge_target("t", {"scratch": (np.array([1.0]), True), "finetune": (np.array([9.0]), True)}, reps=100)
    assert v.winner == "finetune" and not v.clear


def test_source_robustness_reads_main_and_named_sources(tmp_path):
    def job(path, nominal, extrap, status="done"):
        path.mkdir(parents=True)
        (path / "job.json").write_text(json.dumps({"status": status, "seed": int(path.name[4:]), "final": {
            "train": nominal, "PendNominal": nominal, "PendExtrap": extrap}}))

    job(tmp_path / "sources/seed0", 1000.0, 400.0)
    job(tmp_path / "sources/seed1", 800.0, 400.0)
    job(tmp_path / "sources/dr/seed0", 1000.0, 950.0)
    job(tmp_path / "sources/dr/seed1", 1000.0, 0.0, status="running")  # unfinished: left out
    rows = {r.source: r for r in source_robustness(tmp_path, "PendNominal", ["PendExtrap"])}
    assert set(rows) == {"main", "dr"}
    assert rows["main"].ratios["PendExtrap"] == [0.4, 0.5]
    mean, std = rows["main"].ratio_summary("PendExtrap")
    assert mean == pytest.approx(0.45) and std == pytest.approx(0.05)
    assert rows["dr"].seeds == [0] and rows["dr"].ratios["PendExtrap"] == [0.95]
    assert math.isnan(rows["dr"].ratio_summary("missing")[0])
    job(tmp_path / "sources/hist/seed0", -5.0, 3.0)  # no ratio where the nominal return is not positive
    job(tmp_path / "sources/hist/seed1", 10.0, 8.0)
    hist = {r.source: r for r in source_robustness(tmp_path, "PendNominal", ["PendExtrap"])}["hist"]
    assert hist.defined("PendExtrap") == 1 and hist.ratio_summary("PendExtrap") == (pytest.approx(0.8), 0.0)


def test_every_benchmark_family_config_is_valid():
    """experiments/configs/suite/families.yaml names experiment configs that load and plan (sources exist, methods known);
    a family's full-size setting is one more family, never in the quick set."""
    import sys
    from pathlib import Path

    from simtransfer.experiments.experiment import load_experiment
    from simtransfer.experiments.runner import plan
    from simtransfer.transfer.methods import get_method

    repo = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(repo / "bench"))
    from bench_suite import load_families

    families = load_families()
    assert any(f.get("quick") for f in families.values())
    fulls = [n for n in families if n.endswith("_full")]
    assert {"hopper_full", "half_cheetah_full", "lunar_lander_full"} <= set(fulls)
    assert all(not families[n]["quick"] and families[n]["config"] != families[families[n]["full_of"]]["config"] for n in fulls)
    for name, fam in families.items():
        cfg = load_experiment(repo / fam["config"])
        sources, cells = plan(cfg, Path("/nonexistent") / name)
        assert len(sources) == len(cfg.seed_list()) * (1 + len(cfg.sources)), name
        for m in cfg.all_methods():
            get_method(m.method).parse_options(m.options)
        if fam.get("robustness"):
            assert fam["robustness"]["nominal"] and fam["robustness"]["heldout"], name


def test_bench_suite_full_flag_needs_a_full_setting(capsys):
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(repo / "bench"))
    from bench_suite import main

    with pytest.raises(SystemExit) as exc:
        main(["--families", "pendulum", "--full"])
    assert exc.value.code == 2 and "no full-size setting for pendulum" in capsys.readouterr().err


def test_robustness_table_relates_sources_to_the_oracle():
    import sys
    from pathlib import Path

    from simtransfer.experiments.leaderboard import SourceRobustness

    repo = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(repo / "bench"))
    from render_suite import robustness_markdown

    def row(name, nominal, held):
        return SourceRobustness(name, list(range(len(nominal))), nominal, {"X": held},
                                {"X": [h / n if n > 0 else math.nan for h, n in zip(held, nominal)]})

    keys = {"nominal": "N", "heldout": ["X"]}
    rows = [row("main", [100.0, 100.0], [50.0, 70.0]), row("oracle", [90.0, 90.0], [80.0, 80.0]),
            row("adr", [-5.0, 80.0], [40.0, 72.0])]
    lines = robustness_markdown(rows, keys)
    assert "| source | seeds | nominal return | X return | X ratio | X of oracle |" in lines
    main = next(line for line in lines if line.startswith("| nominal (main)"))
    assert "| 0.600 ± 0.100 | 0.75 |" in main  # ratios 0.5 and 0.7; held-out mean 60 of the oracle's 80
    adr = next(line for line in lines if line.startswith("| adr"))
    assert "0.900 ± 0.000 (1 seeds with a positive nominal return) | 0.70 |" in adr
    assert not any("of oracle" in line for line in robustness_markdown(rows[:1], keys))


def test_suite_report_keeps_families_without_results_here(tmp_path, monkeypatch):
    """A report rebuilt where only some families have results (a fresh checkout) keeps the others' entries,
    and the renderer shows a family without finished cells as such."""
    import json
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(repo / "bench"))
    import bench_suite
    from render_suite import suite_markdown

    monkeypatch.setattr(bench_suite, "RESULTS", tmp_path)
    (tmp_path / "suite.json").write_text(json.dumps([{"family": "a", "x": 1}, {"family": "b", "x": 2}]))
    fresh = {"family": "a", "jobs_done": 0, "jobs_total": 3, "error": "nothing finished"}
    bench_suite.write_results([fresh], order=["a", "b", "c"])
    entries = json.loads((tmp_path / "suite.json").read_text())
    assert [e["family"] for e in entries] == ["a", "b"]
    assert entries[0] == fresh and entries[1] == {"family": "b", "x": 2}
    assert "## a\n\nNo finished cells yet (0/3 jobs)" in suite_markdown(entries[:1])
