"""Free tags as labels of the live series (pure): `--tag env=staging --tag commit=abc` on every series,
the scenario's, users' and requests' `tags:` on the request series of that user and request.

Bounded: only declared keys become labels (the run's flags and the scenario's files declare them all
before the run starts), at most MAX_TAG_LABELS of them, and a request series' tag values are those of
its (user, request name), which are bounded upstream. A key that is not a Prometheus label name (`.`
and `-` are allowed in tags) has them replaced by `_`; one that would shadow a label of ours is
prefixed `tag_`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from loadorch.config.tags import TagTable, tags_of
from loadorch.metrics.families import Family
from loadorch.metrics.names import RUN_LABELS, SERIES_LABELS

MAX_TAG_LABELS = 10
# every label a family of ours may carry (the page-weight series' resource `type`, a Server-Timing entry's `entry` and
# `desc` too): a tag of that name would be the same label twice, its value winning, the series merged into one
OURS = {*RUN_LABELS, *SERIES_LABELS, "outcome", "le", "threshold", "state", "unit", "worker", "page", "user", "id",
        "category", "type", "entry", "desc", "job", "instance", "__name__"}


def label_name(key: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", key)
    return f"tag_{name}" if name in OURS or name.startswith("__") else name


def tag_labels(keys: Iterable[str], first: Iterable[str] = ()) -> dict[str, str]:
    """key -> label name for the first MAX_TAG_LABELS declared keys, two keys never on one name: the run's
    (`first`, `--tag`: asked for as labels) before the files' (each sorted)."""
    wanted = set(first)
    out: dict[str, str] = {}
    for key in sorted(set(keys) | wanted, key=lambda k: (k not in wanted, k)):
        name = label_name(key)
        if name not in out.values() and len(out) < MAX_TAG_LABELS:
            out[key] = name
    return out


def unlabelled_note(keys: Iterable[str], first: Iterable[str] = ()) -> str | None:
    """What to tell a run whose declared tag keys do not all become labels (None: they all do)."""
    chosen = tag_labels(keys, first)
    left = sorted((set(keys) | set(first)) - set(chosen))
    if not left:
        return None
    return (f"tags {', '.join(left)} do not label the live series: at most {MAX_TAG_LABELS} tag keys do (the run's "
            "--tag first, then the files' in name order), and two keys that make one label name (a.b, a_b) take one")


def labelled(families: Sequence[Family], labels: Mapping[str, str], run_tags: Mapping[str, str],
             table: TagTable) -> list[Family]:
    """`families` with one more label per declared tag key: a request series (one with `user_class` and
    `name`) takes the tags of its user and request, every other series the run's and the scenario's."""
    if not labels:
        return list(families)
    keys = list(labels)
    out = []
    for fam in families:
        names = (*fam.labels, *labels.values())
        request = "user_class" in fam.labels and "name" in fam.labels
        ui, ni = (fam.labels.index("user_class"), fam.labels.index("name")) if request else (0, 0)

        def extra(values: tuple[str, ...]) -> tuple[str, ...]:
            tags = tags_of(table, values[ui], values[ni]) if request else run_tags  # noqa: B023 (used at once)
            return tuple(tags.get(k, "") for k in keys)

        out.append(replace(
            fam,
            labels=names,
            samples=[((*v, *extra(v)), x) for v, x in fam.samples],
            buckets=[((*v, *extra(v)), cum, total) for v, cum, total in fam.buckets],
        ))
    return out
