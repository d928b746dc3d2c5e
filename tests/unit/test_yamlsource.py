"""Safe, bounded YAML loading: every bad input is a located ConfigError, quickly."""

from __future__ import annotations

import time

import pytest

from loadorch.config.yamlsource import load, parse
from loadorch.errors import ConfigError


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text, "f.yaml")
    return [str(p) for p in info.value.problems]


def test_lines_of_keys_are_recorded() -> None:
    doc = parse("a: 1\nb:\n  c: [1, 2]\n  d: x\n", "f.yaml")
    assert doc.data == {"a": 1, "b": {"c": [1, 2], "d": "x"}}
    assert doc.lines[("b", "d")] == 4
    assert doc.line_of(("b", "c", 1)) == 3
    assert doc.line_of(("b", "nope", 7)) == 2


def test_duplicate_key_names_both_lines() -> None:
    [msg] = problems("name: a\nusers: []\nname: b\n")
    assert msg.startswith("f.yaml:3: name:")
    assert "duplicate key 'name'" in msg and "line 1" in msg and "line 3" in msg


def test_nested_duplicate_key() -> None:
    [msg] = problems("load:\n  users: 1\n  users: 2\n")
    assert msg.startswith("f.yaml:3: load.users:")


def test_tab_indentation_is_explained() -> None:
    [msg] = problems("a:\n\tb: 1\n")
    assert msg.startswith("f.yaml:2:") and "tabs" in msg


def test_unclosed_quote_and_bracket() -> None:
    assert "invalid YAML" in problems('a: "open\nb: 2\n')[0]
    [msg] = problems("a: [1, 2\nb: 3\n")
    assert msg.startswith("f.yaml:") and "invalid YAML" in msg


def test_python_tags_are_refused() -> None:
    [msg] = problems("a: !!python/object/apply:os.system ['echo hacked']\n")
    assert "f.yaml:1" in msg and "tag" in msg


def test_custom_tags_and_merge_keys_are_refused() -> None:
    assert "tag" in problems("a: !foo bar\n")[0]
    assert "merge keys" in problems("base: &b {x: 1}\nc:\n  <<: *b\n")[0]


def test_alias_bomb_is_refused_before_expanding() -> None:
    # 9**10 values if expanded: refused by the expansion bound (a timed assertion would only measure the machine)
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    [msg] = problems("\n".join(lines) + "\n")
    assert "alias bomb" in msg


def test_small_aliases_still_work() -> None:
    doc = parse("h: &h {X-A: '1'}\nu: {headers: *h}\n", "f.yaml")
    assert doc.data["u"]["headers"] == {"X-A": "1"}


def test_deep_nesting_is_refused() -> None:
    text = "a: " + "[" * 10_000 + "]" * 10_000 + "\n"
    [msg] = problems(text)
    assert "nested too deeply" in msg


def test_moderate_nesting_over_limit_is_refused() -> None:
    text = "a: " + "[" * 100 + "]" * 100 + "\n"
    assert "nested too deeply" in problems(text)[0]


def test_large_file_is_refused_without_reading_it(tmp_path) -> None:
    path = tmp_path / "big.yaml"
    with open(path, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load(str(path))
    assert "limited" in str(info.value)
    assert time.monotonic() - started < 1.0


def test_empty_binary_and_non_utf8_files(tmp_path) -> None:
    empty = tmp_path / "e.yaml"
    empty.write_text("  \n# only a comment\n")
    with pytest.raises(ConfigError, match="empty"):
        load(str(empty))
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\x7fELF\x00\x01\x02")
    with pytest.raises(ConfigError, match="binary"):
        load(str(binary))
    latin = tmp_path / "l.yaml"
    latin.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load(str(latin))


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(str(tmp_path / "nope.yaml"))


def test_comment_only_document_is_empty() -> None:
    assert "empty" in problems("# nothing\n")[0]


# YAML 1.1 traps: PyYAML's defaults read these as something other than what was written (YAML 1.2 core schema)


def test_sexagesimal_is_a_string_and_a_duration_error() -> None:
    doc = parse("load: {duration: 1:30}\n", "f.yaml")
    assert doc.data == {"load": {"duration": "1:30"}}  # YAML 1.1: 90
    from loadorch.config.units import parse_duration

    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(doc.data["load"]["duration"])


def test_yes_no_on_off_are_strings_only_true_false_are_booleans() -> None:
    doc = parse("choice: [NO, SE, yes, No, on, OFF, y, n]\nflags: [true, True, TRUE, false, False, FALSE]\n", "f.yaml")
    assert doc.data["choice"] == ["NO", "SE", "yes", "No", "on", "OFF", "y", "n"]  # YAML 1.1: [False, "SE", True...]
    assert doc.data["flags"] == [True, True, True, False, False, False]
    assert parse("on: push\n", "f.yaml").data == {"on": "push"}  # a key too


def test_unquoted_date_and_timestamp_stay_strings_and_serialize() -> None:
    import json

    doc = parse("json: {since: 2024-01-31, at: 2024-01-31T10:00:00Z}\n", "f.yaml")
    assert doc.data["json"] == {"since": "2024-01-31", "at": "2024-01-31T10:00:00Z"}  # YAML 1.1: date objects
    assert json.dumps(doc.data)  # what a worker sends must serialize
    assert "tag" in problems("a: !!timestamp 2024-01-31\n")[0]


def test_numbers_follow_the_core_schema() -> None:
    doc = parse("a: 010\nb: 0o17\nc: 0x1F\nd: 1_000\ne: 1e3\nf: .5\ng: -.inf\nh: ~\ni:\nj: !!int '12'\n", "f.yaml")
    assert doc.data == {"a": 10, "b": 15, "c": 31, "d": "1_000", "e": 1000.0, "f": 0.5, "g": float("-inf"),
                        "h": None, "i": None, "j": 12}  # YAML 1.1: a is 8 (octal), d is 1000
    assert doc.lines[("j",)] == 10
    assert "not a YAML 1.2 int" in problems("a: !!int nope\n")[0]
    assert "not a YAML 1.2 bool" in problems("a: !!bool yes\n")[0]
