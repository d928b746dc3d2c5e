"""What to change, read from a slow statement's plan and its pg_stat_statements figures: flags, each with
the numbers that support it (pure).

- a sequential scan of a large relation (rows read per loop, loops);
- a filter that removes far more rows than it returns;
- a nested loop whose inner side runs many times;
- a sort or hash that spilled to disk, with about how much work_mem it needed;
- a low shared-buffer hit ratio for the statement (shared_blks_hit / (hit + read)).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from loadorch.db.plans import Plan, PlanNode

LARGE_SCAN_ROWS = 10_000  # a sequential scan reading at least this many rows (all loops) is flagged
FILTER_RATIO = 10.0  # rows removed per row returned
FILTER_MIN_REMOVED = 1_000
MANY_LOOPS = 1_000  # a nested loop's inner side run at least this many times
LOW_HIT_RATIO = 0.90
HIT_RATIO_MIN_READ = 100  # blocks read from outside shared buffers before a ratio means anything
BLOCK_KB = 8  # PostgreSQL's default block size
SORT_MEMORY_FACTOR = 1.5  # a sort in memory holds its tuples in about 1.5x their size on disk...
SORT_TUPLE_BYTES = 48  # ...plus a slot and allocation header per tuple (measured: docs/README database section)
SCANS = ("Seq Scan", "Parallel Seq Scan")


@dataclass(frozen=True)
class StatementFigures:
    """One statement's pg_stat_statements figures over the window."""

    calls: int
    rows: int = 0
    shared_hit: int = 0
    shared_read: int = 0
    temp_written: int = 0


FlagKind = Literal["seq_scan", "filter", "nested_loop", "spill", "hit_ratio"]  # results.PlanFlag's kinds


@dataclass(frozen=True)
class Flag:
    kind: FlagKind
    text: str  # the finding with its numbers and what to change


def plan_flags(plan: Plan, work_mem: str = "", sizes: Mapping[str, float] | None = None) -> list[Flag]:
    """The flags a plan supports (an estimated plan only supports what estimates can say). `sizes`: the
    planner's estimate of each relation's rows, for an estimated plan's sequential scans (a plan says only
    how many rows a scan returns after its filter, not how many it reads)."""
    flags: list[Flag] = []
    for node in plan.nodes:
        flags.extend(_node_flags(node, work_mem, plan.estimate, sizes))
    return flags


def _node_flags(n: PlanNode, work_mem: str, estimate: bool, sizes: Mapping[str, float] | None = None) -> list[Flag]:
    out = []
    read = _read_rows(n, sizes or {})
    where = f" on {n.relation}" if n.relation else ""
    if n.node in SCANS and read >= LARGE_SCAN_ROWS:
        cond = f" with {n.conditions[0]}" if n.conditions else ""
        rows = f"{'estimated ' if estimate else ''}{read:,.0f} rows read{_loops(n)}"
        text = f"sequential scan of {n.relation or '?'}: {rows}{cond}"
        out.append(Flag("seq_scan", f"{text}; an index on the filtered columns would read only the matching rows"))
    if n.rows is not None and n.removed * n.loops >= FILTER_MIN_REMOVED and n.removed >= FILTER_RATIO * max(n.rows, 1):
        text = f"{n.node}{where}: the filter removed {n.removed * n.loops:,.0f} rows to return {n.rows * n.loops:,.0f}"
        out.append(Flag("filter", f"{text}; a more selective index (or condition) would not read them"))
    if n.parent == "Nested Loop" and n.inner and n.loops >= MANY_LOOPS:
        text = f"nested loop: its inner side ({n.line()}) ran {n.loops:,.0f} times"
        out.append(Flag("nested_loop", f"{text}; a hash or merge join, or an index on the join key, may do it once"))
    if n.sort_disk:
        out.append(Flag("spill", _sort_spill(n, work_mem)))
    if n.batches > 1 and n.rows is not None:
        needed = _size(n.peak_kb * n.batches)
        text = f"hash spilled to disk: {n.batches} batches of up to {n.peak_kb:g} kB; it needed about {needed}"
        out.append(Flag("spill", f"{text} of hash memory (work_mem x hash_mem_multiplier){_now(work_mem)}"))
    return out


def _read_rows(n: PlanNode, sizes: Mapping[str, float]) -> float:
    """Rows a node read: what ran (returned + removed), else for a scan the relation's estimated size, else the
    rows it is estimated to return (a lower bound)."""
    if n.rows is not None:
        per_loop = n.rows + n.removed
    elif n.node in SCANS and n.relation in sizes:
        per_loop = sizes[n.relation]
    else:
        per_loop = n.plan_rows
    return per_loop * n.loops


def _loops(n: PlanNode) -> str:
    return f" over {n.loops:g} loops" if n.loops > 1 else ""


def sort_work_mem_kb(n: PlanNode) -> float:
    """About the work_mem a sort that spilled needed to stay in memory (measured on PostgreSQL 15: in
    memory it took 1.8 to 2.4 times the space it wrote to disk; this estimate is above both)."""
    tuples = (n.rows or 0.0) * n.loops
    return n.sort_kb * SORT_MEMORY_FACTOR + tuples * SORT_TUPLE_BYTES / 1024


def _sort_spill(n: PlanNode, work_mem: str) -> str:
    needed = sort_work_mem_kb(n)
    return (
        f"sort spilled to disk ({n.sort_method}, {n.sort_kb:g} kB written); it needed a work_mem of about "
        f"{_size(needed)} to sort in memory{_now(work_mem)}: SET work_mem = '{_size(needed, ceil_mb=True)}' for "
        "this statement's sessions, or sort fewer rows (an index in the sort order, a LIMIT)"
    )


def statement_flags(f: StatementFigures, work_mem: str = "") -> list[Flag]:
    """Flags from pg_stat_statements alone: temp blocks written (a spill) and the shared-buffer hit ratio."""
    out = []
    if f.temp_written and f.calls:
        per_call = _size(f.temp_written / f.calls * BLOCK_KB)
        text = f"wrote {f.temp_written:,} temp blocks in {f.calls:,} calls ({per_call} per call, temp_blks_written)"
        out.append(
            Flag("spill", f"{text}: a sort or hash spilled; it needs more than {per_call} of work_mem{_now(work_mem)}")
        )
    touched = f.shared_hit + f.shared_read
    if f.shared_read >= HIT_RATIO_MIN_READ and touched and f.shared_hit / touched < LOW_HIT_RATIO:
        ratio = f"{f.shared_hit / touched:.0%} (shared_blks_hit {f.shared_hit:,}, shared_blks_read {f.shared_read:,})"
        text = f"shared-buffer hit ratio {ratio}: its data is read from outside shared_buffers"
        out.append(Flag("hit_ratio", f"{text}; read fewer blocks (an index) or give shared_buffers room for them"))
    return out


def _now(work_mem: str) -> str:
    return f" (work_mem is {work_mem})" if work_mem else ""


def _size(kb: float, ceil_mb: bool = False) -> str:
    if ceil_mb:
        return f"{max(1, math.ceil(kb / 1024))}MB"
    return f"{kb / 1024:.1f} MB" if kb >= 1024 else f"{kb:.0f} kB"
