"""Where the time goes in an endpoint's p95 requests (pure): connect, TLS, server waiting and receiving.

Recorded on workers for every successful request inside the window, per request (name, method, status) and
per latency bucket (64 per doubling, exact under 128 us, as the histograms' coarse buckets): the count of
requests and the sums of their durations and of each phase. Shipped with each delta and added up by the
master: sums add, so the merge is exact whatever the number of workers or deltas.

The p95 requests of a selector are those in the buckets from the one holding its p95 (nearest rank over
these same counts) upward: every request at or above p95, and the few of p95's own bucket below it, each
within that bucket's width of p95 (at most 1/64 of p95: 1.6 %). That is stated with the split (`requests`
of `of`, from `from_ms`).

A busy series is sampled (#30: the cost of evidence): when one worker's series completes SAMPLED_FROM or more
kept-alive requests in one slot (a second), every k-th of them is timed (k = n // SAMPLED: 256 to 511 of
them), each counted k times, so its counts and sums are estimates whose total is still n exactly; the n - m
requests not timed are counted in the series' UNTIMED row (bucket -1), which adds up like the others, so the
split says how many of its `of` requests were timed (`timed`). A slot whose requests come in two batches (a
report fell inside it) has each sampled at the rate of the larger of the two (up to twice as many timed).
Below SAMPLED_FROM a second every request is added, exactly.

Memory: per request key at most 64 rows per doubling of latency (under 1,500 from 1 us to an hour), each
six integers; request names are bounded by stats/endpoints.py. A monitor's master (which runs for days)
rolls them (`roll`): it keeps the rows of the current and the previous generation (each its window), so
its rows hold what one to two windows saw, not every latency bucket the run ever reached.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from loadorch.stats.histogram import TABLED, bucket_table, nearest_rank

if TYPE_CHECKING:  # imported in `split`: the workers record without results.json's models (start time)
    from loadorch.results import TimeSplit

NOT_MEASURED = -1  # a phase the request path could not time (stats/exemplars.py's too); sticky in the sums
PHASES = ("connect", "tls", "waiting", "receiving")
Key = tuple[str, str, int]  # request name, method, status
# a wire row: [name, method, status, bucket, count, duration_us, connect_us, tls_us, waiting_us, receiving_us]
Row = list[Any]
_SHAPE = (str, str, int, int, int, int, int, int, int, int)
SUB_BITS = 7  # a bucket: a duration's 7 leading bits (64 buckets per doubling, exact under 128 us)


class TimeSplits:
    """Per (name, method, status, bucket): [count, duration, connect, tls, waiting, receiving] in us.

    A worker adds into `live`, by its series key (no tuple built per request), one request at a time (`add`)
    or a batch of kept-alive requests' three numbers at a time (`add_batch`: its recorder's, once a slot);
    `rows()` and `split()` read both."""

    __slots__ = ("last", "live", "older", "restarts", "sweep", "table")

    def __init__(self) -> None:
        self.table: dict[tuple[str, str, int, int], list[int]] = {}
        self.live: dict[Any, dict[int, list[int]]] = {}  # series key (name, method, status attributes) -> buckets
        self.older: dict[tuple[str, str, int, int], list[int]] = {}  # the previous generation (see roll)
        self.restarts, self.sweep = 0, False  # a worker's deltas so far; whether the next fold sweeps
        self.last: dict[Any, int] = {}  # series key -> its last batch's length (`add_batch`: a slot's other part)

    def roll(self) -> None:
        """A new generation begins: the previous one's rows go, the current one's become the previous."""
        self.fold()
        self.older, self.table = self.table, {}

    def _all(self) -> dict[tuple[str, str, int, int], list[int]]:
        """Both generations' rows added up (the table itself when there is no previous generation)."""
        self.fold()
        if not self.older:
            return self.table
        out = dict(self.older)
        for key, acc in self.table.items():
            have = out.get(key)
            out[key] = acc if have is None else _added(have, acc)
        return out

    def add(self, key: Any, duration_us: int, connect_us: int, tls_us: int, waiting_us: int,
            receiving_us: int) -> None:
        """One successful request of series `key` (a phase the path could not time: NOT_MEASURED)."""
        shift = duration_us.bit_length() - SUB_BITS
        bucket = duration_us if shift <= 0 else (shift << 8) | (duration_us >> shift)
        buckets = self.live.get(key)
        if buckets is None:
            buckets = self.live[key] = {}
        acc = buckets.get(bucket)
        if acc is None:
            buckets[bucket] = [1, duration_us, connect_us, tls_us, waiting_us, receiving_us]
        elif connect_us | tls_us | waiting_us | receiving_us | acc[2] | acc[3] | acc[4] | acc[5] >= 0:  # none -1
            acc[0] += 1
            acc[1] += duration_us
            acc[2] += connect_us
            acc[3] += tls_us
            acc[4] += waiting_us
            acc[5] += receiving_us
        else:
            buckets[bucket] = _added(acc, [1, duration_us, connect_us, tls_us, waiting_us, receiving_us])

    def table_of(self, key: Any) -> dict[int, list[int]]:
        """A series' live bucket sums (made on first use; `fold` empties them in place)."""
        buckets = self.live.get(key)
        if buckets is None:
            buckets = self.live[key] = {}
        return buckets

    def add_batch(self, key: Any, batch: list[int]) -> None:
        """`[duration, waiting, receiving, duration, ...]` (us) of series `key`'s successful requests whose
        connect and TLS were 0 and whose phases were all timed (Recorder.lean_batch): as `add` of each, or a
        sample of them when the series is busy. A slot's requests come in one batch, or in two when a report
        falls inside the slot (its delta takes what came so far): the larger of this batch and the series'
        last one stands for the slot's size, so that both parts of a busy slot are sampled at its rate (a
        short part timed request by request cost about 10 of the evidence's 49 bytecodes a request at 2,700
        a second, benchmarks/README.md)."""
        n = len(batch) // 3
        if n:
            last = self.last.get(key, 0)
            self.last[key] = n
            size = n if n > last else last
            if size >= SAMPLED_FROM:  # every size // SAMPLED-th request of the batch
                _add_sampled(self.table_of(key), batch, n, size // SAMPLED)
            else:
                _add_each(self.table_of(key), batch)

    def fold(self) -> None:
        """The worker's live sums into the table (by request name, method and status). Each live bucket is
        zeroed in place, not dropped: the next second's requests of that latency add into it (`add`,
        `add_batch`) instead of making it again; after every SWEEP_DELTAS restarts, the next fold drops
        those empty since the last restart (buckets a run's latencies left)."""
        sweep, self.sweep = self.sweep, False
        for key, buckets in self.live.items():
            if buckets:
                rows, idle = [], []
                for b, acc in buckets.items():
                    if acc[0]:
                        rows.append([key.name, key.method, key.status, b, *acc])
                        acc[:] = _ZERO
                    else:
                        idle.append(b)
                if sweep:
                    for b in idle:
                        del buckets[b]
                self.merge(rows)

    def restart(self) -> None:
        """Empty, as a new TimeSplits is, but the live tables stay (zeroed, their buckets kept): a worker's
        recorder after each delta (stats/tables.py)."""
        self.fold()
        self.table, self.older = {}, {}
        self.restarts += 1
        self.sweep = self.restarts % SWEEP_DELTAS == 0

    def merge(self, rows: Iterable[Row]) -> None:
        """Rows added into the table: in place where neither side has a phase NOT_MEASURED (the common case:
        the table's lists are its own, never handed out), else by `_added`, whose NOT_MEASURED sticks."""
        table = self.table
        for r in rows:
            key = (r[0], r[1], r[2], r[3])
            acc = table.get(key)
            if acc is None:
                table[key] = r[4:10] if type(r) is list else list(r[4:10])
            elif min(acc[2], acc[3], acc[4], acc[5], r[6], r[7], r[8], r[9]) >= 0:
                acc[0] += r[4]
                acc[1] += r[5]
                acc[2] += r[6]
                acc[3] += r[7]
                acc[4] += r[8]
                acc[5] += r[9]
            else:
                table[key] = _added(acc, r[4:10])

    def rows(self) -> list[Row]:
        return [[*k, *acc] for k, acc in sorted(self._all().items())]

    def clear(self) -> None:
        self.table, self.older = {}, {}
        for buckets in self.live.values():
            buckets.clear()

    def __len__(self) -> int:
        return len(self._all())

    def __bool__(self) -> bool:
        return bool(self.table or self.older) or any(self.live.values())

    def split(self, name: str, keys: Iterable[Key]) -> TimeSplit | None:
        """results.json's TimeSplit of these request keys (one endpoint's, all of them pooled), over their
        p95 requests; None when none was recorded."""
        from loadorch.results import TimeSplit

        buckets: dict[int, list[int]] = {}
        for (n, method, status, bucket), acc in self._all().items():
            if (n, method, status) in keys:
                have = buckets.get(bucket)
                buckets[bucket] = list(acc) if have is None else _added(have, acc)
        untimed = buckets.pop(UNTIMED, _ZERO)[0]  # requests a busy series' sample did not time
        total = sum(acc[0] for acc in buckets.values())
        if not total:
            return None
        rank, seen, first = nearest_rank(95, total), 0, 0
        for bucket in sorted(buckets):
            seen += buckets[bucket][0]
            if seen >= rank:
                first = bucket
                break
        top = [0, 0, 0, 0, 0, 0]
        for bucket, acc in buckets.items():
            if bucket >= first:
                top = _added(top, acc)
        connect, tls, waiting, receiving = (None if v < 0 or top[1] <= 0 else round(v / top[1], 4) for v in top[2:])
        return TimeSplit(endpoint=name, requests=top[0], of=total, from_ms=round(low_us(first) / 1000.0, 3),
                         connect=connect, tls=tls, waiting=waiting, receiving=receiving,
                         timed=total - untimed if untimed else None)


def low_us(bucket: int) -> int:
    """The lowest duration (us) a bucket holds: exact under 2**SUB_BITS us, then SUB_BITS significant bits
    (64 buckets per doubling: a bucket is at most 1/64 of its lowest value wide)."""
    return bucket if bucket < 1 << SUB_BITS else (bucket & 0xFF) << (bucket >> 8)


SWEEP_DELTAS = 64  # how often (in a worker's deltas, one a second) its live buckets left empty are dropped
_ZERO = (0, 0, 0, 0, 0, 0)  # a zeroed bucket: the next request adds into it as into a new one


SAMPLED = 256  # a busy series' slot: at least this many of its requests timed (`_add_sampled`) ...
SAMPLED_FROM = 2 * SAMPLED  # ... from this many requests in one slot on; fewer: every one
UNTIMED = -1  # the bucket of a series' row counting its requests a sample left untimed (count only, sums 0)
_BUCKETS: list[int] = []  # `add`'s bucket of each duration under histogram.TABLED (512 KB, made on first use)


def _add_each(buckets: dict[int, list[int]], batch: list[int]) -> None:
    """A batch (`TimeSplits.add_batch`: duration, waiting, receiving, ...; connect and TLS 0) added into a
    series' buckets by `add`'s arithmetic, request by request, in one loop over local names."""
    get = buckets.get
    it = iter(batch)
    for d, w, r in zip(it, it, it):
        shift = d.bit_length() - SUB_BITS
        bucket = d if shift <= 0 else (shift << 8) | (d >> shift)
        acc = get(bucket)
        if acc is not None and acc[4] >= 0 <= acc[5]:  # connect and TLS: + 0 (NOT_MEASURED stays so)
            acc[0] += 1
            acc[1] += d
            acc[4] += w
            acc[5] += r
        else:
            buckets[bucket] = [1, d, 0, 0, w, r] if acc is None else _added(acc, [1, d, 0, 0, w, r])


def _add_sampled(buckets: dict[int, list[int]], batch: list[int], n: int, k: int) -> None:
    """A busy series' batch of n requests (at least 1; k >= 2): every k-th request (taken in C by slicing) added
    k times, the last one fewer so that the counts add up to n exactly (the only one, counted n times, when
    n <= k); the n - m not timed counted in the UNTIMED row. An estimate of each bucket's count and sums (a
    systematic sample of m = 256 to 511 requests of the second, up to twice that when it comes in two parts). Timing
    every request was most of the evidence's cost (2,182 of its 2,763 instructions a request at 8,000 a second,
    `benchmarks/evidence_instr.py`; no way of summing per bucket in C beat a loop); with 1,024 to 2,047 timed a second
    the evidence cost 942 at 8,000 a second and 2,959 at 2,000, with 256 to 511 it costs 344 and 979."""
    step = 3 * k
    ds, ws, rs = batch[0::step], batch[1::step], batch[2::step]
    table = _BUCKETS or _bucket_table()
    get = buckets.get
    bucket = 0
    for d, w, r in zip(ds, ws, rs):
        bucket = table[d] if d < TABLED else _bucket_of(d)
        acc = get(bucket)
        if acc is not None and acc[4] >= 0 <= acc[5]:  # connect and TLS: + 0 (NOT_MEASURED stays so)
            acc[0] += k
            acc[1] += d * k
            acc[4] += w * k
            acc[5] += r * k
        else:
            row = [k, d * k, 0, 0, w * k, r * k]
            buckets[bucket] = row if acc is None else _added(acc, row)
    m = len(ds)
    over = m * k - n  # the last one stands for k - over requests (0 <= over < k)
    if over:
        acc, d = buckets[bucket], ds[-1]
        acc[0] -= over
        acc[1] -= d * over
        if acc[4] >= 0 <= acc[5]:
            acc[4] -= ws[-1] * over
            acc[5] -= rs[-1] * over
    untimed = get(UNTIMED)
    if untimed is None:
        buckets[UNTIMED] = [n - m, 0, 0, 0, 0, 0]
    else:
        untimed[0] += n - m


def _bucket_of(d: int) -> int:
    """`add`'s bucket of a duration (us) of at least 2**SUB_BITS: its SUB_BITS leading bits and their shift (the
    long batches' loops call it for what their table does not hold, a duration of 65 ms or more)."""
    shift = d.bit_length() - SUB_BITS
    return (shift << 8) | (d >> shift)


def _bucket_table() -> list[int]:
    """`add`'s bucket of every duration under TABLED us (a worker's first long batch makes it, in about 1 ms)."""
    if not _BUCKETS:
        _BUCKETS.extend(bucket_table(SUB_BITS, lambda shift, top: (shift << 8) | top))
    return _BUCKETS


def _added(a: list[int], b: list[int]) -> list[int]:
    phases = [NOT_MEASURED if x < 0 or y < 0 else x + y for x, y in zip(a[2:6], b[2:6])]
    return [a[0] + b[0], a[1] + b[1], *phases]


def checked(rows: Any, limit: int = 100_000) -> list[Row]:
    """A delta's time-split rows, each of the row's shape (ValueError if not); at most `limit` rows."""
    if type(rows) not in (list, tuple):
        raise ValueError("time splits: not a list")
    if len(rows) > limit:
        raise ValueError(f"time splits: {len(rows)} rows, more than {limit}")
    out = []
    for r in rows:
        if type(r) not in (list, tuple) or tuple(map(type, r)) != _SHAPE:
            raise ValueError(f"time splits: a malformed row {r!r:.80}")
        if r[3] < UNTIMED or r[4] <= 0 or r[5] < 0 or min(r[6], r[7], r[8], r[9]) < NOT_MEASURED:
            raise ValueError(f"time splits: a negative count or sum {r!r:.80}")
        out.append([r[0][:200], r[1][:16], *r[2:]])
    return out
