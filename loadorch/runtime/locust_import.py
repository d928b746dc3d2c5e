"""Importing Locust at a lower cost: the same Locust, the same gevent patching, less work on the way.

Two costs of `import locust` that a Locust process of loadorch does not need (benchmarks/README.md, start-up):

- gevent's `monkey.patch_all()` (Locust's `__init__` calls it) announces each module it patches to gevent's
  plugins, and finds them each time with `importlib.metadata.entry_points(group=...)`, which reads the
  metadata of every installed distribution: 25 times (about 0.35 s of CPU, a fifth of the fork server's
  imports, with 150 distributions installed). While Locust is imported, `entry_points` reads them once and
  answers each call from that reading with the same `select(**params)` the function itself ends with
  (nothing is installed during an import); it is the library's own function again afterwards.
- `locust.env` imports Locust's web UI (`from .web import WebUI`: Flask, Werkzeug, Jinja2, click ...),
  which loadorch never starts. `locust.web` is a stand-in until it is used: its `WebUI` imports the real
  module when a web UI is made, and so does any other name read from it; nothing of Locust is lost.
  tests/unit/test_locust_import.py fails if a Locust upgrade imports `locust.web` from anywhere else.
- `requests` (Locust's `HttpUser`) imports `charset_normalizer` for its `__version__` and keeps the module to
  guess an encoding; Locust's `FastHttpUser` binds its `detect`. While Locust imports, `charset_normalizer` is
  a stand-in holding the real version (from the installed metadata) and a `detect` that imports the real module
  at its first call, as any other name read from it does; once Locust is imported it leaves `sys.modules`, so
  every later `import charset_normalizer` (a user's python users) is the real package. About 5 % of the fork
  server's imports. tests/unit/test_locust_import.py fails if an upgrade of Locust or requests uses it otherwise.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from typing import Any

WEB = "locust.web"
CHARSET = "charset_normalizer"


def import_locust() -> None:
    """`import locust` (gevent's patching included), once per process, at the lower cost described above."""
    if "locust" in sys.modules:
        return
    with _entry_points_read_once():
        sys.modules.setdefault(WEB, _WebStandIn(WEB))
        charset = _charset_stand_in()
        try:
            import locust
        finally:
            if charset is not None and sys.modules.get(CHARSET) is charset:
                del sys.modules[CHARSET]  # what Locust and requests bound forwards; any later import is the real one

    if isinstance(sys.modules.get(WEB), _WebStandIn):
        locust.web = sys.modules[WEB]  # type: ignore[attr-defined]  # `import locust.web; locust.web.X` works


@contextlib.contextmanager
def _entry_points_read_once() -> Iterator[None]:
    from importlib import metadata

    real = metadata.entry_points
    found: list[Any] = []

    def entry_points(**params: Any) -> Any:
        if not found:
            found.append(real())
        return found[0].select(**params)  # what `entry_points(**params)` returns (its own last line)

    metadata.entry_points = entry_points  # type: ignore[assignment]
    try:
        yield
    finally:
        metadata.entry_points = real


def _real_web() -> types.ModuleType:
    """Locust's own `locust.web`, imported now in place of the stand-in."""
    if isinstance(sys.modules.get(WEB), _WebStandIn):
        del sys.modules[WEB]
    return importlib.import_module(WEB)


class WebUI:
    """Locust's `WebUI` as `locust.env` sees it: making one makes the real one (and imports Flask then)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return _real_web().WebUI(*args, **kwargs)


class _WebStandIn(types.ModuleType):
    """`locust.web` until something other than `WebUI` is read from it: then the real module."""

    WebUI = WebUI

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # the import system's questions (`__path__`: is it a package?): not a use
            raise AttributeError(name)
        return getattr(_real_web(), name)


def _charset_stand_in() -> _CharsetStandIn | None:
    """The stand-in `charset_normalizer`, in sys.modules now; None where the real one is imported already, is not
    installed, or its version cannot be read (then Locust imports the real one)."""
    if CHARSET in sys.modules or importlib.util.find_spec(CHARSET) is None:
        return None
    from importlib import metadata

    try:
        version = metadata.version("charset-normalizer")
    except metadata.PackageNotFoundError:
        return None
    stand_in = _CharsetStandIn(CHARSET)
    stand_in.__version__ = version
    sys.modules[CHARSET] = stand_in
    return stand_in


def _real_charset() -> types.ModuleType:
    if isinstance(sys.modules.get(CHARSET), _CharsetStandIn):
        del sys.modules[CHARSET]
    return importlib.import_module(CHARSET)


def detect(*args: Any, **kwargs: Any) -> Any:
    """`charset_normalizer.detect` as Locust's FastHttpUser binds it: the real one, imported at the first call."""
    return _real_charset().detect(*args, **kwargs)


class _CharsetStandIn(types.ModuleType):
    """`charset_normalizer` while Locust imports: its `__version__`, `detect`, and the real module for other names."""

    detect = staticmethod(detect)
    __version__: str

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # `__path__`: the import system asking whether it is a package, not a use
            raise AttributeError(name)
        return getattr(_real_charset(), name)
