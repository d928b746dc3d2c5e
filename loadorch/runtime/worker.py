"""The worker process: a Locust worker whose users run the scenario's virtual users."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import gc
import logging
import math
import os
import random
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import gevent
import gevent.queue
import locust.runners as lr
import zmq
from gevent import GreenletExit
from locust import User
from locust.env import Environment

from loadorch.client.hops import HttpOptions, http_options
from loadorch.client.vu import LeanRunner, Series, VirtualUser
from loadorch.config.checks import check_names
from loadorch.config.tags import tag_table, tags_of
from loadorch.db.servertiming import QueryHeader
from loadorch.hosts import address_guard
from loadorch.runtime.alive import (
    LOOP_TICK_S,
    MASTER_DOWN_S,
    MASTER_SILENT_S,
    Liveness,
    master_verdict,
    messages_waiting,
)
from loadorch.runtime.common import REPORT_INTERVAL_S, emit, real_thread, watch_parent
from loadorch.runtime.headbound import bound_response_heads
from loadorch.runtime.masklog import mask_logs
from loadorch.starttrace import mark
from loadorch.stats.endpoints import EndpointNames
from loadorch.stats.generations import generation_slots
from loadorch.stats.tables import SPLIT_EVERY, Recorder
from loadorch.traffic import data as gen
from loadorch.traffic.arrivals import for_worker
from loadorch.traffic.data import cumulative, stream_seed
from loadorch.traffic.redact import USER_PLUS_KEPT, Redactor, credential_params_in, masked_reason

if TYPE_CHECKING:  # imported where python users are (it imports locust's HttpSession and requests)
    from loadorch.runtime.pyusers import PythonRequests, PythonUserContext
from loadorch.traffic.request import CompiledRequest, Origin, RequestRunner, compile_request, credential_captures
from loadorch.traffic.stages import users_at
from loadorch.traffic.trace import TraceIds
from loadorch.wire import (
    Arrivals,
    Hello,
    Plan,
    Ramp,
    Start,
    StatsMessage,
    Unanswered,
    UnansweredTable,
    VuFailure,
    WorkerLostMaster,
    escaped_surrogates,
    note_unanswered,
    unanswered_rows,
)

log = logging.getLogger("loadorch.worker")
STAGE_TICK_S = 0.05  # how often the stage clock (and a waiting user) looks at the stage's user count
LOCUST_HELLO_STEP_S = 5.0  # Locust waits for the master's answer to its hello this long, then asks again


@contextlib.contextmanager
def _worker_identity(index: int, token: str) -> Iterator[None]:
    """Give the Locust worker an id that sorts by index, instead of hostname + random uuid."""

    class _Uuid:
        hex = f"{token[:8]}"

    class _Socket:
        @staticmethod
        def gethostname() -> str:
            return f"loadorch-w{index:05d}"

    saved = lr.uuid4, lr.socket
    lr.uuid4, lr.socket = (lambda: _Uuid()), _Socket  # type: ignore[assignment,return-value]
    try:
        yield
    finally:
        lr.uuid4, lr.socket = saved  # type: ignore[assignment]


# Started users (greenlets, connections, compiled requests) live until the run ends; frozen out of the
# cyclic garbage collector's view every so many starts, so that its full collections do not traverse
# 10,000 users' objects again and again (they took about 10 % of a worker's CPU at 10,000 users).
FREEZE_EVERY = 256
QUICK_RAMP_S = 60.0
SPAWN_SLACK_S = 0.002


@contextlib.contextmanager
def ramp_heap(ramp_s: float) -> Iterator[None]:
    """While users start: a ramp of QUICK_RAMP_S or less runs without the cyclic garbage collector (what it
    would traverse again and again is the users being started, which live until the end anyway: at 2,000
    users a second it took about a sixth of the worker's CPU); afterwards the users are frozen out of its
    view and it runs again."""
    quick = ramp_s <= QUICK_RAMP_S and gc.isenabled()
    if quick:
        gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if quick:
            gc.enable()


class LineBuffer:
    """Request-log lines waiting for the next stats message to the master (which writes the file)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, line: str) -> None:
        self.lines.append(line)

    def take(self) -> list[str]:
        lines, self.lines = self.lines, []
        return lines


class WorkerState:
    def __init__(self, plan: Plan, index: int) -> None:
        self.plan = plan
        self.index = index
        self.recorder = Recorder(
            plan.interval_s,
            time.time(),
            plan.metrics.edges_us if plan.metrics else (),
            plan.window or (),
            EndpointNames(plan.max_endpoints, plan.endpoint_names),
            plan.exemplars,
            plan.stats_sub_bits,
        )
        self.tracer = TraceIds(plan.trace_prefix, index) if plan.trace_prefix else None  # one per worker
        self.recorder.server_timing = plan.server_timing
        # the time split's rows every SPLIT_EVERY reports and with the last ones (stats_message's flush); a
        # monitor's master rolls them by window, so its workers send them every second
        self.recorder.split_every = 1 if plan.rolling_timeline_s else SPLIT_EVERY
        if plan.rolling_timeline_s:  # ... and keeps the K slowest of its window's generations, as they do
            self.recorder.exemplar_slots = generation_slots(plan.rolling_timeline_s, plan.interval_s)
        self.seq = 0
        self.started = False
        self.stopped = False
        self.spawned = 0
        self.finished = 0
        self.mine = [(slot, name) for slot, name, w in plan.allocation if w == index]
        self.request_log = LineBuffer() if plan.request_log_path else None
        self.idle: dict[str, collections.deque[Any]] = collections.defaultdict(collections.deque)
        self.scheduled = self.dispatched = self.dropped = 0
        self.vu_failures: list[VuFailure] = []  # not yet reported to the master
        # (user, name, kind, method) -> [requests, longest wait (s)]: still waiting for the target at the stop
        self.unanswered: UnansweredTable = {}
        self.python_requests: PythonRequests | None = None  # the python users' request events (names them)
        self.redactor = Redactor(plan.secrets)  # the run's secrets, masked in a failure's reason before it is cut
        # the redactor of the python user running in the current greenlet (None: none), for the lines logged from it
        self.user_mask: Callable[[], Redactor | None] = lambda: None
        self.cpu_last = (time.monotonic(), time.process_time())
        # closed-model stages: users with slot < limit run, the others wait (see traffic/stages.py)
        self.stages: list[tuple[float, float, float]] | None = plan.stages
        self.limit = len(plan.allocation) if self.stages is None else 0
        self.running: set[int] = set()  # slots spawned and not finished
        self.ramp: Ramp | None = None  # how the ramp kept its schedule, once all users have started
        self.liveness: Liveness | None = None  # the liveness thread (runtime/alive.py), once connected

    def active_users(self) -> int:
        return sum(1 for slot in self.running if slot < self.limit)

    def cpu_percent(self) -> float:
        now, cpu = time.monotonic(), time.process_time()
        wall = now - self.cpu_last[0]
        used = cpu - self.cpu_last[1]
        self.cpu_last = (now, cpu)
        return round(100.0 * used / wall, 1) if wall > 0 else 0.0

    def shown(self, text: str, mask: Redactor | None = None) -> str:
        """`text` as this worker may write it (a log line, a traceback): the credential parameters of the URLs it
        quotes and the secrets of `mask` masked (None: the current python user's, else the run's)."""
        return (mask or self.user_mask() or self.redactor).text(credential_params_in(text))

    def vu_failed(self, slot: int, user_class: str, exc: BaseException, mask: Redactor | None = None) -> None:
        """A virtual user's loop ended on an exception: logged here, reported (and made an error) by the run; its
        message and traceback masked with `mask` (a python user's: the run's secrets and the credentials its requests
        carried; None: the run's secrets), and the credential parameters of the URLs they quote."""
        trace = "".join(traceback.format_exception(exc)).rstrip("\n")
        log.error("virtual user %s (%s) failed\n%s", slot, user_class, self.shown(trace, mask))
        error = masked_reason(f"{type(exc).__name__}: {exc}", mask or self.redactor, 300)  # masked, then cut
        self.vu_failures.append(VuFailure(worker=self.index, slot=slot, user_class=user_class, error=error))

    def stopped_waiting(self, user_class: str, runner: RequestRunner) -> None:
        """A user stopped by the run's end: the request it was waiting on, if any, is counted apart (it is
        neither answered nor failed, so in no table); bounded by MAX_UNANSWERED rows."""
        stopped = getattr(runner, "stopped", None)  # a runner of another kind (a test's) may not say
        if stopped is None:
            return
        req, waited = stopped
        note_unanswered(self.unanswered, (user_class, req.name, req.kind, req.method), waited)

    def python_stopped(self, ctx: PythonUserContext) -> None:
        """A python user stopped by the run's end while its request waited for the target (pyusers.watch_client):
        counted apart as a declarative user's is, named as its request event would have named it."""
        if self.python_requests is None:
            return
        found = self.python_requests.stopped_key(ctx)
        if found is not None:
            note_unanswered(self.unanswered, *found)

    def take_unanswered(self) -> list[Unanswered]:
        table, self.unanswered = self.unanswered, {}
        return unanswered_rows(table)

    def stats_message(self, users: int, final: bool, flush: bool = False) -> StatsMessage:
        """This report; `flush` (or `final`): with every time-split row held so far (Recorder.take_delta)."""
        self.seq += 1
        mine = len(self.mine)
        failures, self.vu_failures = self.vu_failures, []
        if self.recorder.endpoints.folded and not self.recorder.folded_sent:  # the first names folded: once
            log.warning("%s", self.recorder.endpoints.warning())
        late, wait, steal = self.liveness.take() if self.liveness is not None else (None, None, None)
        return StatsMessage(
            index=self.index,
            token=self.plan.token,
            seq=self.seq,
            delta=self.recorder.take_delta(flush=final or flush),
            cpu=self.cpu_percent(),
            users=users if self.stages is None else self.active_users(),
            spawned=self.spawned,
            done=self.started and self.spawned == mine and self.finished == mine,
            final=final,
            total=self.recorder.total,
            log=self.request_log.take() if self.request_log is not None else [],
            arrivals=Arrivals(scheduled=self.scheduled, dispatched=self.dispatched, dropped=self.dropped),
            vu_failures=failures,
            unanswered=self.take_unanswered(),
            sent_at=time.time(),
            stopping=self.stopped,
            ramp=self.ramp,
            loop_late_s=late,
            cpu_wait=wait,
            steal=steal,
        )


def build_user_classes(state: WorkerState) -> list[type[User]]:
    plan = state.plan
    scenario = plan.scenario
    generators = plan.generators()
    origin = Origin.parse(plan.host)
    table = tag_table(scenario, plan.tags)
    slots: dict[str, collections.deque[int]] = {str(u.name): collections.deque() for u in scenario.users}
    for slot, name in state.mine:
        slots[name].append(slot)
    classes: list[type[User]] = []
    for spec in scenario.users:
        name = str(spec.name)
        if spec.python is not None:
            classes.append(_python_class(state, spec.python, name, slots[name], generators))
            continue
        captures = {c for ep in spec.requests for c in ep.capture}
        compiled = credential_captures([
            dataclasses.replace(
                compile_request(ep, ep.name, ep.effective_kind, captures, plan.headers),
                tags=tuple(sorted(tags_of(table, name, ep.name).items())),
                checks=tuple(check_names(ep)),
            )
            for ep in spec.requests
        ])
        weights = [ep.weight for ep in spec.requests]
        classes.append(
            _user_class(state, name, slots[name], compiled, weights, spec.think_time.bounds, generators, origin)
        )
    return classes


def _python_class(
    state: WorkerState, ref: str, name: str, slots: collections.deque[int], generators: Mapping[str, gen.Generator]
) -> type[User]:
    from loadorch.runtime.pyusers import PythonUserContext, load_class, python_user_class

    plan = state.plan

    def make_context(slot: int) -> PythonUserContext:
        return PythonUserContext(slot, plan.users, state.index, plan.seed, generators, name)

    def finished() -> None:
        state.finished += 1

    base = load_class(plan.scenario_dir, ref)
    return python_user_class(
        base, name, slots, make_context, plan.iterations, plan.host, finished, state.vu_failed, state.tracer,
        plan.request_timeout_s, state.python_stopped,
    )


def make_runner(
    origin: Origin,
    plan: Plan,
    environment: Environment,
    options: Callable[[], HttpOptions],
    tracer: TraceIds | None = None,
) -> RequestRunner:
    """The lean client, or Locust's FastHttpSession where the scenario asks for `client: locust`; either
    masks the run's secrets in what it reports (errors, check examples) before cutting it, and sends the
    worker's trace ids (`tracer`, None: none)."""
    header = QueryHeader.from_json(plan.query_header)
    redactor = Redactor(plan.secrets, kept=USER_PLUS_KEPT)  # this user's runner's own
    if plan.scenario.client == "locust":
        from loadorch.runtime.locust_client import LocustClientRunner

        client = LocustClientRunner(
            origin,
            plan.request_timeout_s,
            environment,
            plan.allowed_hosts,
            plan.addresses,
            plan.max_response_body,
            query_header=header,
            max_redirects=plan.scenario.max_redirects,
        )
        client.redactor = redactor
        client.tracer = tracer
        return client
    pinned = plan.addresses
    check = None if pinned else address_guard(plan.host, plan.allowed_hosts)
    lean = LeanRunner(
        origin,
        plan.request_timeout_s,
        plan.max_response_body,
        pinned,
        check,
        query_header=header,
        options=options(),
        max_head=plan.max_response_head,
    )
    lean.redactor = redactor
    lean.tracer = tracer
    lean.conn.server_timing = plan.exemplars > 0 or plan.server_timing  # each response's Server-Timing
    return lean


def _user_class(
    state: WorkerState,
    name: str,
    slots: collections.deque[int],
    compiled: list[CompiledRequest],
    weights: list[float],
    think: tuple[float, float],
    generators: Mapping[str, gen.Generator],
    origin: Origin,
) -> type[User]:
    plan = state.plan
    iterations = plan.iterations
    # built by the first user and shared by the others (they copy the environment: 10 % of a 10,000-user
    # ramp's CPU when built per user)
    options: list[HttpOptions] = []
    series: dict[tuple[int, int, bool], Series] = {}  # the users' series, shared (client/vu.py VirtualUser.keys)

    def shared_options() -> HttpOptions:
        if not options:
            scenario = plan.scenario
            options.append(http_options(scenario.max_redirects, scenario.cookies, plan.allowed_hosts, plan.tls))
        return options[0]

    def __init__(self: Any, environment: Environment) -> None:
        User.__init__(self, environment)
        self.vu = VirtualUser(
            slot=slots.popleft(),
            slots=plan.users,
            worker=state.index,
            user_name=name,
            seed=plan.seed,
            requests=compiled,
            weights=weights,
            think=think,
            generators=generators,
            runner=make_runner(origin, plan, environment, shared_options, state.tracer),
            recorder=state.recorder,
            request_log=state.request_log,
            keys=series,
        )

    def run(self: Any) -> None:
        vu = self.vu
        if plan.open is not None:
            return serve_arrivals(self, state, name)
        state.running.add(vu.slot)
        try:
            while iterations is None or vu.sequence < iterations:
                while vu.slot >= state.limit:  # a stage ramped this user down: wait until it ramps up again
                    gevent.sleep(STAGE_TICK_S)
                pause = vu.step()
                if pause > 0:
                    gevent.sleep(pause)
                elif vu.sequence % 64 == 0:
                    gevent.sleep(0)  # let other users run when nobody thinks
        except GreenletExit:
            state.stopped_waiting(name, vu.runner)
            raise
        except Exception as exc:
            state.vu_failed(vu.slot, name, exc)
        finally:
            vu.runner.close()
            state.finished += 1
            state.running.discard(vu.slot)

    return type(
        name,
        (User,),
        {
            "__init__": __init__,
            "run": run,
            "abstract": False,
            "weight": 1,
            "fixed_count": 0,
            "host": plan.host,
            "__module__": __name__,
        },
    )


def serve_arrivals(user: Any, state: WorkerState, class_name: str) -> None:
    """Open model: an idle user waits for an arrival, serves it, and is idle again."""
    inbox: gevent.queue.Queue[Any] = gevent.queue.Queue()
    user.inbox = inbox
    try:
        while True:
            state.idle[class_name].append(user)
            arrival, intended, rng = inbox.get()
            user.vu.serve(arrival, intended, rng)
    except GreenletExit:
        state.stopped_waiting(class_name, user.vu.runner)
        raise
    except Exception as exc:
        state.vu_failed(user.vu.slot, class_name, exc)
    finally:
        user.vu.runner.close()


def dispatch_arrivals(state: WorkerState, perf0: float) -> None:
    """The open model's clock: hand each of this worker's arrivals to an idle user at its due time,
    or count it as dropped when none is idle (never queued: a queue would hide the overload)."""
    spec = state.plan.open
    assert spec is not None
    names = [n for n, _ in spec.class_weights]
    cum = cumulative([w for _, w in spec.class_weights])
    schedule = for_worker(spec.stages, spec.spacing, state.plan.seed, state.index, state.plan.workers)
    for arrival, due in schedule:
        if state.stopped:
            return
        delay = perf0 + due - time.perf_counter()
        if delay > 0:
            gevent.sleep(delay)
        state.scheduled += 1
        rng = random.Random(stream_seed(state.plan.seed, "arrival", arrival))
        class_name = rng.choices(names, cum_weights=cum, k=1)[0]
        idle = state.idle.get(class_name)
        if not idle:
            state.dropped += 1
            continue
        idle.popleft().inbox.put((arrival, perf0 + due, rng))
        state.dispatched += 1


def start_user(runner: lr.WorkerRunner, name: str) -> None:
    """Start one user: Locust's `spawn_users` without its debug line, whose f-string is built even when
    debug logging is off and counts every running user (O(users) a call, so O(users^2) a ramp)."""
    if runner.state in (lr.STATE_INIT, lr.STATE_STOPPED):
        runner.update_state(lr.STATE_SPAWNING)
    runner.user_classes_by_name[name](runner.environment).start(runner.user_greenlets)


def stage_clock(state: WorkerState, runner: Any) -> None:
    """Closed-model stages: follow the stages' user count, starting this worker's slots below it in slot
    order (a user ramped down waits, and resumes its own sequence when it ramps up again)."""
    stages = state.stages or []
    mine = sorted(state.mine)
    while not state.stopped:
        state.limit = users_at(stages, time.time() - state.recorder.t0)
        while state.spawned < len(mine) and mine[state.spawned][0] < state.limit and not state.stopped:
            start_user(runner, mine[state.spawned][1])
            state.spawned += 1
            if state.spawned % FREEZE_EVERY == 0:
                gc.freeze()
        gevent.sleep(STAGE_TICK_S)


def _master_waiting(runner: lr.WorkerRunner) -> bool:
    """Messages from the master are waiting unread: it is alive, this worker is only slow to read them
    (a saturated event loop with thousands of users takes seconds to come round to its receiver)."""
    try:
        return messages_waiting(runner.client.socket)
    except (AttributeError, zmq.ZMQError):
        return False


def _master_checker(runner: lr.WorkerRunner, liveness: Liveness) -> None:
    """Replaces Locust's check (quit after MASTER_HEARTBEAT_TIMEOUT without a master heartbeat), which takes a
    master busy merging for a gone one: this worker stops its users only when the master is gone, i.e. the
    liveness connection (ZMTP heartbeats, answered by libzmq's I/O thread whatever the master's loop does) has
    been down MASTER_DOWN_S, or nothing came from the master's loop for MASTER_SILENT_S (runtime/alive.py)."""
    slow_said = False
    while True:
        gevent.sleep(1)
        silent = liveness.master_silent_for()
        verdict = master_verdict(liveness.down_for(), silent, _master_waiting(runner))
        if verdict == "gone":
            why = (
                f"the connection to the master has been down for {MASTER_DOWN_S:g}s (its process gone, stopped "
                "or unreachable)"
                if (liveness.down_for() or 0.0) >= MASTER_DOWN_S
                else f"no message from the master for {MASTER_SILENT_S:g}s"
            )
            log.error("%s: stopping", why)
            runner.quit()
            return
        if verdict == "slow" and not slow_said:
            log.warning(
                "no heartbeat from the master for %.0fs but its process answers: it is slow, not gone; "
                "the users go on (stopping after %gs without a word from it)",
                silent,
                MASTER_SILENT_S,
            )
        slow_said = verdict == "slow"


def _no_locust_check(self: lr.WorkerRunner) -> None:
    """Locust's own master-heartbeat check is replaced by _master_checker, started with the liveness thread."""


def _tick(liveness: Liveness) -> None:
    """Stamps the event loop's progress for the liveness thread, which measures how late it runs."""
    while True:
        liveness.loop_tick = time.monotonic()
        gevent.sleep(LOOP_TICK_S)


def _start_liveness(runner: lr.WorkerRunner, state: WorkerState) -> Liveness:
    master = state.plan.master
    try:
        ipv6 = bool(runner.client.socket.getsockopt(zmq.IPV6))
    except (AttributeError, zmq.ZMQError):
        ipv6 = False
    liveness = Liveness(f"tcp://{master.host}:{master.port}", runner.client_id, state.index, state.plan.token, ipv6)
    liveness.start(real_thread()[0])  # a real OS thread, not a greenlet
    state.liveness = liveness
    # the master's heartbeats stamped by the monotonic clock (Locust's `last_heartbeat_timestamp` is wall clock)
    runner.environment.events.heartbeat_received.add_listener(lambda **kw: liveness.heard_master())
    runner.greenlet.spawn(_tick, liveness)
    runner.greenlet.spawn(_master_checker, runner, liveness)
    return liveness


def run_worker(plan: Plan, index: int) -> int:
    watch_parent()
    state = WorkerState(plan, index)
    mask_logs(state.shown)  # every line this process logs (Locust's tracebacks of python users' tasks included)
    try:
        classes = build_user_classes(state)
    except ImportError as exc:  # a python user's module that fails here (load_class: its file, line and message)
        # said masked, not raised: the interpreter's traceback would quote the message as raised (a token, a DSN's
        # password, a `?access_token=`) on this process's stderr, a pod's log under Kubernetes
        sys.stderr.write(f"loadorch worker {index}: python user: {state.shown(str(exc))}\n")
        return 3
    env = Environment(user_classes=classes, host=plan.host, stop_timeout=0)
    _ignore_locust_stats(env)
    bound_response_heads(plan.max_response_head)  # client: locust and python users' FastHttpUser
    gc.freeze()  # modules, classes, the plan: never garbage, so never traversed again (see FREEZE_EVERY)
    if any(u.python for u in plan.scenario.users):
        _listen_to_python_users(env, state)
    mark("worker built its users")
    runner = _connect(env, plan, index)
    if runner is None:
        return 5
    mark("worker connected")
    session = WorkerSession(state, runner)
    runner.register_message("lo_start", session.on_start)
    runner.register_message("lo_stop", session.on_stop)
    _start_liveness(runner, state)
    hello = Hello(index=index, token=plan.token, pid=os.getpid(), clock=time.time(), host=socket.gethostname())
    runner.send_message("lo_hello", hello.to_json())
    mark("worker sent hello")
    runner.greenlet.join()
    if not state.stopped:
        emit(WorkerLostMaster(index=index))
        return 5
    return 0


def _ignore_locust_stats(env: Environment) -> None:
    """Locust's own request stats are not kept: the recorder is the run's record. Locust's keep an entry per
    request name, sent to the master every 3 s and kept there too, with no bound: a python user naming each
    request by its URL grew them by a name per id on both sides."""

    def ignore(*args: Any, **kwargs: Any) -> None:
        return None

    env.stats.log_request = ignore  # type: ignore[method-assign]
    env.stats.log_error = ignore  # type: ignore[method-assign]


def _listen_to_python_users(env: Environment, state: WorkerState) -> None:
    from loadorch.runtime.pyusers import PythonRequests, current_mask, install_random

    install_random()
    state.user_mask = current_mask
    plan = state.plan
    header = QueryHeader.from_json(plan.query_header)
    listener = PythonRequests(state.recorder, plan.scenario.kinds, state.index, state.request_log, header,
                              Redactor(plan.secrets))
    env.events.request.add_listener(listener.on_request)
    env.events.user_error.add_listener(listener.on_user_error)
    state.python_requests = listener  # names the requests its users were stopped waiting on (python_stopped)


def _connect(env: Environment, plan: Plan, index: int) -> lr.WorkerRunner | None:
    """The Locust worker runner, connected to the master; None (after saying why) if it did not answer within
    `worker_connect_timeout`: the port's wait and Locust's hello together, not one after the other (each took
    the whole timeout, and Locust's hello waits in steps of 5 s: a 2 s timeout gave up after 12 s)."""
    lr.WorkerRunner.heartbeat_timeout_checker = _no_locust_check  # type: ignore[method-assign,assignment]
    master = plan.master
    started = time.monotonic()
    left = _await_port(master.host, master.port, plan.worker_connect_timeout_s)
    if left > 0:  # the port takes connections: Locust's hello, in the time left, in steps of at most 5 s
        attempts = math.ceil(left / LOCUST_HELLO_STEP_S)
        lr.CONNECT_TIMEOUT = left / attempts  # type: ignore[assignment]
        lr.CONNECT_RETRY_COUNT = attempts - 1  # Locust tries once, then this many times more
        try:
            with _worker_identity(index, plan.token):
                runner = env.create_worker_runner(master.host, master.port)
        except ConnectionError:
            pass
        else:
            assert isinstance(runner, lr.WorkerRunner)
            _no_locust_exception_messages(env)
            return runner
    sys.stderr.write(
        f"loadorch worker {index}: master at {master.host}:{master.port} did not answer "
        f"within {plan.worker_connect_timeout_s:g}s (waited {time.monotonic() - started:.1f} s); giving up\n"
    )
    return None


def _no_locust_exception_messages(env: Environment) -> None:
    """Locust's worker sends each python user's exception to its master, its text as raised (a token the task
    quoted, unmasked) and through a send that retries for 9 s in the user's own greenlet when the text cannot be
    encoded (a lone surrogate). loadorch records task errors itself (pyusers.on_user_error: masked, bounded) and
    its master never reads Locust's: that listener is removed."""
    handlers = env.events.user_error._handlers
    handlers[:] = [h for h in handlers if "WorkerRunner" not in getattr(h, "__qualname__", "")]


def _await_port(host: str, port: int, timeout_s: float) -> float:
    """Wait (polls of 5 ms, at most `timeout_s`) until the master's port takes connections; the seconds left
    of `timeout_s` then (0.0: it never did). A worker forked beside its master often asks before the master
    has bound: ZeroMQ, under Locust's connect, is refused then and tries again only after its reconnect
    interval (100 ms), and the first request waits for it."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection((host, port), timeout=max(0.05, deadline - time.monotonic())).close()
            return max(0.001, deadline - time.monotonic())
        except OSError:
            if time.monotonic() >= deadline:
                return 0.0
            gevent.sleep(0.005)


def send_wire(runner: lr.WorkerRunner, kind: str, data: dict[str, Any]) -> None:
    """Send a message to the master; one whose text msgpack cannot encode (a lone surrogate in a python user's
    request name or error) is sent again with those characters escaped (wire.escaped_surrogates), not lost."""
    try:
        runner.send_message(kind, data)
    except UnicodeEncodeError:
        runner.send_message(kind, escaped_surrogates(data))


class WorkerSession:
    """The worker's side of a run: start on `lo_start`, spawn, report every second, stop on `lo_stop`."""

    def __init__(self, state: WorkerState, runner: lr.WorkerRunner) -> None:
        self.state = state
        self.runner = runner
        self.final_sent = False

    def send_stats(self, final: bool = False) -> None:
        message = self.state.stats_message(self.runner.user_count, final)
        send_wire(self.runner, "lo_stats", message.to_wire())

    def spawn(self) -> None:
        state, runner, plan = self.state, self.runner, self.state.plan
        mark("worker spawning")
        if plan.open is not None:  # every user at once, idle until an arrival needs it; then the clock starts
            for _, name in state.mine:
                start_user(runner, name)
                state.spawned += 1
            gevent.sleep(0)
            gc.freeze()
            perf0 = time.perf_counter() - (time.time() - state.recorder.t0)
            dispatch_arrivals(state, perf0)
            return
        if state.stages is not None:
            return stage_clock(state, runner)
        rate = max(plan.spawn_rate / plan.workers, 1e-6)
        began = time.perf_counter()
        late_max = 0.0
        with ramp_heap(len(state.mine) / rate):
            for k, (_, name) in enumerate(state.mine):
                # user k starts at k / rate from the start; a late loop catches up (a sleep per user would let
                # a busy event loop stretch the ramp: each sleep lasts at least one turn of the loop), and
                # users due within SPAWN_SLACK_S start together (one wake-up, not one per user)
                due = began + k / rate
                delay = due - time.perf_counter()
                if delay > SPAWN_SLACK_S:
                    gevent.sleep(delay)
                if state.stopped:
                    return
                late_max = max(late_max, time.perf_counter() - due)
                start_user(runner, name)
                state.spawned += 1
                if state.spawned % FREEZE_EVERY == 0:
                    gc.freeze()
        if state.mine:
            state.ramp = Ramp(
                users=len(state.mine),
                planned_s=round((len(state.mine) - 1) / rate, 4),
                took_s=round(time.perf_counter() - began, 4),
                late_max_s=round(late_max, 4),
            )

    def report(self) -> None:
        # reports go on while the users stop (thousands take seconds to unwind), so the master does not
        # take a worker that is stopping for a lost one; the final report ends them
        while not self.final_sent:
            gevent.sleep(REPORT_INTERVAL_S)
            if not self.final_sent:
                self.send_stats()

    def on_start(self, environment: Environment, msg: Any, **kw: Any) -> None:
        if self.state.started:
            return
        self.state.started = True
        mark("worker heard lo_start")
        self.state.recorder.t0 = Start.model_validate(msg.data).t0
        gevent.spawn(self.spawn)
        gevent.spawn(self.report)

    def on_stop(self, environment: Environment, msg: Any, **kw: Any) -> None:
        if self.state.stopped:
            return
        # the load's last stretch reported now, with its CPU; the reports while the users unwind say `stopping`
        last = self.state.stats_message(self.runner.user_count, final=False, flush=True)
        self.state.stopped = True
        send_wire(self.runner, "lo_stats", last.to_wire())
        self.runner.user_greenlets.kill(block=True, timeout=5)
        self.final_sent = True
        self.send_stats(final=True)
