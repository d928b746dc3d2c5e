"""The final scrape's grace (run/controller.py `_serve_final_scrape`): a signal ends it, whenever it comes."""

from __future__ import annotations

import queue
import signal
import threading
import time
from types import SimpleNamespace

from loadorch.run.controller import _serve_final_scrape
from loadorch.run.signals import StopSignals
from loadorch.wire import Done


class _Group:
    """The run's process group as the grace loop uses it: SIGTERM to the master ends its grace (Done)."""

    def __init__(self) -> None:
        self.events: queue.Queue[object] = queue.Queue()
        self.sent: list[int] = []

    def signal_master(self, sig: int) -> None:
        self.sent.append(sig)
        self.events.put(Done(stop_reason=None, elapsed_s=3.0))

    def master(self) -> object:
        return self

    def poll(self) -> dict[str, int | None]:
        return {"master": None}


def _grace(signals: StopSignals, on_note: object = None) -> tuple[_Group, float]:
    group = _Group()
    run = SimpleNamespace(lingering=group, grace_s=300.0, serving=["http://127.0.0.1:9/metrics"])
    progress = SimpleNamespace(note=on_note or (lambda text: None))
    began = time.monotonic()
    done = threading.Event()

    def serve() -> None:
        _serve_final_scrape(run, signals, progress)  # type: ignore[arg-type]
        done.set()

    threading.Thread(target=serve, daemon=True).start()
    return group, began if done.wait(20) else float("nan")


def test_a_signal_that_comes_while_the_note_is_written_ends_the_grace() -> None:
    """A user or a script that stops the run as soon as it reads "serving the final metrics ... Ctrl-C ends it
    early" can send the signal before the loop starts: it must still end the grace (it was missed, and the
    run waited out its whole 300 s grace: test_run_end's flaky failure under load)."""
    signals = StopSignals()

    def note(text: str) -> None:
        assert "Ctrl-C ends it early" in text
        signals.received = signal.SIGINT  # what the handler does, at this very moment

    group, began = _grace(signals, note)
    assert group.sent == [signal.SIGTERM] and time.monotonic() - began < 20


def test_a_signal_during_the_grace_ends_it_once() -> None:
    signals = StopSignals()
    group = _Group()
    run = SimpleNamespace(lingering=group, grace_s=300.0, serving=[])
    thread = threading.Thread(target=_serve_final_scrape,
                              args=(run, signals, SimpleNamespace(note=lambda text: None)), daemon=True)
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive() and group.sent == []  # serving, no signal yet
    signals.received = signal.SIGTERM
    thread.join(20)
    assert not thread.is_alive() and group.sent == [signal.SIGTERM]


def test_a_run_interrupted_before_its_grace_has_none() -> None:
    signals = StopSignals()
    signals.received = signal.SIGINT
    group, _ = _grace(signals)
    assert group.sent == []
