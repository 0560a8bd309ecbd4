"""Mutation testing: how many small code changes (mutants) the fast tests catch, per target.

    python bench/bench_mutation.py                       # every target: run mutmut, write mutation.{json,md}
    python bench/bench_mutation.py --target methods      # one target (the others keep their last counts)
    python bench/render.py                               # only re-render mutation.md from mutation.json
    python bench/bench_mutation.py --collect             # counts from the last runs' caches, running nothing
    python bench/bench_mutation.py --fresh               # forget cached verdicts (else only new/changed mutants
                                                         # and, after a test change, survivors are re-run)

mutmut (2.x) mutates files in place, so it runs on a scratch copy of the working tree in
``bench/.mutation_runs/TARGET`` (git-ignored), imported as ``simtransfer.*`` through a ``PYTHONPATH`` folder
of symlinks: the working tree is never modified.  Counts and survivor lines come from mutmut's cache
(``.mutmut-cache``, sqlite) of that copy; the reasons for survivors judged harmless are in ``EXPLAINED``
below (keyed by file and source line, so a changed line loses its reason and shows up unexplained).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import render  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SCRATCH = REPO / "bench" / ".mutation_runs"
FOLDERS = ("envs", "agents", "transfer", "experiments")
U, C, M = ("tests/transfer/test_method_units.py", "tests/transfer/test_method_contracts.py",
           "tests/transfer/test_methods.py")
N = "tests/transfer/test_carried_normalization.py"
MU, MR = "tests/transfer/test_method_mutation_units.py", "tests/transfer/test_method_mutation_runs.py"
# target -> groups of (files to mutate, tests, pytest -k expression): each file runs only the tests that can
# see it, so one mutant takes seconds.  The -k expressions also match module names: "units" and "mutation" keep
# every test of the unit files and of the tests written against this run's survivors in each group (the filter
# used to drop the option tests that pin defaults and bounds).  progressive.py is left out of "methods": its code
# lives in a subpackage and has its own tests.
TARGETS: dict[str, list[tuple[list[str], list[str], str]]] = {
    "methods": [
        (["transfer/methods/__init__.py"], [U, MU, C], ""),
        (["transfer/methods/common.py"], [U, MU, N, C, M], "units or mutation or normalization or contract or finetune "
                                                            "or freeze or features or partial or adapter"),
        (["transfer/methods/scratch.py"], [U, MU, C], "units or mutation or scratch or contract"),
        (["transfer/methods/zeroshot.py"], [U, MU, MR, C], "units or mutation or zeroshot or contract or finetune"),
        (["transfer/methods/finetune.py"], [U, MU, C], "units or mutation or finetune or option or l2sp or contract"),
        (["transfer/methods/freeze.py"], [U, MU, C, M], "units or mutation or freeze or depth or contract"),
        (["transfer/methods/features.py"], [U, MU, C, M], "units or mutation or features or depth or contract"),
        (["transfer/methods/partial.py"], [U, MU, C, M], "units or mutation or partial or contract"),
        (["transfer/methods/l2sp.py"], [U, MU, C], "units or mutation or l2sp or contract"),
    ],
    # the wrappers behind RARL (issue 17) and RL² trials (issue 18): their unit tests, not the training ones
    "wrappers": [
        (["envs/adversary.py"], ["tests/agents/test_rarl.py"], "adversary or link or bounds or configs"),
        (["envs/trial.py"], ["tests/envs/test_trial.py"], ""),
    ],
    "security": [
        (["envs/trust.py", "envs/yaml_io.py"], ["tests/envs/test_trust.py", "tests/security/test_hostile_runs.py"],
         ""),
    ],
}
# string literals (error texts, option descriptions, notes) are not mutated: a changed message is no change
# of behaviour, and at seconds a mutant the run has to fit on a 2-core machine
DISABLED = "string,fstring"
# mutmut's "suspicious" is a kill (the tests failed) that took longer than its baseline time allows — on a loaded
# machine most slow kills are; it is counted as killed (and separately as killed_slowly), never as a survivor
STATUS = {"ok_killed": "killed", "bad_survived": "survived", "bad_timeout": "timeout",
          "ok_suspicious": "killed", "skipped": "skipped", "untested": "untested"}
# (file, stripped source line) -> why a surviving mutant there does not change behaviour worth a test
EXPLAINED: dict[tuple[str, str], str] = {
    ("transfer/methods/__init__.py", 'name: ClassVar[str] = ""'):
        "equivalent: the base class's name '' and None are both falsy, so register() refuses either",
    ("transfer/methods/__init__.py", "metadata: dict[str, Any], *, force: bool = False) -> TransferResult:"):
        "equivalent: the base class's run() raises NotImplementedError whatever force is (zeroshot's own default "
        "is tested)",
    ("transfer/methods/common.py", "out[kind] = (np.asarray(mean), np.asarray(var), "
                                   "float(np.asarray(count).reshape(-1)[0]) if count is not None"):
        "equivalent: a saved count is one number, and numpy reads reshape(1) and reshape(-2) like reshape(-1) for "
        "a one-element array",
    ("transfer/methods/zeroshot.py", '(run_dir / "transfer_report.json").write_text(json.dumps(report, indent=2))'):
        "formatting only: indent=3 writes the same JSON document, and every reader parses it",
    ("envs/yaml_io.py", "MAX_BYTES = 4 * 1024 * 1024  # configs and presets are a few KB; metadata.json a few hundred KB"):
        "a policy constant, not behaviour: the tests read MAX_BYTES symbolically and pin the inclusive bound",
    ("envs/yaml_io.py", 'problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]'):
        "the [0] -> [1] variant is reached only by a YAMLError without a problem text, which the loader raises "
        "for no document the tests (or we) could write",
}


def _copy_tree(dest: Path) -> None:
    """Fresh copy of the tracked + untracked-not-ignored files (mutmut's cache survives)."""
    dest.mkdir(parents=True, exist_ok=True)
    for child in dest.iterdir():
        if child.name != ".mutmut-cache":
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    site = dest / "site" / "simtransfer"
    site.mkdir(parents=True)
    for folder in FOLDERS:
        (site / folder).symlink_to(dest / folder)


def run_target(name: str, fresh: bool = False, collect_only: bool = False) -> dict:
    """Run mutmut on one target's scratch copy; return its counts and survivors."""
    work = SCRATCH / name
    env = {**os.environ, "PYTHONPATH": str(work / "site"), "WANDB_MODE": "disabled", "WANDB_SILENT": "true"}
    mutmut = [sys.executable, "-m", "mutmut"]  # not bin/mutmut: a worktree venv gets mutmut through a .pth
    groups = [{"paths": p, "tests": t, "select": k} for p, t, k in TARGETS[name]]
    info = {"paths": [p for g in groups for p in g["paths"]], "groups": groups,
            "disabled_mutation_types": DISABLED.split(",")}
    if collect_only:
        return {**collect(work, mutmut, env), **info, "mutmut_exit": None, "wall_time_s": None}
    if fresh and (work / ".mutmut-cache").exists():
        (work / ".mutmut-cache").unlink()
    _copy_tree(work)
    t0 = time.perf_counter()
    rc = 0
    for paths, tests, select in TARGETS[name]:
        runner = (f"{sys.executable} -m pytest -x -q -p no:warnings -p no:cacheprovider -o addopts='' "
                  f"-m 'not slow' {f'-k {select!r} ' if select else ''}{' '.join(tests)}")
        rc |= subprocess.call([*mutmut, "run", "--paths-to-mutate", ",".join(paths), "--tests-dir", "tests",
                               "--runner", runner, "--disable-mutation-types", DISABLED, "--no-progress", "--CI"],
                              cwd=work, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    return {**collect(work, mutmut, env), **info, "mutmut_exit": rc, "wall_time_s": round(wall, 1)}


def collect(work: Path, mutmut: list[str], env: dict) -> dict:
    """Counts per status and the surviving mutants (file, line, diff) from mutmut's cache."""
    with sqlite3.connect(work / ".mutmut-cache") as db:
        rows = db.execute("SELECT m.id, m.status, l.line_number, l.line, s.filename FROM Mutant m "
                          "JOIN Line l ON m.line = l.id JOIN SourceFile s ON l.sourcefile = s.id "
                          "ORDER BY s.filename, l.line_number, m.\"index\"").fetchall()
    counts = {label: 0 for label in STATUS.values()} | {"killed_slowly": 0}
    per_file: dict[str, dict[str, int]] = {}
    survivors = []
    for mid, status, lineno, line, filename in rows:
        label = STATUS.get(status, status)
        counts[label] = counts.get(label, 0) + 1
        counts["killed_slowly"] += status == "ok_suspicious"
        per_file.setdefault(filename, {k: 0 for k in STATUS.values()})[label] += 1
        if label in ("survived", "timeout"):
            diff = subprocess.run([*mutmut, "show", str(mid)], cwd=work, env=env, capture_output=True,
                                  text=True).stdout
            changed = [d for d in diff.splitlines() if d.startswith(("-", "+")) and not d.startswith(("---", "+++"))]
            survivors.append({"id": mid, "status": label, "file": filename, "line": lineno + 1,
                              "diff": changed, "reason": EXPLAINED.get((filename, line.strip()))})
    counts["total"] = len(rows)
    return {"counts": counts, "per_file": per_file, "survivors": survivors}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=sorted(TARGETS), action="append", help="run only these targets")
    parser.add_argument("--fresh", action="store_true", help="forget mutmut's cached verdicts")
    parser.add_argument("--collect", action="store_true", help="read the last runs' caches, run no mutant")
    args = parser.parse_args()
    out_json = RESULTS / "mutation.json"
    payload = json.loads(out_json.read_text()) if out_json.is_file() else {"targets": {}}
    for name in args.target or list(TARGETS):
        if args.collect and not (SCRATCH / name / ".mutmut-cache").is_file():
            continue
        payload["targets"][name] = run_target(name, fresh=args.fresh, collect_only=args.collect)
    payload["mutmut"] = version("mutmut")
    payload["machine"] = f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"
    out_json.write_text(json.dumps(payload, indent=2) + "\n")
    return render.main([])  # mutation.md and docs/results.md, by the one renderer


if __name__ == "__main__":
    sys.exit(main())
