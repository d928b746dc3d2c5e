"""client/framing.py's pure parts: obs-fold unfolded in heads only."""

from __future__ import annotations

from loadorch.client.framing import field_values, unfold_heads


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

