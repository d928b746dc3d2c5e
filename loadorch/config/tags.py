"""Free tags (`tags:` on scenarios, users and requests, `--tag K=V` for a run): validation and lookup (pure).

Tags are static per request, so they need not travel with every sample: a sample's series already
names its user and request, and this table gives the tags of each (user, request name).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from loadorch.config.base import check_tags

if TYPE_CHECKING:
    from loadorch.config.scenario import Scenario

ANY_REQUEST = "*"  # python users: their requests are named at run time; user-level tags apply to all

TagTable = dict[tuple[str, str], dict[str, str]]


def parse_cli_tags(items: Iterable[str]) -> dict[str, str]:
    """`--tag KEY=VALUE` flags; ValueError with the fix."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--tag {item!r}: expected KEY=VALUE, e.g. --tag team=checkout")
        out[key.strip()] = value.strip()
    check_tags(out)
    return out


def tag_table(scenario: Scenario, run_tags: Mapping[str, str] = {}) -> TagTable:
    """(user, request name) -> its tags: run < scenario < user < request, later ones win."""
    base = {**run_tags, **scenario.tags}
    table: TagTable = {}
    for user in scenario.users:
        user_tags = {**base, **user.tags}
        table[(str(user.name), ANY_REQUEST)] = user_tags
        for ep in user.requests:
            table[(str(user.name), ep.name)] = {**user_tags, **ep.tags}
    return table


def tags_of(table: TagTable, user: str, name: str) -> dict[str, str]:
    found = table.get((user, name))
    return found if found is not None else table.get((user, ANY_REQUEST), {})


def tag_keys(scenario: Scenario | None, run_tags: Iterable[str] = ()) -> set[str]:
    """Every free tag key a selector may filter on."""
    keys = set(run_tags)
    if scenario is not None:
        for tags in tag_table(scenario).values():
            keys |= tags.keys()
    return keys


def tag_values(scenario: Scenario, key: str, run_tags: Mapping[str, str] = {}) -> set[str]:
    return {tags[key] for tags in tag_table(scenario, run_tags).values() if key in tags}
