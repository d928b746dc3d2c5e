"""Durations (`30s`, `10m`, `1h30m`, `250ms`, or a number of seconds), percentages and byte sizes."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
# the longest time any duration (a run, a stage, a timeout) may be: longer ones are typing mistakes, and
# their seconds overflow the clocks of the processes that would wait them (time.sleep, gevent timers)
MAX_DURATION_S = 31 * 86400.0
MAX_DURATION_TEXT = "31 days (744h, 2678400s)"


def parse_duration(value: Any) -> float:
    """Seconds from `30s`, `10m`, `1h30m`, `250ms` or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 10m or 1h")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        else:
            pos, seconds = 0, 0.0
            for m in _PART.finditer(text):
                if m.start() != pos:
                    break
                seconds += float(m.group(1)) * _UNITS[m.group(2)]
                pos = m.end()
            if pos != len(text) or not text:
                raise ValueError(f"invalid duration {value!r}; expected e.g. 30s, 10m, 1h30m or 250ms")
    else:
        raise ValueError("expected a duration such as 30s, 10m or 1h")
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise ValueError(f"invalid duration {value!r}; must be a finite, non-negative time")
    if seconds > MAX_DURATION_S:
        raise ValueError(too_long(f"duration {value!r}"))
    return seconds


def too_long(what: str) -> str:
    """The message for a duration past MAX_DURATION_S."""
    return f"{what} is longer than the maximum of {MAX_DURATION_TEXT}; give a shorter time"


def parse_percent(value: Any) -> float:
    """A fraction from `10%` or a plain fraction such as `0.1`. A plain number of 1 or more is refused: `10` read
    as a fraction is 1000 % (a compare budget no regression passes), and was almost always meant as `10%`."""
    if isinstance(value, bool):
        raise ValueError("expected a percentage such as 10% or a fraction such as 0.1")
    try:
        if isinstance(value, str):
            text = value.strip()
            number = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
        else:
            text, number = str(value), float(value)
    except (TypeError, ValueError):
        raise ValueError(f"invalid percentage {value!r}; write e.g. 10% or 0.1") from None
    if number >= 1.0 and not text.endswith("%") and number == number:
        raise ValueError(f"percentage {value!r} has no '%': a plain number is a fraction (0.1 is 10%), so it would "
                         f"be {100 * number:g}%; write {text}% for {text} percent (or {100 * number:g}% if meant)")
    if not 0.0 <= number <= 10.0 or number != number:
        raise ValueError(f"percentage {value!r} is out of range (0% to 1000%)")
    return number


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?")
_SIZE_UNITS = {None: 1, "B": 1, "KB": 1000, "KiB": 1024, "MB": 1000**2, "MiB": 1024**2, "GB": 1000**3, "GiB": 1024**3}
MAX_SIZE = 1024**3
# a profile's defaults that the Locust processes need too: here, not in config/profile.py, whose models they
# do not import (about a tenth of the fork server's imports)
DEFAULT_MAX_HEAD = 64 * 1024  # bytes of a response's status line and headers (max_response_head)
DEFAULT_MAX_ENDPOINTS = 1000  # distinct request names per run; the rest counted as "(other endpoints)"


def parse_size(value: Any) -> int:
    """Bytes from `10MiB`, `512KiB`, `2MB` or a bare number of bytes; between 1 byte and 1 GiB."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 10MiB, 512KiB or a number of bytes")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (m := _SIZE.fullmatch(value.strip())):
        size = int(float(m.group(1)) * _SIZE_UNITS[m.group(2)])
    else:
        raise ValueError(f"invalid size {value!r}; expected e.g. 10MiB, 512KiB or a number of bytes")
    if not 1 <= size <= MAX_SIZE:
        raise ValueError(f"size {value!r} is out of range (1 byte to 1GiB)")
    return size


Duration = Annotated[float, BeforeValidator(parse_duration)]
Percent = Annotated[float, BeforeValidator(parse_percent)]
Size = Annotated[int, BeforeValidator(parse_size)]


def size_text(n: int) -> str:
    """A size as a message says it: `64 KiB`, `10 MiB`, or `1000 bytes` when not a whole KiB."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"
