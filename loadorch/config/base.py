"""The ground of the scenario and profile models: strict models, free tags, think time (pure).

Scenario, browser and collector models build on these; nothing here imports them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from loadorch.traffic.redact import LONE_SURROGATE


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


TAG_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
# tags loadorch sets itself: a free tag cannot shadow them
RESERVED = ("kind", "name", "method", "status", "user", "page", "check", "expected_response", "id", "category")


def check_tags(tags: Mapping[str, str]) -> Mapping[str, str]:
    """The pydantic validator's body: keys are identifiers and not loadorch's own tags."""
    for key, value in tags.items():
        if not TAG_KEY.match(key):
            raise ValueError(f"tag {key!r}: use letters, digits, _ . - (starting with a letter or _)")
        if key in RESERVED:
            raise ValueError(f"tag {key!r} is set by loadorch itself; choose another name")
        if len(value) > 200:
            raise ValueError(f"tag {key!r}: value longer than 200 characters")
        if not value.strip():
            # a label with an empty value is no label to Prometheus: `env=` and no env would be one series
            raise ValueError(f"tag {key!r}: give it a value (an empty one labels nothing), or leave the tag out")
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError(f"tag {key!r}: the value holds a control character (a line break, a tab): tags become "
                             "labels and report lines; use printable characters")
        if LONE_SURROGATE.search(value):  # --tag given bytes that are not UTF-8, or \ud800 in YAML
            raise ValueError(f"tag {key!r}: the value is not UTF-8 text (its bytes were not UTF-8, or it holds a lone "
                             "surrogate escape such as \\ud800): tags are sent to the workers and written as labels "
                             "and report lines; give UTF-8 text")
    return tags


def _tags(v: dict[str, str]) -> dict[str, str]:
    check_tags(v)
    return v


Tags = Annotated[dict[str, str], AfterValidator(_tags)]


MAX_THINK_S = 3600.0
# a weight's largest value: weights are summed (users per class, the draw of an endpoint or a choice), and a sum
# that overflows to inf, or an inf or NaN weight, made a class NaN users or an endpoint never drawn
MAX_WEIGHT = 1_000_000.0
Weight = Annotated[float, Field(ge=0, le=MAX_WEIGHT, allow_inf_nan=False)]


class ThinkTime(Strict):
    between: tuple[float, float] | None = None
    constant: float | None = Field(None, ge=0, le=MAX_THINK_S, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one(self) -> ThinkTime:
        if (self.between is None) == (self.constant is None):
            raise ValueError("give exactly one of between: [min, max] or constant: seconds")
        if self.between is not None and not 0 <= self.between[0] <= self.between[1] <= MAX_THINK_S:
            raise ValueError(f"between: [min, max] needs 0 <= min <= max <= {MAX_THINK_S:g} seconds")
        return self

    @property
    def bounds(self) -> tuple[float, float]:
        if self.between is not None:
            return self.between
        return (self.constant or 0.0, self.constant or 0.0)
