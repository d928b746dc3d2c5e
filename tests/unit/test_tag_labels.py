"""Free tags as labels of the live series (pure): declared keys only, bounded, request series by their
user and request, names made valid and kept off our own labels."""

from __future__ import annotations

from loadorch.config.scenario import Scenario
from loadorch.config.tags import tag_keys, tag_table
from loadorch.metrics.families import COUNTER, GAUGE, Family
from loadorch.metrics.labels import MAX_TAG_LABELS, label_name, labelled, tag_labels, unlabelled_note

SCENARIO = Scenario.model_validate({
    "name": "s",
    "tags": {"team": "shop"},
    "users": [{"name": "u", "tags": {"tier": "web"}, "requests": [
        {"name": "list", "path": "/p", "tags": {"flow": "browse"}},
        {"name": "pay", "path": "/pay"},
    ]}],
})
RUN = {"env": "staging", "commit": "abc123"}


def _families() -> list[Family]:
    requests = Family("loadorch_http_requests", COUNTER, "", ("run_id", "user_class", "name"),
                      samples=[(("r", "u", "list"), 3.0), (("r", "u", "pay"), 1.0)])
    users = Family("loadorch_active_users", GAUGE, "", ("run_id",), samples=[(("r",), 2.0)])
    return [requests, users]


def test_run_tags_label_every_series_and_request_tags_their_own() -> None:
    labels = tag_labels(sorted(tag_keys(SCENARIO, RUN)))
    assert labels == {k: k for k in ("commit", "env", "flow", "team", "tier")}
    out = {f.name: f for f in labelled(_families(), labels, {**RUN, **SCENARIO.tags}, tag_table(SCENARIO, RUN))}
    req = out["loadorch_http_requests"]
    assert req.labels == ("run_id", "user_class", "name", "commit", "env", "flow", "team", "tier")
    assert req.samples == [(("r", "u", "list", "abc123", "staging", "browse", "shop", "web"), 3.0),
                           (("r", "u", "pay", "abc123", "staging", "", "shop", "web"), 1.0)]
    assert out["loadorch_active_users"].samples == [(("r", "abc123", "staging", "", "shop", ""), 2.0)]


def test_no_declared_tag_changes_nothing() -> None:
    fams = _families()
    assert labelled(fams, {}, {}, {}) == fams


def test_label_names_are_valid_kept_off_ours_and_bounded() -> None:
    assert label_name("team.name") == "team_name" and label_name("run_id") == "tag_run_id"
    assert label_name("job") == "tag_job" and label_name("le") == "tag_le"
    many = tag_labels([f"k{i:02d}" for i in range(30)])
    assert len(many) == MAX_TAG_LABELS and list(many) == [f"k{i:02d}" for i in range(MAX_TAG_LABELS)]
    assert tag_labels(["a.b", "a-b"]) == {"a-b": "a_b"}  # two keys never share one label


def test_the_runs_tags_are_labels_before_the_files_and_the_rest_is_said() -> None:
    """A scenario declaring ten tag keys took every label, sorted before `commit` and `env`: the run's
    `--tag env=... --tag commit=...` were dropped from every series, and nothing said so."""
    files = [f"a{i:02d}" for i in range(MAX_TAG_LABELS)]
    labels = tag_labels(files + list(RUN), first=RUN)
    assert list(labels)[:2] == ["commit", "env"] and len(labels) == MAX_TAG_LABELS
    note = unlabelled_note(files + list(RUN), RUN) or ""
    assert note.startswith("tags a08, a09 do not label the live series") and "--tag first" in note, note
    assert unlabelled_note(["team", "tier"], RUN) is None
    assert "tags a_b do not label" in (unlabelled_note(["a.b", "a_b"]) or "")


def test_a_tag_key_that_names_a_label_of_ours_never_takes_its_place() -> None:
    """`tags: {type: smoke}` (or `--tag type=...`) made a second `type` label on the page-weight series, whose
    own `type` is the resource type: one label name twice, the tag's value won, and every resource type of a
    page became one series (so did a Server-Timing entry's `entry` and `desc`)."""
    from loadorch.browser.stats import UNITLESS, scale_of
    from loadorch.metrics.families import server_timing_families
    from loadorch.metrics.tagged import tagged_families
    from loadorch.stats.histogram import Histogram
    from loadorch.stats.servertiming import DESC, DUR
    from loadorch.stats.tables import Merged, SeriesKey

    run = ("r", "p", "s")
    weight = {("browser_resource_bytes", (("page", "home"), ("type", kind), ("user", "b"))): Histogram.of([n])
              for kind, n in (("image", 5000), ("script", 9000))}
    merged = Merged()
    key = SeriesKey("u", "list", "read", "GET", 200, True)
    merged.timings = {(DUR + "db", key): Histogram.of([1000]), (DESC + "cache=hit", key): Histogram.of([0])}
    families = tagged_families(run, weight, scale_of, UNITLESS, []) + server_timing_families(run, merged, [1000])
    keys = ["type", "entry", "desc"]
    out = labelled(families, tag_labels(keys), dict.fromkeys(keys, "mine"), tag_table(SCENARIO))
    assert [f.name for f in out] == ["loadorch_browser_resource_bytes", "loadorch_server_timing_seconds",
                                     "loadorch_server_timing_desc"]
    for fam in out:
        assert len(set(fam.labels)) == len(fam.labels), fam.labels
    weights = [dict(zip(out[0].labels, v)) for v, _, _ in out[0].buckets]
    assert sorted((w["type"], w["tag_type"]) for w in weights) == [("image", "mine"), ("script", "mine")]
    [said] = [dict(zip(out[2].labels, v)) for v, _ in out[2].samples]
    assert (said["entry"], said["desc"]) == ("cache", "hit")
