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
    # the wrappers behind RARL (issue 17) and RL² trials (issue 18): their unit tests, not the training ones (the
    # fast physics-level file first: with -x a mutant it kills never reaches the RARL run of test_rarl.py)
    "wrappers": [
        (["envs/adversary.py"], ["tests/envs/test_adversary.py", "tests/agents/test_rarl.py"],
         "adversary or link or bounds or configs"),
        (["envs/trial.py"], ["tests/envs/test_trial.py"], ""),
    ],
    # robustness evaluation: the worst-case physics search and the observation attacks, each against its unit
    # tests (a tiny trained pendulum / CartPole policy), not the CLI or bench ones
    "worst_case": [(["agents/worst_case.py"], ["tests/agents/test_worst_case_units.py",
                                                "tests/agents/test_worst_case.py"], "")],
    "obs_attack": [(["agents/obs_attack.py"], ["tests/agents/test_obs_attack_units.py",
                                                "tests/agents/test_obs_attack.py"], "")],
    # per-task heads (multi-task policies): the heads' unit test and one tiny heads training run; the transfer
    # tests of multi-task sources are left out (their module fixture trains several sources per mutant)
    "multitask": [(["agents/multitask/_heads.py"], ["tests/agents/test_multitask_heads.py",
                                                     "tests/agents/test_multitask.py"], "heads")],
    "security": [
        (["envs/trust.py", "envs/yaml_io.py"], ["tests/envs/test_trust.py", "tests/security/test_hostile_runs.py"],
         ""),
    ],
}
# core code without a target yet, and why (rendered under the table, so a reader sees what the counts do not cover)
NOT_TARGETED: dict[str, str] = {
    "agents/rarl.py": "each test of the alternation is a RARL training run of both players, so one pass over "
                      "its mutants did not fit this round on 2 shared cores; its wrappers are the 'wrappers' target",
}
# string literals (error texts, option descriptions, notes) are not mutated: a changed message is no change
# of behaviour, and at seconds a mutant the run has to fit on a 2-core machine
DISABLED = "string,fstring"
# mutmut's "suspicious" is a kill (the tests failed) that took longer than its baseline time allows — on a loaded
# machine most slow kills are; it is counted as killed (and separately as killed_slowly), never as a survivor
STATUS = {"ok_killed": "killed", "bad_survived": "survived", "bad_timeout": "timeout",
          "ok_suspicious": "killed", "skipped": "skipped", "untested": "untested"}
TWO_D = "equivalent for SB3's inputs: policies always see (batch, features) tensors, where dim +1 is dim -1"
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
    ("envs/adversary.py", "Policy = Callable[[Any], Any]"):
        "equivalent: the alias appears only in annotations, which `from __future__ import annotations` never "
        "evaluates",
    ("envs/adversary.py", "self.adversary: Policy | None = None"):
        "equivalent: `|` -> `&` changes an annotation only, never evaluated (`from __future__ import annotations`)",
    ("envs/adversary.py", "self.protagonist: Policy | None = None"):
        "equivalent: `|` -> `&` changes an annotation only, never evaluated (`from __future__ import annotations`)",
    ("envs/adversary.py", 'kind = "adversary"  # the short name in env specs, for error messages'):
        "equivalent: both views set their own kind (each view's error prefix is tested); the shared base is never "
        "built on its own",
    ("envs/adversary.py", 'parts = getattr(getattr(env.unwrapped, "robot", None), "parts", None) or {}'):
        "equivalent for the project's robots: with `and {}` every lookup goes through the whole-world fallback, "
        "which finds each pybullet_envs part at the same (body, link) (checked for the double pendulum and the "
        "hopper) and only adds the unnamed bases of articulated bodies (link0_1, ...) to the names an error lists",
    ("envs/adversary.py", "found.setdefault(p.getBodyInfo(b)[0].decode(), (b, -1))"):
        "detected, but counted as a survivor: PyBullet crashes (SIGSEGV) on link index -2, and mutmut 2 counts only "
        "pytest's exit code 1 as a kill",
    ("envs/adversary.py", "pos = p.getBasePositionAndOrientation(body)[0] if link < 0 else p.getLinkState(body, link)[0]"):
        "detected, but counted as a survivor: PyBullet crashes (SIGSEGV) on a None position, and mutmut 2 counts only "
        "pytest's exit code 1 as a kill",
    ("envs/adversary.py", "self._targets: list[tuple[int, int]] = []"):
        "equivalent: reset() finds the targets before any push; before the first reset apply() stops earlier, at "
        "the env's missing bullet client",
    ("envs/adversary.py", "scale = [self.max_force] * len(self._faxes) + [self.max_torque or 0.0] * len(self._taxes)"):
        "equivalent: max_torque is None only when there are no torque axes, so the fallback is repeated zero times",
    ("envs/adversary.py", "raw = np.clip(np.asarray(normalized, dtype=np.float64).reshape(-1), -1.0, 1.0) * self._scale"):
        "equivalent: numpy reads any negative size as 'infer this dimension', so reshape(-2) is reshape(-1) (the "
        "clip bounds are tested on both sides)",
    ("envs/trial.py", "act_low, act_high = act.low.reshape(-1), act.high.reshape(-1)"):
        "equivalent: numpy reads any negative size as 'infer this dimension', so reshape(-2) is reshape(-1) "
        "(reshape(+1) is killed by a 2-d action)",
    ("envs/trial.py", "act = np.asarray(action, dtype=np.float32).reshape(-1)"):
        "equivalent: numpy reads any negative size as 'infer this dimension', so reshape(-2) is reshape(-1)",
    ("envs/trial.py", "return np.concatenate([np.asarray(obs, dtype=np.float32).reshape(-1), act,"):
        "equivalent: numpy reads any negative size as 'infer this dimension', so reshape(-2) is reshape(-1)",
    ("envs/trial.py", "self.episode_index = 0"):
        "equivalent: the value __init__ sets is overwritten by reset() before any step (a step before reset is "
        "gymnasium's ResetNeeded)",
    ("envs/trial.py", "self._return = 0.0"):
        "equivalent: the value __init__ sets is overwritten by reset() before any step (the reset inside step() "
        "is killed: returns restart at 0)",
    ("envs/trial.py", "if not (terminated or truncated):"):
        "detected, as a timeout: every step then ends an inner episode and resets, so no trial ends and the tests' "
        "trial loops run until mutmut stops them",
    ("envs/trial.py", "self.episode_index += 1"):
        "detected, as a timeout: the inner-episode count never reaches K, so no trial ends and the tests' trial "
        "loops run until mutmut stops them",
    ("agents/worst_case.py", "Ranges = dict[str, tuple[float, float]]"):
        "equivalent: the alias appears only in annotations, which `from __future__ import annotations` never "
        "evaluates",
    ("agents/worst_case.py", "trace: list[dict[str, Any]] = field(default_factory=list)  # every evaluation: "
                             "searched params, return, best"):
        "equivalent: the one place that builds a WorstCaseResult (search_worst_case) passes the trace",
    ("agents/worst_case.py", "wall_time_s: float = 0.0"):
        "equivalent: the one place that builds a WorstCaseResult (search_worst_case) passes the measured time",
    ("agents/worst_case.py", "self.best: tuple[float, dict[str, float], list[float]] | None = None"):
        "equivalent: `|` -> `&` changes an annotation only, never evaluated (`from __future__ import annotations`)",
    ("agents/worst_case.py", '"tolfun": 0.0, "tolflatfitness": 10**6, "tolx": 0.0})'):
        "equivalent with this loop: it runs to the budget and never asks es.stop(), so cma's stopping tolerances "
        "never act (they are set so that no criterion could end a search early if the loop ever asked)",
    ("agents/worst_case.py", 'es = cma.CMAEvolutionStrategy(start, sigma0, {"seed": search_seed + 1, "bounds": [0.0, 1.0], '
                             '"verbose": -9,'):
        "equivalent: verbose -10 is as silent as -9 (+9, which prints, is killed: the search must not write to stdout)",
    ("agents/worst_case.py", "obj(box.values(np.zeros(0)))"):
        "equivalent: with no searched parameter values() reads u[:0], so zeros(1) gives the same nominal vector",
    ("agents/worst_case.py", "while len(obj.trace) < budget:"):
        "equivalent: `<=` adds one pass at the budget, which evaluates xs[:0] (nothing) and breaks",
    ("agents/worst_case.py", "break  # the budget ends inside a generation: those points count, no update"):
        "equivalent: `continue` goes back to the loop test, which the spent budget ends just as well",
    ("agents/worst_case.py", "rng = np.random.default_rng([int(search_seed), 0x3C5])"):
        "equivalent: another fixed salt gives another, equally uniform and equally seeded stream (the tests pin "
        "uniformity and seeding, not the salt)",
    ("agents/obs_attack.py", 'Attack = Literal["fgsm", "pgd", "uniform"]'):
        "equivalent: the alias appears only in annotations, which `from __future__ import annotations` never "
        "evaluates",
    ("agents/obs_attack.py", "Divergence = Callable[[th.Tensor, th.Tensor], th.Tensor]"):
        "equivalent: the alias appears only in annotations, which `from __future__ import annotations` never "
        "evaluates",
    ("agents/obs_attack.py", 'def __init__(self, env: gym.Env, model: Any, attack: Attack = "pgd", epsilon: float = 0.1, '
                             "steps: int = 10,"):
        "equivalent for every caller: evaluate_attack (hence the CLI, with its own --attack-steps default) and the "
        "benches pass attack, epsilon and steps",
    ("agents/obs_attack.py", "epsilon: float, *, steps: int = 10, episodes: int = 10, seed: int = 0) -> EvalResult:"):
        "equivalent for every caller: the CLI (`evaluate --attack`, with its own defaults) and the benches pass "
        "steps, episodes and seed",
    ("agents/obs_attack.py", 'n, alpha = (1, eps) if self.attack == "fgsm" else (self.steps, 2.5 * eps / self.steps)'):
        "not pinned: PGD's step length 2.5 eps / steps (Madry et al.) is a tuning constant; the tests pin PGD's "
        "effect (in the ball, never weaker than its start, stronger than noise of the same bound) and FGSM's one "
        "step exactly, not PGD's step length",
    ("agents/obs_attack.py", "delta = (delta.detach() + alpha * grad.sign()).clamp(-eps, eps)"):
        "equivalent except where a gradient coordinate is exactly 0: elsewhere sign() is +-1, and alpha / +-1 is "
        "alpha * +-1",
    ("agents/obs_attack.py", "for i in range(n + 1):"):
        "equivalent: the loop leaves at i == n, so range(n + 2) never reaches its last index",
    ("agents/obs_attack.py", "if float(div.detach()) > best_div:"):
        "equivalent up to an exact float tie between two iterates' divergences (then either is a most divergent "
        "iterate)",
    ("agents/obs_attack.py", "break"):
        "equivalent: the break is on the last index of the range, so `continue` ends the loop as well",
    ("agents/obs_attack.py", "device = self.model.policy.device"):
        "equivalent on a CPU machine (device None is the CPU, where every test and bench here runs); on a GPU "
        "policy the tensors would land on the wrong device",
    ("agents/obs_attack.py", "self._scale = np.sqrt(np.asarray(normalizer.var, dtype=np.float64) + normalizer.epsilon)"):
        "equivalent where a variance is > 2e-8: +-1e-8 under the root moves the scale by under 1e-8 relative (a "
        "zero variance, where `-` gives NaN, is tested)",
    ("agents/multitask/_heads.py", "out = nn.functional.linear(latent, self.weight, self.bias).unflatten(-1, "
                                   "(self.n_tasks, self.out_dim))"): TWO_D,
    ("agents/multitask/_heads.py", "count = w.sum(-1, keepdim=True)"):
        "equivalent for SB3's inputs: the code w is (batch, n_tasks) there, where dim +1 is dim -1",
    ("agents/multitask/_heads.py", "return torch.cat([self.policy_net(features), features[..., -self.n_tasks:]], "
                                   "dim=-1)"): TWO_D,
    ("agents/multitask/_heads.py", "return torch.cat([self.value_net(features), features[..., -self.n_tasks:]], "
                                   "dim=-1)"): TWO_D,
    ("agents/multitask/_heads.py", "self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), "
                                   "**self.optimizer_kwargs)"):
        "equivalent in training: SB3 sets every optimizer's learning rate from its schedule before each update",
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
    payload["not_targeted"] = NOT_TARGETED
    payload["mutmut"] = version("mutmut")
    payload["machine"] = f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"
    out_json.write_text(json.dumps(payload, indent=2) + "\n")
    return render.main([])  # mutation.md and docs/results.md, by the one renderer


if __name__ == "__main__":
    sys.exit(main())
