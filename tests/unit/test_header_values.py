"""A templated header's rendered value, checked before it is sent (traffic/request.py): what no header can carry
fails its request, line breaks are sent as spaces; a user's runner checks each distinct value once."""

from __future__ import annotations

import pytest

from loadorch.traffic.request import HeaderValues, header_value
from loadorch.traffic.template import RenderError

TOKEN = "Bearer " + "aB3-_." * 200  # a 1.2 KB token, as a login captures


def test_a_value_no_header_can_carry_fails_every_time_even_after_good_ones() -> None:
    values = HeaderValues()
    assert values.value(TOKEN, "Authorization") == TOKEN
    assert values.value(TOKEN, "Authorization") == TOKEN  # the same value: the one checked
    for _ in range(2):  # a bad value is never the one kept as checked
        with pytest.raises(RenderError, match=r"header 'Authorization': its value holds '日' \(U\+65E5\)"):
            values.value("Bearer 日本", "Authorization")
    with pytest.raises(RenderError, match="control character"):
        values.value(TOKEN + "\x00", "Authorization")  # one byte more than the value checked: checked again
    assert values.value(TOKEN, "Authorization") == TOKEN


def test_line_breaks_are_sent_as_spaces_whether_or_not_the_value_was_seen() -> None:
    values = HeaderValues()
    for _ in range(2):
        assert values.value("a\r\nX-Injected: 1", "X-Note") == "a  X-Injected: 1"
    assert header_value("a\nb", "X-Note") == "a b"
    assert values.value("plain", "X-Other") == "plain"
    assert values.value("a\r\nX-Injected: 1", "X-Note") == "a  X-Injected: 1"


def test_each_header_name_keeps_one_value() -> None:
    values = HeaderValues()
    for i in range(1000):
        values.value(f"v{i}", "X-A")
        values.value(f"w{i}", "X-B")
    assert len(values.checked) == 2  # bounded by the scenario's header names, not by the values seen


def test_a_placeholder_that_cannot_render_says_why_without_a_token_shaped_field_or_a_secret() -> None:
    """`{made.id}` of a captured object with no `id`: the failure names the fields that read as names and only counts
    those that may be tokens themselves (`sess_4f9a8b7c6d5e` as a key), and the run's secrets are masked in it."""
    from loadorch.traffic.redact import Redactor
    from loadorch.traffic.request import unrendered
    from loadorch.traffic.template import compile_template

    made = {"order": 1, "sess_4f9a8b7c6d5e": "x", "owner": "Tok-canary-77"}
    template = compile_template("/orders/{made.id}/{made.owner}")
    with pytest.raises(RenderError) as caught:
        template.render_text({"made": made}.__getitem__)
    said = str(caught.value)
    assert said == "placeholder {made.id}: no 'id' in an object (its fields: order, owner, 1 more)", said

    class Req:
        class path:  # the attribute unrendered reads
            source = "/orders/{made.id}"

    outcome = unrendered(Req, RenderError("no 'id' near Tok-canary-77"), Redactor({"Tok-canary-77"}))  # type: ignore[arg-type]
    assert outcome.ok is False and "Tok-canary-77" not in (outcome.error or "") and "***" in (outcome.error or "")
