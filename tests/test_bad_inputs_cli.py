"""Bad-input catalogue of ``theory.symbolic``, ``theory.landscape`` and ``theory.figures``.

Every sub-command meets the inputs a user gets wrong: non-finite and out-of-range numbers, a
folder where a file is expected and the other way round, unwritable and existing outputs,
corrupt, truncated and empty JSON where results are read, contradictory options. Each must
exit with status 2 and one line naming the input, without a traceback, and leave every file
as it was (``conftest.check_rejected``). The argument types are also checked as properties.
"""

import argparse
import json
import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import ROOT, check_rejected
from theory import _cli
from theory.landscape.cli import build_parser

UNWRITABLE = "/sys/theory-out"  # refused even to root: the kernel owns /sys
COMMITTED = (ROOT / "results", ROOT / "figures")


@pytest.fixture
def place(tmp_path):
    """A scratch folder holding a regular file and a folder, plus the paths under test."""
    (tmp_path / "a-file").write_text("not a folder\n")
    (tmp_path / "a-folder").mkdir()
    return tmp_path


SYMBOLIC = [
    (["derive", "--depth", "0"], ["--depth", "'0'"]),
    (["derive", "--depth", "nan"], ["--depth", "'nan'"]),
    (["derive", "--steps", "-1"], ["--steps", "'-1'"]),
    (["derive", "--loss", "empirical", "--shots", "inf"], ["--shots", "'inf'"]),
    (["derive", "--loss", "empirical", "--shots", "0"], ["--shots", "'0'"]),
    (["derive", "--model", "logistic", "--loss", "population"], ["--loss population"]),
    (["derive", "--shots", "3"], ["--shots 3", "--loss empirical"]),
    (["derive", "--format", "pdf"], ["'pdf'"]),
    (["report", "--depth", "2"], ["--depth 2"]),
]


@pytest.mark.parametrize("argv, names", SYMBOLIC, ids=[" ".join(a) for a, _ in SYMBOLIC])
def test_symbolic_refuses(argv, names, tmp_path):
    check_rejected(["theory.symbolic", *argv], watch=[tmp_path], names=names, cwd=tmp_path)


LANDSCAPE = [
    (["train", "--alpha", "nan"], ["--alpha", "'nan'"]),
    (["train", "--sigma2", "inf"], ["--sigma2", "'inf'"]),
    (["train", "--lr", "-1"], ["--lr", "'-1'"]),
    (["train", "--restarts", "0"], ["--restarts", "'0'"]),
    (["train", "--init-scale", "0"], ["--init-scale", "'0'"]),
    (["train", "--init-scale", "nan"], ["--init-scale", "'nan'"]),
    (["train", "--slope-std", "-1"], ["--slope-std", "'-1'"]),
    (["train", "--out", "{place}/a-file"], ["a-file", "expected a directory"]),
    (["train", "--out", "{place}/a-file/run.json"], ["a-file"]),
    (["train", "--out", UNWRITABLE + "/run.json"], [UNWRITABLE]),
    (["train", "--model", "logistic", "--population"], ["--population", "linear model only"]),
    (["train", "--model", "logistic", "--no-exact"], ["--exact", "linear model only"]),
    (["train", "--no-population", "--exact"], ["--exact", "--population"]),
    (["surface", "--grid", "1"], ["grid", "2"]),
    (["curves", "--iterations", "-1"], ["--iterations", "'-1'"]),
    (["sweep", "--alphas", "0.5", "inf"], ["--alphas", "'inf'"]),
    (["collapse", "--steps", "nan"], ["--steps", "'nan'"]),
    (["effective", "--slope-mean", "inf"], ["--slope-mean", "'inf'"]),
    (["precondition", "--cond", "0.5"], ["--cond", "0.5"]),
    (["precondition", "--out", "{place}/a-file"], ["a-file"]),
]


@pytest.mark.parametrize("argv, names", LANDSCAPE, ids=[" ".join(a) for a, _ in LANDSCAPE])
def test_landscape_refuses(argv, names, place):
    argv = [a.format(place=place) for a in argv]
    names = [n.format(place=place) for n in names]
    check_rejected(["theory.landscape", *argv], watch=[place], names=names, cwd=place)


def _results_with(place, text):
    folder = place / "results"
    folder.mkdir()
    (folder / "run.json").write_text(text)
    return folder


FIGURES = [
    (["no_such_figure"], ["no_such_figure"]),
    (["--seed", "nan"], ["--seed", "'nan'"]),
    (["--out", "{place}/a-file", "gradient_ratio"], ["a-file", "--out"]),
    (["--data", "{place}/a-file", "--out", "{place}/img", "gradient_ratio"], ["a-file", "--data"]),
    (["--out", UNWRITABLE, "gradient_ratio"], [UNWRITABLE]),
    (["--results", "{place}/missing", "--out", "{place}/img", "linnet_depth"], ["missing"]),
    (["--results", "{place}/a-file", "--out", "{place}/img", "linnet_depth"], ["a-file"]),
    (["--list", "surface"], ["--list", "surface"]),
]


@pytest.mark.parametrize("argv, names", FIGURES, ids=[" ".join(a) for a, _ in FIGURES])
def test_figures_refuses(argv, names, place):
    argv = [a.format(place=place) for a in argv]
    names = [n.format(place=place) for n in names]
    check_rejected(["theory.figures", *argv], watch=[place, *COMMITTED], names=names, cwd=place)


@pytest.mark.parametrize("text", ['{"kind": "engine-run", "config": {"da', "",
                                  '{"kind": "engine-run", "config": {}}'],
                         ids=["truncated", "empty", "no-accuracy"])
def test_figures_refuse_a_damaged_results_record(text, place):
    results = _results_with(place, text)
    check_rejected(["theory.figures", "--results", results, "--out", place / "img",
                    "meta_optimizers"], watch=[place, *COMMITTED], names=[results / "run.json"])


def test_figures_quick_refuses_to_replace_full_budget_data(place):
    data = place / "data"
    data.mkdir()
    (data / "gradient_ratio.json").write_text(json.dumps({"quick": False, "data": {}}))
    check_rejected(["theory.figures", "--quick", "--data", data, "--out", place / "img",
                    "gradient_ratio"], watch=[place, *COMMITTED],
                   names=[data / "gradient_ratio.json"])


# --- the argument types, as properties -----------------------------------------------------

@given(st.floats(min_value=1e-300, max_value=1e300))
def test_positive_float_reads_back_every_positive_finite_number(x):
    assert _cli.positive_float(repr(x)) == x


@given(st.one_of(st.floats(max_value=0.0), st.sampled_from([math.inf, -math.inf, math.nan])))
def test_positive_float_refuses_every_other_number_naming_it(x):
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(repr(repr(x)))):
        _cli.positive_float(repr(x))


@given(st.integers(min_value=-10 ** 6, max_value=10 ** 6))
def test_integer_types_accept_exactly_their_range(n):
    for kind, low in ((_cli.nonnegative_int, 0), (_cli.positive_int, 1)):
        if n >= low:
            assert kind(str(n)) == n
        else:
            with pytest.raises(argparse.ArgumentTypeError, match=re.escape(repr(str(n)))):
                kind(str(n))


@given(alpha=st.floats(min_value=1e-6, max_value=1e6), restarts=st.integers(1, 10 ** 4),
       scale=st.floats(min_value=1e-6, max_value=1e6), seed=st.integers(0, 2 ** 32))
def test_landscape_train_parses_what_it_was_given(alpha, restarts, scale, seed):
    args = build_parser().parse_args(["train", "--alpha", repr(alpha), "--restarts",
                                      str(restarts), "--init-scale", repr(scale), "--seed",
                                      str(seed)])
    assert (args.alpha, args.restarts, args.init_scale, args.seed) == (alpha, restarts, scale,
                                                                       seed)
