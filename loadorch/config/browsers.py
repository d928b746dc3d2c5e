"""The `browsers:` part of a scenario: headless Chromium pages that walk a journey and measure web vitals."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from loadorch.config.base import Strict, ThinkTime
from loadorch.config.units import Duration

ACTIONS = ("visit", "click", "type", "press", "wait_for")
KEYS = ("Enter", "Tab", "Escape", "Backspace", "ArrowDown", "ArrowUp", "ArrowLeft", "ArrowRight", "Space")


class TypeText(Strict):
    selector: str = Field(min_length=1)
    text: str


class Step(Strict):
    """One journey step: exactly one of visit, click, type, press, wait_for."""

    visit: str | None = None
    click: str | None = Field(None, min_length=1)
    type: TypeText | None = None
    press: str | None = None
    wait_for: str | None = Field(None, min_length=1)
    name: str | None = Field(None, min_length=1, max_length=100)
    timeout: Duration | None = Field(None, gt=0)  # per step; none: the browser user's

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        given = [a for a in ACTIONS if getattr(self, a) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(ACTIONS)} per step")
        if self.visit is not None and not self.visit.startswith("/"):
            raise ValueError("visit takes a path starting with '/' (the host comes from the profile)")
        if self.press is not None and self.press not in KEYS and len(self.press) != 1:
            raise ValueError(f"press takes one character or a key name: {', '.join(KEYS)}")
        if self.type is not None and len(self.type.text) > 500:
            raise ValueError("type: text is limited to 500 characters")
        return self

    @property
    def action(self) -> str:
        return next(a for a in ACTIONS if getattr(self, a) is not None)

    @property
    def page_name(self) -> str:
        """The `page` tag of a visit's page view: its name, or the path without the query."""
        return self.name or urlsplit(self.visit or "/").path or "/"

    def describe(self) -> str:
        if self.type is not None:
            return f"type into {self.type.selector}"
        return f"{self.action} {getattr(self, self.action)}"


class BrowserSpec(Strict):
    """A browser user: `pages` concurrent headless pages, each repeating `journey` for the whole run."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_ -]*$", max_length=100)
    pages: int = Field(1, ge=1, le=50)
    think_time: ThinkTime = Field(default_factory=lambda: ThinkTime(constant=1.0))
    timeout: Duration = Field(30.0, gt=0)  # per navigation or step
    journey: list[Step] = Field(min_length=1)

    @field_validator("think_time", mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        return {"constant": v} if isinstance(v, (int, float)) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _starts_with_visit(self) -> BrowserSpec:
        if self.journey[0].visit is None:
            raise ValueError("a journey starts with a visit step (a page must be open before clicks or typing)")
        return self

    @property
    def interacts(self) -> bool:
        return any(s.click is not None or s.type is not None or s.press is not None for s in self.journey)

    def page_names(self) -> list[str]:
        return sorted({s.page_name for s in self.journey if s.visit is not None})
