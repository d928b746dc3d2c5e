"""`loadorch compare` rows for queries per request: a rise is a regression (pure).

Per endpoint, from the response header's exact counts (a z-test on the means, so one odd request is not
a regression) and, where no header was sent, from the N+1 probe's single measurement per request.
"""

from __future__ import annotations

import math
from typing import Any

from loadorch.results import RepeatedStatement, Results
from loadorch.stats.histogram import Histogram
from loadorch.verdict.compare import MIN_COUNT, MIXED_BASIS, NOT_MEASURED, TOO_FEW  # TOO_FEW: fewer requests a side

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
    probed = _probed(base, cur)
    out += _unmeasured(base, cur, bm, cm, row, set(names) | set(probed))
    for key, (bq, cq, repeated) in sorted(probed.items()):
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


def _unmeasured(base: Results, cur: Results, bm: Any, cm: Any, row: Any, compared: set[str]) -> list[Any]:
    """Undecided rows (NOT_MEASURED) for the endpoints whose queries per request the baseline measured (the header's
    counts of MIN_COUNT requests or more, or the probe) and the current run, which still calls them, did not."""
    header = {name: h for name in {k.name for k in bm.db} if (h := bm.select_db((("name", name),))).count >= MIN_COUNT}
    probe = _probe_rows(base)
    out = []
    for name in sorted((set(header) | set(probe)) - compared - {k.name for k in cm.db} - set(_probe_rows(cur))):
        if not cm.counts((("name", name),))[0]:
            continue  # not called in the current run: its own row says so (verdict.compare GONE)
        was, how = (header[name].mean, "the response header") if name in header else (probe[name][0], "the probe")
        note = f"measured by {how} in the baseline ({was:.2f} queries per request), not in the current run"
        out.append(row("endpoint", name, "db_queries_per_request", round(was, 3), None, None, None, MIN_RISE, False,
                       "same", note, why=NOT_MEASURED))  # fmt: skip
    return out


def _probe_rows(doc: Results) -> dict[str, tuple[int, list[RepeatedStatement]]]:
    collector = doc.database.collector if doc.database else None
    probe = collector.probe if collector else []
    return {p.name: (p.queries, p.repeated) for p in probe if p.queries is not None}


def _probed(base: Results, cur: Results) -> dict[str, tuple[int, int, str]]:
    b, c = _probe_rows(base), _probe_rows(cur)
    out = {}
    for name in set(b) & set(c):
        repeated = ", ".join(f"{r.statement} x{r.calls}" for r in c[name][1])
        out[name] = (b[name][0], c[name][0], repeated)
    return out


def _pct(change: float, base: float) -> float | None:
    return round(100.0 * change / base, 1) if base else None
