"""The shared command-line plumbing: argument types (properties), messages, JSON reading."""

import argparse
import json
import math
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory import _cli, _io

INT_TEXT = st.one_of(st.integers(-10**6, 10**6).map(str), st.text(max_size=6))
FLOAT_TEXT = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                       st.sampled_from(["nan", "-nan", "inf", "-inf", "1e999", "0", "-0.0"]),
                       st.text(max_size=6))


def _parses(parse, text):
    try:
        return True, parse(text)
    except argparse.ArgumentTypeError as err:
        assert repr(text) in str(err)            # the message names the rejected text
        return False, None


def _as_int(text):
    try:
        return int(text)
    except ValueError:
        return None


@given(INT_TEXT, st.integers(-3, 3))
def test_int_at_least_accepts_exactly_the_integers_from_its_bound(text, low):
    ok, value = _parses(_cli.int_at_least(low), text)
    expected = _as_int(text)
    assert ok == (expected is not None and expected >= low)
    if ok:
        assert value == expected and isinstance(value, int)


@given(INT_TEXT)
def test_positive_and_nonnegative_int_are_the_bounds_1_and_0(text):
    assert _parses(_cli.positive_int, text) == _parses(_cli.int_at_least(1), text)
    assert _parses(_cli.nonnegative_int, text) == _parses(_cli.int_at_least(0), text)


@given(FLOAT_TEXT, st.sampled_from([-1.0, 0.0, 1.0, 2.5]))
def test_finite_float_and_float_at_least_accept_exactly_the_finite_numbers_in_range(text, low):
    try:
        expected = float(text)
    except ValueError:
        expected = None
    finite = expected is not None and math.isfinite(expected)
    assert _parses(_cli.finite_float, text) == (finite, expected if finite else None)
    ok, value = _parses(_cli.float_at_least(low), text)
    assert ok == (finite and expected >= low)
    if ok:
        assert value == expected


@given(FLOAT_TEXT)
def test_positive_float_accepts_exactly_the_finite_positive_numbers(text):
    ok, value = _parses(_cli.positive_float, text)
    try:
        expected = float(text)
    except ValueError:
        expected = None
    assert ok == (expected is not None and 0 < expected < math.inf)
    if ok:
        assert value == expected


@given(st.lists(st.sampled_from("abcd"), min_size=1, max_size=6))
def test_one_of_lists_each_choice_once_in_order(choices):
    text = _cli.one_of(choices)
    distinct = list(dict.fromkeys(choices))
    assert text.replace(" or ", ", ").split(", ") == distinct
    assert (" or " in text) == (len(distinct) > 1)


def test_run_reports_path_errors_and_interrupts_in_one_line(tmp_path, capsys):
    def unwritable(argv):
        open(tmp_path / "missing" / "x.json", "w")

    with pytest.raises(SystemExit) as stop:
        _cli.run(unwritable, [])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert str(tmp_path / "missing" / "x.json") in err and "Errno" not in err

    def interrupted(argv):
        raise KeyboardInterrupt("last checkpoint: iteration 3 in run/checkpoint.npz")

    with pytest.raises(SystemExit) as stop:
        _cli.run(interrupted, [])
    assert stop.value.code == 130
    assert capsys.readouterr().err == ("interrupted: last checkpoint: iteration 3 in "
                                       "run/checkpoint.npz\n")


@pytest.mark.parametrize("content, fragment", [
    (b"", "is not valid JSON"), (b"{\"a\": ", "is not valid JSON"),
    (b"\xff\xfe\x00", "is not valid JSON"),
    (b"[1, 2]", "holds a JSON array; expected a JSON object")])
def test_read_json_names_its_file(tmp_path, content, fragment):
    path = tmp_path / "answers.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=fragment) as err:
        _io.read_json(path, dict, what="answers file")
    assert f"answers file {path}" in str(err.value)


def test_read_json_names_missing_files_and_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"JSON file {tmp_path / 'no.json'} does not"):
        _io.read_json(tmp_path / "no.json")
    with pytest.raises(ValueError, match="is a directory"):
        _io.read_json(tmp_path)
    (tmp_path / "ok.json").write_text(json.dumps({"a": [1]}))
    assert _io.read_json(tmp_path / "ok.json", dict) == {"a": [1]}


def test_check_writable_finds_bad_outputs_and_leaves_nothing(tmp_path):
    (tmp_path / "file").write_text("x")
    _io.check_writable(tmp_path / "new" / "deeper")
    assert sorted(os.listdir(tmp_path)) == ["file"]
    with pytest.raises(ValueError, match="is a file"):
        _io.check_writable(tmp_path / "file")
    with pytest.raises(ValueError, match=r"cannot be created: .*file is a file"):
        _io.check_writable(tmp_path / "file" / "run")
    assert sorted(os.listdir(tmp_path)) == ["file"]


KEYS = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=8)


@given(KEYS, st.one_of(st.integers(), st.booleans(),
                       st.floats(allow_nan=False, allow_infinity=False).filter(
                           lambda x: not float(x).is_integer())))
def test_metaopt_option_reads_back_the_value_it_was_given(key, value):
    from theory.engine.cli import metaopt_option

    text = str(value).lower() if isinstance(value, bool) else repr(value)
    parsed = metaopt_option(f"{key}={text}")
    assert parsed == (key, value) and type(parsed[1]) is type(value)


@given(st.text(max_size=8).filter(lambda t: "=" not in t))
def test_metaopt_option_without_a_key_or_value_names_the_text(text):
    from theory.engine.cli import metaopt_option

    for bad in (text, f"={text}", f"{text}="):        # no "=", no key, no value
        with pytest.raises(argparse.ArgumentTypeError, match="is not KEY=VALUE"):
            metaopt_option(bad)
