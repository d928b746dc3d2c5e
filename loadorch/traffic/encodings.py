"""Decoding a response body for checks and captures: Content-Encoding gzip, deflate, br and zstd (br and
zstd through cramjam, a runtime dependency), within max_response_body after decoding."""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable
from types import ModuleType


def _optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:  # pragma: no cover - a runtime dependency (pyproject.toml)
        return None


# without it, br and zstd bodies are refused with a clear error, never passed on undecoded
cramjam = _optional("cramjam")


class DecodeError(ValueError):
    """A body that cannot be decoded (short, stable: it becomes an error label)."""


def _zlib(wbits: int) -> Callable[[bytes, int], bytes]:
    def decode(data: bytes, limit: int) -> bytes:
        d = zlib.decompressobj(wbits)
        out = d.decompress(data, limit + 1)
        if len(out) <= limit and not d.eof and d.unconsumed_tail:
            raise DecodeError("truncated")
        return out

    return decode


def _deflate(data: bytes, limit: int) -> bytes:
    """`deflate` is meant to be zlib-wrapped (RFC 9110 8.4.1.2); some servers send it raw, which browsers
    and curl accept too."""
    try:
        return _zlib(zlib.MAX_WBITS)(data, limit)
    except zlib.error:
        return _zlib(-zlib.MAX_WBITS)(data, limit)


def _cramjam(kind: str) -> Callable[[bytes, int], bytes]:
    def decode(data: bytes, limit: int) -> bytes:
        if cramjam is None:
            raise DecodeError(f"{kind} needs the cramjam package (pip install cramjam)")
        return bytes(getattr(cramjam, kind).decompress(data))

    return decode


DECODERS: dict[str, Callable[[bytes, int], bytes]] = {
    "gzip": _zlib(16 + zlib.MAX_WBITS),
    "x-gzip": _zlib(16 + zlib.MAX_WBITS),
    "deflate": _deflate,
    "br": _cramjam("brotli"),
    "zstd": _cramjam("zstd"),
}


def decode(content_encoding: str, body: bytes, limit: int) -> bytes:
    """The body with every coding of `content_encoding` undone (last applied first). Raises DecodeError
    for an unknown coding, a corrupt body, or a decoded body over `limit` bytes."""
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    for coding in reversed(codings):
        if coding in ("", "identity"):
            continue
        decoder = DECODERS.get(coding)
        if decoder is None:
            raise DecodeError(
                f"unsupported Content-Encoding {coding!r} (gzip, deflate, br and zstd are decoded); "
                "send an Accept-Encoding header without it"
            )
        if not body:
            continue  # HEAD, 204, 304: nothing to decode
        try:
            body = decoder(body, limit)
        except DecodeError as exc:
            raise DecodeError(f"cannot decode the {coding} body: {exc}") from None
        except Exception as exc:  # zlib.error, cramjam's DecompressionError
            raise DecodeError(f"cannot decode the {coding} body: {str(exc)[:80]}") from None
        if len(body) > limit:
            raise DecodeError(f"response body over {limit} bytes after decoding (max_response_body)")
    return body
