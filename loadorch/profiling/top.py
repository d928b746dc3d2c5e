"""The functions a profile spent its time in: own (self) time, where the function itself was running, and
total time, where it was anywhere on the stack (pure, from the weighted stacks)."""

from __future__ import annotations

from dataclasses import dataclass

from loadorch.profiling.speedscope import Frame, Stacks

DEFAULT_TOP = 10


@dataclass(frozen=True)
class TopFrame:
    name: str
    file: str
    line: int | None  # the line with the most own time in this function
    self_s: float
    total_s: float
    self_share: float  # of every sampled second (0..1)

    def label(self) -> str:
        return Frame(self.name, self.file, self.line).label()

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "file": self.file,
            "line": self.line,
            "self_s": round(self.self_s, 4),
            "total_s": round(self.total_s, 4),
            "self_share": round(self.self_share, 4),
        }


def top_frames(stacks: Stacks, n: int = DEFAULT_TOP) -> list[TopFrame]:
    """The `n` functions with the most own time, most first (ties by name, then file, so the order is stable)."""
    own: dict[tuple[str, str], float] = {}
    total: dict[tuple[str, str], float] = {}
    by_line: dict[tuple[str, str], dict[int | None, float]] = {}
    for stack, seconds in stacks.weights.items():
        leaf = stack[-1]
        own[leaf.function] = own.get(leaf.function, 0.0) + seconds
        lines = by_line.setdefault(leaf.function, {})
        lines[leaf.line] = lines.get(leaf.line, 0.0) + seconds
        for fn in {f.function for f in stack}:  # a recursive function counts once per stack
            total[fn] = total.get(fn, 0.0) + seconds
    everything = sum(stacks.weights.values()) or 1.0
    ranked = sorted(own.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return [
        TopFrame(name, file, _hottest(by_line[(name, file)]), seconds, total[(name, file)], seconds / everything)
        for (name, file), seconds in ranked
    ]


def _hottest(lines: dict[int | None, float]) -> int | None:
    return max(lines.items(), key=lambda kv: (kv[1], -(kv[0] or 0)))[0]


def one_line(frames: list[TopFrame], n: int = 3) -> str:
    """The first `n` as one line: `slow_fn (shop.py:12) 61%, dumps (json/__init__.py:231) 9%`."""
    return ", ".join(f"{f.label()} {f.self_share:.0%}" for f in frames[:n])
