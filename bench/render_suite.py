"""Markdown of the benchmark suite (``bench/results/suite.json``, written by ``bench/bench_suite.py``).

Part of the one renderer, ``bench/render.py``: :func:`suite_markdown` is ``suite.md``, :func:`winners_table`
is the README's "which method wins" table. Both read only the JSON.

>>> winners_table({"families": []})
['| family | target | highest IQM (final return, 95% CI) | tied with it (margin interval contains 0) | verdict |', '|---|---|---|---|---|']
"""

from __future__ import annotations

import math
from typing import Any

from simtransfer.experiments.leaderboard import MethodScore, SourceRobustness, TargetVerdict, verdict_markdown
from simtransfer.transfer.stats import Estimate, format_number

HEADER = ("Every number: interquartile mean (IQM) over seeds with a 95% stratified-bootstrap interval (2000 "
          "resamples). *Final return* is the return on the target after the method's target training budget "
          "(zero-shot methods: none). The **winner** has the highest IQM; it is a *clear win* when the whole "
          "interval of its margin over every other method lies above 0, otherwise the methods whose margin "
          "interval contains 0 are listed as tied (`experiments/leaderboard.py`). Rerun: `python "
          "bench/bench_suite.py` (resumable).")


def _fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return format_number(x)


def _estimate(d: dict[str, Any] | None) -> Estimate | None:
    return None if d is None else Estimate(**{k: float("nan") if d[k] is None else d[k] for k in ("value", "low", "high")},
                                           n=d["n"])


def verdict_from_dict(d: dict[str, Any]) -> TargetVerdict:
    """The :class:`TargetVerdict` that ``TargetVerdict.to_dict`` wrote."""
    scores = [MethodScore(s["method"], s["n"], _estimate(s["score"]), s["trained"]) for s in d["scores"]]
    return TargetVerdict(d["target"], scores, d["winner"], list(d.get("tied") or []), d.get("runner_up"),
                         _estimate(d.get("margin")), d.get("p_improvement"), d.get("scratch"), d.get("random"))


def families(data: Any) -> list[dict[str, Any]]:
    """The family entries of suite.json (a list, or ``{"families": [...], ...}``)."""
    return data if isinstance(data, list) else data.get("families", [])


def _mean_defined(values: list[float]) -> float:
    vals = [x for x in values if x is not None and not math.isnan(x)]
    return sum(vals) / len(vals) if vals else math.nan


def _loads(d: dict[str, Any]) -> str:
    inv = d["invocations"]
    if not inv:
        return "no timed invocation"
    loads = [x for i in inv for x in (i["load_at_start"], i["load_at_end"])]
    cpus = (inv[-1].get("machine") or {}).get("cpus")
    return (f"{inv[-1]['workers']} workers, load average {min(loads):.1f}–{max(loads):.1f}"
            + (f" on {cpus} cores" if cpus else ""))


def robustness_markdown(rows: list[SourceRobustness], keys: dict[str, Any]) -> list[str]:
    """The zero-shot robustness table of a family; with an ``oracle`` source (trained on the held-out split) it
    adds each source's held-out return as a fraction of the oracle's."""
    lines: list[str] = []
    oracle = {k: _mean_defined(r.targets[k]) for r in rows if r.source == "oracle" for k in keys["heldout"]}
    lines += ["", f"Zero-shot robustness of each source: return on the held-out split as a fraction of the "
              f"return on nominal physics ({keys['nominal']}), mean ± std over seeds (issue: DR/ADR should keep "
              "≥ 0.9 where the nominal source keeps markedly less)"
              + ("; `oracle` is trained on the held-out split itself, and 'of oracle' is a source's mean "
                 "held-out return as a fraction of the oracle's (how much of what the held-out physics allows "
                 "it reaches):" if oracle else ":"), "",
              "| source | seeds | nominal return | "
              + " | ".join(f"{k} return | {k} ratio" + (f" | {k} of oracle" if oracle else "") for k in keys["heldout"])
              + " |", "|---|---|---|" + ("---|---|---|" if oracle else "---|---|") * len(keys["heldout"])]
    for r in rows:
        nominal = sum(r.nominal) / len(r.nominal)
        parts = []
        for k in keys["heldout"]:
            held = _mean_defined(r.targets[k])
            mean, std = r.ratio_summary(k)
            ratio = "— (nominal return ≤ 0)" if math.isnan(mean) else f"{mean:.3f} ± {std:.3f}"
            if 0 < r.defined(k) < len(r.seeds):
                ratio += f" ({r.defined(k)} seeds with a positive nominal return)"
            part = f"{'—' if math.isnan(held) else _fmt(held)} | {ratio}"
            if oracle:
                ref = oracle.get(k, math.nan)
                part += f" | {held / ref:.2f}" if not math.isnan(held) and ref > 0 else " | —"
            parts.append(part)
        name = "nominal (main)" if r.source == "main" else r.source
        lines.append(f"| {name} | {len(r.seeds)} | {_fmt(nominal)} | " + " | ".join(parts) + " |")
    return lines


def oracle_markdown(d: dict[str, Any]) -> list[str]:
    """Each target against its oracle (a policy trained on the target itself, not ranked): the oracle's return,
    the target's status, every ranked method as a fraction of the oracle, and the robustness of the DR / ADR /
    DR+history sources as a fraction of the oracle (goal ≥ 0.9)."""
    reports = d.get("oracle") or []
    if not reports:
        return []
    lines = ["", "Against the oracle (a policy trained on the target itself; reported, not ranked; "
             "`experiments/oracle.py`). Status: *clear win*, *physics-capped* (even the oracle stays below the "
             "bar), *saturated* (the winner and a method tied with it both reach ≥ 0.9 of the oracle) or "
             "*undecided* (tied below the oracle; the seeds that would decide it assume the margin holds and its "
             "interval narrows like 1/√seeds):", "",
             "| target | oracle | oracle return | bar | status | why |", "|---|---|---|---|---|---|"]
    for r in reports:
        lines.append(f"| {r['target']} | `{r['oracle']}` = {d.get('oracles', {}).get(r['target'], r['oracle'])} | "
                     f"{_estimate(r['score']).format()} | {_fmt(r['bar'])} | **{r['status']}** | {r['reason']} |")
    targets = [r["target"] for r in reports]
    lines += ["", "Final return as a fraction of the oracle's (IQM / oracle IQM, 95% stratified-bootstrap interval):",
              "", "| method | " + " | ".join(targets) + " |", "|---|" + "---|" * len(targets)]
    for m in d["methods"]:
        cells = [_estimate(r["fractions"][m]).format() if m in r["fractions"] else "—" for r in reports]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    robust = d.get("oracle_robust") or []
    if robust:
        lines += ["", "Robustness of the randomized sources: zero-shot return on the target as a fraction of the "
                  "oracle's (goal ≥ 0.9):", "", "| source | " + " | ".join(targets) + " |", "|---|" + "---|" * len(targets)]
        for m in robust:
            cells = []
            for r in reports:
                e = _estimate(r["fractions"].get(m))
                beaten = any(_estimate(f).entirely_above(1.0) for f in r["fractions"].values())
                cells.append("not in this setting" if e is None else f"{e.format()} " + (
                    "(no verdict: a method beats the oracle)" if beaten else "(goal met)" if e.low >= 0.9
                    else "(below goal)" if e.entirely_below(0.9) else "(undecided)"))
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return lines


def family_markdown(d: dict[str, Any]) -> list[str]:
    """One family's section: timing, methods, targets, verdicts, final returns, robustness, plot."""
    lines = [f"## {d['family']}", ""]
    if "error" in d:
        return lines + [f"No finished cells yet ({d['jobs_done']}/{d['jobs_total']} jobs): {d['error']}", ""]
    verdicts = [verdict_from_dict(v) for v in d["verdicts"]]
    b = d["budget"]
    lines += [f"Config `{d['config']}`; {len(d['seeds'])} seeds; target budget {b['timesteps']:,} steps per "
              f"trained cell; {d['jobs_done']}/{d['jobs_total']} jobs finished. Compute: {d['cpu_s'] / 60:.1f} "
              f"CPU-minutes, i.e. **{d['cpu_s'] / 120:.1f} min on 2 cores** with both busy; measured wall time "
              f"{d['wall_s'] / 60:.1f} min over {len(d['invocations'])} invocation(s) ({_loads(d)}). "
              f"Expected: {d['expected']}." + (f" {d['timing_note']}" if d.get("timing_note") else ""), "",
              *([f"**Smoke-level**: {d['smoke']}; read its verdicts as a check that the pipeline runs, not as a "
                 "ranking.", ""] if d.get("smoke") else []),
              "Methods: " + "; ".join(f"`{k}` = {v}" for k, v in d["methods"].items()) + ".", "",
              "Targets: " + "; ".join(f"`{k}` = `{v}`" for k, v in d["targets"].items()) + ".", "",
              *verdict_markdown(verdicts), *oracle_markdown(d)]
    ratios = {tuple(k.split("/", 1)): _estimate(e) for k, e in d["ratios"].items()}
    lines += ["", "Final return on each target (IQM [95% CI] over seeds; zero-shot methods: no target training; "
              "AUC ratio vs scratch in parentheses for trained methods):", "",
              "| method | " + " | ".join(v.target for v in verdicts) + " |", "|---|" + "---|" * len(verdicts)]
    for m in d["methods"]:  # the config's order: scratch first
        cells = []
        for v in verdicts:
            s = next((s for s in v.scores if s.method == m), None)
            ratio = ratios.get((v.target, m))
            text = "—" if s is None else s.score.format()
            if ratio is not None and m != "scratch":
                text += f" ({ratio.format()})"
            cells.append(f"**{text}**" if s is not None and m == v.winner else text)
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    refs = [f"{v.target}: random {_fmt(v.random)}" for v in verdicts if v.random is not None]
    if refs:
        lines += ["", "Random-policy return: " + ", ".join(refs) + "."]
    if d.get("robustness"):
        rows = [SourceRobustness(**r) for r in d["robustness"]]
        lines += robustness_markdown(rows, d["robustness_keys"])
    if d.get("notes"):
        lines += ["", "Notes: " + "; ".join(d["notes"])]
    if d.get("plot"):
        lines += ["", f"![{d['family']}: final return per target]({d['plot']})"]
    return lines + [""]


def suite_markdown(data: Any) -> str:
    """``suite.md``: the header, then every family in the JSON's order."""
    cpus = data.get("machine", {}).get("cpus") if isinstance(data, dict) else None
    head = f"Machine: {cpus} cores. " if cpus else ""
    lines = ["# Benchmark suite (bench/bench_suite.py)", "", head + HEADER, ""]
    for d in families(data):
        lines += family_markdown(d)
    return "\n".join(lines).rstrip() + "\n"


def winners_table(data: Any) -> list[str]:
    """Per family and target: the method with the highest IQM final return and the methods tied with it."""
    lines = ["| family | target | highest IQM (final return, 95% CI) | tied with it (margin interval contains 0) "
             "| verdict |", "|---|---|---|---|---|"]
    for d in families(data):
        status = {r["target"]: r["status"] for r in d.get("oracle") or []}  # against the target's oracle
        for v in map(verdict_from_dict, d.get("verdicts", [])):
            tied = ", ".join(v.tied) if v.tied else "—"
            verdict = "clear win" if v.clear else "no clear winner" if v.tied else "only method"
            if not v.clear and status.get(v.target) in ("physics-capped", "saturated"):
                verdict = f"no clear winner ({status[v.target]})"
            family = d["family"] + (" (smoke)" if d.get("smoke") else "")
            lines.append(f"| {family} | {v.target} | **{v.winner}** {v.scores[0].score.format()} | {tied} | "
                         f"{verdict} |")
    return lines


def wins_by_method(data: Any) -> dict[str, tuple[int, int]]:
    """``{method: (targets where it has the highest IQM, targets where it is the winner or tied with it)}``."""
    out: dict[str, list[int]] = {}
    for d in families(data):
        for v in map(verdict_from_dict, d.get("verdicts", [])):
            out.setdefault(v.winner, [0, 0])[0] += 1
            for m in [v.winner, *v.tied]:
                out.setdefault(m, [0, 0])[1] += 1
    return {m: (a, b) for m, (a, b) in sorted(out.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))}
