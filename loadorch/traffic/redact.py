"""Keeping secrets out of every output: known secret values (in every encoding the product produces)
and credential headers by name.

Documents are redacted value by value, never as text: a secret equal to `pass` or `test` must not turn
`"verdict": "pass"` or `<testcase>` into something else. Short secrets are still masked, and warned about
(see `short_secret_warnings`).
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

MASK = "***"
TARGET_SAFE = "!#$%&'()*+,/:;=?@[]~"  # printable ASCII a request target may hold as written
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"}
)
# words of the product's own vocabulary: never a user's data, kept whole when a secret happens to equal one
VOCABULARY = frozenset(
    {"pass", "fail", "error", "inconclusive", "interrupted", "read", "write", "unclassified", "true", "false"}
    | {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}
)
# maps whose keys are user data (endpoint names, page names (a path when a visit has no name), header names, ...);
# every other key is the schema's own
NAME_MAPS = frozenset(
    {"endpoints", "kinds", "status_counts", "headers", "sources", "per_worker", "queries_per_request", "pages",
     "cut_short"}
)


MIN_HEADER_SECRET = 8  # a credential header's literal part shorter than this is not masked (a cookie `lang=en`)


def header_secrets(headers: Mapping[str, str]) -> set[str]:
    """The credentials written literally in credential headers (not through a secret variable): an
    Authorization's credentials after its scheme (a Basic one's password too), each cookie's value, an API key
    header's value. A value with a `{placeholder}` is rendered per request and is left out."""
    out: set[str] = set()
    for name, value in headers.items():
        if name.lower() in SECRET_HEADERS and "{" not in value.replace("{{", "").replace("}}", ""):
            out |= credentials(name, value.replace("{{", "{").replace("}}", "}"))  # as it is sent
    return out


def credentials(name: str, value: str) -> set[str]:
    """The credentials in one credential header's value as sent (`name` one of SECRET_HEADERS): what follows
    an Authorization's scheme (a Basic one's pair and password too), each cookie's value, an API key header's
    whole value; those shorter than MIN_HEADER_SECRET left out."""
    key = name.lower()
    if key in ("authorization", "proxy-authorization"):
        scheme, _, rest = value.strip().partition(" ")
        pieces = [rest.strip() or scheme]
        if scheme.lower() == "basic":
            pieces += _basic(rest.strip())
    elif key in ("cookie", "set-cookie"):
        pieces = [pair.partition("=")[2].strip() for pair in value.split(";")]
    else:
        pieces = [value.strip()]
    return {p for p in pieces if len(p) >= MIN_HEADER_SECRET}


def header_secrets_in(doc: Any) -> set[str]:
    """header_secrets of every `headers` map in a document (a scenario: its own, its setup's, each request's)."""
    if isinstance(doc, Mapping):
        found = set()
        for key, value in doc.items():
            if key == "headers" and isinstance(value, Mapping):
                found |= header_secrets({str(k): str(v) for k, v in value.items()})
            else:
                found |= header_secrets_in(value)
        return found
    if isinstance(doc, list):
        return set().union(*(header_secrets_in(item) for item in doc)) if doc else set()
    return set()


def _basic(token: str) -> list[str]:
    try:
        pair = base64.b64decode(token, validate=True).decode()
    except ValueError:
        return []
    return [pair, pair.partition(":")[2]]


def encodings(secret: str) -> set[str]:
    """The forms in which the product itself can write `secret`: raw, URL-encoded (paths, forms),
    JSON-escaped, HTML/XML-escaped, template-escaped (`{{`), and base64 (basic auth); and the JSON a target
    may echo it in, shown in a failed check's example: PHP's (`\\/`) and Go's (`\\u0026`, `\\u003c`, `\\u003e`);
    and its spaces as `+` alone (a form encoder that escapes nothing else). Every other escaping a text may hold
    (HTML references, percent-escapes of any case or of any character, `\\u` escapes, mixed) is decoded, not
    listed: see Redactor.text and escapes.py."""
    ascii_json, utf8_json = json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]
    forms = {
        secret,
        quote(secret, safe="-_.~"),
        quote(secret),
        quote(secret, safe=TARGET_SAFE),  # a literal path or query as sent (client.vu.wire_path)
        quote_plus(secret),
        secret.replace(" ", "+"),
        ascii_json,
        utf8_json,
        ascii_json.replace("/", "\\/"),
        utf8_json.replace("/", "\\/"),
        utf8_json.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"),
        html.escape(secret, quote=True),
        html.escape(secret, quote=False),
        html.escape(secret, quote=True).replace("&#x27;", "&apos;"),
        secret.replace("{", "{{").replace("}", "}}"),
        base64.b64encode(secret.encode()).decode(),
    }
    return {f for f in forms if f}


class Redactor:
    """Masks the secrets of a run. The controller redacts every artifact with one; each worker masks what it
    reports (error reasons, check examples) with one built from the plan's secrets, before any cut."""

    def __init__(self, secrets: Iterable[str] = (), kept: int = 0) -> None:
        self._forms(set().union(*(encodings(s) for s in secrets if s)) if secrets else set())
        # plus(): the redactors made for requests' own credentials, by those credentials, the least recently used
        # dropped past PLUS_KEPT (a user's token is the same request after request: its encodings made once);
        # kept by the root redactor only (the run's secrets), so a redactor made by plus() makes no cache of its own
        self._plus: dict[frozenset[str], Redactor] = {}
        self._root: Redactor = self
        self._kept = kept or PLUS_KEPT  # how many plus() keeps: one user's runner keeps fewer (USER_PLUS_KEPT)
        self._extra: frozenset[str] = frozenset()  # the credentials plus() added to the root's secrets

    def _forms(self, forms: set[str]) -> None:
        # longest first, so a secret that contains another is masked whole
        self.secrets = sorted(forms, key=len, reverse=True)
        self.longest = len(self.secrets[0].encode()) if self.secrets else 0  # in bytes: how far past a cut to read
        # in decoded text (escapes.canonical: `+` read as a space)
        self._targets = sorted({f.replace("+", " ") for f in forms}, key=len, reverse=True)

    def text(self, value: str) -> str:
        """`value` with every form of every secret masked: those `encodings` lists, as written; and, in a text
        holding `&`, `%` or `\\` (only then: the common text pays three scans), every other escaping of them
        (escapes.found): the spans of the text whose decoding holds one are masked whole, with the written forms
        found in the same text (a secret inside another's escaped form must not break it up first)."""
        if self.secrets and ("%" in value or "&" in value or "\\" in value):
            from loadorch.traffic import escapes  # its tables take 10 ms to build: only a text with escapes pays

            spans = escapes.found(value, self._targets)
            if spans:
                value = escapes.masked(value, spans + escapes.occurrences(value, self.secrets), MASK)
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def cut(self, value: str, limit: int, more: str = "...") -> str:
        """`value` masked, then cut to `limit` characters (`more` marks the cut): a secret cut first would
        escape its mask (`CANARYtok...`). No prefix of a secret is left at the cut either, in any escaping: an
        escape the cut split goes too, whatever it was (`s&#x2`, `s%2`), and what precedes it if that begins a
        secret once decoded (escapes.open_end)."""
        value = self.text(value)
        if len(value) <= limit:
            return value
        kept = value[: max(0, limit - len(more))]
        for secret in self.secrets:
            for k in range(min(len(secret) - 1, len(kept)), 0, -1):
                if kept.endswith(secret[:k]):
                    kept = kept[:-k]
                    break
        if self.secrets and ("%" in kept or "&" in kept or "\\" in kept):
            from loadorch.traffic import escapes

            kept = kept[: escapes.open_end(kept, self._targets)]
        return kept + more

    def value(self, value: str) -> str:
        """One string value of a document: the product's own words are kept whole."""
        return value if value in VOCABULARY else self.text(value)

    def obj(self, value: Any, names: bool = False) -> Any:
        """A JSON-like document with every string value redacted; keys only in maps of user names."""
        if isinstance(value, str):
            return self.value(value)
        if isinstance(value, Mapping):
            return {
                (self.text(k) if names and isinstance(k, str) else k): self.obj(
                    v, isinstance(k, str) and k in NAME_MAPS
                )
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self.obj(v) for v in value]
        return value

    def keyed(self, value: Any) -> Any:
        """A JSON-like document whose keys are user data at every level (k6's summary: metric and check
        names): keys and values redacted alike (the product's own words kept whole)."""
        if isinstance(value, str):
            return self.value(value)
        if isinstance(value, Mapping):
            return {(self.value(k) if isinstance(k, str) else k): self.keyed(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.keyed(v) for v in value]
        return value

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {k: MASK if k.lower() in SECRET_HEADERS else self.text(v) for k, v in headers.items()}

    def json_lines(self, text: str) -> str:
        """JSON Lines (the request log), redacted record by record."""
        if not self.secrets:
            return text
        return "".join(
            json.dumps(self.obj(json.loads(line)), separators=(",", ":")) + "\n" for line in text.splitlines() if line
        )


    def plus(self, extra: Iterable[str]) -> Redactor:
        """This redactor and `extra` secrets (one request's own rendered credentials, a user's captured token, its
        cookies) in every encoding, as a redactor of their own: this one's secrets are never added to. Every such
        redactor is kept by the root one (the run's secrets), by all the credentials it adds, the last PLUS_KEPT or
        the root's own bound (least recently used dropped): a user's token made once serves its later requests,
        plus() of a plus() adds to the same cache (no chain of caches), and what is kept stays bounded."""
        add = frozenset(s for s in extra if s)
        if not add or add <= self._extra:
            return self
        root = self._root
        key = self._extra | add
        more = root._plus.pop(key, None)
        if more is None:  # about 20 us a request on a 2026 CI machine: a request path with a token paid it each time
            more = Redactor()
            more._forms(set().union(*(encodings(s) for s in key)).union(root.secrets))
            more._root, more._extra = root, key
            if len(root._plus) >= root._kept:
                del root._plus[next(iter(root._plus))]
        root._plus[key] = more  # the most recently used last
        return more


PLUS_KEPT = 1024  # redactors kept by a root Redactor's plus(): a worker's, shared by its python users (one each)
USER_PLUS_KEPT = 64  # ... by one user's runner's root: the credentials a user holds at one time (a token, its
# cookies and their combinations) are a few, and a worker holds one such root per user
NO_SECRETS = Redactor()
# a query or fragment parameter whose name says it is a credential: URLs carry tokens the run never declared
# (signed URLs, a session id, an OAuth fragment, a captured token), so their values are masked whatever they are
CREDENTIAL_PARAM = re.compile(r"token|secret|passw|pwd|key|sig|auth|session|sid|credential|jwt|code|private|cookie",
                              re.IGNORECASE)


def credential_params(text: str) -> str:
    """`a=1&token=xyz` as `a=1&token=***`: the value of every parameter whose name says it is a credential."""
    out = []
    for item in text.split("&"):
        name, eq, value = item.partition("=")
        out.append(f"{name}={MASK}" if eq and value and CREDENTIAL_PARAM.search(unquote_plus(name)) else item)
    return "&".join(out)


def target_params(target: str) -> str:
    """A request target (`/path?query#fragment`) with credential_params applied to its query and fragment."""
    if "?" not in target and "#" not in target:
        return target
    rest, hash_, fragment = target.partition("#")
    path, mark, query = rest.partition("?")
    return path + mark + credential_params(query) + hash_ + credential_params(fragment)


QUERY_PARAM = re.compile(r"(?<=[?&;])([^=&\s\"'<>#?]+)=([^&\s\"'<>#]*)")
USERINFO = re.compile(r"(?<=://)[^/?#@\s\[\]]+@")  # `user:password@` after a URL's scheme, in free text


def credential_params_in(text: str) -> str:
    """Free text holding URLs (an HTML snippet, a log line, an exception's message) with the credentials of every
    URL in it masked: credential_params applied to every query parameter (`<img src="/a.jpg?token=xyz">` as
    `<img src="/a.jpg?token=***">`) and a `user:password@` after a scheme (`https://bob:pw@api/` as
    `https://***@api/`, a DSN's password as well)."""

    def masked(m: re.Match[str]) -> str:
        name, value = m.group(1), m.group(2)
        return f"{name}={MASK}" if value and CREDENTIAL_PARAM.search(unquote_plus(name)) else m.group(0)

    if "://" in text:
        text = USERINFO.sub(f"{MASK}@", text)
    return QUERY_PARAM.sub(masked, text) if "=" in text else text


CREDENTIAL_PAIR = re.compile(r"(?:^|(?<=[?&;,\s]))([^=&\s\"'<>#?,;]+)=([^&\s\"'<>#,;]*)")


# an HTTP authorization scheme and its credentials (RFC 9110 11.4: `Bearer eyJ...`, `Basic dXNlcjpw...`) in a text
# that is not a header line: a credential whoever wrote it did not declare (a target's Server-Timing desc)
# (token68 of 8 characters or more, so that "the basic plan" stays; a word as long is masked too: no leak beats a
# readable desc)
SCHEME_CREDENTIAL = re.compile(r"(?i)\b(Bearer|Basic|Digest|Token|Negotiate|NTLM|AWS4-HMAC-SHA256|ApiKey)([ \t]+)"
                               r"[A-Za-z0-9\-._~+/]{8,}=*")


# `name: value` and JSON's `"name": "value"` (a desc quoting a JSON body or a log field): the value of a credential's
# name (CREDENTIAL_PARAM, or a bare `pass`), quoted or not, masked
CREDENTIAL_COLON = re.compile(r"""(["']?)([A-Za-z0-9_.\-]+)\1(\s*:\s*)(?:"([^"]*)"|'([^']*)'|([^"',;\s{}\[\]]+))""")
_PASS = re.compile(r"(?i)(?:^|[_.\-])pass(?:$|[_.\-])")


def _credential_name(name: str) -> bool:
    return bool(CREDENTIAL_PARAM.search(name) or _PASS.search(name))


def credential_pairs_in(text: str) -> str:
    """A short text of `name=value` pairs that need not be a URL's (a target's Server-Timing desc: `token=abc`,
    `sig=x user=y`, the request target it echoes, `/a?token=abc&x=1`) with the value of every pair whose name says it
    is a credential (CREDENTIAL_PARAM) masked: a pair begins the text or follows `?`, `&`, `;`, `,` or a space. And
    the credentials after an authorization scheme (`Bearer eyJ...`: SCHEME_CREDENTIAL), which no name announces."""
    if " " in text or "\t" in text:
        text = SCHEME_CREDENTIAL.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    if ":" in text:
        def colon(m: re.Match[str]) -> str:
            q, name, sep = m.group(1), m.group(2), m.group(3)
            if not _credential_name(name):
                return m.group(0)
            vq = '"' if m.group(4) is not None else "'" if m.group(5) is not None else ""
            return f"{q}{name}{q}{sep}{vq}{MASK}{vq}"

        text = CREDENTIAL_COLON.sub(colon, text)
    if "=" not in text:
        return text

    def masked(m: re.Match[str]) -> str:
        name, value = m.group(1), m.group(2)
        return f"{name}={MASK}" if value and _credential_name(unquote_plus(name)) else m.group(0)

    return CREDENTIAL_PAIR.sub(masked, text)


def query_credentials(url: str) -> set[str]:
    """The values of a URL's (or a request target's) credential parameters (CREDENTIAL_PARAM: `?access_token=...`),
    as sent and decoded, those shorter than MIN_HEADER_SECRET left out: what a request carried that its own failure,
    or a later exception of its user, may quote bare."""
    if "?" not in url and "#" not in url:
        return set()
    rest, _, fragment = url.partition("#")
    found: set[str] = set()
    for item in (rest.partition("?")[2] + "&" + fragment).split("&"):
        name, eq, value = item.partition("=")
        if eq and CREDENTIAL_PARAM.search(unquote_plus(name)):
            found |= {v for v in (value, unquote_plus(value)) if len(v) >= MIN_HEADER_SECRET}
    return found


TARGET_KEYS = frozenset({"path", "visit"})  # a scenario's request targets: each request's (setup's too), a visit's


def query_secrets_in(doc: Any) -> set[str]:
    """query_credentials of every request target written in a document (a scenario: TARGET_KEYS), those holding a
    `{placeholder}` left out (rendered per request): a credential parameter written literally (`?token=abc...`) is
    a secret as a header's literal credential is (header_secrets_in), masked in every form and never written in
    clear in a manifest."""
    if isinstance(doc, Mapping):
        found: set[str] = set()
        for key, value in doc.items():
            if key in TARGET_KEYS and isinstance(value, str):
                sent = value.replace("{{", "{").replace("}}", "}")  # as it is sent (a template's `{{` is `{`)
                found |= {v for v in query_credentials(sent) if "{" not in v and "}" not in v}
            else:
                found |= query_secrets_in(value)
        return found
    if isinstance(doc, list):
        return set().union(*(query_secrets_in(item) for item in doc)) if doc else set()
    return set()


LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # half of a UTF-16 pair: text no encoder can write


def sendable(text: str) -> str:
    """`text` with each lone surrogate written as its escape (`\\ud83d`): a python user may name a request or raise
    with text of a target's JSON cut inside an emoji, which a worker's report (msgpack) and the artifacts (UTF-8)
    cannot encode (the worker's every report after it was lost)."""
    return text if text.isascii() else LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def masked_reason(text: str, redactor: Redactor, limit: int = 200) -> str:
    """A failure reason or an exception's text as a worker reports it (it may quote a URL: a redirect's, a request
    library's error): the credential parameters of the URLs in it masked (credential_params_in), then `redactor`'s
    secrets, then cut at `limit`, so no prefix of a secret stays."""
    return sendable(redactor.cut(credential_params_in(text), limit, more=""))
