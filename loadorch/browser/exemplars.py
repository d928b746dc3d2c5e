"""Which page views' attribution is kept: per series, the worst view and the views nearest its p75 (pure).

A gate's evidence names the view at its aggregate (the p75 of `p(75)<2500`) and the worst view. Which view
is the p75 is known only at the end, so each series keeps at most MAX_KEPT views' details: the worst one
always, and of the others those nearest the series' p75 as it stands when one more arrives (the farthest
is dropped). At the end the kept view nearest the gate's value stands for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MAX_KEPT = 8

Tags = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Exemplar:
    value: float  # the view's value of the series' metric, in its unit (ms, bytes, CLS)
    at_s: float  # seconds into the run
    page: str
    user: str
    detail: dict[str, Any]  # what the page measured about it (evidence.clean)


def keep(kept: list[Exemplar], new: Exemplar, p75: float) -> None:
    """Add `new` to a series' kept views; past MAX_KEPT drop the one farthest from `p75` (never the worst)."""
    kept.append(new)
    if len(kept) <= MAX_KEPT:
        return
    worst = max(kept, key=lambda e: e.value)
    drop = max((e for e in kept if e is not worst), key=lambda e: abs(e.value - p75))
    kept.remove(drop)


def pick(pooled: Iterable[Exemplar], value: float) -> tuple[Exemplar | None, Exemplar | None]:
    """(the view nearest `value`, the worst view) among the kept views of the series a gate pools."""
    views = list(pooled)
    if not views:
        return None, None
    at = min(views, key=lambda e: (abs(e.value - value), -e.value))
    worst = max(views, key=lambda e: (e.value, -e.at_s))
    return at, worst
