"""A worker's liveness thread: a real OS thread (not a greenlet) that tells the master this process is alive,
watches the connection to the master and measures how far the worker's event loop falls behind.

Why a thread: a worker's reports and Locust's heartbeats are sent by greenlets, so a saturated or starved
event loop (10,000 users on a machine whose cores other work also wants) sends them seconds late, and the
master could not tell that worker from a dead one. The interpreter hands this thread the GIL every few
milliseconds whatever the loop does; only a process that is stopped (SIGSTOP, a frozen machine) or gone
falls silent. Its own ZeroMQ connection to the master uses ZMTP heartbeats, which libzmq's I/O threads
answer on both sides without either event loop: the connection stays up while the master process lives,
however busy it is, and goes down when it dies, is stopped or becomes unreachable.

No gevent and no Locust here: the worker passes the unpatched thread starter, and the rules are pure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack
import zmq
from zmq.utils.monitor import recv_monitor_message

from loadorch.wire import ALIVE_INTERVAL_S

LOOP_TICK_S = 0.1  # how often the worker's event loop stamps `loop_tick`
WAKE_S = 0.25  # how often the thread looks at the loop (and the connection's events)
PAUSED_S = 1.0  # the thread itself woke this much later than asked: the whole process was stopped or frozen
MASTER_DOWN_S = 5.0  # the connection to the master down this long (after having been up): the master is gone
MASTER_SILENT_S = 60.0  # nothing from the master's event loop this long, its connection up: gone all the same
MASTER_SLOW_S = 8.0  # nothing from the master's event loop this long, its connection up: slow (said, not acted on)
ZMTP_HEARTBEAT_MS = 1000
ZMTP_TIMEOUT_MS = 5000  # no answer (PONG or anything) to a PING this long: libzmq drops the connection
UP = zmq.EVENT_HANDSHAKE_SUCCEEDED
DOWN = (
    zmq.EVENT_DISCONNECTED
    | zmq.EVENT_CLOSED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)


def master_verdict(down_s: float | None, silent_s: float, waiting: bool) -> str:
    """'gone', 'slow' or 'ok'. `down_s`: how long the liveness connection has been down (None: up, or never
    up yet); `silent_s`: since the master's event loop last said anything (its heartbeat); `waiting`: its
    messages wait unread here (this worker is the slow one)."""
    if down_s is not None and down_s >= MASTER_DOWN_S:
        return "gone"
    if waiting or silent_s < MASTER_SLOW_S:
        return "ok"
    return "gone" if silent_s >= MASTER_SILENT_S else "slow"


@dataclass
class Sched:
    """The main thread's CPU time and run-queue wait (ns, /proc/self/schedstat) and the machine's CPU
    jiffies, total and stolen (/proc/stat); None where the system does not say (not Linux)."""

    at: float
    run_ns: int | None
    wait_ns: int | None
    total: int | None
    steal: int | None

    @classmethod
    def now(cls) -> Sched:
        run_ns = wait_ns = total = steal = None
        try:
            with open("/proc/self/schedstat", encoding="ascii") as fh:
                run_ns, wait_ns = (int(x) for x in fh.read().split()[:2])
            with open("/proc/stat", encoding="ascii") as fh:
                cpu = [int(x) for x in fh.readline().split()[1:]]
            total, steal = sum(cpu[:8]), cpu[7] if len(cpu) > 7 else 0
        except (OSError, ValueError):
            pass
        return cls(time.monotonic(), run_ns, wait_ns, total, steal)

    def since(self, before: Sched) -> tuple[float | None, float | None]:
        """(% of the wall time the main thread waited for a CPU, % of the machine's CPU time stolen)."""
        wall_ns = (self.at - before.at) * 1e9
        wait = None
        if self.wait_ns is not None and before.wait_ns is not None and wall_ns > 0:
            wait = round(min(100.0, 100.0 * (self.wait_ns - before.wait_ns) / wall_ns), 1)
        steal = None
        if self.total is not None and before.total is not None and self.steal is not None and before.steal is not None:
            jiffies = self.total - before.total
            steal = round(100.0 * (self.steal - before.steal) / jiffies, 1) if jiffies > 0 else 0.0
        return wait, steal


class Liveness:
    """Started once the worker is connected; `loop_tick` is stamped by a greenlet of the worker's loop."""

    def __init__(self, endpoint: str, node_id: str, index: int, token: str, ipv6: bool = False) -> None:
        self.endpoint = endpoint
        self.ipv6 = ipv6
        self.identity = f"{node_id}~alive".encode()
        self.index = index
        self.token = token
        self.loop_tick = time.monotonic()
        self.resumed = 0.0  # when the whole process last resumed from a pause (not the loop's lateness)
        self.late_max = 0.0  # since the last `take`
        self.down_since: float | None = None
        self.ever_up = False
        self.master_heard: float | None = None  # (monotonic) when the master's event loop last said anything
        self.sent = 0
        self.sched = Sched.now()

    def start(self, start_thread: Callable[..., Any]) -> None:
        start_thread(self._run, ())

    def down_for(self) -> float | None:
        """Seconds the connection to the master has been down, once it had been up (None: up, or not yet)."""
        since = self.down_since
        return None if since is None or not self.ever_up else time.monotonic() - since

    def heard_master(self) -> None:
        """A heartbeat from the master's event loop reached this worker."""
        self.master_heard = time.monotonic()

    def master_silent_for(self) -> float:
        """Seconds since the master's event loop last said anything (0.0 before its first heartbeat). By the
        monotonic clock, not the wall clock Locust stamps its heartbeats with: a wall clock stepped forward (NTP,
        a resumed VM) is no silence of the master, and one stepped back does not hide a real one."""
        heard = self.master_heard
        return 0.0 if heard is None else time.monotonic() - heard

    def take(self) -> tuple[float, float | None, float | None]:
        """Since the last call (for a stats report): the loop's largest lateness, the run-queue wait and steal."""
        late, self.late_max = self.late_max, 0.0  # the thread's samples: the loop calling this is running now
        now = Sched.now()
        wait, steal = now.since(self.sched)
        self.sched = now
        return round(late, 3), wait, steal

    def _late(self) -> float:
        """How far the loop is behind now; a pause of the whole process (SIGSTOP) is no lateness of the loop:
        the master sees it as a silence of the process (the gap between two beats)."""
        return max(0.0, time.monotonic() - max(self.loop_tick, self.resumed) - LOOP_TICK_S)

    def _run(self) -> None:
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        for option, value in (
            (zmq.IDENTITY, self.identity),
            (zmq.LINGER, 0),
            (zmq.SNDHWM, 4),
            (zmq.IMMEDIATE, 1),
            (zmq.HEARTBEAT_IVL, ZMTP_HEARTBEAT_MS),
            (zmq.HEARTBEAT_TIMEOUT, ZMTP_TIMEOUT_MS),
            (zmq.HANDSHAKE_IVL, ZMTP_TIMEOUT_MS),
            (zmq.IPV6, int(self.ipv6)),
        ):
            sock.setsockopt(option, value)
        monitor = sock.get_monitor_socket(UP | DOWN)
        self.down_since = time.monotonic()
        sock.connect(self.endpoint)
        next_beat = woke = time.monotonic()
        while True:
            if monitor.poll(int(WAKE_S * 1000)):
                self._on_event(recv_monitor_message(monitor)["event"])
            now = time.monotonic()
            if now - woke > WAKE_S + PAUSED_S:
                self.resumed = now
            woke = now
            late = self._late()
            self.late_max = max(self.late_max, late)
            if now >= next_beat:
                next_beat = now + ALIVE_INTERVAL_S
                self._beat(sock, now, late)

    def _on_event(self, event: int) -> None:
        if event == UP:
            self.down_since = None
            self.ever_up = True
        elif self.down_since is None:
            self.down_since = time.monotonic()

    def _beat(self, sock: zmq.Socket[bytes], now: float, late: float) -> None:
        # `late`: the master learns of a loop that does not run (no report comes from it) from this thread alone
        data = {"index": self.index, "token": self.token, "at": now, "late": round(late, 3)}
        try:  # locust.rpc.protocol.Message.serialize: a msgpack (type, data, node_id) triple
            sock.send(msgpack.dumps(("lo_alive", data, self.identity.decode())), zmq.NOBLOCK)
            self.sent += 1
        except zmq.ZMQError:
            pass  # no connection now (IMMEDIATE): a beat is not queued to arrive late, the next one goes


def messages_waiting(sock: Any) -> bool:
    """Whether messages wait unread on a Locust socket (a `zmq.green` one), without stalling its reader.

    `get(zmq.EVENTS)`, not `getsockopt(zmq.EVENTS)`: on a green socket `getsockopt` is pyzmq's base method, which
    makes libzmq take the pending notice of a message off the socket's descriptor without waking the greenlet
    that waits to read (pyzmq's green `get` wakes it). That reader then slept until pyzmq's 11.6 s safety
    timeout or the socket's next send: a master's reports and finals sat unread past its 10 s wait for them."""
    return bool(int(sock.get(zmq.EVENTS)) & zmq.POLLIN)


def process_state(pid: int) -> str | None:
    """The state letter of a process on this machine ('R', 'S', 'T' stopped, 'Z' ...), None if there is none."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0].decode()
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except OSError:
            pass
        return "?"
