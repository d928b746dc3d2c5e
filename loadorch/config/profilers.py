"""The profile's `profilers:` section: py-spy attached to a Python process on this machine for the run."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from loadorch.config.base import Strict

MAX_PROFILERS = 4
MAX_PID = 4_194_304  # Linux's largest pid_max
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}\Z")


class ProfilerSpec(Strict):
    """One process to sample: the embedded shop (`target: embedded`), a `pid`, or a `pid_file` read as the
    load starts (relative to the profile's folder)."""

    tool: Literal["py-spy"] = "py-spy"
    target: Literal["embedded"] | None = None
    pid: int | None = Field(None, ge=1, le=MAX_PID)
    pid_file: str | None = Field(None, min_length=1)
    rate: int = Field(100, ge=1, le=1000)  # samples per second
    top: int = Field(10, ge=1, le=50)  # functions listed by own time
    name: str | None = None  # the files' name in the run folder's profiles/ (default: from the target)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not _NAME.match(v):
            raise ValueError(f"{v!r}: use letters, digits, _ . - (up to 40, starting with a letter or digit)")
        return v

    @model_validator(mode="after")
    def _one_target(self) -> ProfilerSpec:
        given = [k for k in ("target", "pid", "pid_file") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of target: embedded, pid: N or pid_file: PATH"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    @property
    def label(self) -> str:
        """The files' name and the check's: `embedded`, `pid-1234`, or the pid file's name without suffix."""
        if self.name:
            return self.name
        if self.target:
            return self.target
        if self.pid is not None:
            return f"pid-{self.pid}"
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", (self.pid_file or "").rsplit("/", 1)[-1].split(".", 1)[0])
        return stem[:40] or "pid-file"


def check_profilers(specs: list[ProfilerSpec], host: str) -> str | None:
    """Why the section cannot run with this host, or None: names must differ (they name the files), and
    `target: embedded` needs `host: embedded`."""
    if any(s.target == "embedded" for s in specs) and host != "embedded":
        return "target: embedded profiles the embedded shop, but host is not embedded: give pid or pid_file"
    labels = [s.label for s in specs]
    twice = sorted({x for x in labels if labels.count(x) > 1})
    if twice:
        return f"two profilers are named {', '.join(twice)}: give each a different name"
    return None
