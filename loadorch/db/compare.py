"""`loadorch compare` rows for queries per request: a rise is a regression (pure).

Per endpoint, from the response header's exact counts (a z-test on the means, so one odd request is not
a regression) and, where no header was sent, from the N+1 probe's single measurement per request.
"""

from __future__ import annotations

import math
from typing import Any

from loadorch.results import RepeatedStatement, Results
from loadorch.stats.histogram import Histogram
from loadorch.verdict.compare import MIN_COUNT, MIXED_BASIS, TOO_FEW  # TOO_FEW: fewer requests a side

MIN_RISE = 0.5  # queries per request: smaller changes of the mean do not count
Z = 1.96


def _variance(h: Histogram) -> float:
    mean = h.mean
    return sum(n * (b - mean) ** 2 for b, n in h.buckets.items()) / h.count if h.count else 0.0


def queries_rows(base: Results, cur: Results, bm: Any, cm: Any, row: Any, mixed: str = "") -> list[Any]:
    """Rows (built with `row(scope, name, metric, baseline, current, change, change_pct, budget,
    significant, verdict, note)`) for every endpoint with a query count in both runs. The header's counts are
    recorded inside a measurement window only: `mixed` (verdict.basis) says one run had one and the other not,
    and those rows are undecided (MIXED_BASIS); the probe's are not windowed."""
    out = []
    names = sorted({k.name for k in bm.db} & {k.name for k in cm.db})
    for name in names:
        b, c = bm.select_db((("name", name),)), cm.select_db((("name", name),))
        change = c.mean - b.mean
        se = math.sqrt(_variance(b) / b.count + _variance(c) / c.count)
        significant = abs(change) > Z * se if se > 0 else change != 0
        verdict = (
            "regression"
            if significant and change >= MIN_RISE
            else "improvement"
            if significant and -change >= MIN_RISE
            else "same"
        )
        note = f"mean queries per request from the response header; max {b.max} -> {c.max}"
        few = min(b.count, c.count) < MIN_COUNT  # one request a side decided the row (a variance of 0 is no proof)
        why = ""
        if few:
            verdict, note = "same", f"{note}; {b.count} and {c.count} requests counted, at least {MIN_COUNT} a side"
            why = TOO_FEW
        elif mixed:
            verdict, note, why = "same", f"would be {verdict}, but {MIXED_BASIS}; {note}", MIXED_BASIS
        out.append(
            row(
                "endpoint",
                name,
                "db_queries_per_request",
                round(b.mean, 3),
                round(c.mean, 3),
                round(change, 3),
                _pct(change, b.mean),
                MIN_RISE,
                significant,
                verdict,
                note,
                why=why,
            )
        )
    for key, (bq, cq, repeated) in sorted(_probed(base, cur).items()):
        if key in names:
            continue
        change = cq - bq
        verdict = "regression" if change > 0 else "improvement" if change < 0 else "same"
        note = "from the probe (one request, alone)" + (f"; repeated: {repeated}" if repeated else "")
        out.append(
            row(
                "endpoint",
                key,
                "db_queries_per_request",
                float(bq),
                float(cq),
                float(change),
                _pct(change, bq),
                0.0,
                change != 0,
                verdict,
                note,
            )
        )
    return out


def _probed(base: Results, cur: Results) -> dict[str, tuple[int, int, str]]:
    def rows(doc: Results) -> dict[str, tuple[int, list[RepeatedStatement]]]:
        collector = doc.database.collector if doc.database else None
        probe = collector.probe if collector else []
        return {p.name: (p.queries, p.repeated) for p in probe if p.queries is not None}

    b, c = rows(base), rows(cur)
    out = {}
    for name in set(b) & set(c):
        repeated = ", ".join(f"{r.statement} x{r.calls}" for r in c[name][1])
        out[name] = (b[name][0], c[name][0], repeated)
    return out


def _pct(change: float, base: float) -> float | None:
    return round(100.0 * change / base, 1) if base else None
