"""What `compare` compares: both runs' measurement windows when both have one (the samples their
thresholds judged, over the window's seconds), else the whole runs, and a line that says which."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loadorch.verdict.stats import Merged


@dataclass
class Basis:
    base: Merged
    base_s: float
    cur: Merged
    cur_s: float
    text: str  # "the measurement windows (...)" or "the whole runs"
    warnings: list[str] = field(default_factory=list)


def _spans(doc: dict[str, Any]) -> str:
    window = doc.get("window") or {}
    shown = ", ".join(f"{float(a):g}-{float(b):g}s" for a, b in window.get("spans", []))
    return f"{window.get('source') or 'from/to'} {shown}".strip()


def basis(base: dict[str, Any], cur: dict[str, Any]) -> Basis:
    bm, cm = Merged.from_json(base["histograms"]), Merged.from_json(cur["histograms"])
    bt, ct = float(base["run"]["elapsed_s"]) or 1e-9, float(cur["run"]["elapsed_s"]) or 1e-9
    bw, cw = base.get("window"), cur.get("window")
    if bw and cw:
        out = Basis(
            bm.windowed(),
            float(bw["seconds"]) or 1e-9,
            cm.windowed(),
            float(cw["seconds"]) or 1e-9,
            f"the measurement windows (baseline {_spans(base)}: {bw['requests']} requests over {bw['seconds']:g}s; "
            f"current {_spans(cur)}: {cw['requests']} requests over {cw['seconds']:g}s); ramps left out",
        )
        if bw.get("spans") != cw.get("spans"):
            out.warnings.append(f"measurement windows differ ({_spans(base)} -> {_spans(cur)}): not like for like")
        return out
    out = Basis(bm, bt, cm, ct, "the whole runs")
    if bw or cw:
        which = "baseline" if bw else "current run"
        out.text = "the whole runs, ramps included"
        out.warnings.append(
            f"only the {which} has a measurement window ({_spans(base if bw else cur)}): compared the whole runs; "
            "give both runs the same `measure:` to compare their steady states"
        )
    return out
