"""Number formatting shared by the bench renderers: a point estimate with its interval.

>>> estimate({"value": 1234.5, "low": 1000.0, "high": 1500.0})
'1234 [1000, 1500]'
>>> estimate({"value": 0.51234, "low": None}), estimate(None), significant(float("inf"))
('0.512', '—', 'never')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def significant(x: float | None) -> str:
    """Three significant digits below 100, whole numbers above; ``n/a`` for missing/NaN, ``never`` for ±inf."""
    if x is None or x != x:
        return "n/a"
    if x in (float("inf"), float("-inf")):
        return "never"
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


def estimate(e: dict[str, Any] | None, num: Callable[[float | None], str] = significant) -> str:
    """``value [low, high]`` of an estimate mapping (``value`` alone without an interval; ``—`` without one)."""
    if not e:
        return "—"
    if e.get("low") is None or e["low"] != e["low"]:
        return num(e["value"])
    return f"{num(e['value'])} [{num(e['low'])}, {num(e['high'])}]"
