"""The scenario file model: endpoints, users, seeded data, setup and thresholds."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from loadorch.config.base import MAX_THINK_S, MAX_WEIGHT, Strict, Tags, ThinkTime, Weight
from loadorch.config.browsers import BrowserSpec, Step
from loadorch.config.units import Duration
from loadorch.traffic.headers import name_problem, value_problem

READ_METHODS = ("GET", "HEAD", "OPTIONS")
METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")


def _no_line_breaks(headers: dict[str, str]) -> dict[str, str]:
    """CR or LF in a header would end it early and inject what follows (header injection): refused, and so is
    a name that is not a token or a value no HTTP header can carry (traffic/headers.py). The value is not
    repeated in the message: it may be a secret."""
    for name, value in headers.items():
        if any(ch in name for ch in "\r\n:") or not name.strip():
            raise ValueError(f"header name {name!r} is not a valid HTTP header name")
        why = name_problem(name)
        if why is not None:
            raise ValueError(why)
        if "\r" in value or "\n" in value:
            raise ValueError(
                f"header {name!r}: its value contains a line break (CR or LF), which would end the header "
                "early and inject the rest; remove it (a token read from a file often ends with a newline: "
                "loadorch never strips it for you)"
            )
        why = value_problem(value)
        if why is not None:
            raise ValueError(f"header {name!r}: {why}")
    return headers


Headers = Annotated[dict[str, str], AfterValidator(_no_line_breaks)]


# An object the user wrote in a scenario, as YAML/JSON: its values of any type the format allows (an
# expected response value, a threshold's long form), checked where each is read.
UserJson = dict[str, Any]

class SequenceSpec(Strict):
    start: int = 1
    step: int = Field(1, ge=1)


class CsvSpec(Strict):
    file: str = Field(min_length=1)
    column: str | None = None
    order: Literal["random", "sequential"] = "random"


class DataSpec(Strict):
    """One generator: exactly one of int, float, choice, sequence, pattern, csv, value."""

    int_range: tuple[int, int] | None = Field(None, alias="int")
    float_range: tuple[float, float] | None = Field(None, alias="float")
    choice: list[Any] | None = Field(None, min_length=1)
    weights: list[Weight] | None = None
    sequence: SequenceSpec | None = None
    unique_per: Literal["user"] | None = None
    pattern: str | None = None
    csv: CsvSpec | None = None
    value: Any = None

    @model_validator(mode="after")
    def _one_kind(self) -> DataSpec:
        kinds = [
            k
            for k in ("int_range", "float_range", "choice", "sequence", "pattern", "csv")
            if getattr(self, k) is not None
        ]
        if self.value is not None:
            kinds.append("value")
        if len(kinds) != 1:
            raise ValueError("give exactly one of int, float, choice, sequence, pattern, csv, value")
        if self.int_range and self.int_range[0] > self.int_range[1]:
            raise ValueError("int range [low, high] needs low <= high")
        if self.float_range and self.float_range[0] > self.float_range[1]:
            raise ValueError("float range [low, high] needs low <= high")
        if self.weights is not None:
            if self.choice is None or len(self.weights) != len(self.choice):
                raise ValueError("weights needs a choice list of the same length")
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights must be non-negative and not all zero")
        if self.unique_per is not None and self.sequence is None:
            raise ValueError("unique_per applies to sequence generators only")
        return self


class Expect(Strict):
    status: list[int] | None = None
    contains: str | None = None
    json_equals: UserJson | None = Field(None, alias="json")  # JSON path -> the value the response must hold

    @field_validator("status")
    @classmethod
    def _codes(cls, v: list[int] | None) -> list[int] | None:
        if v is not None:
            if not v:
                raise ValueError("status needs at least one code")
            for code in v:
                if not 100 <= code <= 599:
                    raise ValueError(f"{code} is not an HTTP status code (100-599)")
        return v


class RequestSpec(Strict):
    """One HTTP request template."""

    method: str = "GET"
    path: str
    headers: Headers = Field(default_factory=dict)
    json_body: Any = Field(None, alias="json")
    form: dict[str, str] | None = None
    body: str | None = None
    expect: Expect = Field(default_factory=lambda: Expect.model_validate({}))
    capture: dict[str, str] = Field(default_factory=dict)
    timeout: Duration | None = Field(None, gt=0)

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        up = v.upper()
        if up not in METHODS:
            raise ValueError(f"unknown HTTP method {v!r}; use one of {', '.join(METHODS)}")
        return up

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError("path must start with '/' (the host comes from the profile)")
        if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in v):
            raise ValueError("path must not contain spaces or control characters; encode them (%20)")
        return v

    @model_validator(mode="after")
    def _one_body(self) -> RequestSpec:
        if sum(x is not None for x in (self.json_body, self.form, self.body)) > 1:
            raise ValueError("give at most one of json, form, body")
        return self


class Endpoint(RequestSpec):
    name: str = Field(min_length=1)
    kind: Literal["read", "write"] | None = None
    weight: Weight = 1.0
    tags: Tags = Field(default_factory=dict)

    @property
    def effective_kind(self) -> str:
        return self.kind or ("read" if self.method in READ_METHODS else "write")


class UserSpec(Strict):
    """A declarative user (`requests`) or a Locust user class (`python: "file.py:Class"`)."""

    name: str | None = Field(None, min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")
    weight: float = Field(1.0, gt=0, le=MAX_WEIGHT, allow_inf_nan=False)
    think_time: ThinkTime = Field(default_factory=lambda: ThinkTime(constant=0.0))
    requests: list[Endpoint] = Field(default_factory=list)
    python: str | None = Field(None, pattern=r"^[^:]+\.py:[A-Za-z_][A-Za-z0-9_]*$")
    tags: Tags = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_kind(self) -> UserSpec:
        if self.python is not None:
            if self.requests:
                raise ValueError("a python user takes its requests from its class: drop `requests`")
            if self.name is None:
                object.__setattr__(self, "name", self.python.rsplit(":", 1)[1])
        else:
            if not self.requests:
                raise ValueError('give requests (at least one), or python: "file.py:UserClass"')
            if self.name is None:
                raise ValueError("a declarative user needs a name")
        return self

    @field_validator("think_time", mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        return {"constant": v} if isinstance(v, (int, float)) and not isinstance(v, bool) else v


class SetupStep(Strict):
    name: str = Field(min_length=1)
    repeat: int = Field(1, ge=1, le=100_000)
    request: RequestSpec


# "p(95)<300", or the long form as the user's YAML has it (checked field by field by config.checks, with lines)
ThresholdItem = str | UserJson


class Scenario(Strict):
    name: str = Field(min_length=1)
    description: str | None = None
    client: Literal["lean", "locust"] = "lean"  # locust: Locust's FastHttpSession (for Locust-specific code)
    max_redirects: int = Field(10, ge=0, le=50)  # redirects followed per request; 0: a 3xx is the answer
    cookies: bool = True  # a cookie jar per virtual user (RFC 6265); false: Set-Cookie ignored
    headers: Headers = Field(default_factory=dict)
    data: dict[str, DataSpec] = Field(default_factory=dict)
    setup: list[SetupStep] = Field(default_factory=list)
    users: list[UserSpec] = Field(default_factory=list)  # none: a browser-only scenario
    browsers: list[BrowserSpec] = Field(default_factory=list)
    thresholds: dict[str, list[ThresholdItem]] = Field(default_factory=dict)
    min_samples: int | None = Field(None, ge=1)
    kinds: dict[str, Literal["read", "write"]] = Field(default_factory=dict)  # python users' request names/globs
    tags: Tags = Field(default_factory=dict)  # free key/values for threshold selectors, results and the log

    @model_validator(mode="after")
    def _unique_names(self) -> Scenario:
        if not self.users and not self.browsers:
            raise ValueError(
                "give users (HTTP virtual users), browsers (headless Chromium pages), or both: "
                "a scenario needs something to run"
            )
        seen: set[str] = set()
        for user in self.users:
            if user.name in seen:
                raise ValueError(f"two users are named {user.name!r}; user names must be unique")
            seen.add(str(user.name))
        browsers = [b.name for b in self.browsers]
        if len(set(browsers)) != len(browsers):
            raise ValueError("two browsers have the same name; browser names must be unique")
        return self


__all__ = ["MAX_THINK_S", "BrowserSpec", "Step", "Strict", "Tags", "ThinkTime"]
