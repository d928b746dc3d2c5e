"""A browser user's journey compiled once, and rendered per iteration from the page's own seeded stream."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TypedDict
from urllib.parse import quote

from loadorch.config.scenario import BrowserSpec, Step
from loadorch.traffic import data as gen
from loadorch.traffic.template import Template, compile_template


class StepJson(TypedDict):
    """A step as the steps log and the browser worker's reports name it."""

    step: int
    action: str
    target: str
    text: str | None

@dataclass(frozen=True)
class PageSlot:
    """One concurrent page of the run: its browser user, its index among that user's pages, its worker."""

    browser: int
    page: int
    worker: int


def allocate_pages(browsers: list[BrowserSpec], workers: int) -> list[PageSlot]:
    """Every page of every browser user, spread round-robin over the browser workers."""
    out: list[PageSlot] = []
    for b, spec in enumerate(browsers):
        for p in range(spec.pages):
            out.append(PageSlot(b, p, len(out) % workers))
    return out


def page_random(seed: int, browser: str, page: int) -> random.Random:
    """The RNG stream of one page: the same seed gives the same journey data in the same order."""
    return random.Random(gen.stream_seed(seed, "browser", browser, page))


@dataclass(frozen=True)
class Action:
    """One rendered step: what to do, on what, with which text; `page` names a visit's page view."""

    index: int
    action: str
    target: str
    text: str | None
    page: str | None
    timeout_s: float
    label: str

    def to_json(self) -> StepJson:
        return {"step": self.index, "action": self.action, "target": self.target, "text": self.text}


@dataclass(frozen=True)
class _Compiled:
    step: Step
    target: Template
    text: Template | None


class Journey:
    def __init__(self, spec: BrowserSpec, generators: Mapping[str, gen.Generator]) -> None:
        self.spec = spec
        self.generators = generators
        self.steps = [_compile(s) for s in spec.journey]

    @property
    def warm_up_path(self) -> str:
        """The first visit's path up to its query or first placeholder (`/shop?c={c}` -> `/shop`), else `/`:
        loaded once, unmeasured, before the journey, without drawing from the page's data stream."""
        path = (self.spec.journey[0].visit or "/").split("?", 1)[0]
        return path if "{" not in path else "/"

    def iteration(self, rng: random.Random, state: gen.DrawState, number: int) -> Iterator[Action]:
        """The steps of iteration `number`; each generator is drawn at most once per iteration."""
        draws = gen.Draws(self.generators, rng, state, {"page": state.slot, "iteration": number})
        for i, c in enumerate(self.steps):
            step = c.step
            if step.visit is not None:
                target = c.target.render_text(draws, lambda v: quote(v, safe=""))
            else:
                target = c.target.render_text(draws)
            text = c.text.render_text(draws) if c.text is not None else None
            timeout = step.timeout or self.spec.timeout
            label = f"step {i + 1} ({step.name or step.describe()})"
            yield Action(i + 1, step.action, target, text, step.page_name if step.visit else None, timeout, label)


def _compile(step: Step) -> _Compiled:
    if step.type is not None:
        return _Compiled(step, compile_template(step.type.selector), compile_template(step.type.text))
    value = getattr(step, step.action)
    return _Compiled(step, compile_template(str(value)), None)
