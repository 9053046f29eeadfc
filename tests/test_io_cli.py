import argparse
import json
import os

import pytest

from theory import _cli, _io


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "out.json"
    _io.write_json(path, {"a": 1})
    _io.write_json(path, {"b": [1, 2]})
    assert _io.read_json(path) == {"b": [1, 2]}
    assert os.listdir(tmp_path) == ["out.json"]


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "out.json"
    _io.write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        _io.write_json(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["out.json"]


def test_ctrl_c_as_the_temporary_file_is_created_leaves_nothing(tmp_path, monkeypatch):
    real_open = os.open

    def interrupted(path, flags, mode=0o777):
        real_open(path, flags, mode)     # the file exists, but its descriptor never returns
        raise KeyboardInterrupt

    monkeypatch.setattr(_io.os, "open", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _io.write_json(tmp_path / "out.json", {"a": 1})
    assert os.listdir(tmp_path) == []


def test_new_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        _io.write_json(tmp_path / "out.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "out.json").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("parse, text", [(_cli.positive_int, "0"), (_cli.nonnegative_int, "-1"),
                                         (_cli.positive_float, "0"), (_cli.positive_int, "x"),
                                         (_cli.positive_float, "nan")])
def test_argument_types_reject_out_of_range(parse, text):
    with pytest.raises(argparse.ArgumentTypeError, match=repr(text)):
        parse(text)


def test_run_turns_value_error_into_exit_2(capsys):
    def main(argv):
        raise ValueError("depth=0 is out of range; expected an integer >= 1")

    with pytest.raises(SystemExit) as exit_info:
        _cli.run(main, [])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "depth=0" in err


def test_closed_pipe_is_quiet(tmp_path):
    import subprocess
    import sys

    code = ("from theory import _cli\n"
            "def main(argv):\n"
            "    for i in range(200000):\n"
            "        print('line', i)\n"
            "_cli.run(main)\n")
    reader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    reader.stdout.readline()
    reader.stdout.close()
    err = reader.stderr.read().decode()
    assert reader.wait(timeout=60) == 1
    assert "Traceback" not in err and "BrokenPipe" not in err
