"""Which page views' attribution is kept: per series, the worst view and the views nearest its p75 (pure).

A gate's evidence names the view at its aggregate (the p75 of `p(75)<2500`) and the worst view. Which view
is the p75 is known only at the end, so each series keeps at most MAX_KEPT views' details: the worst one
always, and of the others those nearest the series' p75 as it stands when one more arrives (the farthest
is dropped). At the end the kept view nearest the gate's value stands for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from loadorch.browser.weight import WeightJson
from loadorch.results import ClsAttribution, InpAttribution, LcpAttribution, PageWeight

MAX_KEPT = 8

Tags = tuple[tuple[str, str], ...]
Attribution = LcpAttribution | InpAttribution | ClsAttribution | PageWeight


class PageEvidence(BaseModel):
    """What a page measured about one view, as the worker sends it (browser/evidence.py `clean`: typed, masked
    and bounded there; read back by the sink with `model_validate`): each part present when measured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lcp: LcpAttribution | None = None
    inp: InpAttribution | None = None
    cls: ClsAttribution | None = None
    weight: WeightJson | None = None

    def of(self, vital: str) -> LcpAttribution | InpAttribution | ClsAttribution | None:
        """The attribution of `vital` (lcp, inp, cls), None when the page had none."""
        return self.lcp if vital == "lcp" else self.inp if vital == "inp" else self.cls if vital == "cls" else None

    def to_wire(self) -> dict[str, object]:  # the JSON line's `evidence`: the parts measured, nothing else
        return {name: part for name, part in self.model_dump(mode="json").items() if part is not None}


@dataclass(frozen=True)
class Exemplar:
    value: float  # the view's value of the series' metric, in its unit (ms, bytes, CLS)
    at_s: float  # seconds into the run
    page: str
    user: str
    detail: Attribution  # what the page measured about it, of the series' metric (PageEvidence's part)


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
