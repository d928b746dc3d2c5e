"""A scenario from an OpenAPI 3 document: one request per operation, data generators from schemas (pure)."""

from __future__ import annotations

import copy
import math
import re
from typing import Any

METHODS = ("get", "head", "post", "put", "patch", "delete", "options")
READS = ("get", "head", "options")
# an object of the user's OpenAPI document, or of the scenario written from it as YAML (read back through
# the Scenario model): JSON from outside, of any shape the format allows, so its values are Any
Doc = dict[str, Any]


class OpenApiError(ValueError):
    pass


def scenario_from_openapi(spec: Doc) -> Doc:
    """Scenario data (ready for YAML) with reads weighted 3:1 over writes."""
    if not isinstance(spec, dict) or not str(spec.get("openapi", "")).startswith("3"):
        raise OpenApiError("not an OpenAPI 3.x document (no `openapi: 3...` field)")
    paths = spec.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise OpenApiError("the document has no paths")
    data: Doc = {}
    requests: list[Doc] = []
    used_names: set[str] = set()
    for path, item in paths.items():
        if not isinstance(item, dict):
            continue
        shared = item.get("parameters", [])
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            params = [_deref(spec, p) for p in [*shared, *op.get("parameters", [])]]
            requests.append(_request(spec, path, method, op, params, data, used_names))
    if not requests:
        raise OpenApiError("the document has no operations")
    title = str(spec.get("info", {}).get("title") or "api")
    version = spec.get("info", {}).get("version", "")
    return {
        "name": _slug(title) or "api",
        "description": f"Generated from the OpenAPI document '{title}' {version}".strip(),
        **({"data": data} if data else {}),
        "users": [{"name": "client", "think_time": {"between": [0.1, 0.5]}, "requests": requests}],
    }


def _request(
    spec: Doc,
    path: str,
    method: str,
    op: Doc,
    params: list[Doc],
    data: Doc,
    used: set[str],
) -> Doc:
    name = str(op.get("operationId") or f"{method.upper()} {path}")
    while name in used:
        name += "'"
    used.add(name)
    rendered = path
    query: list[str] = []
    for p in params:
        where, pname = p.get("in"), str(p.get("name", ""))
        if (
            where not in ("path", "query")
            or not pname
            or (where == "query" and not p.get("required") and "enum" not in _schema(spec, p))
        ):
            continue
        var = _var(pname, data)
        data[var] = _generator(_schema(spec, p), f"{method.upper()} {path}: parameter {pname!r}")
        if where == "path":
            rendered = rendered.replace("{" + pname + "}", "{" + var + "}")
        else:
            query.append(f"{pname}={{{var}}}")
    request: Doc = {
        "name": name,
        "kind": "read" if method in READS else "write",
        "weight": 3 if method in READS else 1,
        "method": method.upper(),
        "path": rendered + ("?" + "&".join(query) if query else ""),
    }
    body = _body(spec, op)
    if body is not None:
        request["json"] = _literal(body)
    codes = sorted(int(c) for c in op.get("responses", {}) if str(c).isdigit() and 200 <= int(c) < 400)
    if codes:
        request["expect"] = {"status": codes}
    return request


def _deref(spec: Doc, node: Any, depth: int = 0) -> Any:
    while isinstance(node, dict) and "$ref" in node and depth < 20:
        ref = str(node["$ref"])
        if not ref.startswith("#/"):
            raise OpenApiError(f"only local references are supported, not {ref!r}")
        target: Any = spec
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                raise OpenApiError(f"reference {ref!r} points nowhere")
            target = target[part]
        node, depth = target, depth + 1
    return node


def _schema(spec: Doc, param: Doc) -> Doc:
    schema = _deref(spec, param.get("schema", {}))
    return schema if isinstance(schema, dict) else {}


def _var(name: str, data: Doc) -> str:
    base = re.sub(r"\W+", "_", name).strip("_") or "param"
    if base[0].isdigit():
        base = "p_" + base
    var, n = base, 2
    while var in data:
        var, n = f"{base}_{n}", n + 1
    return var


FORMATS: dict[str, Doc] = {
    # every value these patterns give is valid for its format ('#' a digit, '?' a letter)
    "uuid": {"pattern": "########-####-4###-8###-############"},  # version 4, RFC 4122 variant; digits are hex
    "date": {"choice": [f"2026-{m:02d}-{d:02d}" for m in range(1, 13) for d in (3, 17, 28)]},
    "date-time": {
        "choice": [f"2026-{m:02d}-{d:02d}T{h:02d}:{m * 4:02d}:00Z" for m in range(1, 13) for d, h in ((3, 9), (17, 21))]
    },
    "time": {"pattern": "1#:3#:2#Z"},
    "email": {"pattern": "user-#####@example.com"},
    "idn-email": {"pattern": "user-#####@example.com"},
    "uri": {"pattern": "https://example.com/?????/#####"},
    "url": {"pattern": "https://example.com/?????/#####"},
    "iri": {"pattern": "https://example.com/?????/#####"},
    "uri-reference": {"pattern": "/?????/#####"},
    "hostname": {"pattern": "host-#####.example.com"},
    "idn-hostname": {"pattern": "host-#####.example.com"},
    "ipv4": {"pattern": "10.#.#.#"},
    "ipv6": {"pattern": "fd00::####:####"},
    "byte": {"pattern": "????????"},  # base64 of 6 bytes
}


def _generator(schema: Doc, where: str = "schema") -> Doc:
    """A generator whose every draw is valid for the schema: its enum, type, range and format."""
    kind = _type(schema)
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        options = [v for v in enum if v is not None] or [None]
        return {"choice": [_literal(v) for v in options]}
    if kind == "integer":
        low, high = _int_range(schema, where)
        return {"int": [low, high]}
    if kind == "number":
        return {"float": list(_float_range(schema, where))}
    if kind == "boolean":
        return {"choice": [True, False]}
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in FORMATS and kind in (None, "string"):
        return copy.deepcopy(FORMATS[fmt])
    if "example" in schema and schema["example"] is not None:
        return {"value": _literal(schema["example"])}
    shortest = _bound(schema, "minLength", where, 8.0) or 0.0
    longest = _bound(schema, "maxLength", where, 256.0) or 256.0
    return {"pattern": "?" * int(max(1.0, min(max(shortest, 1.0), longest, 256.0)))}


def _type(schema: Doc) -> str | None:
    """The schema's type, null aside: OpenAPI 3.1 `type: [integer, "null"]` and 3.0 `nullable: true`
    both draw values of the non-null type (null is valid too, but says nothing about the endpoint)."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        return str(kinds[0]) if kinds else None
    return kind if isinstance(kind, str) else None


def _bound(schema: Doc, key: str, where: str, default: float | None) -> float | None:
    value = schema.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) == math.inf:
        raise OpenApiError(f"{where}: {key} must be a number, not {value!r}")
    return float(value)


def _exclusive(schema: Doc, key: str, plain: str, where: str) -> tuple[float | None, bool]:
    """(bound, exclusive?) from `minimum`/`exclusiveMinimum` in either form: 3.0 (a boolean beside
    `minimum`) or 3.1 (the exclusive bound itself, a number)."""
    bound = _bound(schema, plain, where, None)
    flag = schema.get(key)
    if isinstance(flag, bool):
        return bound, flag and bound is not None
    if flag is None:
        return bound, False
    value = _bound(schema, key, where, None)
    if bound is None or value is None:
        return value, True
    tighter = value >= bound if plain == "minimum" else value <= bound
    return (value, True) if tighter else (bound, False)


def _int_range(schema: Doc, where: str) -> tuple[int, int]:
    lo, lo_ex = _exclusive(schema, "exclusiveMinimum", "minimum", where)
    hi, hi_ex = _exclusive(schema, "exclusiveMaximum", "maximum", where)
    low = None if lo is None else (math.floor(lo) + 1 if lo_ex or lo != math.floor(lo) else int(lo))
    high = None if hi is None else (math.ceil(hi) - 1 if hi_ex or hi != math.ceil(hi) else int(hi))
    if low is None:
        low = 1 if high is None or high >= 100 else high - 99
    if high is None:
        high = max(low, 100) if low <= 100 else low + 99
    if low > high:
        raise OpenApiError(f"{where}: no integer lies within minimum/maximum ({lo} to {hi})")
    return low, high


def _float_range(schema: Doc, where: str) -> tuple[float, float]:
    lo, lo_ex = _exclusive(schema, "exclusiveMinimum", "minimum", where)
    hi, hi_ex = _exclusive(schema, "exclusiveMaximum", "maximum", where)
    low = 0.0 if lo is None else lo
    high = low + 100.0 if hi is None else hi
    if lo is None and hi is not None:
        low = high - 100.0
    span = high - low
    low, high = (low + span * 1e-6 if lo_ex else low), (high - span * 1e-6 if hi_ex else high)
    if not low <= high or (span == 0 and (lo_ex or hi_ex)):
        raise OpenApiError(f"{where}: no number lies within minimum/maximum ({lo} to {hi})")
    return low, high


def _body(spec: Doc, op: Doc) -> Any:
    body = _deref(spec, op.get("requestBody"))
    if not isinstance(body, dict):
        return None
    content = body.get("content", {})
    media = content.get("application/json") or next((v for k, v in content.items() if "json" in k), None)
    if not isinstance(media, dict):
        return None
    if "example" in media:
        return media["example"]
    return example_of(spec, _deref(spec, media.get("schema", {})))


def example_of(spec: Doc, schema: Any, depth: int = 0) -> Any:
    """A minimal valid value: the example or default if any, else required properties filled in."""
    schema = _deref(spec, schema)
    if not isinstance(schema, dict) or depth > 8:
        return None
    for key in ("example", "default"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    for combo in ("allOf", "oneOf", "anyOf"):
        if schema.get(combo):
            parts = [example_of(spec, s, depth + 1) for s in schema[combo]]
            if combo == "allOf" and all(isinstance(p, dict) for p in parts):
                return {k: v for p in parts for k, v in p.items()}
            return parts[0]
    kind = _type(schema) or ("object" if "properties" in schema else None)
    if kind == "object":
        props = schema.get("properties", {})
        required = schema.get("required", [])
        return {name: example_of(spec, props.get(name, {}), depth + 1) for name in required if name in props}
    if kind == "array":
        count = int(min(_bound(schema, "minItems", "request body", 0.0) or 0.0, 100.0))
        return [example_of(spec, schema.get("items", {}), depth + 1)] * max(count, 0)
    if kind == "integer":
        return _int_range(schema, "request body")[0]
    if kind == "number":
        return _float_range(schema, "request body")[0]
    if kind == "boolean":
        return True
    if kind == "string":
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt in FORMAT_EXAMPLES:
            return FORMAT_EXAMPLES[fmt]
        return "x" * int(min(max(_bound(schema, "minLength", "request body", 1.0) or 1.0, 1.0), 256.0))
    return None


FORMAT_EXAMPLES = {
    "uuid": "00000000-0000-4000-8000-000000000000",
    "date": "2026-01-01",
    "date-time": "2026-01-01T00:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/",
}


def _literal(value: Any) -> Any:
    """Braces in example strings are text, not placeholders."""
    if isinstance(value, str):
        return value.replace("{", "{{").replace("}", "}}")
    if isinstance(value, dict):
        return {_literal(k): _literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v) for v in value]
    return value


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]
