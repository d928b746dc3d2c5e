"""The Server-Timing response header (W3C Server Timing, https://www.w3.org/TR/server-timing/) parsed
into entries: name, `dur` (milliseconds) and `desc` (pure).

    Server-Timing: app;dur=47.2, cache;desc="hit", db;dur=53;desc="users, orders"

Grammar (the spec's, on RFC 9110's list and token rules): a comma-separated list of metrics; a metric is a
token name followed by `;`-separated parameters `name=value`, a value a token or a quoted string (with
`\\` escapes). Parameter names are case-insensitive; only the first `dur` and the first `desc` of a metric
count (later ones are ignored, as the spec says); other parameters are ignored. An entry whose name is
not a token is dropped; one whose `dur` is not a number, or is negative, keeps its name and loses that
value. Bounded: at most MAX_ENTRIES entries per header, names cut to NAME_CHARS, descs to DESC_CHARS (the
rest is dropped).
"""

from __future__ import annotations

import re

from loadorch.traffic.redact import NO_SECRETS, Redactor, credential_pairs_in

MAX_ENTRIES = 32
NAME_CHARS = 64
DESC_CHARS = 120
MAX_VALUE = 8192  # characters of the header read; the rest is dropped
# the shortest cut a desc meets later (stats/servertiming.DESC_CHARS, a desc as a metric's tag): a longer one is
# masked with the run's secrets here, before any cut, which would leave a secret's first characters unmasked
SHORTEST_CUT = 40
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")

Entry = tuple[str, float | None, str | None]  # (name, dur ms, desc)


def _split(text: str, sep: str) -> list[str]:
    """`text` split on `sep` outside quoted strings (a desc may hold commas and semicolons); an unclosed
    quote runs to the end."""
    if '"' not in text:
        return text.split(sep)
    return [m.group(0) for m in _PARTS[sep].finditer(text)]


# a part: characters other than the separator and quotes, or quoted strings (escapes kept), at least one;
# or the empty part between two separators, or at either end. A quoted string never fails to match (an unclosed
# one runs to the end, a lone backslash there too): one that could failed at each of the value's quotes after
# scanning to its end, quadratic (`"\` 4,000 times, the 8 KB read: 0.9 s a response on a 2026 machine)
_PARTS = {
    sep: re.compile(r'(?:[^SEP"]|"(?:\\[\s\S]|[^"\\])*(?:"|\\?$))+|(?<=SEP)(?=SEP|$)|^(?=SEP)'.replace("SEP", sep))
    for sep in ",;"
}


def _value(raw: str) -> str:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    return raw


def _dur(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    # not NaN, not infinite, not negative: a time the app spent is never below 0 (counted as 0 ms, `dur=-5` on every
    # response passed a `p(95)<100` gate with nothing measured)
    return value if value == value and abs(value) != float("inf") and value >= 0 else None


def parse(value: str | bytes | None, redactor: Redactor = NO_SECRETS, whole: bool = False) -> list[Entry]:
    """Every entry of a Server-Timing value (several header lines joined by ", "), in order. What is cut
    (the header, a name, a desc longer than a later cut) is masked with `redactor` first: a secret the app
    echoes must not lose its mask to a cut (the whole values are masked with the rest of the run's output).
    `whole`: every name and desc is masked, cut or not (a request's own credentials, which no later mask knows)."""
    if value is None:
        return []
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    if len(text) > MAX_VALUE:
        text = redactor.cut(text, MAX_VALUE, more="")
    out: list[Entry] = []
    for metric in _split(text, ","):
        params = _split(metric, ";")
        name = params[0].strip()
        if not name or not _TOKEN.match(name):
            continue
        dur: float | None = None
        desc: str | None = None
        seen: set[str] = set()
        for param in params[1:]:
            key, eq, raw = param.partition("=")
            key = key.strip().lower()
            if not eq or key in seen:
                continue
            seen.add(key)
            if key == "dur":
                dur = _dur(_value(raw))
            elif key == "desc":
                # a target may echo what a request carried in it (its target with `?token=...`, `sig=...`): such
                # values are masked here, as nothing later knows them (the run's secrets are, as the rest of output)
                desc = credential_pairs_in(_value(raw))
                desc = redactor.cut(desc, DESC_CHARS, more="") if whole or len(desc) > SHORTEST_CUT else desc
        out.append((redactor.cut(name, NAME_CHARS, more="") if whole or len(name) > NAME_CHARS else name, dur, desc))
        if len(out) >= MAX_ENTRIES:
            break
    return out
