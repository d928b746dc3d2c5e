"""INP attribution's arithmetic against the web-vitals library's definitions (its attribution build, v6), on
synthetic Event Timing and Long Animation Frame entries run through our in-page script in node.

The agreement test on real page loads (tests/integration/test_browser_evidence.py) sees these cases only when
the machine is busy (a long animation frame that ends after the interaction's paint, an event presented in the
same frame), so they are pinned here with numbers worked out by hand from the definitions:
processing start = max(earliest processingStart of the frame's events of 40 ms or longer, startTime);
next paint = max(startTime + duration, processing start); processing end = min(latest processingEnd of the
frame, next paint); input delay, processing and presentation are the gaps between them.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from typing import Any

import pytest

from loadorch.browser.attribution import ATTRIBUTION_JS


def _event(name: str, start: float, duration: float, ps: float, pe: float, interaction: int = 0) -> dict[str, Any]:
    return {"name": name, "startTime": start, "duration": duration, "processingStart": ps, "processingEnd": pe,
            "interactionId": interaction}


def _attribution(events: list[dict[str, Any]], loafs: Sequence[tuple[float, float]] = ()) -> dict[str, Any]:
    feed = "".join(f"noteEvent({json.dumps(e)});" for e in events)
    feed += "".join(f"noteLoaf({{startTime: {s}, duration: {d}, scripts: []}});" for s, d in loafs)
    script = ATTRIBUTION_JS + feed + "console.log(JSON.stringify(inpAttribution(0)));"
    r = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30, check=False)
    assert r.returncode == 0, r.stderr
    out: dict[str, Any] = json.loads(r.stdout)
    return out


def _parts(a: dict[str, Any]) -> tuple[float, float, float]:
    return a["input_delay"], a["processing"], a["presentation"]


@pytest.mark.webvitals
def test_a_long_animation_frame_ending_after_the_paint_is_not_presentation() -> None:
    # pointerdown 100..204 (processing 110..190); a long animation frame 150..230 ends after the paint
    a = _attribution([_event("pointerdown", 100, 104, 110, 190, 7)], loafs=[(150, 80)])
    assert _parts(a) == (10.0, 80.0, 14.0)  # presentation = 204 - 190, not 230 - 190
    assert (a["type"], a["event"], a["time"]) == ("pointer", "pointerdown", 100.0)


@pytest.mark.webvitals
def test_the_frame_of_the_interaction_gives_its_processing_start_and_end() -> None:
    events = [
        _event("pointerover", 99, 104, 101, 108),        # no interaction, same frame (203), 40 ms or longer: counts
        _event("pointerdown", 100, 104, 110, 190, 7),    # the interaction's longest entry (render 204)
        _event("click", 102, 96, 191, 195, 7),           # same frame (198): its processingEnd is the latest
        _event("pointerup", 180, 24, 185, 199, 7),       # same frame but under 40 ms: web-vitals never sees it
        _event("keydown", 300, 48, 301, 340, 9),         # another frame, a shorter interaction
    ]
    a = _attribution(events)
    assert _parts(a) == (1.0, 94.0, 9.0)  # start max(101, 100) = 101; end min(195, 204) = 195; paint 204
    assert sum(_parts(a)) == pytest.approx(104.0)


@pytest.mark.webvitals
def test_processing_past_the_paint_is_clamped_to_it() -> None:
    # a synchronous dialog: processing ends at 250, after the entry's end (204): web-vitals issue 492
    a = _attribution([_event("click", 100, 104, 120, 250, 3)])
    assert _parts(a) == (20.0, 84.0, 0.0)


@pytest.mark.webvitals
def test_an_event_seen_before_the_interaction_counts_and_input_delay_is_never_negative() -> None:
    # a pointerover's entry arrives first, its handler running before the click: same frame (render 152)
    events = [_event("pointerover", 96, 56, 98, 104), _event("pointerdown", 100, 52, 106, 140, 4)]
    # start max(98, 100) = 100 (not 98: the input delay is never negative); end min(140, 152); paint 152
    assert _parts(_attribution(events)) == (0.0, 40.0, 12.0)
