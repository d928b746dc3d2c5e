"""Run-integrity checks from a master's summary (pure: summaries are data)."""

from __future__ import annotations

from pathlib import Path

from loadorch.config.resolve import build
from loadorch.verdict.integrity import integrity_checks
from loadorch.wire import LOOP_LATE_LIMIT_S, LOST_AFTER_S, MasterSummary

from .test_config import BASE_PROFILE, make


def worker(index: int, **kw) -> dict:
    base = {"index": index, "pid": 100 + index, "users_peak": 2, "cpu_peak": 20.0, "cpu_sustained_peak": 15.0,
            "reported": 50, "final_total": 50, "lost_at_s": None, "silent_s": 0.0, "duplicates": 0, "arrivals": {}}
    return {**base, **kw}


def summary(*workers: dict, expected: int = 2, **kw) -> MasterSummary:
    return MasterSummary.model_validate(
        {"workers": {"expected": expected, "seen": [w["index"] for w in workers], "detail": list(workers)},
         "merged": {"series": [], "intervals": [], "errors": [], "service": []}, "t0": 1.0, "aborted_by": None,
         "rejected_peers": [], "elapsed_s": 10.0, "stop_reason": "duration", **kw})


def checks_of(tmp_path: Path, summ: MasterSummary, profile: str = BASE_PROFILE + "workers: 2\n") -> dict:
    make(tmp_path, profile=profile)
    checks, integrity = integrity_checks(build("p", str(tmp_path), {}), summ)
    return {c.name: c for c in checks} | {"_integrity": integrity.model_dump(mode="json", by_alias=True)}  # type: ignore[dict-item]


def test_healthy_run_passes_every_check(tmp_path: Path) -> None:
    got = checks_of(tmp_path, summary(worker(0), worker(1)))
    assert all(c.verdict == "pass" for n, c in got.items() if n != "_integrity")
    assert set(got) == {"workers", "worker totals", "virtual users", "load", "generator cpu", "_integrity"}


def test_a_virtual_user_that_died_makes_the_run_an_error(tmp_path: Path) -> None:
    dead = {"worker": 1, "slot": 3, "user_class": "browse", "error": "KeyError: 'acc.emial'"}
    got = checks_of(tmp_path, summary(worker(0), worker(1, vu_failures=[dead])))
    assert got["virtual users"].verdict == "error"
    assert "user 3 (browse) on worker 1: KeyError: 'acc.emial'" in got["virtual users"].message
    assert got["_integrity"]["virtual_users_failed"] == [dead]


def test_lost_workers_are_errors_and_a_shorter_silence_is_inconclusive(tmp_path: Path) -> None:
    got = checks_of(tmp_path, summary(worker(0), worker(1, lost_at_s=4.2, final_total=None)))
    assert got["workers"].verdict == "error" and "worker 1 (pid 101) at 4.2s" in got["workers"].message
    assert got["_integrity"]["workers_lost"] == [{"index": 1, "pid": 101, "at_s": 4.2}]
    # lost (silent past LOST_AFTER_S), then back: still an error
    got = checks_of(tmp_path, summary(worker(0), worker(1, silent_s=LOST_AFTER_S + 2.5)))
    assert got["workers"].verdict == "error" and f"worker 1 ({LOST_AFTER_S + 2.5}s)" in got["workers"].message
    # its whole process silent for less than the bound (a short SIGSTOP): its load was missing, not lost
    got = checks_of(tmp_path, summary(worker(0), worker(1, silent_s=4.0)))
    assert got["workers"].verdict == "inconclusive" and "worker 1 (4.0s)" in got["workers"].message
    got = checks_of(tmp_path, summary(worker(0)))
    assert got["workers"].message.startswith("only 1 of 2 workers seen")


def test_a_starved_generator_is_inconclusive_with_what_was_measured(tmp_path: Path) -> None:
    """Slow is not lost: a worker whose event loop fell behind (other work on its cores) ran to the end, and
    the run is inconclusive (its timings include its delay) with the lateness, the CPU wait and the steal."""
    starved = worker(1, cpu_sustained_peak=48.0, loop_late_max_s=4.2, cpu_wait_peak=51.0, steal_peak=0.0)
    got = checks_of(tmp_path, summary(worker(0, loop_late_max_s=0.05), starved))
    assert got["workers"].verdict == "pass"
    cpu = got["generator cpu"]
    assert cpu.verdict == "inconclusive" and "starved: worker 1's event loop fell up to 4.2s behind" in cpu.message
    assert "CPU 48%, waiting for a CPU 51% of the time, steal 0%" in cpu.message
    stalled = worker(1, loop_late_max_s=12.0, cpu_wait_peak=0.0)  # a blocking call: no CPU wanted meanwhile
    assert "stalled: worker 1" in checks_of(tmp_path, summary(worker(0), stalled))["generator cpu"].message
    allowed = checks_of(tmp_path, summary(worker(0), starved), BASE_PROFILE + "workers: 2\nallow_saturated_generator: true\n")
    assert allowed["generator cpu"].verdict == "pass" and "starved" in allowed["generator cpu"].message
    on_time = checks_of(tmp_path, summary(worker(0, loop_late_max_s=LOOP_LATE_LIMIT_S), worker(1)))
    assert on_time["generator cpu"].verdict == "pass"


def test_totals_that_do_not_add_up(tmp_path: Path) -> None:
    got = checks_of(tmp_path, summary(worker(0), worker(1, final_total=51)))
    assert got["worker totals"].verdict == "error" and "recorded 51, merged 50" in got["worker totals"].message


def test_a_worker_whose_final_report_never_came_leaves_the_run_inconclusive(tmp_path: Path) -> None:
    """Neither lost (its process answered) nor finished (the master stopped waiting for its final): its last
    stretch is missing, so the totals cannot be checked and the run is not a pass on data merged as complete."""
    got = checks_of(tmp_path, summary(worker(0), worker(1, final_total=None, reported=37)))
    totals = got["worker totals"]
    assert totals.verdict == "inconclusive" and "no final report came from worker 1 (37 requests merged)" in totals.message
    assert got["workers"].verdict == "pass"
    lost = checks_of(tmp_path, summary(worker(0), worker(1, final_total=None, lost_at_s=4.2)))
    assert lost["worker totals"].verdict == "pass" and lost["workers"].verdict == "error"  # said once, as lost


def test_load_not_reached_and_saturated_cpu(tmp_path: Path) -> None:
    got = checks_of(tmp_path, summary(worker(0, users_peak=1), worker(1, users_peak=1)))
    assert got["load"].verdict == "inconclusive" and "only 2 of 4 users started" in got["load"].message
    hot = summary(worker(0, cpu_sustained_peak=97.0), worker(1))
    assert checks_of(tmp_path, hot)["generator cpu"].verdict == "inconclusive"
    allowed = checks_of(tmp_path, hot, BASE_PROFILE + "workers: 2\nallow_saturated_generator: true\n")
    assert allowed["generator cpu"].verdict == "pass" and "saturated" in allowed["generator cpu"].message


def test_the_load_check_says_how_the_ramp_kept_its_schedule(tmp_path: Path) -> None:
    on_time = {"users": 2, "planned_s": 1.0, "took_s": 1.002, "late_max_s": 0.002}
    late = {"users": 2, "planned_s": 1.0, "took_s": 1.75, "late_max_s": 0.75}
    got = checks_of(tmp_path, summary(worker(0, ramp=on_time), worker(1, ramp=late)))
    assert got["load"].verdict == "pass"
    # the slowest worker's ramp, and the latest start of any
    assert got["load"].message == ("4 of 4 users started; ramp: the last user started 1.75 s after the first"
                                   " (due at 1.00 s, at most 750 ms late)")
    assert got["_integrity"]["per_worker"][1]["ramp"] == late
    assert checks_of(tmp_path, summary(worker(0), worker(1)))["load"].message == "4 of 4 users started"


def test_a_worker_clock_far_from_the_masters_is_said_and_with_a_window_makes_the_run_inconclusive(
    tmp_path: Path,
) -> None:
    near = summary(worker(0, clock_offset_s=0.004), worker(1, clock_offset_s=-0.3))
    assert "worker clocks" not in checks_of(tmp_path, near)  # milliseconds of transit: nothing to say
    skewed = summary(worker(0, clock_offset_s=0.004), worker(1, clock_offset_s=-86400.0))
    got = checks_of(tmp_path, skewed)["worker clocks"]
    assert got.verdict == "pass" and got.message.startswith("worker 1's clock is 86400.0 s behind the master's")
    assert "NTP" in got.message
    windowed = checks_of(tmp_path, skewed, BASE_PROFILE + "workers: 2\nmeasure: {from: 5s, to: 25s}\n")
    assert windowed["worker clocks"].verdict == "inconclusive"
    assert "measurement window" in windowed["worker clocks"].message


def test_open_model_rate_and_drops(tmp_path: Path) -> None:
    profile = BASE_PROFILE.replace("load: {users: 4, duration: 30s}", "load: {arrival_rate: 10, max_users: 4, "
                                   "duration: 10s, max_dropped: 5%}") + "workers: 2\n"
    ok = summary(worker(0, arrivals={"scheduled": 50, "dispatched": 50, "dropped": 0}),
                 worker(1, arrivals={"scheduled": 50, "dispatched": 49, "dropped": 1}))
    got = checks_of(tmp_path, ok, profile)
    assert got["arrival rate"].verdict == "pass" and got["dropped arrivals"].verdict == "pass"
    assert got["_integrity"]["arrivals"] == {"scheduled": 100, "dispatched": 99, "dropped": 1}
    bad = summary(worker(0, arrivals={"scheduled": 50, "dispatched": 40, "dropped": 10}),
                  worker(1, arrivals={"scheduled": 50, "dispatched": 40, "dropped": 10}))
    got = checks_of(tmp_path, bad, profile)
    assert got["arrival rate"].verdict == "inconclusive" and got["dropped arrivals"].verdict == "inconclusive"
    got = checks_of(tmp_path, bad, profile.replace("max_dropped: 5%", "max_dropped: 5%, on_dropped: fail"))
    assert got["dropped arrivals"].verdict == "fail"


def test_no_summary_from_the_master_is_an_error_not_a_pass_on_nothing(tmp_path: Path) -> None:
    """A master that wrote no summary, or one that could not be read back (a lone surrogate's escape in its JSON
    did so): no threshold is judged and no other check made, so the run passed on nothing (exit 0, 0 requests)."""
    from loadorch.verdict.evaluate import overall

    make(tmp_path, profile=BASE_PROFILE)
    checks, _ = integrity_checks(build("p", str(tmp_path), {}), None, "unreadable: unexpected end of hex escape")
    assert [(c.name, c.verdict) for c in checks] == [("master summary", "error")]
    assert "none from the master (unreadable: unexpected end of hex escape)" in checks[0].message
    assert overall([], checks) == "error"
    assert overall([], checks, interrupted=True) == "interrupted"  # a signal before the master started says so


def test_the_controller_says_why_it_has_no_summary(tmp_path: Path) -> None:
    from loadorch.run.controller import _read_summary

    assert _read_summary(str(tmp_path / "none.json")) == (None, "not written")
    bad = tmp_path / "bad.json"
    bad.write_text('{"merged": {"series": [["caf\\ud83d"]]}')
    got, why = _read_summary(str(bad))
    assert got is None and why.startswith("unreadable: ") and "caf" not in why, why  # the message, not the text
    good = tmp_path / "good.json"
    good.write_text(summary(worker(0)).model_dump_json())
    assert _read_summary(str(good))[0] == summary(worker(0)) and _read_summary(str(good))[1] == ""


def test_a_run_of_iterations_stopped_at_its_bound_is_inconclusive_unless_the_profile_set_the_duration(
    tmp_path: Path,
) -> None:
    """A run of iterations without load.duration is stopped at ITERATIONS_CAP_S (as k6's maxDuration): a user that
    never made its requests kept it going for a day. Stopped there, its users did not make what was asked: the
    load check is inconclusive and says how to allow longer. Done by its iterations: a pass. With load.duration
    set too, the duration is the user's own bound (README: it caps the run): judged as before."""
    from loadorch.run.plan import load_bound_s
    from loadorch.wire import ITERATIONS_CAP_S

    iterations = "scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:8000\nload: {users: 4, iterations: 5}\nworkers: 2\n"
    capped = checks_of(tmp_path, summary(worker(0), worker(1)), iterations)["load"]
    assert capped.verdict == "inconclusive", capped
    assert f"the run of 5 iterations per user reached its bound of {ITERATIONS_CAP_S:g}s" in capped.message
    assert "set load.duration (or --duration) to allow longer" in capped.message
    done = checks_of(tmp_path, summary(worker(0), worker(1), stop_reason="iterations"), iterations)["load"]
    assert done.verdict == "pass", done
    bounded = iterations.replace("iterations: 5}", "iterations: 5, duration: 20s}")
    assert checks_of(tmp_path, summary(worker(0), worker(1)), bounded)["load"].verdict == "pass"
    # the master's and the browsers' bound: the duration, else the cap for iterations
    make(tmp_path, profile=iterations)
    assert load_bound_s(build("p", str(tmp_path), {})) == ITERATIONS_CAP_S == 600.0
    make(tmp_path, profile=bounded)
    assert load_bound_s(build("p", str(tmp_path), {})) == 20.0
