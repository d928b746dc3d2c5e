"""Waiting, bounded, for the machine to go quiet before an `alone` test (tests/conftest.py's lock).

The lock keeps other tests from running beside an `alone` test, but not what a test that just ended left
running: a run's forked processes exiting, Chromium shutting down, a database's checkpoint. An `alone` test
that judges latencies within a few milliseconds read them from a machine still busy with those (with three
xdist processes on two cores, two such neighbours). So it first waits until the machine's CPUs are mostly idle
over a short sample, or a bounded time has passed (a machine shared with other work never goes quiet: then it
runs as before)."""

from __future__ import annotations

import os
import time

BUSY_BELOW = 0.25  # of all CPUs' time in a sample: quiet enough
SAMPLE_S = 0.25
# LOADORCH_TEST_QUIET_WAIT_S: another bound, for a suite whose subject is not latency (test_tiers' synthetic suite
# of the lock, run inside the busy suite, where each of its `alone` tests waited the whole 5 s)
WAIT_AT_MOST_S = float(os.environ.get("LOADORCH_TEST_QUIET_WAIT_S", "5.0"))


def cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat; None where it cannot be read."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of all CPUs' time that was busy between two readings (0 where no time passed)."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else 0.0


def settle(wait_at_most: float = WAIT_AT_MOST_S) -> float:
    """Wait until a sample finds the CPUs busy less than BUSY_BELOW of the time, at most `wait_at_most`
    seconds; the last sample's busy share (0.0 where /proc/stat is not there: nothing to wait for)."""
    deadline = time.monotonic() + wait_at_most
    share = 0.0
    while True:
        before = cpu_times()
        if before is None:
            return 0.0
        time.sleep(SAMPLE_S)
        after = cpu_times()
        share = busy_share(before, after) if after is not None else 0.0
        if share < BUSY_BELOW or time.monotonic() >= deadline:
            return share


if __name__ == "__main__":  # python3 -m tests.support.quiet: how busy the machine is now
    print(f"busy {settle(0.0):.0%} of {os.cpu_count()} CPUs")
