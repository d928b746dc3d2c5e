"""Python users: a scenario's Locust user classes, seeded, measured and gated like declarative users.

The class is subclassed so that each instance gets `self.loadorch` (its slot, its own RNG stream and the
scenario's data generators), and Locust's own task choice and `between()` waits draw from that same
stream (they use the global `random` module, reproducible only this way). Their requests arrive through
Locust's request event and go into the same histograms; an exception in a task is a failure with the
file and line where it happened. The credentials a user's requests carry (a captured token in `Authorization`, a
cookie, `?access_token=...`) are masked, with the run's secrets, in everything it shows from then on: its
failures, the exceptions its tasks raise, the worker's log lines (current_mask).
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import random
import sys
import time
import traceback
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gevent
from locust import User
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession, FastHttpUser
from locust.exception import StopUser

from loadorch.runtime.headbound import header_text
from loadorch.stats.exemplars import NOT_MEASURED, Row
from loadorch.stats.exemplars import row as exemplar_row
from loadorch.stats.tables import Recorder, SeriesKey
from loadorch.traffic import data as gen
from loadorch.traffic.redact import (
    NO_SECRETS,
    SECRET_HEADERS,
    Redactor,
    credentials,
    masked_reason,
    query_credentials,
    sendable,
    target_params,
)
from loadorch.traffic.request import Outcome, request_log_line
from loadorch.traffic.servertiming import parse as parse_server_timing
from loadorch.traffic.trace import TraceIds, trace_client

_CURRENT: dict[Any, PythonUserContext] = {}  # greenlet -> the python user running in it
HELD_KEPT = 8  # the credentials a python user's requests carried, kept (the latest) to mask what it shows later


class PythonUserContext:
    """`self.loadorch` inside a python user: its identity, RNG stream and the scenario's generators."""

    def __init__(
        self, slot: int, slots: int, worker: int, seed: int, generators: Mapping[str, gen.Generator], user_class: str
    ) -> None:
        self.slot = slot
        self.user_class = user_class
        self.worker = worker
        self.random = gen.user_random(seed, slot)
        self._state = gen.DrawState(slot=slot, slots=slots)
        self._generators = generators
        self.sequence = 0
        self.trace_id = ""  # the traceparent's trace id loadorch put on this user's request under way ("": none)
        self.held: dict[str, None] = {}  # the credentials its requests carried, the most recent last
        self.mask: Redactor | None = None  # the run's secrets and `held` (None: its requests carried none yet)
        # the request its client was waiting on when the run stopped this user (watch_client), None: it was not
        self.stopped: StoppedRequest | None = None

    def data(self, name: str) -> Any:
        """A fresh draw from the scenario's generator `name`, from this user's stream."""
        return self._generators[name].draw(name, self.random, self._state)

    def carried(self, found: set[str], base: Redactor) -> Redactor | None:
        """The credentials one of this user's requests carried (`found`) join those it holds (the last HELD_KEPT):
        a token it captured is masked in what it shows from then on (a later failure, an exception its task raises
        quoting it), not only in that request's. The redactor for this request (`base`: the run's secrets), None
        when the user has carried none."""
        if not found:
            return self.mask
        held = self.held
        if not found <= held.keys():
            for credential in sorted(found):
                held.pop(credential, None)
                held[credential] = None
            while len(held) > HELD_KEPT:
                del held[next(iter(held))]
            self.mask = base.plus(held)
        assert self.mask is not None
        return self.mask if len(found) <= HELD_KEPT else self.mask.plus(found)  # (more than kept: all this request's)


@dataclass(frozen=True)
class StoppedRequest:
    """A python user's request the run stopped while it waited for the target, as its client was given it: named
    as Locust names it (PythonRequests.stopped_key) only then, so a request that ends costs a clock read."""

    method: str
    url: str  # as the task gave it (FastHttpSession names a request by it) ...
    sent: str  # ... and with the client's base URL, whose path and query (and `params`) HttpSession names it by
    name: str | None  # the task's name for it (`name=`, or the client's rename_request)
    params: Any
    context: Any  # the user's context() and the request's `context=`: its `kind`
    waited_s: float
    fast: bool  # FastHttpSession's naming (the URL as given), else HttpSession's (the path sent)


def watch_client(client: Any, context: PythonUserContext) -> None:
    """A python user's client (Locust's HttpSession or FastHttpSession: their get, post ... go through `request`)
    notes on `context.stopped` the request it was waiting on when the run stopped the user (the greenlet's
    GreenletExit inside the request): neither answered nor failed, it is counted apart (the worker's unanswered
    table), as a declarative user's is. A user class without such a client is left as it is."""
    request = getattr(client, "request", None)
    if not callable(request):
        return
    fast = not isinstance(client, HttpSession)

    def watched(method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return request(method, url, *args, **kwargs)
        except gevent.GreenletExit:
            if context.stopped is None:  # the first: a request its on_stop sends after is not the one it waited on
                context.stopped = _stopped(client, method, url, args, kwargs, time.perf_counter() - start, fast)
            raise

    client.request = watched


def _stopped(client: Any, method: Any, url: Any, args: tuple[Any, ...], kwargs: dict[str, Any], waited: float,
             fast: bool) -> StoppedRequest:  # fmt: skip
    name = kwargs.get("name", args[0] if args else None) or getattr(client, "request_name", None)
    build = getattr(client, "_build_url", None)
    try:
        sent = str(build(url)) if callable(build) else str(url)
    except Exception:
        sent = str(url)
    user = getattr(client, "user", None)
    try:  # as Locust merges them for the request event: the user's context, then the request's own
        merged = {**(user.context() if user is not None else {}), **(kwargs.get("context") or {})}
    except Exception:
        merged = kwargs.get("context") or {}
    return StoppedRequest(str(method), str(url), sent, str(name) if name else None, kwargs.get("params"), merged,
                          waited, fast)


class _PerUserRandom:
    """Stands in for the `random` module inside Locust's task and wait-time code."""

    def __getattr__(self, name: str) -> Any:
        ctx = _CURRENT.get(gevent.getcurrent())
        return getattr(ctx.random if ctx is not None else random, name)


def install_random() -> None:
    # by module name: `locust.user.task` as an attribute is the @task decorator, not the module
    for name in ("locust.user.task", "locust.user.wait_time"):
        importlib.import_module(name).random = _PerUserRandom()  # type: ignore[attr-defined]


def load_class(scenario_dir: str, ref: str) -> type[User]:
    """Import `file.py:Class` (relative to the scenario); errors name the file and line."""
    rel, _, name = ref.rpartition(":")
    path = os.path.join(scenario_dir, rel)
    module_name = "loadorch_user_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: cannot load this file as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # (a module's sys.exit(message) too: its message, masked by the caller)
        raise ImportError(f"{_where(exc, path)}: {type(exc).__name__}: {exc}") from None
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, User)):
        raise ImportError(f"{path}: no Locust user class named {name!r}")
    return cls


def _where(exc: BaseException, path: str) -> str:
    line = getattr(exc, "lineno", None)
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == os.path.abspath(path):
            line = frame.lineno
    return f"{path}:{line}" if line else path


def python_user_class(
    base: type[User],
    name: str,
    slots: Any,
    make_context: Callable[[int], PythonUserContext],
    iterations: int | None,
    host: str,
    on_finish: Callable[[], None],
    on_failure: Callable[[int, str, BaseException, Redactor | None], None],
    tracer: TraceIds | None = None,
    timeout_s: float | None = None,
    on_stopped: Callable[[PythonUserContext], None] | None = None,
) -> type[User]:
    """A subclass of the user's class that carries `self.loadorch`, stops after `iterations` tasks,
    sends the worker's trace ids (`tracer`; None: none) on every request of its client, and bounds each
    request by the profile's `request_timeout` (`timeout_s`) where the class does not set a timeout itself;
    `on_stopped`: told of a user the run stopped while its request waited for the target (watch_client)."""

    def __init__(self: Any, environment: Any) -> None:
        base.__init__(self, environment)
        self.loadorch = make_context(slots.popleft())
        if timeout_s is not None:
            bound_client(getattr(self, "client", None), timeout_s, fast_bounded)
        if tracer is not None:
            trace_client(getattr(self, "client", None), tracer, self.loadorch)
        if on_stopped is not None:
            watch_client(getattr(self, "client", None), self.loadorch)

    def run(self: Any) -> None:
        _CURRENT[gevent.getcurrent()] = self.loadorch
        try:
            base.run(self)
        except (gevent.GreenletExit, StopUser):
            raise
        except Exception as exc:
            on_failure(self.loadorch.slot, name, exc, self.loadorch.mask)  # masked with what it carried
        finally:
            _CURRENT.pop(gevent.getcurrent(), None)
            if on_stopped is not None and self.loadorch.stopped is not None:
                on_stopped(self.loadorch)  # (Locust's User.run ends quietly on the GreenletExit that stopped it)
            on_finish()

    attrs: dict[str, object] = {  # the class namespace type() makes the Locust user class from
        "__init__": __init__,
        "run": run,
        "abstract": False,
        "host": host,
        "weight": 1,
        "fixed_count": 0,
        "__module__": base.__module__,
    }
    fast_bounded = False  # the profile's bound is the FastHttpUser's network timeout: the whole request gets it too
    if timeout_s is not None and issubclass(base, FastHttpUser):
        # FastHttpUser's own defaults (60 s each): the profile's bound, unless the class set its own
        for attr in ("network_timeout", "connection_timeout"):
            if getattr(base, attr) == getattr(FastHttpUser, attr):
                attrs[attr] = timeout_s
        fast_bounded = "network_timeout" in attrs
    cls: type[User] = types.new_class(name, (base,), {}, lambda ns: ns.update(attrs))
    if iterations is not None:
        # set after class creation: Locust's metaclass would add a `tasks` attribute to the base's tasks
        cls.tasks = [_counted(t, iterations) for t in base.tasks]
    return cls


def bound_client(client: Any, timeout_s: float, fast_bounded: bool = False) -> None:
    """A `requests`-based client (Locust's HttpSession: HttpUser) waits for ever by default: against a target that
    accepts and never answers, an `iterations` run never ended. Each request without a `timeout` of its own gets
    the profile's `request_timeout`, for the whole request: requests' timeout (and a FastHttpUser's network_timeout,
    set in python_user_class, `fast_bounded`) bounds each connect and each read, so a server that trickles a byte
    a second kept one request (and an `iterations` run) going for as many seconds as its body has bytes. Other
    clients, and requests with a timeout of their own, are left as they are."""
    expired = whole_request_timeout(timeout_s)  # made once per client, not per request
    if isinstance(client, HttpSession):
        request = client.request

        def bounded(method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
            if "timeout" in kwargs:  # the user's own: as requests reads it
                return request(method, url, *args, **kwargs)
            with gevent.Timeout(timeout_s, expired):
                return request(method, url, *args, timeout=timeout_s, **kwargs)

        client.request = bounded  # type: ignore[method-assign]
    elif fast_bounded and isinstance(client, FastHttpSession):
        fast_request = client.request

        def fast_bounded_request(method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
            with gevent.Timeout(timeout_s, expired):
                return fast_request(method, url, *args, **kwargs)

        client.request = fast_bounded_request  # type: ignore[method-assign]


def whole_request_timeout(timeout_s: float) -> type[TimeoutError]:
    """The error a request's whole-time bound raises (gevent.Timeout throws a class as a new instance of it, so no
    instance is shared by the greenlets it interrupts): once `timeout_s` has passed, the socket wait the request is
    in (gevent fires a timeout only where its greenlet waits: a connect, a send, a read) raises it, which the client
    turns into its own timeout, recorded as a failed request like any other."""
    message = f"timed out: the whole request took over {timeout_s:g}s (request_timeout)"

    class WholeRequestTimeout(TimeoutError):
        def __init__(self) -> None:
            super().__init__(message)

    return WholeRequestTimeout


def _counted(task: Any, limit: int) -> Any:
    if isinstance(task, type):
        return task  # a nested TaskSet runs its own loop: not counted

    def counted(user: Any, *args: Any, **kwargs: Any) -> Any:
        ctx = user.loadorch
        if ctx.sequence >= limit:
            raise StopUser
        ctx.sequence += 1
        return task(user, *args, **kwargs)

    counted.__name__ = getattr(task, "__name__", "task")
    return counted


SHOWN_KEPT = 4096  # request names whose masked form is kept (PythonRequests.shown); names are bounded later anyway


class PythonRequests:
    """Locust request events (and task errors) of python users, into the recorder and request log."""

    def __init__(
        self, recorder: Recorder, kinds: Mapping[str, str], worker: int, log: Any, query_header: Any = None,
        redactor: Redactor = NO_SECRETS,
    ) -> None:
        self.query_header = query_header  # loadorch.db.servertiming.QueryHeader: queries per request
        self.redactor = redactor  # the run's secrets, masked in a Server-Timing value before it is cut
        self.recorder = recorder
        self.kinds = kinds
        self.worker = worker
        self.log = log
        self.requests_seen: dict[int, int] = {}
        # a request's name as recorded: Locust names a request by its path and query unless the task says
        # otherwise, so `/download?token=...` was a series, a results.json name and an evidence row as sent;
        # masked as the request log's paths are (credential parameters, the run's secrets), made once a name
        self.shown: dict[str, str] = {}

    def kind_of(self, name: str, context: Mapping[str, Any] | None) -> str:
        kind = (context or {}).get("kind")
        if kind in ("read", "write"):
            return str(kind)
        if name in self.kinds:
            return self.kinds[name]
        for pattern, value in self.kinds.items():
            if fnmatch.fnmatchcase(name, pattern):
                return value
        return "unclassified"  # reported by the run's kinds check (verdict/integrity.py), never guessed

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        context: Any = None,
        exception: Any = None,
        url: Any = None,
        **kw: Any,
    ) -> None:
        ctx = _CURRENT.get(gevent.getcurrent())
        if ctx is None:
            return  # a declarative user's request (client: locust): recorded by its own runner
        status = int(getattr(response, "status_code", 0) or 0)
        ok = exception is None
        kind = self.kind_of(name, context if isinstance(context, dict) else None)  # the task's own name
        user_class = ctx.user_class
        # what this request carried joins what the user holds: masked in this request's name, reason, log and
        # Server-Timing, and in what the user shows later
        mine = ctx.carried(request_credentials(response, url), self.redactor)
        name = self._shown(name, mine)
        key = SeriesKey(user_class, name, kind, sendable(request_type.upper()), status, ok)
        # the reason may quote the request's URL (Locust's `HTTPError: 404 ... for url: /download?token=...`): its
        # credential parameters masked as the name's are
        error = None if ok else masked_reason(f"{type(exception).__name__}: {exception}", mine or self.redactor)
        latency_us = int(response_time * 1000)
        queries = None
        if self.query_header is not None and response is not None:
            queries = self.query_header.count(header_text(getattr(response, "headers", None), self.query_header.name))
        now = time.time()
        self.recorder.record(key, latency_us, now, error, None, queries)
        if ok and self.recorder.server_timing:  # its entries as metrics, as the declarative users' responses'
            timing = header_text(getattr(response, "headers", None), "Server-Timing")
            if timing is not None:
                entries = parse_server_timing(timing, mine or self.redactor, whole=mine is not None)
                self.recorder.record_server_timing(key, entries, now)
        if ok and self.recorder.exemplars.wants(name, latency_us):  # among the K slowest: its trace id
            row = self._exemplar(key, latency_us, now, response_length, response, ctx, mine)
            self.recorder.keep_exemplar(row)
        if self.log is not None:
            seq = self.requests_seen.get(ctx.slot, 0)
            self.requests_seen[ctx.slot] = seq + 1
            outcome = Outcome(status, ok, error, latency_us, _path(url, name), redactor=mine)  # its path masked too
            self.log.write(
                request_log_line(self.worker, ctx.slot, user_class, seq, kind, name, request_type.upper(), outcome)
            )

    def stopped_key(self, ctx: PythonUserContext) -> tuple[tuple[str, str, str, str], float] | None:
        """The (user, name, kind, method) of the request `ctx`'s user waited on when the run stopped it, named,
        classified and masked as its request event would have been (on_request), and how long it waited."""
        s = ctx.stopped
        if s is None:
            return None
        name = s.name or (s.url if s.fast else _sent_path(s.sent, s.params))
        kind = self.kind_of(name, s.context if isinstance(s.context, dict) else None)
        shown = self._shown(name, ctx.mask)
        return (ctx.user_class, shown, kind, sendable(s.method.upper())), s.waited_s

    def _shown(self, name: str, mine: Redactor | None) -> str:
        """`name` with its credential parameters and secrets masked (`self.shown`: the run's, once a name, at most
        SHOWN_KEPT names; a request that carried its own credentials is masked with them too, each time)."""
        if mine is not None:
            return sendable(mine.text(target_params(name)))
        shown = self.shown.get(name)
        if shown is None:
            shown = sendable(self.redactor.text(target_params(name)))
            if len(self.shown) < SHOWN_KEPT:
                self.shown[name] = shown
        return shown

    def _exemplar(self, key: SeriesKey, latency_us: int, now: float, size: Any, response: Any,
                  ctx: PythonUserContext, mine: Redactor | None) -> Row:
        """A python user's slow request as an exemplar row: its trace id and Server-Timing; its phases are
        not measured (Locust's clients time the whole request only)."""
        timing = header_text(getattr(response, "headers", None), "Server-Timing")
        return exemplar_row(key.name, key.method, key.status, latency_us, now - latency_us / 1e6,
                            size=int(size) if isinstance(size, int) and size >= 0 else NOT_MEASURED,
                            trace_id=ctx.trace_id,
                            server_timing=parse_server_timing(timing, mine or self.redactor, whole=mine is not None),
                            worker=self.worker, user=key.user)

    def on_user_error(self, user_instance: Any, exception: BaseException, tb: Any, **kw: Any) -> None:
        ctx = getattr(user_instance, "loadorch", None) or getattr(
            getattr(user_instance, "user", None), "loadorch", None
        )
        if ctx is None:
            return
        frames = traceback.extract_tb(tb)
        where = next(
            (
                f"{os.path.basename(f.filename)}:{f.lineno}"
                for f in reversed(frames)
                if "site-packages" not in f.filename
            ),
            "",
        )
        user_class = ctx.user_class
        key = SeriesKey(user_class, f"{user_class} task error", "unclassified", "TASK", 0, False)
        # masked, then cut (as a request's error is): a cut first left the first characters of a secret it quoted; with
        # the credentials the user's requests carried (`RuntimeError(f"bad answer for {token}")`) and the credential
        # parameters of a URL it names (requests' `HTTPError: ... for url: http://...?access_token=...`)
        error = masked_reason(f"{type(exception).__name__}: {exception} ({where})", ctx.mask or self.redactor)
        self.recorder.record(key, 0, time.time(), error)


def request_credentials(response: Any, url: Any = None) -> set[str]:
    """The credentials the request of `response` carried: in its credential headers (a token the task captured into
    `Authorization`, a session's cookie) and in its URL's credential parameters (`?access_token=...`; `url`: the
    request event's, when the response holds no request). The target may echo them in an error or its
    Server-Timing; the task may raise an exception quoting them."""
    request = getattr(response, "request", None)
    found: set[str] = set()
    headers = getattr(request, "headers", None)
    if headers:
        try:
            for k, v in headers.items():
                if str(k).lower() in SECRET_HEADERS:
                    found |= credentials(str(k), str(v))
        except (AttributeError, TypeError):  # a client whose request headers are no mapping
            pass
    for where in {u for u in (getattr(request, "url", None), url) if isinstance(u, str)}:
        found |= query_credentials(where)
    return found


def current_mask() -> Redactor | None:
    """The redactor of the python user running in this greenlet (the run's secrets and the credentials its requests
    carried), for a line the worker logs from it (Locust's traceback of its task's exception); None: no python user
    here, or it carried none."""
    ctx = _CURRENT.get(gevent.getcurrent())
    return None if ctx is None else ctx.mask


def _sent_path(url: str, params: Any) -> str:
    """The path and query HttpSession names a request by (requests' path_url: `params` joined to the URL's query, as
    requests encodes them), or `url`. Written here: requests is Locust's dependency, not loadorch's."""
    from urllib.parse import urlencode, urlsplit

    try:
        parts = urlsplit(url)
        query = parts.query
        if params:
            if isinstance(params, bytes):
                extra = params.decode("latin-1")
            elif isinstance(params, str):
                extra = params
            else:
                items = params.items() if isinstance(params, Mapping) else params
                extra = urlencode([(k, v) for k, v in items if v is not None], doseq=True)
            query = f"{query}&{extra}" if query and extra else (query or extra)
        return (parts.path or "/") + (f"?{query}" if query else "")
    except Exception:
        return url


def _path(url: Any, name: str) -> str:
    if not url:
        return name
    from urllib.parse import urlsplit

    parts = urlsplit(str(url))
    return parts.path + (f"?{parts.query}" if parts.query else "")
