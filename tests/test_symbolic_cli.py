"""``python -m theory.symbolic``: json round trip, text/latex output, report, bad input."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import sympy

from theory import _cli
from theory.symbolic import bridge, claims, cli, dag, derive, maml, matrix, matrix_deep, symbols


def run(argv, capsys):
    status = _cli.run(cli.main, argv)
    out = capsys.readouterr()
    return status, out.out, out.err


def same(x, y):
    return claims.holds(claims.Claim("round trip", x, y))


@pytest.mark.parametrize("argv, key", [
    (["--depth", "2", "--steps", "1"], ("linear", 2, 1, "population", None, False)),
    (["--depth", "1", "--steps", "2", "--first-order"],
     ("linear", 1, 2, "population", None, True)),
    (["--depth", "2", "--loss", "empirical", "--shots", "2"], ("linear", 2, 1, "empirical", 2,
                                                                False)),
    (["--model", "logistic", "--shots", "1"], ("logistic", 1, 1, "empirical", 1, False)),
])
def test_json_sympifies_back_to_the_derived_expressions(argv, key, capsys):
    status, out, _ = run(["derive", *argv, "--format", "json"], capsys)
    assert status == 0
    doc = json.loads(out)
    d = derive(*key)
    assert doc["params"] == [p.name for p in d.params] and doc["definitions"] == []
    assert doc["symbols"] == [s.name for s in d.symbols]
    allowed = symbols.by_name(doc["symbols"])
    for text in [doc["meta_loss"], *doc["meta_grad"], *doc["multitask_grad"]]:
        parsed = sympy.sympify(text, locals=allowed)
        assert {s.name for s in dag.free_symbols([parsed])} <= set(allowed)
    back = cli.parse(doc)
    assert same(back["meta_loss"], d.meta_loss)
    for key_ in ("adapted", "meta_grad", "multitask_grad"):
        assert all(same(x, y) for x, y in zip(back[key_], getattr(d, key_), strict=True))
    if d.effective_step is None:
        assert doc["effective_step"] is None
    else:
        assert same(back["effective_step"], d.effective_step)


def test_large_derivations_share_subexpressions_and_still_round_trip(capsys):
    status, out, _ = run(["derive", "--depth", "4", "--steps", "3", "--format", "json"], capsys)
    doc = json.loads(out)
    d = derive("linear", 4, 3)
    assert status == 0 and doc["definitions"]
    assert dag.tree_size(list(d.meta_grad)) > cli.FLAT_LIMIT
    back = cli.parse(doc)
    names = doc["symbols"]
    rng = np.random.default_rng(1)
    point = [rng.uniform(0.1, 0.9, 7) for _ in names]
    np.testing.assert_allclose(bridge.lambdify(back["meta_grad"], names)(*point),
                               bridge.lambdify(d.meta_grad, names)(*point), rtol=1e-12)
    np.testing.assert_allclose(bridge.lambdify(back["meta_loss"], names)(*point),
                               bridge.lambdify(d.meta_loss, names)(*point), rtol=1e-12)


@pytest.mark.parametrize("fmt, eq, end", [("text", " = ", ""), ("latex", " &= ", "\\\\")])
def test_text_and_latex_list_every_component(fmt, eq, end, capsys):
    status, out, _ = run(["derive", "--depth", "3", "--steps", "1", "--format", fmt], capsys)
    lines = out.strip().splitlines()
    assert status == 0 and "depth L=3" in lines[0]
    body = lines[1:]
    assert len(body) == 1 + 3 * 3 + 1  # meta-loss, adapted/meta/multitask per layer, step
    assert all(eq in line and line.endswith(end) for line in body)


def test_report_prints_every_result_and_all_hold(capsys):
    status, out, _ = run(["report"], capsys)
    assert status == 0
    sections = claims.all_claims() + matrix.all_claims() + matrix_deep.all_claims()
    for title, stated in sections:
        assert title in out
        assert all(c.statement in out for c in stated)
    assert out.count("  [holds] ") == sum(len(c) for _, c in sections)
    assert "[FAILS]" not in out
    total = sum(len(c) for _, c in sections)
    assert out.rstrip().splitlines()[-1] == f"{total} of {total} claims hold"


def test_report_json_and_tally_count_what_was_checked_and_a_failure_exits_1(capsys,
                                                                            monkeypatch):
    from theory.symbolic import report, symbols
    wrong = claims.Claim("alpha is sigma2", symbols.alpha, symbols.sigma2)
    small = [("R1 shallow linear, K = 1", claims.r1_shallow_linear(1)), ("wrong", (wrong,))]
    check = report.check
    monkeypatch.setattr(report, "check", lambda: check(small))
    status, out, _ = run(["report", "--json"], capsys)
    doc = json.loads(out)
    assert status == 1 and doc["tally"] == {"claims": 4, "hold": 3, "fail": 1}
    assert [c["holds"] for s in doc["sections"] for c in s["claims"]] == [True] * 3 + [False]
    assert doc["sections"][1]["claims"][0] == {"statement": "alpha is sigma2", "holds": False,
                                               "closed_form": "sigma2"}
    status, out, _ = run(["report"], capsys)
    assert status == 1 and out.rstrip().splitlines()[-1] == "3 of 4 claims hold; 1 FAIL"


def test_json_is_format_json_and_sigma2_is_sigma_squared_in_latex(capsys):
    argv = ["derive", "--depth", "2", "--steps", "1"]
    assert run(argv + ["--json"], capsys)[1] == run(argv + ["--format", "json"], capsys)[1]
    status, out, _ = run(argv + ["--format", "latex"], capsys)
    assert status == 0 and r"\sigma^{2}" in out and r"\sigma_{2}" not in out
    with pytest.raises(SystemExit):
        _cli.run(cli.main, argv + ["--json", "--format", "latex"])
    assert "contradict" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["derive", "--depth", "0"], "'0' is not an integer >= 1"),
    (["derive", "--depth", "two"], "'two' is not an integer >= 1"),
    (["derive", "--steps", "-1"], "'-1' is not an integer >= 0"),
    (["derive", "--model", "quadratic"], "invalid choice: 'quadratic'"),
    (["derive", "--loss", "empirical", "--shots", "0"], "'0' is not an integer >= 1"),
    (["derive", "--model", "logistic", "--loss", "population", "--shots", "1"],
     "--loss population is not available for --model logistic"),
    (["derive", "--shots", "3"], "--shots 3 needs --loss empirical"),
    (["derive", "--format", "pdf"], "invalid choice: 'pdf'"),
    ([], "required: command"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        _cli.run(cli.main, argv)
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.count("\n") == 1 and message in err, err


def test_module_entry_point_exits_2_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "theory.symbolic", "derive", "--depth", "x"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "theory.symbolic", "derive", "--depth", "2"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "meta_grad[w2] = " in proc.stdout


def test_empirical_loss_defaults_to_two_shots(capsys):
    status, out, _ = run(["derive", "--model", "logistic", "--format", "json"], capsys)
    doc = json.loads(out)
    assert status == 0 and doc["loss"] == "empirical" and doc["shots"] == cli.SHOTS == 2
    assert {"x1", "x2", "xq2"} <= set(doc["symbols"]) and "x3" not in doc["symbols"]


def test_latex_writes_a_shared_subexpression_one_way(capsys):
    status, out, _ = run(["derive", "--depth", "3", "--steps", "3", "--format", "latex"], capsys)
    lines = out.strip().splitlines()
    defined = [line.split(" &= ")[0] for line in lines[1:] if line.startswith("c_{")]
    assert status == 0 and defined[:2] == ["c_{0}", "c_{1}"]
    assert "\\mathrm{c" not in out
    used = set(re.findall(r"c_\{\d+\}", " ".join(line.split(" &= ", 1)[1] for line in lines[1:])))
    assert used and used <= set(defined)


def test_a_slow_derivation_says_so_and_shows_progress(capsys, monkeypatch):
    monkeypatch.setattr(cli, "SLOW", 0.0)  # treat this small derivation as a slow one
    status, out, err = run(["derive", "--model", "logistic", "--depth", "2", "--steps", "2",
                            "--shots", "3"], capsys)
    assert status == 0 and "meta_grad[b]" in out
    assert err.splitlines()[0].startswith(f"{cli.PROG}: this derivation takes roughly")
    total = maml.stages(2)
    assert total == 5 and f"{total}/{total}" in err
    assert cli.estimate("logistic", 6, 5, 10) > cli.estimate("logistic", 4, 3, 10) > 0
    assert cli.estimate("linear", 32, 2, None) > cli.estimate("linear", 4, 2, None) > 0
