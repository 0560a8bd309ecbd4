"""Env checkers with warnings as failures: gymnasium's ``check_env`` and SB3's, every warning recorded, and any
warning not named in ``allow`` fails the test (a NaN reward or an out-of-space observation is a gymnasium
*warning*, so a test that silences warnings cannot catch it).

The only warnings a test may allow are the ones in ``ALLOWED``, each with the reason it is not a defect:

>>> sorted(ALLOWED)
['unbounded_obs', 'wrapped']
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from typing import Any

# name -> (pattern of the warning text, why it is not a defect of the env under test)
ALLOWED: dict[str, tuple[str, str]] = {
    "wrapped": (
        r"is different from the unwrapped version",
        "we check the registered wrapper stack on purpose (randomizer, adapters, TimeLimit are part of our envs); "
        "env.unwrapped would skip exactly the code under test",
    ),
    "unbounded_obs": (
        r"A Box observation space (minimum|maximum) value is -?infinity",
        "PyBullet's robots declare unbounded observations (Box(-inf, inf)); a bound we invented would be wrong, "
        "and the checker still verifies every observation is inside the declared space",
    ),
}


def check_env_strict(env: Any, *, allow: Iterable[str] = (), sb3: bool = True) -> None:
    """Run gymnasium's checker (and SB3's unless ``sb3=False``); fail on any warning not in ``allow``."""
    allowed = [ALLOWED[name][0] for name in allow]  # KeyError: only documented warnings can be allowed
    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # garbage collection may close another test's file during the check: not the env's warning
        warnings.simplefilter("ignore", ResourceWarning)
        check_env(env, skip_render_check=True)
        if sb3:
            from stable_baselines3.common.env_checker import check_env as sb3_check_env

            sb3_check_env(env, warn=True)
    unexpected = [f"{w.category.__name__}: {w.message}" for w in caught
                  if not any(re.search(p, str(w.message)) for p in allowed)]
    assert not unexpected, "env checker warnings:\n" + "\n".join(dict.fromkeys(unexpected))
