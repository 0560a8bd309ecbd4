"""The one renderer: every ``bench/results/<name>.json`` → its Markdown, ``docs/results.md`` and the README table.

    python bench/render.py            # rewrite bench/results/*.md, docs/results.md, README.md's generated table
    python bench/render.py --check    # exit 1 if any of them differs from a fresh render (a hand edit)

Bench scripts write JSON only (and call :func:`render_all` when they finish); no number in the Markdown is
typed by hand. ``tests/test_rendered_results.py`` runs the check, so ``make test`` fails on a hand edit.
Each results file is rendered by the function registered for it in :data:`BENCHES` (one per bench kind, in
``render_suite.py`` and ``render_benches.py``); a JSON file without an entry is an error.

>>> demote("# Title\\n\\n## Part\\n![plot](suite_x.png)", "../bench/results")
'### Part\\n![plot](../bench/results/suite_x.png)'
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import render_benches as rb  # noqa: E402
from render_adversarial import adversarial  # noqa: E402
from render_calibration import calibration, calibration_sweep  # noqa: E402
from render_deploy import deploy as deploy_markdown  # noqa: E402
from render_docs import render_docs  # noqa: E402
from render_keep import keep_source  # noqa: E402
from render_meta import meta  # noqa: E402
from render_multitask import multitask  # noqa: E402
from render_robustness import zero_shot  # noqa: E402
from render_suite import suite_markdown, winners_table, wins_by_method  # noqa: E402
from render_worst_case import worst_case  # noqa: E402
from render_zoo import zoo  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
LOCAL_LINK = re.compile(r"\]\((?!https?:|/|#|\.\./)([^)\s]+\.(?:png|svg|md|json|csv))\)")
README_BLOCK = re.compile(r"(<!-- render:winners -->\n)(.*?)(<!-- /render:winners -->)", re.S)


@dataclass(frozen=True)
class Bench:
    """One results file: its renderer, the command that measures it and its title in docs/results.md."""

    name: str
    render: Callable[[Any], str]
    command: str
    title: str


BENCHES = [
    Bench("suite", suite_markdown, "python bench/bench_suite.py",
          "Benchmark suite: every family × every transfer method"),
    Bench("transfer", rb.transfer, "python bench/bench_transfer.py",
          "Weight-reuse transfer vs scratch (time to threshold, AUC)"),
    Bench("keep_source", keep_source, "python bench/bench_keep.py",
          "Fine-tuning that keeps what the source knew"),
    Bench("progressive", rb.progressive, "python bench/bench_progressive.py", "Progressive networks: cost, forgetting"),
    Bench("sensitivity", rb.sensitivity, "python bench/bench_sensitivity.py --task TASK",
          "Domain gap along each physics axis"),
    Bench("robustness", rb.robustness, "python bench/bench_robustness.py", "ADR cost, pixel students"),
    Bench("robustness_zero_shot", zero_shot, "python bench/bench_robustness.py --parts robustness",
          "Zero-shot robustness of randomized training (runner)"),
    Bench("envs", rb.envs, "python bench/bench_envs.py", "Randomizer throughput cost"),
    Bench("train", rb.train, "python bench/bench_train.py", "Training pipeline: throughput, overhead, learning, resume"),
    Bench("sim2sim", rb.sim2sim, "python bench/bench_sim2sim.py", "Sim-to-sim targets"),
    Bench("runner", rb.runner, "python bench/bench_runner.py", "Experiment scale-out (process pool)"),
    Bench("faults", rb.faults, "python bench/bench_faults.py", "Fault injection"),
    Bench("mutation", rb.mutation, "python bench/bench_mutation.py", "Mutation testing of the core"),
    Bench("deploy", deploy_markdown, "python bench/bench_deploy.py --source RUN", "Export and deploy: latency, jitter"),
    Bench("calibration", calibration, "python bench/bench_calibration.py --task TASK",
          "Real-to-sim calibration on the reality stand-ins"),
    Bench("worst_case", worst_case, "python bench/bench_worst_case.py",
          "Worst-case physics search and observation attacks"),
    Bench("adversarial", adversarial, "python bench/bench_adversarial.py",
          "Adversarial training: RARL vs DR vs nominal"),
    Bench("multitask", multitask, "python bench/bench_multitask.py", "Multi-task vs single-task sources"),
    Bench("meta", meta, "python bench/bench_meta.py", "Meta-RL: RL² adaptation within a trial"),
    Bench("calibration_sweep", calibration_sweep, "python bench/bench_calibration_sweep.py",
          "Searching for a harder InvertedPendulum stand-in (sweep)"),
    Bench("zoo", zoo, "python bench/bench_zoo.py measure", "Source zoo: shipped sources against their bars"),
]


def demote(md: str, link_prefix: str) -> str:
    """A results file's Markdown under a docs/results.md section: its title dropped, headings one level down,
    links to files beside the results rewritten relative to ``link_prefix``."""
    lines = md.rstrip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
        while lines and not lines[0].strip():
            lines = lines[1:]
    body = "\n".join("#" + ln if ln.startswith("#") else ln for ln in lines)
    return LOCAL_LINK.sub(lambda m: f"]({link_prefix}/{m.group(1)})", body)


def load(name: str, results: Path = RESULTS) -> Any:
    return json.loads((results / f"{name}.json").read_text())


def results_page(rendered: dict[str, str]) -> str:
    """docs/results.md: the winners table, then every bench's Markdown with the script and JSON behind it."""
    lines = ["# Measured results", "",
             "Generated by `python bench/render.py` from `bench/results/*.json`; do not edit (a hand edit fails "
             "`make test`). Each section names the command that measured it and the JSON it is rendered from. "
             "Machines and loads are in each section; timings from different sections are not comparable.", ""]
    lines += [f"- [{b.title}](#{anchor(b.title)})" for b in BENCHES if b.name in rendered] + [""]
    for b in BENCHES:
        if b.name not in rendered:
            continue
        lines += [f"## {b.title}", "", f"Measured by `{b.command}` → `bench/results/{b.name}.json`; rendered to "
                  f"`bench/results/{b.name}.md` and here by `python bench/render.py`.", "",
                  demote(rendered[b.name], "../bench/results"), ""]
    return "\n".join(lines).rstrip() + "\n"


def anchor(title: str) -> str:
    """GitHub's heading anchor."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def readme_block(suite: Any) -> str:
    """The README's generated part: which method wins per family and target, and the tally by method."""
    tally = ", ".join(f"`{m}` {best}/{tied}" for m, (best, tied) in wins_by_method(suite).items())
    table = winners_table(suite)
    clear = sum(row.endswith("| clear win |") for row in table)
    return "\n".join([*table, "", f"Clear wins: {clear} of {len(table) - 2} targets. Per method, targets with the "
                      f"highest IQM / targets where it is the winner or tied with it: {tally}.", ""])


def render_all(results: Path = RESULTS, repo: Path = REPO) -> dict[Path, str]:
    """Every output file and its fresh content."""
    known = {b.name for b in BENCHES}
    unknown = sorted(p.stem for p in results.glob("*.json") if p.stem not in known)
    if unknown:
        raise SystemExit(f"render: no renderer for bench/results/{unknown[0]}.json (add it to BENCHES)")
    rendered = {b.name: b.render(load(b.name, results)) for b in BENCHES if (results / f"{b.name}.json").is_file()}
    out = {results / f"{name}.md": md for name, md in rendered.items()}
    out[repo / "docs" / "results.md"] = results_page(rendered)
    readme = repo / "README.md"
    text = readme.read_text()
    if "suite" in rendered and README_BLOCK.search(text):
        block = readme_block(load("suite", results))
        text = README_BLOCK.sub(lambda m: m.group(1) + block + m.group(3), text)
    out[readme] = text
    out.update(render_docs(results, repo))  # generated blocks in docs/randomization.md, progressive.md, zoo.md
    return out


def stale(outputs: dict[Path, str]) -> list[Path]:
    """The outputs whose file differs from the fresh render."""
    return [p for p, text in outputs.items() if not p.is_file() or p.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if any output is out of date")
    args = parser.parse_args(argv)
    outputs = render_all()
    if args.check:
        bad = stale(outputs)
        for p in bad:
            print(f"{p.relative_to(REPO)} differs from its render: run python bench/render.py", file=sys.stderr)
        return 1 if bad else 0
    for p, text in outputs.items():
        p.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
