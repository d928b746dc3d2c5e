"""How many virtual users a run has: none for a browser-only scenario, a default for low-rate checks."""

from __future__ import annotations

import math

from loadorch.config.profile import Profile
from loadorch.config.scenario import Scenario
from loadorch.config.yamlsource import Document
from loadorch.errors import Problem

# up to this many arrivals per second, max_users may be left out (synthetic checks at a low fixed rate)
MAX_DEFAULT_RATE = 10.0
MAX_USERS = 100_000  # the most an explicit max_users (or users) may be: the default is held to it too


def default_max_users(peak_rate: float, request_timeout_s: float) -> int:
    """Enough users that no arrival waits for a free one even when every request takes the whole
    request_timeout: an arrival runs one request, so at most rate x timeout are in flight at once."""
    return max(2, math.ceil(peak_rate * request_timeout_s) + 1)


def peak_rate(profile: Profile) -> float:
    return max((max(a, b) for a, b, _ in profile.load.rate_stages()), default=0.0)


def load_problems(profile: Profile, scenario: Scenario, doc: Document) -> list[Problem]:
    """The load's shape against what the scenario runs: HTTP users need a user count or a rate; a
    browser-only scenario's pages are its users, so the profile gives its duration and/or iterations (journeys
    per page) alone."""
    load = profile.load

    def problem(key: str, message: str) -> Problem:
        return Problem(doc.file, doc.line_of(("load", key)) or doc.line_of(("load",)), f"load.{key}", message)

    if not scenario.users:
        for key in ("users", "arrival_rate", "stages", "max_users", "spawn_rate"):
            if getattr(load, key) is not None:
                return [problem(key, (
                    f"this scenario has no HTTP users (browsers only): {key} would start nobody; give "
                    "load: {duration: ...} and/or {iterations: N} (each browser's `pages` sets how many pages "
                    "run; iterations, how many journeys each page walks)"
                ))]
        return []
    if load.is_open and load.max_users is None and peak_rate(profile) > MAX_DEFAULT_RATE:
        return [problem("max_users", (
            f"the open model needs max_users above {MAX_DEFAULT_RATE:g} arrivals per second (the most "
            "virtual users that may be busy at once); at or below it the default is rate x request_timeout + 1"
        ))]
    if load.is_open and load.max_users is None:
        users = default_max_users(peak_rate(profile), profile.request_timeout)
        if users > MAX_USERS:  # every one is spawned as the run starts
            return [problem("max_users", (
                f"left out, max_users is rate x request_timeout + 1 = {users} virtual users here, more than the "
                f"{MAX_USERS} a run may have; give max_users (the most arrivals in flight at once), or a shorter "
                "request_timeout"
            ))]
    if not load.is_open and not load.staged_users and load.users is None:
        return [problem("users", "give users (how many HTTP virtual users run), e.g. load: {users: 10, duration: 1m}")]
    return []
