"""Query plans as evidence: auto_explain's JSON plans (and EXPLAIN (GENERIC_PLAN) ones) read into a small,
bounded tree with every constant masked, and drawn as text lines (pure).

A plan's "Query Text" is the statement as the client sent it, literals included, and its conditions
("Filter", "Index Cond") show bound parameter values as constants; neither is ever kept as it is: the
query text is dropped (the statement is named by pg_stat_statements' normalized text) and every quoted
literal and number in a condition becomes `?`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from loadorch.db.sqltext import mask_constants as mask_constants  # tests and explain.py read it here
from loadorch.results import PlanText

# A node of EXPLAIN's JSON plan (auto_explain's log line or EXPLAIN (FORMAT JSON)): PostgreSQL's keys ("Node
# Type", "Actual Rows", "Plans" ...), which vary by node and version, so read with .get and checked as read.
RawNode = dict[str, Any]
MAX_NODES = 40  # nodes kept per plan (depth first); the rest are counted
MAX_CONDITION = 160  # characters of one masked condition
_PLAN_MESSAGE = re.compile(r"duration: ([0-9]+(?:\.[0-9]+)?) ms  plan:\n(.*)\Z", re.S)
CONDITIONS = ("Index Cond", "Recheck Cond", "Filter", "Join Filter", "Hash Cond", "Merge Cond", "Sort Key", "Group Key")


@dataclass(frozen=True)
class PlanNode:
    depth: int
    node: str  # "Seq Scan", "Sort", "Nested Loop", ...
    relation: str = ""
    index: str = ""
    conditions: tuple[str, ...] = ()  # "Filter: (ref = ?)", masked
    plan_rows: float = 0.0  # the planner's estimate per loop
    rows: float | None = None  # actual rows per loop (None: not analyzed)
    loops: float = 1.0
    removed: float = 0.0  # rows removed by a filter or join filter, per loop
    sort_method: str = ""
    sort_kb: float = 0.0  # the largest sort space of the node and its workers
    sort_disk: bool = False
    batches: int = 0  # hash batches (more than 1: it spilled)
    peak_kb: float = 0.0  # hash peak memory per batch
    temp_written: int = 0  # temp blocks written (log_buffers)
    parent: str = ""  # the node type of its parent
    inner: bool = False  # its parent's inner side ("Parent Relationship": "Inner"; a join runs it once per outer row)
    parallel: bool = False

    def line(self) -> str:
        name = ("Parallel " if self.parallel and not self.node.startswith("Parallel") else "") + self.node
        on = f" on {self.relation}" if self.relation else ""
        using = f" using {self.index}" if self.index else ""
        figures = [f"est. rows={self.plan_rows:g}"]
        if self.rows is not None:
            figures = [f"rows={self.rows:g}", f"loops={self.loops:g}"]
            if self.removed:
                figures.append(f"removed by filter={self.removed:g}")
        if self.sort_method:
            where = "Disk" if self.sort_disk else "Memory"
            figures.append(f"sort {self.sort_method}, {self.sort_kb:g} kB {where}")
        if self.batches > 1:
            figures.append(f"hash batches={self.batches}, peak {self.peak_kb:g} kB")
        if self.temp_written:
            figures.append(f"temp written={self.temp_written} blocks")
        return f"{name}{using}{on} ({', '.join(figures)})"


@dataclass(frozen=True)
class Plan:
    duration_ms: float
    nodes: tuple[PlanNode, ...]
    left_out: int = 0  # nodes past MAX_NODES
    estimate: bool = False  # EXPLAIN (GENERIC_PLAN): the planner's estimates, not what ran

    def lines(self) -> list[str]:
        out = []
        for n in self.nodes:
            pad = "  " * n.depth
            out.append(f"{pad}{'-> ' if n.depth else ''}{n.line()}")
            out.extend(f"{pad}     {c}" for c in n.conditions)
        if self.left_out:
            out.append(f"({self.left_out} more nodes left out)")
        return out

    def as_text(self) -> PlanText:
        """The plan as results.json shows it: drawn as text, constants masked."""
        return PlanText(duration_ms=self.duration_ms, estimate=self.estimate, lines=self.lines())


def plan_message(message: str) -> tuple[float, str] | None:
    """(duration, the JSON text) of an auto_explain log message, None for any other message."""
    m = _PLAN_MESSAGE.match(message)
    return (float(m.group(1)), m.group(2)) if m else None


def read_plan(text: str, duration_ms: float = 0.0, estimate: bool = False) -> Plan | None:
    """A plan from EXPLAIN's JSON (auto_explain's `{"Query Text", "Plan"}` or EXPLAIN's `[{"Plan"}]`); None for
    text that is not one (JSON nested past the decoder's depth included: a log line is input, not trusted)."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return plan_of(doc, duration_ms, estimate)


def plan_of(doc: object, duration_ms: float = 0.0, estimate: bool = False) -> Plan | None:
    """A plan from EXPLAIN's JSON as decoded; None when it holds none."""
    if isinstance(doc, list) and doc:
        doc = doc[0]
    root = doc.get("Plan") if isinstance(doc, dict) else None
    if not isinstance(root, dict):
        return None
    nodes: list[PlanNode] = []
    left_out = _walk(root, nodes)
    return Plan(round(duration_ms, 3), tuple(nodes), left_out, estimate)


def _walk(root: RawNode, out: list[PlanNode]) -> int:
    """Append the plan's nodes depth first, at most MAX_NODES; the number left out. A loop, not recursion: a
    plan's depth is the log's to say, and a deep one must not end the run in a RecursionError."""
    left_out = 0
    stack: list[tuple[RawNode, int, str, bool]] = [(root, 0, "", False)]
    while stack:
        raw, depth, parent, second = stack.pop()
        kids = _children(raw)
        if len(out) >= MAX_NODES:
            left_out += 1
            stack.extend((c, depth + 1, "", False) for c in reversed(kids))
            continue
        node = _node(raw, depth, parent, second)
        out.append(node)
        stack.extend((c, depth + 1, node.node, i == 1) for i, c in reversed(list(enumerate(kids))))
    return left_out


def _children(raw: RawNode) -> list[RawNode]:
    return [c for c in _listed(raw.get("Plans")) if isinstance(c, dict)]


def _listed(value: Any) -> list[Any]:
    """A plan's list (its "Plans", its "Workers"), or none: a log line of another shape (a `RAISE LOG` of any text
    that starts as auto_explain's does) must not end the run."""
    return value if isinstance(value, list) else []


def _node(raw: RawNode, depth: int, parent: str, second: bool = False) -> PlanNode:
    sort_kb = max([_num(raw.get("Sort Space Used"))] + [_num(w.get("Sort Space Used")) for w in _workers(raw)])
    disk = raw.get("Sort Space Type") == "Disk" or any(w.get("Sort Space Type") == "Disk" for w in _workers(raw))
    analyzed = "Actual Rows" in raw
    return PlanNode(
        depth=depth,
        node=str(raw.get("Node Type", "?")),
        relation=str(raw.get("Relation Name", "")),
        index=str(raw.get("Index Name", "")),
        conditions=tuple(_condition(k, raw[k]) for k in CONDITIONS if k in raw),
        plan_rows=_num(raw.get("Plan Rows")),
        rows=_num(raw.get("Actual Rows")) if analyzed else None,
        loops=_num(raw.get("Actual Loops", 1)) or 1.0,
        removed=_num(raw.get("Rows Removed by Filter")) + _num(raw.get("Rows Removed by Join Filter")),
        sort_method=str(raw.get("Sort Method", "")),
        sort_kb=sort_kb,
        sort_disk=disk,
        batches=int(_num(raw.get("Hash Batches"))),
        peak_kb=_num(raw.get("Peak Memory Usage")),
        temp_written=int(_num(raw.get("Temp Written Blocks"))),
        parent=parent,
        # a join's inner side is its second child; EXPLAIN names it (the outer side of a loop run on the inner side
        # of another runs as many times, but it is not what that loop repeats)
        inner=raw["Parent Relationship"] == "Inner" if "Parent Relationship" in raw else second,
        parallel=bool(raw.get("Parallel Aware")),
    )


def _workers(raw: RawNode) -> list[RawNode]:
    return [w for w in _listed(raw.get("Workers")) if isinstance(w, dict)]


def _condition(key: str, value: Any) -> str:
    text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    masked = mask_constants(text)
    if len(masked) > MAX_CONDITION:
        masked = masked[: MAX_CONDITION - 3] + "..."
    return f"{key}: {masked}"


MAX_FIGURE = 1e15  # a figure of a plan is read up to this (a count PostgreSQL writes is far below it)


def _num(value: Any) -> float:
    """A plan's figure as a finite number (0 when it is none: JSON's NaN and Infinity, `1e999`, a string): what
    the flags compute from it (int, ceil, products) stays finite."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return max(-MAX_FIGURE, min(number, MAX_FIGURE)) if math.isfinite(number) else 0.0
