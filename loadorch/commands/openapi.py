"""A scenario from an OpenAPI 3 document: one request per operation, data generators from schemas (pure)."""

from __future__ import annotations

import re
from typing import Any

METHODS = ("get", "head", "post", "put", "patch", "delete", "options")
READS = ("get", "head", "options")


class OpenApiError(ValueError):
    pass


def scenario_from_openapi(spec: dict[str, Any]) -> dict[str, Any]:
    """Scenario data (ready for YAML) with reads weighted 3:1 over writes."""
    if not isinstance(spec, dict) or not str(spec.get("openapi", "")).startswith("3"):
        raise OpenApiError("not an OpenAPI 3.x document (no `openapi: 3...` field)")
    paths = spec.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise OpenApiError("the document has no paths")
    data: dict[str, Any] = {}
    requests: list[dict[str, Any]] = []
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
    spec: dict[str, Any],
    path: str,
    method: str,
    op: dict[str, Any],
    params: list[dict[str, Any]],
    data: dict[str, Any],
    used: set[str],
) -> dict[str, Any]:
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
        data[var] = _generator(_schema(spec, p))
        if where == "path":
            rendered = rendered.replace("{" + pname + "}", "{" + var + "}")
        else:
            query.append(f"{pname}={{{var}}}")
    request: dict[str, Any] = {
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


def _deref(spec: dict[str, Any], node: Any, depth: int = 0) -> Any:
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


def _schema(spec: dict[str, Any], param: dict[str, Any]) -> dict[str, Any]:
    schema = _deref(spec, param.get("schema", {}))
    return schema if isinstance(schema, dict) else {}


def _var(name: str, data: dict[str, Any]) -> str:
    base = re.sub(r"\W+", "_", name).strip("_") or "param"
    if base[0].isdigit():
        base = "p_" + base
    var, n = base, 2
    while var in data:
        var, n = f"{base}_{n}", n + 1
    return var


def _generator(schema: dict[str, Any]) -> dict[str, Any]:
    if schema.get("enum"):
        return {"choice": list(schema["enum"])}
    kind = schema.get("type")
    if kind == "integer":
        low = int(schema.get("minimum", 1))
        return {"int": [low, int(schema.get("maximum", max(low, 100)))]}
    if kind == "number":
        start = float(schema.get("minimum", 0))
        return {"float": [start, float(schema.get("maximum", start + 100))]}
    if kind == "boolean":
        return {"choice": [True, False]}
    fmt = schema.get("format")
    if fmt == "uuid":
        return {"pattern": "********-****-4***-****-************"}
    if fmt == "date":
        return {"pattern": "2026-0#-1#"}
    if fmt == "email":
        return {"pattern": "user-#####@example.com"}
    if "example" in schema:
        return {"value": _literal(schema["example"])}
    return {"pattern": "?" * max(1, min(int(schema.get("minLength", 8)), 32))}


def _body(spec: dict[str, Any], op: dict[str, Any]) -> Any:
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


def example_of(spec: dict[str, Any], schema: Any, depth: int = 0) -> Any:
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
    kind = schema.get("type") or ("object" if "properties" in schema else None)
    if kind == "object":
        props = schema.get("properties", {})
        required = schema.get("required", [])
        return {name: example_of(spec, props.get(name, {}), depth + 1) for name in required if name in props}
    if kind == "array":
        return [example_of(spec, schema.get("items", {}), depth + 1)] * max(int(schema.get("minItems", 0)), 0)
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "string":
        return "x" * max(int(schema.get("minLength", 1)), 1)
    return None


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
