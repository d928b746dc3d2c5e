"""Test knobs of the reference target: added latency, CPU burnt in Python, injected errors, a stall, N+1
queries, slow database statements and statements with a known cause of slowness (a scan of an unindexed
large table, a sort that spills to disk)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from loadorch.target.store import ApiJson

MAX_DELAY_MS = 30_000  # `?delay_ms=` and the storefront's hero delay: a handler thread sleeps it

DB_CAUSES = ("seq_scan", "sort_spill", "nested_loop", "hash_spill", "cold_read")


@dataclass
class Knobs:
    """latency_ms maps a route id (or "*") to added milliseconds; error_rate applies to `error_routes`."""

    latency_ms: dict[str, float] = field(default_factory=dict)
    cpu_ms: dict[str, float] = field(default_factory=dict)  # route (or "*") -> CPU ms in slow_python_function
    error_rate: float = 0.0
    error_status: int = 503
    error_routes: str = "write"  # "write", "all" or a route id
    stall_until: float = 0.0  # monotonic time; requests wait until then
    n_plus_one: bool = False  # the product list runs one more query per product
    slow_statements: list[list[float]] = field(default_factory=list)  # [[seconds, count], ...] still to run
    # {"seq_scan": n, "sort_spill": n}: the next n requests each run that statement too (store.run_cause)
    db_causes: dict[str, int] = field(default_factory=dict)
    # a cold start: requests in the first `seconds` after the first one (since the knob was set) are slow
    warmup: dict[str, float] = field(default_factory=dict)  # {"seconds": s, "latency_ms": ms}
    _warm_from: float | None = field(default=None, repr=False)
    storefront: dict[str, int] = field(default_factory=dict)  # hero_ms, banner, click_ms, bundle_kb... (storefront)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _error_count: dict[str, int] = field(default_factory=dict, repr=False)

    def update(self, body: ApiJson) -> None:
        with self._lock:
            if "latency_ms" in body:
                value = body["latency_ms"]
                self.latency_ms = (
                    {"*": float(value)}
                    if isinstance(value, (int, float))
                    else {str(k): float(v) for k, v in dict(value).items()}
                )
            if "cpu_ms" in body:
                self.cpu_ms = _per_route(body["cpu_ms"], 10_000.0)
            if "error_rate" in body:
                rate = float(body["error_rate"])
                if not 0.0 <= rate <= 1.0:
                    raise ValueError("error_rate must be within 0..1")
                self.error_rate = rate
            if "error_status" in body:
                self.error_status = int(body["error_status"])
            if "error_routes" in body:
                self.error_routes = str(body["error_routes"])
            if "storefront" in body:
                self.storefront = {str(k): int(v) for k, v in dict(body["storefront"]).items()}
            if "warmup" in body:
                self.warmup = {str(k): float(v) for k, v in dict(body["warmup"] or {}).items()}
                self._warm_from = None
            if "stall_s" in body:
                self.stall_until = time.monotonic() + float(body["stall_s"])
            if "n_plus_one" in body:
                self.n_plus_one = bool(body["n_plus_one"])
            if "db_causes" in body:
                causes = {str(k): int(v) for k, v in dict(body["db_causes"] or {}).items()}
                unknown = sorted(set(causes) - set(DB_CAUSES))
                if unknown:
                    raise ValueError(f"db_causes: unknown {', '.join(unknown)} (known: {', '.join(DB_CAUSES)})")
                self.db_causes = {k: n for k, n in causes.items() if n > 0}
            if "slow_statements" in body:
                self.slow_statements = [[float(s), float(int(n))] for s, n in body["slow_statements"] if int(n) > 0]

    def snapshot(self) -> ApiJson:
        return {
            "latency_ms": self.latency_ms,
            "cpu_ms": self.cpu_ms,
            "error_rate": self.error_rate,
            "error_status": self.error_status,
            "error_routes": self.error_routes,
            "stall_remaining_s": max(0.0, self.stall_until - time.monotonic()),
            "n_plus_one": self.n_plus_one,
            "slow_statements": [[s, int(n)] for s, n in self.slow_statements],
            "db_causes": dict(self.db_causes),
            "storefront": self.storefront,
            "warmup": self.warmup,
        }

    def take_slow(self) -> float | None:
        """Seconds for the next slow statement, if any are left: each request takes at most one, in order."""
        if not self.slow_statements:
            return None
        with self._lock:
            if not self.slow_statements:
                return None
            seconds, left = self.slow_statements[0]
            if left <= 1:
                self.slow_statements.pop(0)
            else:
                self.slow_statements[0][1] = left - 1
            return seconds

    def cpu_for(self, route: str) -> float:
        """Seconds of this thread's CPU a request of `route` burns in slow_python_function."""
        return self.cpu_ms.get(route, self.cpu_ms.get("*", 0.0)) / 1000.0

    def take_causes(self) -> list[str]:
        """The causes the next request runs: one of each still left."""
        if not self.db_causes:
            return []
        with self._lock:
            taken = sorted(self.db_causes)
            self.db_causes = {k: n - 1 for k, n in self.db_causes.items() if n > 1}
            return taken

    def delay_for(self, route: str) -> float:
        return self.latency_ms.get(route, self.latency_ms.get("*", 0.0)) / 1000.0 + self._warmup_delay()

    def _warmup_delay(self) -> float:
        if not self.warmup:
            return 0.0
        now = time.monotonic()
        with self._lock:
            if self._warm_from is None:
                self._warm_from = now
        if now - self._warm_from < self.warmup.get("seconds", 0.0):
            return self.warmup.get("latency_ms", 0.0) / 1000.0
        return 0.0

    def should_fail(self, route: str, is_write: bool) -> bool:
        """Deterministic: exactly `error_rate` of matching requests fail, spread evenly."""
        if self.error_rate <= 0:
            return False
        if self.error_routes == "write" and not is_write:
            return False
        if self.error_routes not in ("write", "all") and self.error_routes != route:
            return False
        with self._lock:
            n = self._error_count.get(route, 0) + 1
            self._error_count[route] = n
        return int(n * self.error_rate) > int((n - 1) * self.error_rate)

    def wait_out_stall(self) -> None:
        remaining = self.stall_until - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)


def _per_route(value: object, most: float) -> dict[str, float]:
    """`50` (every route) or `{"products.get": 50}`, each within 0..most."""
    if isinstance(value, (int, float)):
        out = {"*": float(value)}
    elif isinstance(value, dict):
        out = {str(k): float(v) for k, v in value.items()}
    else:
        raise ValueError("give milliseconds, or an object of route: milliseconds")
    if any(not 0.0 <= v <= most for v in out.values()):
        raise ValueError(f"each value must be within 0..{most:g}")
    return out


def slow_python_function(seconds: float) -> int:
    """The `cpu_ms` knob: pure Python arithmetic on the calling thread until it has used `seconds` of its own
    CPU time, so that this function is where a profile of the shop sees the time go."""
    end = time.thread_time() + seconds
    total = 0
    while time.thread_time() < end:
        for i in range(500):
            total += i * i % 7
    return total
