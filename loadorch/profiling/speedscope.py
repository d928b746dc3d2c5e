"""A sampling profile (speedscope's file format) read into weighted stacks, bounded, and written back.

py-spy writes one `sampled` profile per thread: `shared.frames` holds each frame (name, file, line) once and
every sample is a list of indexes into it, the outermost call first, the running frame last, with a weight
in seconds. The process's profile is every thread's samples together. What we keep grows with the number of
distinct stacks, not with the run's length: samples of the same stack are added up, and past `max_stacks`
distinct stacks the rest are counted under one `(other stacks)` frame.

Reference: https://github.com/jlfwong/speedscope/wiki/Importing-from-custom-sources (the file format).
"""

from __future__ import annotations

import json
import mmap
import re
from array import array
from collections.abc import Callable, Iterator, Mapping
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

    def add(self, stack: tuple[Frame, ...], seconds: float, samples: int = 1) -> None:
        """`samples` samples of `stack` that took `seconds` together."""
        self.samples += samples
        stack = stack[:MAX_DEPTH]
        if stack not in self.weights and len(self.weights) >= self.max_stacks:
            self.dropped_stacks += samples
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


STREAM_ABOVE = 16 << 20  # a file larger than this is read by `read`'s streaming way when it is laid out as py-spy's
CHUNK_BYTES = 1 << 20  # the samples and weights are parsed this much at a time (about 6 MB of lists at once)
_SAMPLES = re.compile(rb'"samples"\s*:\s*\[')
_WEIGHTS = re.compile(rb'"weights"\s*:\s*\[')
_EMPTY = re.compile(rb"\s*\]")  # an empty array's end, right after its `[`
_SAMPLES_END = re.compile(rb"\]\s*\]")  # the samples hold numbers only: the first `]]` closes their array
_SHARED = re.compile(rb'"shared"\s*:\s*')
_PROFILE_HEAD = re.compile(rb'"(type|unit)"\s*:\s*"([A-Za-z]+)"')


def read(path: str, mask: Callable[[str], str] = str, max_stacks: int = MAX_STACKS) -> Stacks:
    """A speedscope file read as `parse` reads its document. A file larger than STREAM_ABOVE laid out as py-spy
    writes it (each profile's samples, then its weights, then the shared frames after every profile) is read
    without holding its samples as Python lists (json.load of a 46 MB file took 258 MB more, 5.6 times the
    file): each sample is kept as the number of its distinct stack, 4 bytes, and the arrays are parsed
    CHUNK_BYTES at a time. The same Stacks either way (tests/unit/test_profiling.py)."""
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        if size > STREAM_ABOVE:
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                streamed = _streamed(mm, mask, max_stacks)
                if streamed is not None:
                    return streamed
        fh.seek(0)
        return parse(json.load(fh), mask, max_stacks)


def _streamed(mm: mmap.mmap, mask: Callable[[str], str], max_stacks: int) -> Stacks | None:
    """The Stacks of a py-spy-shaped file, or None when it is shaped otherwise (then `parse` reads it whole)."""
    profiles: list[tuple[int, int, int, int, float]] = []  # (samples' start, end, weights' start, end, scale)
    pos = 0
    while True:
        found = _SAMPLES.search(mm, pos)
        if found is None:
            break
        head = dict(_PROFILE_HEAD.findall(mm[pos:found.start()][-4096:]))
        if head.get(b"type") != b"sampled":
            return None
        empty = _EMPTY.match(mm, found.end())  # no samples: `[]`
        end = empty or _SAMPLES_END.search(mm, found.end() - 1)
        weights = _WEIGHTS.match(mm, end.end() + 1) if end is not None and mm[end.end():end.end() + 1] == b"," else None
        if end is None or weights is None:
            return None
        close = mm.find(b"]", weights.end())
        if close < 0:
            return None
        profiles.append((found.end() - 1, end.end(), weights.end() - 1, close + 1,
                         0.001 if head.get(b"unit") == b"milliseconds" else 1.0))
        pos = close + 1
    shared = _SHARED.search(mm, pos)
    if not profiles or shared is None:
        return None
    try:
        doc, _ = json.JSONDecoder().raw_decode(mm[shared.end():].decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    raw_frames = doc.get("frames") if isinstance(doc, Mapping) else None
    if not isinstance(raw_frames, list):
        raise ProfileFormatError("shared.frames: missing or not a list")
    frames = [_frame(f, i, mask) for i, f in enumerate(raw_frames)]
    out = Stacks(max_stacks=max_stacks)
    for p, (s0, s1, w0, w1, scale) in enumerate(profiles):
        ids = array("I")  # each sample's distinct stack (of frame indexes), in order
        distinct: dict[tuple[Any, ...], int] = {}
        for s, sample in enumerate(_items(mm, s0, s1, b"],")):
            try:
                if not isinstance(sample, list):
                    raise TypeError
                ids.append(distinct.setdefault(tuple(sample), len(distinct)))
            except TypeError:  # not a list, or a list holding a list: no frame indexes
                raise ProfileFormatError(f"profiles[{p}].samples[{s}]: a list of frame indexes with a weight >= 0"
                                         ) from None
        seconds, counts, n = [0.0] * len(distinct), [0] * len(distinct), 0
        for n, weight in enumerate(_items(mm, w0, w1, b","), 1):
            if n > len(ids) or not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight < 0:
                raise ProfileFormatError(f"profiles[{p}]: samples and weights must be lists of one length, "
                                         "each weight a number >= 0")
            seconds[ids[n - 1]] += weight
            counts[ids[n - 1]] += 1
        if n != len(ids):
            raise ProfileFormatError(f"profiles[{p}]: samples and weights must be lists of one length")
        for indexes, i in distinct.items():
            try:
                stack = tuple(frames[k] for k in indexes)
            except (IndexError, TypeError):
                raise ProfileFormatError(f"profiles[{p}].samples: a frame index out of range") from None
            if stack:
                out.add(stack, seconds[i] * scale, counts[i])
    return out


def _items(mm: mmap.mmap, start: int, end: int, cut: bytes) -> Iterator[Any]:
    """The items of the JSON array at mm[start:end] (`[` ... `]`), parsed CHUNK_BYTES at a time: each chunk cut
    after the last `cut` in it (`],` between samples, `,` between numbers) and read as an array of its own."""
    pos, last = start + 1, end - 1  # inside the brackets
    while pos < last:
        stop = last if last - pos <= CHUNK_BYTES else mm.rfind(cut, pos, pos + CHUNK_BYTES)
        if stop < pos:  # one item longer than a chunk: to its end
            stop = mm.find(cut, pos + CHUNK_BYTES, last)
            stop = last if stop < 0 else stop
        piece = mm[pos : stop + len(cut) - 1] if stop < last else mm[pos:last]
        try:
            items = json.loads(b"[" + piece + b"]")
        except ValueError as exc:
            raise ProfileFormatError(f"an array at byte {pos}: {exc}") from None
        yield from items
        del items  # not held while the next chunk is parsed
        pos = stop + len(cut) if stop < last else last


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
