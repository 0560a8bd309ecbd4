"""Every docstring example in the installed ``simtransfer`` package runs (``# doctest: +SKIP`` only for examples
that need long training or files a reader has, e.g. ``runs/pendulum``).

Modules are found by walking the installed subpackages (``simtransfer.envs`` ...), never the folders: a
folder walk would import ``envs.x`` as a second module besides ``simtransfer.envs.x``.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

LAYERS = ("envs", "agents", "transfer", "experiments")
# modules whose import needs an optional extra; skipped (not failed) when the extra is missing
OPTIONAL = {"simtransfer.envs.sim2sim": "mujoco", "simtransfer.envs.sim2sim_obs": "mujoco",
            "simtransfer.envs.games": "Box2D"}


def module_names() -> list[str]:
    """``simtransfer.envs``, ``simtransfer.envs.adr``, ... (the installed namespace; the ``simtransfer``
    namespace itself has no ``__init__`` to walk, so each layer is walked)."""
    names = []
    for layer in LAYERS:
        pkg = importlib.import_module(f"simtransfer.{layer}")
        names.append(pkg.__name__)
        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
    return names


MODULES = module_names()


def _import(name: str):
    if name in OPTIONAL:
        pytest.importorskip(OPTIONAL[name])
    return importlib.import_module(name)


def test_every_module_is_walked():
    assert len(MODULES) == len(set(MODULES)) >= 70
    assert {"simtransfer.envs.trust", "simtransfer.transfer.methods.finetune", "simtransfer.experiments.cli"} <= set(MODULES)
    assert not any(n.split(".")[0] != "simtransfer" for n in MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # an example that writes files writes them here
    module = _import(name)
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    failures = []
    for test in finder.find(module, name):
        if test.examples:
            result = runner.run(test, out=failures.append)
            assert result.failed == 0 or failures, test.name
    assert not failures, "".join(failures)


def count_examples() -> tuple[int, int]:
    """(examples that run, examples skipped) over every module — the numbers the README quotes."""
    run = skipped = 0
    for name in MODULES:
        for test in doctest.DocTestFinder().find(importlib.import_module(name), name):
            for ex in test.examples:
                if ex.options.get(doctest.SKIP):
                    skipped += 1
                else:
                    run += 1
    return run, skipped
