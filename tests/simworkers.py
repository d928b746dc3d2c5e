"""Simulated workers for the master's scale test and benchmark: one process, one ZeroMQ DEALER socket per
worker, each speaking the real worker protocol to a real master and sending deterministic stats deltas.

What the master sees is what real workers send: `client_ready` with Locust's version, `heartbeat` every
second, Locust's own `stats` report every 3 s, `lo_hello` after the `ack`, one `lo_stats` per interval
after `lo_start` (all workers at once: the burst a real run makes), the final `lo_stats` on `lo_stop`,
Locust's last `stats` on `quit`. The deltas are made by the real `Recorder` from seeded latencies (200
endpoints by default, log-normal spread, a few failing endpoints, checks, timings), so a test can add up
exactly what was sent (`expected_merged`) and compare it with the master's merged result.
"""

from __future__ import annotations

import json
import math
import os
import random
import struct
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import msgpack
import zmq

from loadorch.config.resolve import build
from loadorch.run.plan import build_plan
from loadorch.stats.histogram import COARSE_SUB_BITS, SPARK_SUB_BITS, coarse_bucket
from loadorch.stats.tables import Recorder, SeriesKey
from loadorch.wire import Plan

LOCUST_VERSION = version("locust")
HEARTBEAT_S = 1.0  # locust.runners.HEARTBEAT_INTERVAL
LOCUST_STATS_S = 3.0  # locust.runners.WORKER_REPORT_INTERVAL
VARIANTS = 8  # distinct deltas; worker w sends variant (7 w + seq) % VARIANTS at report seq
USER = "shopper"
REPORT_S = 1.0  # runtime.common.REPORT_INTERVAL_S: a report's delta is one second of the run


def project(root: Path, workers: int, endpoints: int, duration_s: float) -> Path:
    """A project whose scenario has `endpoints` requests (every 5th a write, every 3rd with a check)."""
    lines = ["name: scale", "users:", f"  - name: {USER}", "    think_time: {between: [1, 2]}", "    requests:"]
    for e in range(endpoints):
        method = "POST" if e % 5 == 4 else "GET"
        expect = ", expect: {status: [200]}" if e % 3 == 0 else ""
        lines.append(f"      - {{name: ep-{e:03d}, method: {method}, path: /ep/{e}{expect}}}")
    (root / "scenarios").mkdir(parents=True, exist_ok=True)
    (root / "profiles").mkdir(parents=True, exist_ok=True)
    (root / "scenarios" / "scale.yaml").write_text("\n".join(lines) + "\n")
    (root / "profiles" / "scale.yaml").write_text(
        "scenario: ../scenarios/scale.yaml\nhost: http://127.0.0.1:9\n"
        f"load: {{users: {2 * workers}, duration: {duration_s:g}s}}\nworkers: {workers}\n"
        "worker_connect_timeout: 60s\n"
    )
    return root


def make_plan(root: Path, workers: int, endpoints: int, duration_s: float, port: int, stats_path: str) -> Plan:
    cfg = build("scale", str(project(root, workers, endpoints, duration_s)), {})
    return build_plan(cfg, cfg.host, "127.0.0.1", port, os.urandom(16).hex(), stats_path, None)


def _key(e: int, status: int) -> SeriesKey:
    method = "POST" if e % 5 == 4 else "GET"
    return SeriesKey(USER, f"ep-{e:03d}", "write" if method == "POST" else "read", method, status, status < 400)


def make_variants(endpoints: int, seed: int = 20261125, reverse_ids: bool = False) -> list[dict[str, Any]]:
    """VARIANTS deltas of one second each (interval slot 0), recorded by the real Recorder (one, as a worker
    has: its series keys keep their ids; each delta carries all of them, as the last one does).
    `reverse_ids`: the same deltas with the series keys numbered the other way round (another worker's
    ids, or the same worker's after a restart)."""
    out = []
    rec = Recorder(1.0, 0.0)
    if reverse_ids:
        for e in reversed(range(endpoints)):
            for status in (500, 200):
                rec.registry.id(_key(e, status))
    for v in range(VARIANTS):
        rng = random.Random(seed * 1000 + v)
        for e in range(endpoints):
            median_ms = (8 + (e * 37) % 120) * (3 if e % 5 == 4 else 1)
            for _ in range(4 + (e * 13 + v) % 12):
                latency = max(1, int(rng.lognormvariate(math.log(median_ms * 1000), 0.5)))
                status = 500 if e % 25 == 7 and rng.random() < 0.1 else 200
                key = _key(e, status)
                rec.record(key, latency, 0.5, None if key.ok else "HTTP 500", example=None if key.ok else "oops")
                if key.ok:
                    rec.record_timings(key, latency * 9 // 10, 0 if rng.random() < 0.99 else 900, 0.5)
                if e % 3 == 0:
                    rec.record_checks(key, ("status in [200]",), (key.ok,), None if key.ok else "HTTP 500", 0.5)
        out.append(dict(rec.take_delta()))
    keys = rec.registry.blob()
    return [{**delta, "keys": keys} for delta in out]


def at_slot(delta: Mapping[str, Any], slot: int) -> dict[str, Any]:
    """A variant moved to interval `slot` (the histograms are shared, never changed)."""
    keys, packed = delta["intervals"]
    return {
        **delta,
        "intervals": [[[slot, kind, ok] for _, kind, ok in keys], packed],
        "endpoint_intervals": [[slot, packed] for _, packed in delta["endpoint_intervals"]],
    }


@dataclass
class SimWorker:
    index: int
    node_id: str
    sock: zmq.Socket[bytes]
    acked: bool = False
    started: bool = False
    stopped: bool = False
    quit: bool = False
    seq: int = 0
    total: int = 0
    next_heartbeat: float = 0.0
    next_locust_stats: float = 0.0
    sent: list[tuple[int, int]] = field(default_factory=list)  # (variant, interval slot) per lo_stats


def _pack(kind: str, data: Any, node_id: str) -> bytes:
    """locust.rpc.protocol.Message.serialize: a msgpack (type, data, node_id) triple."""
    return msgpack.dumps((kind, data, node_id))


def _locust_stats(users: int) -> dict[str, Any]:
    """The report a loadorch worker's Locust runner sends every 3 s (its own request stats stay empty)."""
    total = {
        "name": "Aggregated", "method": "", "last_request_timestamp": None, "start_time": time.time(),
        "num_requests": 0, "num_none_requests": 0, "num_failures": 0, "total_response_time": 0,
        "max_response_time": 0, "min_response_time": None, "total_content_length": 0,
        "response_times": {}, "num_reqs_per_sec": {}, "num_fail_per_sec": {},
    }  # fmt: skip
    return {"stats": [], "stats_total": total, "errors": {}, "user_classes_count": {USER: users}, "user_count": users}


class Simulation:
    """`workers` simulated workers of `plan`, driven by `run()` until the master says quit (bounded)."""

    def __init__(self, plan: Plan, endpoints: int, workers: int | None = None, key_orders: int = 1) -> None:
        self.plan = plan
        self.variants = make_variants(endpoints)
        # key_orders 2: each worker switches between two numberings of its series keys every other report
        self.variant_sets = [self.variants] + ([make_variants(endpoints, reverse_ids=True)] if key_orders > 1 else [])
        self.counts = [sum(h["count"] for _, h in rows_of(v)["series"]) for v in self.variants]
        self.ctx = zmq.Context()
        self.workers: list[SimWorker] = []
        for i in range(plan.workers if workers is None else workers):
            node_id = f"loadorch-w{i:05d}_{plan.token[:8]}"
            sock = self.ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.IDENTITY, node_id.encode())
            sock.setsockopt(zmq.LINGER, 1000)
            sock.connect(f"tcp://{plan.master.host}:{plan.master.port}")
            self.workers.append(SimWorker(i, node_id, sock))
        self.t0_mono: float | None = None
        self.interval = 1.0  # runtime.common.REPORT_INTERVAL_S
        self.next_report = math.inf
        self.send_s = 0.0  # time spent building and sending the lo_stats bursts
        self.bursts = 0
        self.packed: dict[tuple[int, int, int], bytes] = {}
        self.packed_slot = -1

    def send(self, w: SimWorker, kind: str, data: Any) -> None:
        w.sock.send(_pack(kind, data, w.node_id), zmq.NOBLOCK)

    def report(self, w: SimWorker, final: bool) -> None:
        w.seq += 1
        variant = (7 * w.index + w.seq) % VARIANTS
        slot = int((w.seq - 1) * REPORT_S / self.plan.interval_s)  # the worker's interval slot at this report
        w.sent.append((variant, slot))
        w.total += self.counts[variant]
        ids = (w.index + w.seq // 2) % len(self.variant_sets)
        if slot != self.packed_slot:  # a burst's reports share their slot: the cache holds one slot (long runs)
            self.packed.clear()
            self.packed_slot = slot
        delta = self.packed.get((ids, variant, slot))
        if delta is None:  # packed once per variant and interval, not once per worker
            packed = msgpack.dumps(at_slot(self.variant_sets[ids][variant], slot))
            delta = self.packed[(ids, variant, slot)] = packed
        fields = {
            "index": w.index, "token": self.plan.token, "seq": w.seq, "cpu": 40.0, "users": 2, "spawned": 2,
            "done": False, "final": final, "total": w.total, "sent_at": time.time(),
        }  # fmt: skip
        pack = msgpack.dumps
        body = b"".join(pack(k) + pack(v) for k, v in fields.items())
        data = msgpack.Packer().pack_map_header(len(fields) + 1) + body + pack("delta") + delta
        raw = msgpack.Packer().pack_array_header(3) + pack("lo_stats") + data + pack(w.node_id)
        w.sock.send(raw, zmq.NOBLOCK)

    def handle(self, w: SimWorker, raw: bytes) -> None:
        kind, _data, _ = msgpack.loads(raw, raw=False, strict_map_key=False)
        if kind == "ack" and not w.acked:
            w.acked = True
            self.send(w, "lo_hello", {"index": w.index, "token": self.plan.token, "pid": os.getpid()})
        elif kind == "lo_start" and not w.started:
            w.started = True
            if self.t0_mono is None:
                self.t0_mono = time.monotonic()
                self.next_report = self.t0_mono + self.interval
        elif kind == "lo_stop" and w.started and not w.stopped:
            w.stopped = True
            self.report(w, final=True)
        elif kind == "quit":
            self.send(w, "stats", _locust_stats(0))
            w.quit = True

    def run(self, timeout_s: float) -> None:
        """Connect, report, stop: returns when every worker got `quit`, or after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        poller = zmq.Poller()
        by_sock = {}
        for w in self.workers:
            poller.register(w.sock, zmq.POLLIN)
            by_sock[w.sock] = w
            self.send(w, "client_ready", LOCUST_VERSION)
        while not all(w.quit for w in self.workers) and time.monotonic() < deadline:
            now = time.monotonic()
            wait = min(self.next_report, now + 0.05) - now
            for sock, _ in poller.poll(max(0, int(wait * 1000))):
                w = by_sock[sock]
                while True:
                    try:
                        raw = sock.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self.handle(w, raw)
            now = time.monotonic()
            for w in self.workers:
                if w.quit or not w.acked:
                    continue
                if now >= w.next_heartbeat:
                    w.next_heartbeat = now + HEARTBEAT_S
                    state = "running" if w.started else "ready"
                    self.send(w, "heartbeat", {"state": state, "current_cpu_usage": 40.0,
                                               "current_memory_usage": 80_000_000})
                if now >= w.next_locust_stats:
                    w.next_locust_stats = now + LOCUST_STATS_S
                    self.send(w, "stats", _locust_stats(2 if w.started else 0))
            if now >= self.next_report:
                began = time.monotonic()
                for w in self.workers:
                    if w.started and not w.stopped:
                        self.report(w, final=False)
                self.send_s += time.monotonic() - began
                self.bursts += 1
                self.next_report += self.interval

    def close(self) -> None:
        for w in self.workers:
            w.sock.close(linger=0)
        self.ctx.term()

    def expected_merged(self) -> dict[str, Any]:
        """What the master must hold: the sum of every delta sent, added up here with plain counters."""
        return expected_sum(self.variants, {w.index: w.sent for w in self.workers})


def unpack_table(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    """A packed table (stats.delta.pack_table) read with struct alone: (id, histogram as JSON) rows."""
    (n,) = struct.unpack_from("<Q", data)
    heads = struct.unpack_from(f"<{3 * n}q", data, 8)
    rest = struct.unpack_from(f"<{(len(data) - 8 - 24 * n) // 4}I", data, 8 + 24 * n)
    ids, ones, lens = rest[:n], rest[n : 2 * n], rest[2 * n : 3 * n]
    singles = iter(rest[3 * n : 3 * n + sum(ones)])
    pairs = iter(zip(rest[3 * n + sum(ones) : 3 * n + sum(ones) + sum(lens)], rest[3 * n + sum(ones) + sum(lens) :]))
    out = []
    for i in range(n):
        buckets = [(next(singles), 1) for _ in range(ones[i])] + [next(pairs) for _ in range(lens[i])]
        h = {"count": sum(c for _, c in buckets), "sum": heads[i], "min": heads[n + i], "max": heads[2 * n + i],
             "buckets": buckets}  # fmt: skip
        out.append((ids[i], h))
    return out


def rows_of(delta: Mapping[str, Any]) -> dict[str, list[tuple[Any, Any]]]:
    """A delta's rows with their keys spelled out: {table: [(key, histogram JSON or count)]}."""
    keys = [tuple(k) for k in json.loads(delta["keys"])]
    interval_keys, intervals = delta["intervals"]
    return {
        "series": [(keys[i], h) for i, h in unpack_table(delta["series"])],
        "timings": [((t, keys[i]), h) for t, packed in delta["timings"] for i, h in unpack_table(packed)],
        "intervals": [(tuple(interval_keys[i]), h) for i, h in unpack_table(intervals)],
        "endpoint_intervals": [
            ((slot, keys[i][1]), h) for slot, packed in delta["endpoint_intervals"] for i, h in unpack_table(packed)
        ],
        "errors": [((keys[i], reason), n) for i, reason, n in delta["errors"]],
    }


def _add(table: dict[Any, dict[str, Any]], key: Any, h: Mapping[str, Any], times: int = 1, sub_bits: int = 0) -> None:
    """Add `times` copies of `h`; `sub_bits`: into the coarse buckets the master keeps for that table."""
    have = table.setdefault(key, {"count": 0, "sum": 0, "min": None, "max": 0, "buckets": Counter()})
    have["count"] += h["count"] * times
    have["sum"] += h["sum"] * times
    have["min"] = h["min"] if have["min"] is None else min(have["min"], h["min"])
    have["max"] = max(have["max"], h["max"])
    for b, n in h["buckets"]:
        have["buckets"][coarse_bucket(b, sub_bits) if sub_bits else b] += n * times


def expected_sum(variants: list[dict[str, Any]], sent: Mapping[int, list[tuple[int, int]]]) -> dict[str, Any]:
    """The sum of the deltas sent (each variant counted as often as it was sent, at its interval slot)."""
    out: dict[str, Any] = {"series": {}, "intervals": {}, "endpoint_intervals": {}, "timings": {},
                           "errors": Counter(), "checks": Counter(), "per_worker": Counter()}  # fmt: skip
    counts = [sum(h["count"] for _, h in rows_of(v)["series"]) for v in variants]
    for worker, reports in sent.items():
        out["per_worker"][worker] = sum(counts[variant] for variant, _ in reports)
    uses = Counter(report for reports in sent.values() for report in reports)
    for variant, times in Counter(variant for variant, _ in uses.elements()).items():
        delta, rows = variants[variant], rows_of(variants[variant])
        for key, h in rows["series"]:
            _add(out["series"], key, h, times)
        for key, h in rows["timings"]:
            _add(out["timings"], key, h, times)
        for key, n in rows["errors"]:
            out["errors"][key] += n * times
        for *ck, passes, fails, _ in delta.get("checks", []):
            out["checks"][(*ck, "pass")] += passes * times
            out["checks"][(*ck, "fail")] += fails * times
    for (variant, slot), times in uses.items():
        rows = rows_of(variants[variant])
        for (_, kind, ok), h in rows["intervals"]:  # timeline pictures: coarse buckets on the master
            _add(out["intervals"], (slot, kind, ok), h, times, COARSE_SUB_BITS)
        for (_, name), h in rows["endpoint_intervals"]:
            _add(out["endpoint_intervals"], (slot, name), h, times, SPARK_SUB_BITS)
    return out


def merged_as_expected(merged: Mapping[str, Any]) -> dict[str, Any]:
    """The master's merged JSON (MasterSummary.merged) in `expected_sum`'s shape."""
    out: dict[str, Any] = {"series": {}, "intervals": {}, "endpoint_intervals": {}, "timings": {},
                           "errors": Counter(), "checks": Counter(), "per_worker": Counter()}  # fmt: skip
    steps = int(merged.get("endpoint_step", 1)), int(merged.get("interval_step", 1))
    assert steps == (1, 1), "the test's run is short enough for one slot per interval"
    for key, h in merged["series"]:
        _add(out["series"], tuple(key), h)
    for i, kind, ok, h in merged["intervals"]:
        _add(out["intervals"], (i, kind, ok), h)
    for i, name, h in merged["endpoint_intervals"]:
        _add(out["endpoint_intervals"], (i, name), h)
    for timing, key, h in merged.get("timings", []):
        _add(out["timings"], (timing, tuple(key)), h)
    for key, reason, n in merged["errors"]:
        out["errors"][(tuple(key), reason)] += n
    for *ck, passes, fails, _ in merged.get("checks", []):
        out["checks"][(*ck, "pass")] += passes
        out["checks"][(*ck, "fail")] += fails
    out["per_worker"].update({int(w): n for w, n in merged["per_worker"].items()})
    return out
