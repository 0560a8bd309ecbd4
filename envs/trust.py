"""What code a config may name: a run directory is data, never code.

Configs name classes by dotted path (``env.id: pkg.mod:make``, ``wrappers[].type``, ``adapters[].type``,
``policy.policy_class``, ``policy.features_extractor_class``, ``policy.activation_fn``, a method
``pkg.mod:Class``). Read from a shared run directory or a downloaded config, such a name could import and call
anything (``pydoc:pipepager`` runs a shell command). :func:`resolve_component` allows only

* classes of the expected kind (a ``gymnasium.Wrapper``, an SB3 policy, ...) defined in simtransfer's own
  packages or in the few libraries a call site names (``gymnasium`` envs, ``torch.nn`` activations, SB3 policies),
* names a call site lists exactly (e.g. ``gymnasium.wrappers:TimeLimit``),
* anything in a module the user trusts explicitly: ``--trust MODULE`` on the command line, the
  ``SIMTRANSFER_TRUST`` environment variable (comma-separated), or :func:`trusting` in Python.

Trust lives in the environment variable, so worker processes (``SubprocVecEnv``, process pools) inherit it.

>>> from simtransfer.envs.trust import is_trusted, trusting
>>> with trusting("mylab.envs"):
...     is_trusted("mylab.envs.arm"), is_trusted("mylab.other")
(True, False)
>>> is_trusted("mylab.envs")
False
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterable, Iterator
from typing import Any

from simtransfer.envs.components import registered_path
from simtransfer.envs.errors import SimtransferError

TRUST_ENV = "SIMTRANSFER_TRUST"
PROJECT_PACKAGES = frozenset({"simtransfer"})
# runs written before the code moved under ``simtransfer`` name ``envs.history:HistoryObservation``, ...
LEGACY_PACKAGES = frozenset({"envs", "agents", "transfer", "experiments"})


def split_path(path: str) -> tuple[str, str]:
    """``package.module:attr`` (or ``package.module.attr``) → ``(module, attr)``; one-line error if malformed."""
    module, sep, attr = str(path).partition(":")
    if not sep:
        module, _, attr = str(path).rpartition(".")
    if not module or not attr:
        raise SimtransferError(f"cannot import '{path}': expected 'package.module:name'")
    return module, attr


def trusted_modules() -> list[str]:
    """Modules whose code configs may name (from ``SIMTRANSFER_TRUST``)."""
    return [m.strip() for m in os.environ.get(TRUST_ENV, "").split(",") if m.strip()]


def is_trusted(module: str) -> bool:
    """True if ``module`` or a package above it is trusted."""
    return any(module == t or module.startswith(t + ".") for t in trusted_modules())


def _check_module_name(module: str) -> str:
    parts = module.split(".")
    if not module or not all(p.isidentifier() for p in parts):
        raise SimtransferError(f"--trust '{module}': expected a dotted module name such as 'mylab.envs'")
    return module


def trust(modules: Iterable[str]) -> None:
    """Trust ``modules`` (and their submodules) for the rest of this process and the processes it starts."""
    names = [_check_module_name(m.strip()) for m in modules if m.strip()]
    current = trusted_modules()
    os.environ[TRUST_ENV] = ",".join(current + [m for m in names if m not in current])


@contextlib.contextmanager
def trusting(*modules: str) -> Iterator[None]:
    """Trust ``modules`` inside the ``with`` block only."""
    saved = os.environ.get(TRUST_ENV)
    trust(modules)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(TRUST_ENV, None)
        else:
            os.environ[TRUST_ENV] = saved


def import_object(path: str) -> Any:
    """Import ``package.module:attr`` without any check: only for names the code itself holds (fixed tables).

    Names read from a config go through :func:`resolve_component` instead. A registered short name (see
    :mod:`simtransfer.envs.components`) imports the class it stands for.
    """
    path = registered_path(path) or path
    module_name, attr = split_path(path)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SimtransferError(f"cannot import module '{module_name}' (from '{path}'): {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SimtransferError(f"module '{module_name}' has no attribute '{attr}' (from '{path}')")
        obj = getattr(obj, part)
    return obj


def resolve_component(path: str, base: type | tuple[type, ...], *, field: str, libraries: Iterable[str] = (),
                      exact: Iterable[str] = ()) -> Any:
    """The object a config names at ``field``, if the project allows it (see the module docstring).

    :param path: ``package.module:Name`` as written in the config.
    :param base: the class(es) a component must subclass unless its module is trusted.
    :param field: the config field, for the error message (``"adapters[0].type"``).
    :param libraries: top-level packages besides simtransfer's whose ``base`` subclasses are allowed.
    :param exact: names allowed as they are (``gymnasium.wrappers:TimeLimit``).

    A registered short name, or a path an earlier run wrote for one (:mod:`simtransfer.envs.components`), stands
    for the registered class; the kind check still applies.
    """
    path = registered_path(path) or path
    module, _ = split_path(path)
    if is_trusted(module) or path in set(exact):
        return import_object(path)
    if module.split(".")[0] in LEGACY_PACKAGES:
        path, module = f"simtransfer.{path}", f"simtransfer.{module}"
    top = module.split(".")[0]
    if top not in PROJECT_PACKAGES and top not in set(libraries):
        raise SimtransferError(
            f"{field} '{path}' names code outside simtransfer's components; a config or run directory runs no "
            f"other code unless you trust its module: --trust {module} (or {TRUST_ENV}={module})")
    obj = import_object(path)
    bases = base if isinstance(base, tuple) else (base,)
    if not (isinstance(obj, type) and issubclass(obj, bases)):
        kinds = " or ".join(b.__name__ for b in bases)
        raise SimtransferError(f"{field} '{path}' is not a {kinds} class; only such classes may be named there "
                               f"unless you trust its module: --trust {module}")
    return obj
