"""The worker process: a Locust worker whose users run the scenario's virtual users."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import random
import sys
import time
from collections.abc import Iterator
from typing import Any

import gevent
import gevent.queue
import locust.runners as lr
from gevent import GreenletExit
from locust import User
from locust.env import Environment

from loadorch.config.checks import check_names
from loadorch.config.scenario import Scenario
from loadorch.config.tags import tag_table, tags_of
from loadorch.db.servertiming import QueryHeader
from loadorch.run.plan import generator_from_json
from loadorch.run.preflight import address_guard
from loadorch.runtime.common import MASTER_HEARTBEAT_TIMEOUT_S, REPORT_INTERVAL_S, emit, watch_parent
from loadorch.runtime.vu import DEFAULT_MAX_BODY, Origin, RequestRunner, VirtualUser, compile_request
from loadorch.traffic.arrivals import for_worker
from loadorch.traffic.data import cumulative, stream_seed
from loadorch.traffic.stages import users_at
from loadorch.verdict.stats import Recorder

log = logging.getLogger("loadorch.worker")
STAGE_TICK_S = 0.05  # how often the stage clock (and a waiting user) looks at the stage's user count


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
    def __init__(self, plan: dict[str, Any], index: int) -> None:
        self.plan = plan
        self.index = index
        self.recorder = Recorder(
            plan["interval_s"], time.time(), (plan.get("metrics") or {}).get("edges_us", ()), plan.get("window") or ()
        )
        self.seq = 0
        self.started = False
        self.stopped = False
        self.spawned = 0
        self.finished = 0
        self.mine = [(slot, name) for slot, name, w in plan["allocation"] if w == index]
        self.request_log = LineBuffer() if plan.get("request_log") else None
        self.idle: dict[str, collections.deque[Any]] = collections.defaultdict(collections.deque)
        self.scheduled = self.dispatched = self.dropped = 0
        self.cpu_last = (time.monotonic(), time.process_time())
        # closed-model stages: users with slot < limit run, the others wait (see traffic/stages.py)
        self.stages: list[tuple[float, float, float]] | None = plan.get("stages")
        self.limit = len(plan["allocation"]) if self.stages is None else 0
        self.running: set[int] = set()  # slots spawned and not finished

    def active_users(self) -> int:
        return sum(1 for slot in self.running if slot < self.limit)

    def cpu_percent(self) -> float:
        now, cpu = time.monotonic(), time.process_time()
        wall = now - self.cpu_last[0]
        used = cpu - self.cpu_last[1]
        self.cpu_last = (now, cpu)
        return round(100.0 * used / wall, 1) if wall > 0 else 0.0


def build_user_classes(state: WorkerState) -> list[type[User]]:
    plan = state.plan
    scenario = Scenario.model_validate(plan["scenario"])
    generators = {n: generator_from_json(g) for n, g in plan["data"].items()}
    origin = Origin.parse(plan["host"])
    table = tag_table(scenario, plan.get("tags") or {})
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
        compiled = [
            dataclasses.replace(
                compile_request(ep, ep.name, ep.effective_kind, captures, plan["headers"]),
                tags=tuple(sorted(tags_of(table, name, ep.name).items())),
                checks=tuple(check_names(ep)),
            )
            for ep in spec.requests
        ]
        weights = [ep.weight for ep in spec.requests]
        classes.append(
            _user_class(state, name, slots[name], compiled, weights, spec.think_time.bounds, generators, origin)
        )
    return classes


def _python_class(
    state: WorkerState, ref: str, name: str, slots: collections.deque[int], generators: Any
) -> type[User]:
    from loadorch.runtime.pyusers import PythonUserContext, load_class, python_user_class

    plan = state.plan

    def make_context(slot: int) -> PythonUserContext:
        return PythonUserContext(slot, plan["users"], state.index, plan["seed"], generators, name)

    def finished() -> None:
        state.finished += 1

    base = load_class(plan["scenario_dir"], ref)
    return python_user_class(base, name, slots, make_context, plan.get("iterations"), plan["host"], finished)


def make_runner(origin: Origin, plan: dict[str, Any], environment: Environment) -> Any:
    """The lean client, or Locust's FastHttpSession where the scenario asks for `client: locust`."""
    header = QueryHeader.from_json(plan.get("query_header"))
    if plan["scenario"].get("client") == "locust":
        from loadorch.runtime.locust_client import LocustClientRunner

        return LocustClientRunner(
            origin,
            plan["request_timeout_s"],
            environment,
            plan.get("allowed_hosts") or (),
            plan.get("addresses") or (),
            plan.get("max_response_body", DEFAULT_MAX_BODY),
            query_header=header,
        )
    limit = plan.get("max_response_body", DEFAULT_MAX_BODY)
    pinned = plan.get("addresses") or ()
    check = None if pinned or "allowed_hosts" not in plan else address_guard(plan["host"], plan["allowed_hosts"])
    return RequestRunner(origin, plan["request_timeout_s"], limit, pinned, check, query_header=header)


def _user_class(
    state: WorkerState,
    name: str,
    slots: collections.deque[int],
    compiled: list[Any],
    weights: list[float],
    think: tuple[float, float],
    generators: Any,
    origin: Origin,
) -> type[User]:
    plan = state.plan
    iterations = plan.get("iterations")

    def __init__(self: Any, environment: Environment) -> None:
        User.__init__(self, environment)
        self.vu = VirtualUser(
            slot=slots.popleft(),
            slots=plan["users"],
            worker=state.index,
            user_name=name,
            seed=plan["seed"],
            requests=compiled,
            weights=weights,
            think=think,
            generators=generators,
            runner=make_runner(origin, plan, environment),
            recorder=state.recorder,
            request_log=state.request_log,
        )

    def run(self: Any) -> None:
        vu = self.vu
        if plan.get("open"):
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
            raise
        except Exception:
            log.exception("virtual user %s failed", vu.slot)
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
            "host": plan["host"],
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
        raise
    except Exception:
        log.exception("virtual user %s failed", user.vu.slot)
    finally:
        user.vu.runner.close()


def dispatch_arrivals(state: WorkerState, perf0: float) -> None:
    """The open model's clock: hand each of this worker's arrivals to an idle user at its due time,
    or count it as dropped when none is idle (never queued: a queue would hide the overload)."""
    spec = state.plan["open"]
    names = [n for n, _ in spec["class_weights"]]
    cum = cumulative([w for _, w in spec["class_weights"]])
    schedule = for_worker(spec["stages"], spec["spacing"], state.plan["seed"], state.index, state.plan["workers"])
    for arrival, due in schedule:
        if state.stopped:
            return
        delay = perf0 + due - time.perf_counter()
        if delay > 0:
            gevent.sleep(delay)
        state.scheduled += 1
        rng = random.Random(stream_seed(state.plan["seed"], "arrival", arrival))
        class_name = rng.choices(names, cum_weights=cum, k=1)[0]
        idle = state.idle.get(class_name)
        if not idle:
            state.dropped += 1
            continue
        idle.popleft().inbox.put((arrival, perf0 + due, rng))
        state.dispatched += 1


def stage_clock(state: WorkerState, runner: Any) -> None:
    """Closed-model stages: follow the stages' user count, starting this worker's slots below it in slot
    order (a user ramped down waits, and resumes its own sequence when it ramps up again)."""
    stages = state.stages or []
    mine = sorted(state.mine)
    while not state.stopped:
        state.limit = users_at(stages, time.time() - state.recorder.t0)
        while state.spawned < len(mine) and mine[state.spawned][0] < state.limit and not state.stopped:
            runner.spawn_users({mine[state.spawned][1]: 1})
            state.spawned += 1
        gevent.sleep(STAGE_TICK_S)


def _heartbeat_timeout_checker(self: lr.WorkerRunner) -> None:
    """Locust's check, made safe for a suspended process (SIGSTOP, a paused VM): the master's
    heartbeats queued meanwhile are read before the silence counts, so only real silence quits."""
    stale_since: float | None = None
    while True:
        gevent.sleep(1)
        last = self.last_heartbeat_timestamp
        if last and last < time.time() - lr.MASTER_HEARTBEAT_TIMEOUT:
            if stale_since is not None and time.monotonic() - stale_since >= 2.0:
                log.error("no heartbeat from the master for %ss: stopping", lr.MASTER_HEARTBEAT_TIMEOUT)
                self.quit()
                return
            stale_since = stale_since or time.monotonic()
        else:
            stale_since = None


def run_worker(plan: dict[str, Any], index: int) -> int:
    watch_parent()
    state = WorkerState(plan, index)
    classes = build_user_classes(state)
    env = Environment(user_classes=classes, host=plan["host"], stop_timeout=0)
    if any(u.get("python") for u in plan["scenario"]["users"]):
        from loadorch.runtime.pyusers import PythonRequests, install_random

        install_random()
        listener = PythonRequests(
            state.recorder,
            plan["scenario"].get("kinds") or {},
            index,
            state.request_log,
            QueryHeader.from_json(plan.get("query_header")),
        )
        env.events.request.add_listener(listener.on_request)
        env.events.user_error.add_listener(listener.on_user_error)
    lr.MASTER_HEARTBEAT_TIMEOUT = MASTER_HEARTBEAT_TIMEOUT_S
    lr.WorkerRunner.heartbeat_timeout_checker = _heartbeat_timeout_checker  # type: ignore[method-assign,assignment]
    lr.CONNECT_RETRY_COUNT = max(1, int(plan["worker_connect_timeout_s"] // lr.CONNECT_TIMEOUT))
    master = plan["master"]
    try:
        with _worker_identity(index, plan["token"]):
            runner = env.create_worker_runner(master["host"], master["port"])
    except ConnectionError:
        sys.stderr.write(
            f"loadorch worker {index}: master at {master['host']}:{master['port']} did not answer "
            f"within {plan['worker_connect_timeout_s']:g}s; giving up\n"
        )
        return 5
    assert isinstance(runner, lr.WorkerRunner)

    def send_stats(final: bool = False) -> None:
        state.seq += 1
        runner.send_message(
            "lo_stats",
            {
                "index": index,
                "token": plan["token"],
                "seq": state.seq,
                "delta": state.recorder.take_delta(),
                "cpu": state.cpu_percent(),
                "users": runner.user_count if state.stages is None else state.active_users(),
                "spawned": state.spawned,
                "done": state.started and state.spawned == len(state.mine) and state.finished == len(state.mine),
                "final": final,
                "total": state.recorder.total,
                "log": state.request_log.take() if state.request_log is not None else [],
                "arrivals": {"scheduled": state.scheduled, "dispatched": state.dispatched, "dropped": state.dropped},
            },
        )

    def spawner() -> None:
        if plan.get("open"):  # every user at once, idle until an arrival needs it; then the clock starts
            for _, name in state.mine:
                runner.spawn_users({name: 1})
                state.spawned += 1
            gevent.sleep(0)
            perf0 = time.perf_counter() - (time.time() - state.recorder.t0)
            dispatch_arrivals(state, perf0)
            return
        if state.stages is not None:
            return stage_clock(state, runner)
        rate = max(plan["spawn_rate"] / plan["workers"], 1e-6)
        for _, name in state.mine:
            if state.stopped:
                return
            runner.spawn_users({name: 1})
            state.spawned += 1
            gevent.sleep(1.0 / rate)

    def reporter() -> None:
        while not state.stopped:
            gevent.sleep(REPORT_INTERVAL_S)
            if not state.stopped:
                send_stats()

    def on_start(environment: Environment, msg: Any, **kw: Any) -> None:
        if state.started:
            return
        state.started = True
        state.recorder.t0 = float(msg.data["t0"])
        gevent.spawn(spawner)
        gevent.spawn(reporter)

    def on_stop(environment: Environment, msg: Any, **kw: Any) -> None:
        if state.stopped:
            return
        state.stopped = True
        runner.user_greenlets.kill(block=True, timeout=5)
        send_stats(final=True)

    runner.register_message("lo_start", on_start)
    runner.register_message("lo_stop", on_stop)
    runner.send_message("lo_hello", {"index": index, "token": plan["token"], "pid": os.getpid()})
    runner.greenlet.join()
    if not state.stopped:
        emit("worker_lost_master", index=index)
        return 5
    return 0
