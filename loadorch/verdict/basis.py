"""What `compare` compares: both runs' measurement windows when both have one (the samples their
thresholds judged, over the window's seconds), else the whole runs, and a line that says which."""

from __future__ import annotations

from dataclasses import dataclass, field

from loadorch.results import Results
from loadorch.stats.tables import Merged


@dataclass
class Basis:
    base: Merged
    base_s: float
    cur: Merged
    cur_s: float
    text: str  # "the measurement windows (...)" or "the whole runs"
    warnings: list[str] = field(default_factory=list)
    # only one run has a window: the tables recorded inside a window only (waiting and connecting times, queries
    # per request; stats.tables.Recorder) are that run's window and the other's whole run, so no row or goal on
    # them is compared: why, and the fix ("" when both sides are the same samples)
    mixed: str = ""


def _spans(doc: Results) -> str:
    window = doc.window
    if window is None:
        return "from/to"
    shown = ", ".join(f"{a:g}-{b:g}s" for a, b in window.spans)
    return f"{window.source or 'from/to'} {shown}".strip()


def basis(base: Results, cur: Results) -> Basis:
    bm, cm = Merged.from_json(base.histograms), Merged.from_json(cur.histograms)
    bt, ct = base.run.elapsed_s or 1e-9, cur.run.elapsed_s or 1e-9
    bw, cw = base.window, cur.window
    if bw and cw:
        out = Basis(
            bm.windowed(),
            bw.seconds or 1e-9,
            cm.windowed(),
            cw.seconds or 1e-9,
            f"the measurement windows (baseline {_spans(base)}: {bw.requests} requests over {bw.seconds:g}s; "
            f"current {_spans(cur)}: {cw.requests} requests over {cw.seconds:g}s); ramps left out",
        )
        if bw.spans != cw.spans:
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
        other = "current run" if bw else "baseline"
        out.mixed = (
            f"only the {which} has a measurement window ({_spans(base if bw else cur)}), and its waiting and "
            f"connecting times and queries per request were recorded inside it only, the {other}'s over the whole "
            "run: not the same samples. Give both runs the same `measure:` and compare again"
        )
    return out
