"""Prometheus remote write 1.0: the WriteRequest protobuf, encoded by hand, and snappy block compression.

message WriteRequest { repeated TimeSeries timeseries = 1; }
message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
message Label        { string name = 1; string value = 2; }
message Sample       { double value = 1; int64 timestamp = 2; }   // timestamp in ms
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping, Sequence

HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": "loadorch",
}
BEARER_ENV = "LOADORCH_REMOTE_WRITE_BEARER_TOKEN"
BASIC_ENV = "LOADORCH_REMOTE_WRITE_BASIC_AUTH"  # user:password


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64 two's complement, as protobuf encodes negative varints
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_label(name: str, value: str) -> bytes:
    return _field_bytes(1, name.encode()) + _field_bytes(2, value.encode())


def encode_sample(value: float, timestamp_ms: int) -> bytes:
    return _varint(1 << 3 | 1) + struct.pack("<d", value) + _varint(2 << 3 | 0) + _varint(timestamp_ms)


def encode_series(labels: Mapping[str, str], value: float, timestamp_ms: int) -> bytes:
    """One TimeSeries with one sample; labels sorted by name, as the receiver requires."""
    body = b"".join(_field_bytes(1, encode_label(k, labels[k])) for k in sorted(labels))
    return body + _field_bytes(2, encode_sample(value, timestamp_ms))


def encode_write_request(samples: Sequence[tuple[Mapping[str, str], float]], timestamp_ms: int) -> bytes:
    return b"".join(_field_bytes(1, encode_series(labels, value, timestamp_ms)) for labels, value in samples)


def compress(body: bytes) -> bytes:
    """Snappy block format (not the framed format), as remote write specifies."""
    import cramjam

    return bytes(cramjam.snappy.compress_raw(body))


def auth_header(env: Mapping[str, str]) -> str | None:
    """Authorization from the environment (a secret: never logged, never in the plan file)."""
    token = env.get(BEARER_ENV)
    if token:
        return f"Bearer {token}"
    basic = env.get(BASIC_ENV)
    if basic:
        return "Basic " + base64.b64encode(basic.encode()).decode()
    return None


def secret_values(env: Mapping[str, str]) -> list[str]:
    """What a redactor must mask: the raw values and their encodings as sent."""
    out = []
    if env.get(BEARER_ENV):
        out.append(env[BEARER_ENV])
    basic = env.get(BASIC_ENV)
    if basic:
        out += [basic, base64.b64encode(basic.encode()).decode(), *basic.split(":", 1)[1:]]
    return out
