"""client/framing.py's pure parts: obs-fold unfolded in heads only, stray bytes counted."""

from __future__ import annotations

from loadorch.client.framing import BROKEN, field_values, stray_after, stray_before, unfold_heads


def test_folds_are_unfolded_in_every_head_and_nowhere_else() -> None:
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: </a>;\r\n\t rel=preload\r\n\r\n"
    final = b"HTTP/1.1 200 OK\r\nX: a  \r\n  b\r\nContent-Length: 6\r\n\r\n"
    body = b"x\r\n  y"  # the body's own line breaks and spaces stay as they came
    unfolded, start, end = unfold_heads(b"\r\n" + interim + final + body)
    head = b"HTTP/1.1 200 OK\r\nX: a b\r\nContent-Length: 6\r\n\r\n"
    assert unfolded == b"\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n" + head + body
    assert unfolded[start:end] == head


def test_a_head_not_ended_is_unfolded_so_far_and_said_so() -> None:
    assert unfold_heads(b"HTTP/1.1 200 OK\r\nX: a\r\n b") == (b"HTTP/1.1 200 OK\r\nX: a b", 0, -1)
    assert unfold_heads(b"HTTP/1.1 200") == (b"HTTP/1.1 200", 0, -1)


def test_whitespace_right_after_the_status_line_is_left_for_the_parser_to_refuse() -> None:
    raw = b"HTTP/1.1 200 OK\r\n X: 1\r\n\r\n"
    assert unfold_heads(raw)[0] == raw


def test_field_values_are_joined_and_trimmed() -> None:
    head = b"HTTP/1.1 200 OK\r\nServer-Timing: db;dur=1 \r\nserver-timing:\tapp;dur=2\r\nX: y"
    assert field_values(head, b"server-timing") == b"db;dur=1, app;dur=2"
    assert field_values(head, b"location") is None


def test_stray_bytes_are_counted_from_the_end_the_head_said() -> None:
    said = "(stray bytes after the response's end)"
    assert stray_after(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhello!") == (
        f"the server sent 4 bytes more than its Content-Length said {said}: {BROKEN}")
    assert stray_after(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\nxy") == (
        f"the server sent 2 bytes after its chunked body's end {said}: {BROKEN}")
    assert stray_after(b"HTTP/1.1 204 No Content\r\n\r\nabc") == (
        f"the server sent 3 bytes after a response without a body {said}: {BROKEN}")
    assert stray_after(None).startswith("the server sent more bytes than the response's length said")
    assert stray_before(b"llo\r\nHTTP/1.1 200 OK\r\n").startswith("the server sent 5 bytes more than the previous")
    assert stray_before(b"lo").startswith("the server sent 2 bytes more than the previous")
