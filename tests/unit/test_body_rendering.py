"""A request body's values rendered as text the way a path or a header renders them (pure): found by a generated
pass over the scenario grammar, where `body: "{account}"` sent Python's repr of a CSV row and a form sent `True`."""

from __future__ import annotations

from typing import Any

from loadorch.config.scenario import RequestSpec
from loadorch.traffic.request import compile_request, encode_body

VALUES: dict[str, Any] = {"row": {"email": "zoë@example.com", "tags": [1, True]}, "flag": True, "none": None,
                          "n": 17, "x": 1.5}


def _body(**kw: Any) -> bytes | None:
    req = compile_request(RequestSpec.model_validate({"path": "/x", "method": "POST", **kw}), "r", "write", set(), {})
    return encode_body(req, VALUES.__getitem__)


def test_a_text_body_renders_a_whole_placeholder_as_text_not_python() -> None:
    # before: b"{'email': 'zo\xc3\xab@example.com', 'tags': [1, True]}" (str() of the dict), and b"True"
    assert _body(body="{row}") == b'{"email":"zo\\u00eb@example.com","tags":[1,true]}'
    assert _body(body="{row}") == _body(body="{{}}{row}")[2:]  # the same text whole or beside a literal
    assert _body(body="{flag}") == b"true"
    assert _body(body="{none}") == b""
    assert _body(body="{n}") == b"17"
    assert _body(body="literal {{braces}} é") == "literal {braces} é".encode()


def test_form_values_render_as_text_not_python() -> None:
    # before: flag=True&none=None&row=%7B%27email%27... (str() of each value)
    assert _body(form={"flag": "{flag}", "none": "{none}", "x": "{x}", "{n}": "k"}) == b"flag=true&none=&x=1.5&17=k"
    assert _body(form={"row": "{row.email}"}) == b"row=zo%C3%AB%40example.com"


def test_a_json_body_keeps_types() -> None:
    assert _body(json={"a": "{n}", "b": "{flag}", "c": "{none}", "d": "n-{n}"}) == b'{"a":17,"b":true,"c":null,"d":"n-17"}'
