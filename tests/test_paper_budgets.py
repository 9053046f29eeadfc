"""Cells of two budgets never mix: filtering, the preferred budget, the README sections per
budget, paper_repro rows that name their budget, and the adaptation curves (claim C12, figure
``adaptation_cnn``) read from early-stopped records, with their validation curves (figure
``training_curves``, row F10)."""

import json
import math

import numpy as np
import pytest

from theory.figures import adaptation, style, tables, training
from theory.paper import budgets, cells, cli, render, repro, verdicts, vocabulary

STEPS = list(range(11))


def _curve(rate, top):
    return [0.2 + (top - 0.2) * (1 - math.exp(-rate * k)) for k in STEPS]


def _record(root, budget, method, layers, seed, acc, *, curve=None, stopped=None,
            table=None):
    """An engine record of the sweep: ``cpu`` under ``results/<table>/``, ``converged``
    (early-stopped, with ``stopped``) under ``results/converged/<table>/``."""
    table = table or ("table-a" if method in ("maml", "linnet") else "table-b")
    cfg = {"dataset": "omniglot", "layers": layers, "ways": 5, "shots": 5, "algo": "maml",
           "metaopt": "kfo" if method == "kfo" else "none",
           "linnet": 2 if method == "linnet" else 0, "hidden": 16, "iterations": 90,
           "inner_lr": 0.1, "meta_lr": 0.003, "val_every": 45, "val_episodes": 50, "seed": seed,
           "steps": 5}
    rec = {"kind": "engine-run", "seed": seed, "config": cfg, "wall_time_s": 60.0,
           "test": {"accuracy": acc, "ci95": 0.01, "episodes": 600},
           "sweep": {"budget": budget, "table": table, "method": method, "lr_source": "search"}}
    folder = root / table / "omniglot"
    if budget == "converged":
        cfg.update(hidden=32, iterations=3000, val_every=100, val_episodes=300, patience=3,
                   meta_lr_schedule="cosine")
        rec["stopped"] = stopped or {"iteration": 1200 + 100 * seed, "reason": "plateau"}
        rec["best"] = {"iteration": 900 + 100 * seed, "val_accuracy": acc}
        # peaks at the best round, 0.05 points lower per round either side of it
        rec["validation"] = [[i, acc - 0.0005 * abs(i - rec["best"]["iteration"]) / 100]
                             for i in range(100, rec["stopped"]["iteration"] + 1, 100)]
        folder = root / "converged" / table / "omniglot"
    if curve is not None:
        rec["adaptation"] = {"split": "test", "episodes": 600, "steps": STEPS,
                             "accuracy": curve, "ci95": [0.01] * len(STEPS)}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{method}-L{layers}-s{seed}.json"
    path.write_text(json.dumps(rec))
    return rec


@pytest.fixture
def mixed(tmp_path):
    """``cpu`` and ``converged`` records of Omniglot under one results directory."""
    root = tmp_path / "results"
    for seed in range(3):
        _record(root, "cpu", "maml", 2, seed, 0.70 + 0.02 * seed)
        _record(root, "cpu", "kfo", 2, seed, 0.85 + 0.01 * seed)
        _record(root, "converged", "maml", 2, seed, 0.80 + 0.01 * seed,
                curve=_curve(0.3, 0.80 + 0.01 * seed))
        _record(root, "converged", "linnet", 2, seed, 0.90 + 0.01 * seed,
                curve=_curve(1.2, 0.90 + 0.01 * seed))
        _record(root, "converged", "kfo", 2, seed, 0.93 - 0.01 * seed,
                curve=_curve(1.5, 0.93 - 0.01 * seed))
    _record(root, "cpu", "maml", 3, 0, 0.76)
    _record(root, "converged", "maml", 4, 0, 0.95, curve=_curve(1.0, 0.95),
            stopped={"iteration": 3000, "reason": "cap"})
    # a search point of the converged budget is never a table cell
    _record(root, "converged", "maml", 2, 7, 0.10, table="lr-search")
    return root


def test_cells_of_one_budget_only(mixed):
    cpu = cells.cells(mixed, "omniglot", budget="cpu")
    conv = cells.cells(mixed, "omniglot", budget="converged")
    assert sorted(cpu) == [("kfo", 2), ("maml", 2), ("maml", 3)]
    assert sorted(conv) == [("kfo", 2), ("linnet", 2), ("maml", 2), ("maml", 4)]
    assert cpu[("maml", 2)]["accuracy"] == pytest.approx(72.0)
    assert conv[("maml", 2)]["accuracy"] == pytest.approx(81.0)      # seeds 0-2, not seed 7
    assert conv[("maml", 2)]["seeds"] == 3 and "stopped" not in cpu[("maml", 2)]
    assert conv[("maml", 2)]["stopped"] == {"median": 1300.0, "plateau": 3, "cap": 0}
    assert conv[("maml", 4)]["stopped"] == {"median": 3000.0, "plateau": 0, "cap": 1}
    assert cells.cells(mixed, "omniglot", budget="full") == {}
    assert list(cells.grouped(mixed, "omniglot")) == ["converged", "cpu"]
    with pytest.raises(ValueError, match=r"budgets \['converged', 'cpu'\]"):
        cells.cells(mixed, "omniglot")


def test_budgets_are_ordered_most_thorough_first():
    assert cells.ordered(["cpu", None, "smoke", "full", "converged", "alpha"]) == [
        "full", "converged", "cpu", "alpha", "smoke", None]


def _ran(acc=80.0):
    return {"accuracy": acc, "ci95": 1.0, "seeds": 3, "failed": 0}


def test_preferred_is_the_most_thorough_complete_budget_else_the_most_thorough_with_any():
    a, b = ("maml", 2), ("kfo", 2)
    complete_cpu = {"cpu": {a: _ran(), b: _ran()}, "converged": {a: _ran()}}
    assert cells.preferred(complete_cpu, [a, b]) == "cpu"
    assert cells.preferred(complete_cpu, [a]) == "converged"
    both = dict(complete_cpu, converged={a: _ran(), b: _ran()}, full={b: _ran()})
    assert cells.preferred(both, [a, b]) == "converged"
    partial = {"cpu": {a: _ran()}, "converged": {b: _ran()}, "full": {b: {"failed": 2}}}
    assert cells.preferred(partial, [a, b]) == "converged"      # none complete: any, thorough
    assert cells.preferred(partial, [("mc", 2)]) is None
    assert cells.preferred({}, [a]) is None


def test_readme_block_has_one_section_per_budget_most_thorough_first(mixed):
    text = render.render(mixed, ("omniglot", "cifarfs"), level=3)
    conv = text.index("### omniglot, budget `converged`: MAML vs MAML w/ LinNet")
    cpu = text.index("### omniglot, budget `cpu`: MAML vs MAML w/ LinNet")
    assert conv < cpu
    head = text[:conv]
    assert "Omniglot at budget `converged`: hidden 32, early stopping after 3 validation " \
        "rounds without a better one (300 episodes, one round every 100" in head
    assert "cap 3000 meta-iterations" in head and "600 test episodes per seed" in head
    assert "stopped at meta-iteration 1300 (median; 1200-3000): 9 of 10 runs on a plateau, " \
        "1 at the cap" in head
    assert "Omniglot at budget `cpu`: hidden 16, 90 meta-iterations, 600 test episodes" in text
    conv_part, cpu_part = text[conv:cpu], text[cpu:text.index("### cifarfs")]
    assert "| MAML | 66.6 | 81.0 ± " in conv_part and "median stop 1300" in conv_part
    assert "| MAML | 66.6 | 72.0 ± " in cpu_part and "median stop" not in cpu_part
    # each section's verdicts compare that budget's cells only
    assert "| MAML w/ LinNet > MAML at 2 layers | held |" in conv_part
    assert "| MAML w/ LinNet > MAML at 2 layers | not run |" in cpu_part
    for budget in ("converged", "cpu"):
        assert f"`python -m theory.paper run --budget {budget} --datasets cifarfs --data " \
               "cifarfs=PATH`" in text
    assert text.count("### cifarfs") == 2 and "### cifarfs, budget" not in text


def _rows(root):
    return repro.repro_rows(root)


def test_repro_rows_use_and_name_their_preferred_budget(mixed):
    rows = _rows(mixed)
    maml2 = rows["T1/omniglot/maml/2"]
    assert maml2.ours.startswith("81.0 ± ") and maml2.budget.startswith("`converged`: ")
    assert maml2.command.startswith(f"`{repro.run_command('converged')}`")
    assert "`results/converged/table-a/omniglot/maml-L2-s*.json`" in maml2.command
    maml3 = rows["T1/omniglot/maml/3"]     # only cpu has it
    assert maml3.ours.startswith("76.0 ± ") and maml3.budget.startswith("`cpu`: ")
    assert "`results/table-a/omniglot/maml-L3-s*.json`" in maml3.command
    assert rows["T2/omniglot/mc"].ours == "not run"
    # C7: no budget has all 8 cells, converged is the most thorough with any
    c7 = rows["C7"]
    assert "(budget `converged`)" in c7.ours and "MAML 2 layers `81.0`" in c7.ours
    assert "MAML 3 layers not run" in c7.ours
    assert c7.verdict == "incomplete: some cells not run yet"
    assert rows["F5"].ours.endswith("(3 of 8 of our cells run)")
    assert rows["F5"].verdict == f"{c7.verdict} (C7)"


def test_adaptation_claim_and_figure_read_the_records(mixed):
    data = adaptation.compute_adaptation_cnn(results_dir=mixed)
    json.dumps(data, allow_nan=False)
    assert data["budget"] == "converged"
    assert data["models"] == ["maml_L2", "linnet_L2", "kfo_L2", "maml_L4"]
    deep = data["ours"]["maml_L4"]      # one seed: the record's own curve, in %
    np.testing.assert_allclose(deep["accuracy"], [100 * a for a in _curve(1.0, 0.95)])
    np.testing.assert_allclose(deep["ci95"], [1.0] * 11)
    assert deep["seeds"] == 1 and deep["interval"] == "episodes" and deep["steps"] == STEPS
    shallow = data["ours"]["maml_L2"]   # three seeds: their mean per step
    means = np.mean([[100 * a for a in _curve(0.3, 0.80 + 0.01 * s)] for s in range(3)], 0)
    np.testing.assert_allclose(shallow["accuracy"], means)
    assert shallow["seeds"] == 3 and shallow["interval"] == "seeds"
    gain = means - means[0]
    assert shallow["steps_to_90"] == next(k for k in STEPS if gain[k] >= 0.9 * gain[-1])
    assert deep["steps_to_90"] < shallow["steps_to_90"]
    # the second statistic: each seed's mean over the 5 trained steps, then over seeds
    assert deep["trained_steps"] == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(deep["trained"]["accuracy"], np.mean(deep["accuracy"][1:6]))
    np.testing.assert_allclose(deep["trained"]["ci95"], 1.0)     # mean of its 1.0 half-widths
    per_seed = [np.mean([100 * a for a in _curve(0.3, 0.80 + 0.01 * s)][1:6]) for s in range(3)]
    np.testing.assert_allclose(shallow["trained"]["accuracy"], np.mean(per_seed))
    assert shallow["trained"]["seeds"] == 3 and shallow["trained"]["interval"] == "seeds"
    row = _rows(mixed)["C12"]
    assert f"MAML 2 layers k=0 `{shallow['accuracy'][0]:.1f}`, k=1 " \
           f"`{shallow['accuracy'][1]:.1f}`" in row.ours
    assert f"mean over k=1..5 `{shallow['trained']['accuracy']:.1f}`" in row.ours
    sources = row.source.split(", ")
    for key in ("maml_L4.accuracy.10", "kfo_L2.steps_to_90", "maml_L4.trained.accuracy"):
        assert f"`adaptation_cnn:ours.{key}`" in sources
    curves = cells.adaptation(mixed)[1]
    assert render.trained_text(curves) in row.ours
    assert verdicts.adaptation_claim(curves).verdict == verdicts.HELD
    assert row.verdict.startswith("reproduced at the `converged` budget")
    assert _rows(mixed)["F9"].ours.endswith("(4 of 4 curves)")
    with style.context():
        fig = adaptation.fig_adaptation_cnn(data)
    theirs, ax = fig.axes[0], fig.axes[1]      # the authors' protocol, then ours
    assert not theirs.lines and "budget authors" in theirs.get_title()
    assert adaptation.FILL_AUTHORS in " ".join(t.get_text() for t in theirs.texts)
    assert len(ax.lines) == 4 and "budget converged" in ax.get_title()
    np.testing.assert_allclose(ax.lines[3].get_ydata(), deep["accuracy"])
    labels = ax.get_legend_handles_labels()[1]
    assert any(label.startswith("shaded: 95 % interval") for label in labels)


def test_the_authors_protocol_has_its_own_panel(mixed, tmp_path):
    rec = _record(tmp_path / "scratch", "converged", "maml", 2, 0, 0.7, curve=_curve(0.5, 0.7))
    rec["sweep"]["budget"] = "authors"
    folder = mixed / "authors" / "table-a" / "omniglot"
    folder.mkdir(parents=True)
    (folder / "maml-L2-s0.json").write_text(json.dumps(rec))
    data = adaptation.compute_adaptation_cnn(results_dir=mixed)
    assert data["budget"] == "converged"           # ours is unchanged by the authors' runs
    theirs = data["authors"]
    assert [m for m, c in theirs.items() if c is not None] == ["maml_L2"]
    np.testing.assert_allclose(theirs["maml_L2"]["accuracy"], [100 * a for a in _curve(0.5, 0.7)])
    with style.context():
        fig = adaptation.fig_adaptation_cnn(data)
    left, right = fig.axes[0], fig.axes[1]
    assert len(left.lines) == 1 and len(right.lines) == 4
    np.testing.assert_allclose(left.lines[0].get_ydata(), theirs["maml_L2"]["accuracy"])
    notes = " ".join(t.get_text() for t in left.texts)
    assert "not run: MAML w/ LinNet, 2 layers" in notes


def test_adaptation_claim_verdicts():
    flat = {"steps": [0, 1, 2], "seeds": 3, "ci95": [1.0] * 3}
    curves = {("maml", 2): dict(flat, accuracy=[20, 40, 60]),
              ("linnet", 2): dict(flat, accuracy=[20, 70, 80]),
              ("kfo", 2): dict(flat, accuracy=[20, 40.5, 60]), ("maml", 4): None}
    assert verdicts.adaptation_claim(curves).verdict == "not run"
    curves[("maml", 4)] = dict(flat, accuracy=[20, 30, 90])
    claim = verdicts.adaptation_claim(curves)
    assert claim.verdict == "did not hold" and "MAML 4 layers: did not hold" in claim.detail
    assert "KFO 2 layers: within noise" in claim.detail
    assert verdicts.adaptation_claim(curves, step=2).verdict == "within noise"


def test_the_second_adaptation_statistic_tests_depth_and_describes_the_rest():
    def cell(acc, half, seeds=3):
        return {"accuracy": acc, "ci95": half, "seeds": seeds}

    def curve(trained):
        return {"trained_steps": [1, 2, 3], "trained": trained}

    curves = {("maml", 2): curve(cell(60.0, 1.0)), ("linnet", 2): curve(cell(70.0, 1.0)),
              ("kfo", 2): None, ("maml", 4): None}
    claim, described = verdicts.trained_claim(curves)
    assert claim.claim == "mean accuracy over k = 1..3, MAML 4 layers > MAML 2 layers"
    assert claim.verdict == "not run"
    assert described.startswith("MAML w/ LinNet 2 layers − MAML 2 layers (+10.0 ± ")
    assert described.endswith("KFO 2 layers − MAML 2 layers not run")
    curves[("maml", 4)] = curve(cell(55.0, 2.0, seeds=1))
    claim, _ = verdicts.trained_claim(curves)
    assert claim.verdict == "did not hold" and claim.single_seed == [("maml", 4)]
    curves[("maml", 4)] = curve(cell(61.0, 2.0, seeds=1))
    assert verdicts.trained_claim(curves)[0].verdict == "within noise"
    curves[("maml", 4)] = curve(cell(66.0, 2.0, seeds=1))
    assert verdicts.trained_claim(curves)[0].verdict == "held"


def test_no_adaptation_records_still_draws_and_says_how_to_fill(tmp_path):
    data = adaptation.compute_adaptation_cnn(results_dir=tmp_path / "none")
    assert data["budget"] is None and all(v is None for v in data["ours"].values())
    with style.context():
        fig = adaptation.fig_adaptation_cnn(data)
    theirs, ours = (" ".join(t.get_text() for t in ax.texts) for ax in fig.axes[:2])
    assert adaptation.FILL_AUTHORS in theirs and adaptation.FILL in ours
    assert fig.axes[0].get_xlabel() and fig.axes[1].get_xlabel()
    row = repro.repro_rows(tmp_path / "none")["C12"]
    assert row.verdict == "not run" and "MAML 2 layers not run" in row.ours


def test_a_damaged_adaptation_curve_is_named(tmp_path):
    rec = _record(tmp_path, "converged", "maml", 2, 0, 0.8, curve=_curve(1, 0.8))
    rec["adaptation"]["ci95"] = [0.01]
    (tmp_path / "converged/table-a/omniglot/maml-L2-s0.json").write_text(json.dumps(rec))
    with pytest.raises(ValueError, match="maml-L2-s0.json"):
        cells.adaptation(tmp_path)


def test_table_figures_use_the_preferred_budget_and_say_so(mixed):
    depth = tables.compute_linnet_depth(results_dir=mixed)
    assert depth["budget"] == "converged"
    assert depth["ours"]["maml"][0]["accuracy"] == pytest.approx(81.0)
    assert depth["ours"]["maml"][1] is None              # cpu's 3-layer cell is not mixed in
    opt = tables.compute_meta_optimizers(results_dir=mixed)
    assert opt["budget"] == "converged" and opt["ours"]["kfo"]["accuracy"] == pytest.approx(92)
    with style.context():
        fig = tables.fig_linnet_depth(depth)
    assert "ours: budget converged, early stopping, cap 3000" in fig.axes[0].get_title()


def test_the_adaptation_models_are_those_the_converged_sweep_records_curves_for():
    assert tuple(budgets.budget("converged")["curve"]["runs"]) == vocabulary.ADAPTATION_KEYS


def test_summary_states_an_early_stopping_preset(tmp_path, capsys):
    assert cli.main(["summary", "--results", str(tmp_path), "--datasets", "omniglot",
                     "--budget", "converged"]) == 0
    out = capsys.readouterr().out
    b = budgets.budget("converged")
    assert f"early stopping (patience {b['patience']}), cap {b['iterations']} " \
        "meta-iterations" in out


def test_summary_shows_the_adaptation_curves_of_their_budget_only(mixed, tmp_path):
    text = render.render(mixed, ("omniglot",), level=3)
    conv, cpu = (text.index(f"### omniglot, budget `{b}`: MAML vs") for b in ("converged", "cpu"))
    head = "### omniglot, budget `converged`: adaptation curves"
    assert text.count(head) == 1 and conv < text.index(head) < cpu
    assert "budget `cpu`: adaptation curves" not in text
    _, curves = cells.adaptation(mixed)
    for (method, layers), c in curves.items():
        row = next(line for line in text.splitlines()
                   if line.startswith(f"| {vocabulary.LABEL[method]} {layers} layers (n="))
        values = row.strip("|").split("|")
        assert [float(v) for v in values[1:-2]] == pytest.approx(c["accuracy"], abs=0.051)
        assert int(values[-2]) == c["steps_to_90"]
        assert float(values[-1]) == pytest.approx(c["trained"]["accuracy"], abs=0.051)
    # one comparison per inner step of meta-training (5 in these records), each the claim's
    # detail at that step, then the second statistic
    for k in range(1, 6):
        assert f"| {k} | {verdicts.adaptation_claim(curves, step=k).detail} |" in text
    assert "| 6 | " not in text
    deep, described = verdicts.trained_claim(curves)
    assert f"{deep.claim}: {deep.verdict_text()} ({deep.detail})" in text
    assert described in text
    # with meta-training's 3 inner steps in the records, the comparisons stop at k = 3
    three = tmp_path / "three"
    for seed in range(2):
        for method, rate in (("maml", 0.3), ("linnet", 1.2)):
            rec = _record(three, "converged", method, 2, seed, 0.8, curve=_curve(rate, 0.8))
            rec["config"]["steps"] = 3
            (three / "converged" / "table-a" / "omniglot" / f"{method}-L2-s{seed}.json") \
                .write_text(json.dumps(rec))
    text = render.render(three, ("omniglot",))
    assert "after k = 1..3 steps" in text and "| 3 | MAML w/ LinNet 2 layers: " in text
    assert "| 4 | " not in text
    # no curve, no section
    assert "adaptation curves" not in render.render(tmp_path / "none", ("omniglot",))


def test_validation_curves_figure_and_row_read_the_early_stopped_records(mixed):
    full = training.compute_training_curves(results_dir=mixed)
    json.dumps(full, allow_nan=False)
    assert full["authors"]["budget"] is None and full["authors"]["cells"] == []
    data = full["ours"]
    assert data["budget"] == "converged"          # the cpu records do not stop early
    assert data["cells"] == ["maml_L2", "linnet_L2", "kfo_L2", "maml_L4"]
    runs = data["runs"]["maml_L2"]["runs"]
    assert [r["seed"] for r in runs] == [0, 1, 2]   # the search point (seed 7) is left out
    assert runs[1]["iterations"] == list(range(100, 1301, 100))
    assert runs[1]["accuracy"][9] == pytest.approx(81.0)   # its best round, 1000, in %
    assert runs[1]["best"] == 1000 and (runs[1]["stopped"], runs[1]["reason"]) == (1300, "plateau")
    s = data["summary"]
    assert (s["runs"], s["plateau"], s["cap"]) == (10, 9, 1)
    # every run ends two rounds past a point 0.05 points per round lower than the round before
    assert s["late_gain"]["maml_L4"] == [pytest.approx(-0.1)]
    assert s["late_gain_median"] == pytest.approx(-0.1) == s["late_gain_max"]
    # below its best round a curve falls 0.05 points a round: 3 rounds to a plateau's stop,
    # 21 to the 4-layer run's cap
    assert s["largest_fall"] == {"maml_L2": pytest.approx(0.15), "linnet_L2": pytest.approx(0.15),
                                 "kfo_L2": pytest.approx(0.15), "maml_L4": pytest.approx(1.05)}
    row = repro.repro_rows(mixed)["F10"]
    assert "(ours: 10 runs of budget `converged`, 9 stopped on a plateau, 1 at the cap)" \
        in row.ours
    assert "median `-0.10`, from `-0.10` to `-0.10`" in row.verdict
    assert f"MAML 4 layers `{s['largest_fall']['maml_L4']:.3g}`" in row.verdict
    assert "training_curves:ours.summary.largest_fall.maml_L4" in row.verdict
    assert "the authors' protocol" not in row.verdict
    with style.context():
        fig = training.fig_training_curves(full)
    empty_left, empty_right, left, right, *schedules = fig.axes
    assert not empty_left.lines and not empty_right.lines   # no authors' run: notes only
    # each panel's twin axis draws its runs' meta-lr schedule (cosine: peak 1 at 0, 0 at the cap)
    assert len(schedules) == 2
    rate = schedules[1].lines[0]
    assert rate.get_ydata()[0] == pytest.approx(1.0) and rate.get_ydata()[-1] < 1e-3
    solid = [ln for ln in left.lines if ln.get_linestyle() == "-" and len(ln.get_xdata()) > 1]
    assert len(solid) == 9                         # one line per seed at 2 layers
    deep = [ln for ln in right.lines if len(ln.get_xdata()) > 2]      # not the cap line
    assert len(deep) == 1 and deep[0].get_linestyle() == "--"       # 4 layers: dashed
    np.testing.assert_allclose(deep[0].get_ydata(),
                               data["runs"]["maml_L4"]["runs"][0]["accuracy"])
    crosses = [ln for ln in left.lines if ln.get_marker() == "x" and len(ln.get_xdata())]
    assert len(crosses) == 9 and "9 stopped on a plateau, 1 at the cap" in left.get_title()


def test_no_early_stopped_run_gives_an_empty_figure_and_a_not_run_row(tmp_path):
    root = tmp_path / "results"
    _record(root, "cpu", "maml", 2, 0, 0.7)
    data = training.compute_training_curves(results_dir=root)
    for side in ("authors", "ours"):
        p = data[side]
        assert p["budget"] is None and p["cells"] == [] and p["summary"]["runs"] == 0
    assert repro.repro_rows(root)["F10"].verdict == \
        f"not run: `{repro.run_command('converged')}`"


def test_a_damaged_validation_curve_is_named(mixed):
    path = mixed / "converged" / "table-a" / "omniglot" / "maml-L4-s0.json"
    rec = json.loads(path.read_text())
    path.write_text(json.dumps(dict(rec, validation=[[100, "high"]])))
    with pytest.raises(ValueError, match=r"maml-L4-s0.json: field validation\[0\]\[1\] is 'high'"):
        cells.validation_curves(mixed)


def _authors(root, scratch, method, layers, seed, top, rate):
    rec = _record(scratch, "converged", method, layers, seed, top, curve=_curve(rate, top))
    rec["sweep"]["budget"] = "authors"
    folder = root / "authors" / rec["sweep"]["table"] / "omniglot"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{method}-L{layers}-s{seed}.json").write_text(json.dumps(rec))


def test_c12a_judges_the_authors_curves_on_the_registered_statistic(mixed, tmp_path):
    assert repro.repro_rows(mixed)["C12a"].verdict == "not run"
    for seed in range(3):       # every model adapts faster than 2-layer MAML, at every seed
        _authors(mixed, tmp_path, "maml", 2, seed, 0.70 + 0.01 * seed, 0.3)
        for method, layers, rate in (("linnet", 2, 1.5), ("kfo", 2, 1.2), ("maml", 4, 3.0)):
            _authors(mixed, tmp_path, method, layers, seed, 0.95 + 0.01 * seed, rate)
    row = repro.repro_rows(mixed)["C12a"]
    assert row.verdict == "reproduced at the `authors` budget"
    assert "budget `authors`" in row.ours and row.ours.count(": held (+") == 3
    assert "`adaptation_cnn:authors.kfo_L2.trained.accuracy`" in row.source.split(", ")
    assert "(budget `converged`)" in repro.repro_rows(mixed)["C12"].ours    # C12 stays ours


def test_a_collapse_under_the_authors_protocol_is_its_largest_fall(mixed, tmp_path):
    # a run whose validation accuracy falls from 80 % to 30 % and recovers: best-round selection
    # hides the collapse from its test accuracy, the largest fall states it (50 points)
    _authors(mixed, tmp_path, "linnet", 2, 0, 0.8, 1.0)
    path = mixed / "authors" / "table-a" / "omniglot" / "linnet-L2-s0.json"
    rec = json.loads(path.read_text())
    rec["validation"] = [[100, 0.6], [200, 0.8], [300, 0.3], [400, 0.7], [500, 0.75]]
    rec["best"], rec["stopped"] = {"iteration": 200, "val_accuracy": 0.8}, \
        {"iteration": 500, "reason": "plateau"}
    path.write_text(json.dumps(rec))
    data = training.compute_training_curves(results_dir=mixed)
    theirs = data["authors"]
    assert theirs["budget"] == "authors" and theirs["cells"] == ["linnet_L2"]
    assert theirs["summary"]["largest_fall"] == {"linnet_L2": pytest.approx(50.0)}
    assert data["ours"]["budget"] == "converged"      # ours never reads the authors' records
    assert cells.largest_fall({"accuracy": [60.0, 70.0, 80.0]}) == 0.0
    assert cells.largest_fall({"accuracy": [60.0]}) is None
    row = repro.repro_rows(mixed)["F10"]
    assert "the authors' protocol: 1 run of budget `authors`" in row.ours
    assert "MAML w/ LinNet 2 layers `50`" in row.verdict
    assert "`training_curves:authors.summary.largest_fall.linnet_L2`" in row.verdict
    with style.context():
        fig = training.fig_training_curves(data)
    top_left = fig.axes[0]
    drawn = [ln for ln in top_left.lines if len(ln.get_xdata()) > 2]
    assert len(drawn) == 1
    np.testing.assert_allclose(drawn[0].get_ydata(), [60.0, 80.0, 30.0, 70.0, 75.0])
