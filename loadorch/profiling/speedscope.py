"""A sampling profile (speedscope's file format) read into weighted stacks, bounded, and written back.

py-spy writes one `sampled` profile per thread: `shared.frames` holds each frame (name, file, line) once and
every sample is a list of indexes into it, the outermost call first, the running frame last, with a weight
in seconds. The process's profile is every thread's samples together. What we keep grows with the number of
distinct stacks, not with the run's length: samples of the same stack are added up, and past `max_stacks`
distinct stacks the rest are counted under one `(other stacks)` frame.

Reference: https://github.com/jlfwong/speedscope/wiki/Importing-from-custom-sources (the file format).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

SCHEMA_URL = "https://www.speedscope.app/file-format-schema.json"
MAX_STACKS = 20_000  # distinct stacks kept per profile
MAX_DEPTH = 256  # frames kept per stack (the outermost ones; a deeper recursion is cut)
OTHER = "(other stacks)"


class ProfileFormatError(ValueError):
    """The file is not a speedscope profile this reader understands (the message says where)."""


@dataclass(frozen=True)
class Frame:
    name: str
    file: str
    line: int | None = None

    @property
    def function(self) -> tuple[str, str]:
        """The function this frame runs in (the line left out): frames of one function add up."""
        return self.name, self.file

    def label(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{self.name} ({where})" if where else self.name


@dataclass
class Stacks:
    """Seconds sampled per distinct stack (outermost frame first), across every thread."""

    weights: dict[tuple[Frame, ...], float] = field(default_factory=dict)
    samples: int = 0
    dropped_stacks: int = 0  # distinct stacks past the bound, counted under OTHER
    max_stacks: int = MAX_STACKS

    def add(self, stack: tuple[Frame, ...], seconds: float) -> None:
        self.samples += 1
        stack = stack[:MAX_DEPTH]
        if stack not in self.weights and len(self.weights) >= self.max_stacks:
            self.dropped_stacks += 1
            stack = (Frame(OTHER, ""),)
        self.weights[stack] = self.weights.get(stack, 0.0) + seconds

    @property
    def seconds(self) -> float:
        return sum(self.weights.values())


def parse(doc: Any, mask: Callable[[str], str] = str, max_stacks: int = MAX_STACKS) -> Stacks:
    """Every thread's samples of a speedscope document; names and file paths go through `mask` (secrets)."""
    if not isinstance(doc, Mapping):
        raise ProfileFormatError("not a JSON object")
    shared = doc.get("shared")
    raw_frames = shared.get("frames") if isinstance(shared, Mapping) else None
    if not isinstance(raw_frames, list):
        raise ProfileFormatError("shared.frames: missing or not a list")
    frames = [_frame(f, i, mask) for i, f in enumerate(raw_frames)]
    profiles = doc.get("profiles")
    if not isinstance(profiles, list):
        raise ProfileFormatError("profiles: missing or not a list")
    out = Stacks(max_stacks=max_stacks)
    for p, profile in enumerate(profiles):
        _add_profile(out, profile, frames, p)
    return out


def _frame(raw: Any, index: int, mask: Callable[[str], str]) -> Frame:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
        raise ProfileFormatError(f"shared.frames[{index}]: a frame needs a name")
    line = raw.get("line")
    return Frame(mask(raw["name"]), mask(str(raw.get("file") or "")), line if isinstance(line, int) else None)


def _add_profile(out: Stacks, profile: Any, frames: list[Frame], p: int) -> None:
    if not isinstance(profile, Mapping) or profile.get("type") != "sampled":
        raise ProfileFormatError(f"profiles[{p}]: only sampled profiles are read (py-spy writes those)")
    samples, weights = profile.get("samples"), profile.get("weights")
    if not isinstance(samples, list) or not isinstance(weights, list) or len(samples) != len(weights):
        raise ProfileFormatError(f"profiles[{p}]: samples and weights must be lists of one length")
    scale = 0.001 if profile.get("unit") == "milliseconds" else 1.0
    for s, (sample, weight) in enumerate(zip(samples, weights)):
        if not isinstance(sample, list) or not isinstance(weight, (int, float)) or weight < 0:
            raise ProfileFormatError(f"profiles[{p}].samples[{s}]: a list of frame indexes with a weight >= 0")
        try:
            stack = tuple(frames[i] for i in sample)
        except (IndexError, TypeError):
            raise ProfileFormatError(f"profiles[{p}].samples[{s}]: a frame index out of range") from None
        if stack:
            out.add(stack, float(weight) * scale)


class FrameJson(TypedDict):
    name: str
    file: str
    line: int | None


class SampledJson(TypedDict):
    """A sampled profile of speedscope's file format: stacks as frame indexes, each with its weight."""

    type: str  # "sampled"
    name: str
    unit: str  # "seconds"
    startValue: int
    endValue: float
    samples: list[list[int]]
    weights: list[float]


class SharedJson(TypedDict):
    frames: list[FrameJson]


# speedscope's file (SCHEMA_URL), as we write it: "$schema" is not a Python name, hence this form
SpeedscopeJson = TypedDict("SpeedscopeJson", {
    "$schema": str, "shared": SharedJson, "profiles": list[SampledJson], "name": str, "activeProfileIndex": int,
    "exporter": str,
})  # fmt: skip


def document(stacks: Stacks, name: str) -> SpeedscopeJson:
    """A speedscope file of `stacks`: one sampled profile, one sample per distinct stack (its weight the
    seconds it was seen), heaviest first; opens at https://www.speedscope.app (left heavy, sandwich)."""
    index: dict[Frame, int] = {}
    samples, weights = [], []
    for stack, seconds in sorted(stacks.weights.items(), key=lambda kv: -kv[1]):
        samples.append([index.setdefault(f, len(index)) for f in stack])
        weights.append(round(seconds, 6))
    frames = [FrameJson(name=f.name, file=f.file, line=f.line) for f in index]
    total = round(sum(weights), 6)
    return {
        "$schema": SCHEMA_URL,
        "shared": {"frames": frames},
        "profiles": [
            {
                "type": "sampled", "name": name, "unit": "seconds", "startValue": 0, "endValue": total,
                "samples": samples, "weights": weights,
            }
        ],
        "name": name,
        "activeProfileIndex": 0,
        "exporter": "loadorch",
    }  # fmt: skip
