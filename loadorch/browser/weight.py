"""Page weight from the DevTools network events: per document, requests and bytes by resource type.

A document is a navigation of the page's main frame (its `loaderId`); every request the document makes
carries that id. Transfer bytes are `Network.loadingFinished`'s encodedDataLength (headers and body as they
crossed the wire, 0 from the memory cache), decoded bytes the sum of `Network.dataReceived`'s dataLength.
A request counts once it finished (a blocked or failed one moved no bytes and is not counted); a redirect
is one request; a frame's own document (an iframe's navigation) and what it loads are not counted.
Third-party: a request to another host than the document's (the host its navigation landed on, after any
redirect), counted in its own type too.
Bounded: MAX_PENDING requests in flight, MAX_DOCUMENTS documents not taken yet, TOP largest resources per type.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from typing_extensions import TypedDict

if TYPE_CHECKING:  # the DevTools client imports websockets; the orchestrator reads weights without it
    from loadorch.browser.cdp import CdpObject

TYPES = ("document", "script", "stylesheet", "image", "font", "other", "third-party", "total")
OWN_TYPES = {"Document": "document", "Script": "script", "Stylesheet": "stylesheet", "Image": "image", "Font": "font"}
MAX_PENDING = 2000
MAX_DOCUMENTS = 8
TOP = 3


LargeRow = tuple[int, int, str, str]  # (transfer, decoded, type, url)


class WeightJson(TypedDict):
    """A document's weight as the worker sends it (Tally.to_json; browser/evidence.py checks it again)."""

    types: dict[str, list[int]]  # type -> [requests, transfer bytes, decoded bytes]
    largest: list[LargeRow]  # largest first


@dataclass
class Tally:
    """One document's weight: type -> [requests, transfer bytes, decoded bytes], and its largest resources."""

    host: str = ""
    types: dict[str, list[int]] = field(default_factory=lambda: {t: [0, 0, 0] for t in TYPES})
    largest: list[LargeRow] = field(default_factory=list)

    def add(self, kind: str, url: str, transfer: int, decoded: int) -> None:
        third = bool(self.host) and urlsplit(url).hostname != self.host
        for name in (kind, "total", *(("third-party",) if third else ())):
            row = self.types[name]
            row[0] += 1
            row[1] += transfer
            row[2] += decoded
        self._keep(kind, url, transfer, decoded)
        if third:  # the largest third-party resources are listed apart, under that type
            self._keep("third-party", url, transfer, decoded)

    def _keep(self, kind: str, url: str, transfer: int, decoded: int) -> None:
        same = [r for r in self.largest if r[2] == kind]
        if len(same) < TOP or transfer > min(r[0] for r in same):
            if len(same) >= TOP:
                self.largest.remove(min(same))
            self.largest.append((transfer, decoded, kind, url))

    def to_json(self) -> WeightJson:
        return {"types": {t: list(v) for t, v in self.types.items()}, "largest": sorted(self.largest, reverse=True)}


class Weigher:
    """Fed the page session's Network events (the reader thread); `take(loader)` hands a document's tally.
    Each event's params are the DevTools protocol's JSON (CdpObject), read with .get."""

    def __init__(self, main_frame: str = "") -> None:
        self.main_frame = main_frame  # the page's main frame: its navigations are the documents weighed
        self.lock = threading.Lock()
        self.pending: dict[str, list[Any]] = {}  # requestId -> [loader, type, url, decoded bytes]
        self.documents: dict[str, Tally] = {}

    def request(self, params: CdpObject) -> None:
        url = str(params.get("request", {}).get("url", ""))
        rid, loader = str(params.get("requestId", "")), str(params.get("loaderId", ""))
        if not url.startswith(("http://", "https://")) or not loader:
            return
        kind = OWN_TYPES.get(str(params.get("type", "")), "other")
        with self.lock:
            if rid in self.pending:  # a redirect: the same request goes on to its next URL
                self.pending[rid][2] = url
                if rid == loader and loader in self.documents:  # the document's: its host is where it landed
                    self.documents[loader].host = urlsplit(url).hostname or ""
                return
            if (
                rid == loader
                and kind == "document"
                and (not self.main_frame or params.get("frameId") == self.main_frame)
            ):
                self._tally(loader).host = urlsplit(url).hostname or ""
            elif loader not in self.documents:
                return  # a frame's own document or what it loads: not the page's (bounded, never counted)
            self.pending[rid] = [loader, kind, url, 0]
            while len(self.pending) > MAX_PENDING:
                del self.pending[next(iter(self.pending))]

    def data(self, params: CdpObject) -> None:
        with self.lock:
            row = self.pending.get(str(params.get("requestId", "")))
            if row is not None:
                row[3] += int(params.get("dataLength", 0) or 0)

    def finished(self, params: CdpObject) -> None:
        with self.lock:
            row = self.pending.pop(str(params.get("requestId", "")), None)
            if row is not None:
                loader, kind, url, decoded = row
                self._tally(loader).add(kind, url, int(params.get("encodedDataLength", 0) or 0), decoded)

    def failed(self, params: CdpObject) -> None:
        with self.lock:
            self.pending.pop(str(params.get("requestId", "")), None)

    def _tally(self, loader: str) -> Tally:
        tally = self.documents.get(loader)
        if tally is None:
            tally = self.documents[loader] = Tally()
            while len(self.documents) > MAX_DOCUMENTS:
                del self.documents[next(iter(self.documents))]
        return tally

    def take(self, loader: str | None) -> WeightJson | None:
        with self.lock:
            tally = self.documents.pop(loader or "", None)
        return None if tally is None else tally.to_json()
