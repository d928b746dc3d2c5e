"""Distinct request names bounded per run: past the bound, a new name's requests count in one row.

A Python user that names each request by its URL (`self.client.get(f"/items/{id}")`, Locust's classic
mistake) makes a name per id: 14,500 names made 257,776 live metric series in 9 s and a results build of
over 10 minutes. The worker and the master each keep at most `limit` names (the scenario's own request
names and those a threshold selects are always kept, and count); the requests of any other name are
recorded under OTHER_ENDPOINTS, exactly: every request counted once, its latency in that row's histogram.
The first names folded are kept (at most MAX_FOLDED_SHOWN) for the warning that names them.
"""

from __future__ import annotations

from collections.abc import Iterable

OTHER_ENDPOINTS = "(other endpoints)"
MAX_FOLDED_SHOWN = 10  # names folded that the warning shows


class EndpointNames:
    """The names kept so far (in the order they came), and the first names folded."""

    __slots__ = ("folded", "limit", "names")

    def __init__(self, limit: int | None = None, kept: Iterable[str] = ()) -> None:
        self.limit = limit  # None: no bound (a results.json written before there was one)
        self.names: dict[str, None] = dict.fromkeys(kept)  # a dict: ordered, so the kept set is stable
        self.folded: list[str] = []  # the first names folded into OTHER_ENDPOINTS, at most MAX_FOLDED_SHOWN

    def admit(self, name: str) -> str:
        """The name to record a request under: its own while there is room (or it is kept), else
        OTHER_ENDPOINTS (and the name noted among the first folded)."""
        if name in self.names or name == OTHER_ENDPOINTS:
            return name
        if self.limit is None or len(self.names) < self.limit:
            self.names[name] = None
            return name
        self.note(name)
        return OTHER_ENDPOINTS

    def note(self, name: str) -> bool:
        """A name folded here or by a worker: kept for the warning (the first MAX_FOLDED_SHOWN); whether new."""
        if len(self.folded) >= MAX_FOLDED_SHOWN or name in self.folded:
            return False
        self.folded.append(name[:200])
        return True

    def warning(self) -> str | None:
        """What a run that folded names says, with the fix; None if none was folded."""
        if not self.folded:
            return None
        shown = ", ".join(repr(n) for n in self.folded)
        return (
            f"more than {self.limit:,} distinct request names (max_endpoints): the requests of the names past them "
            f"are counted together as {OTHER_ENDPOINTS!r} (each request once, one histogram). The first names "
            f"folded: {shown}. A request name with an id in it makes a name per id: give such requests one name "
            f'(Locust: self.client.get(f"/items/{{id}}", name="/items/{{id}}")), or raise max_endpoints in the '
            "profile"
        )
