"""The paper's numbers, the one reader of records into table cells, and the verdicts."""

import json
import math

import numpy as np
import pytest
from scipy import stats
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from theory.paper import cells, cli, numbers, render, verdicts, vocabulary


def test_paper_tables_hold_all_39_numbers():
    assert len(numbers.TABLE1) == 24 and len(numbers.TABLE2) == 15
    assert all(isinstance(v, float) and 50 < v < 100
               for v in (*numbers.TABLE1.values(), *numbers.TABLE2.values()))
    assert [numbers.table1("omniglot", "maml", n) for n in (2, 3, 4, 6)] == [66.8, 93.5, 98.5,
                                                                            97.6]
    assert [numbers.table1("cifarfs", "linnet", n) for n in (2, 3, 4, 6)] == [66.1, 71.1, 74.4,
                                                                             71.9]
    assert [numbers.table2("mini-imagenet", m) for m in vocabulary.TABLE2_METHODS] == [
        52.6, 59.90, 58.95, 58.47, 59.08]
    assert numbers.table1("synthetic", "maml", 2) is None      # the paper did not run it
    assert numbers.table2("omniglot", "anil") is None          # not in the paper's Table 2


def test_paper_rejects_cells_outside_the_tables():
    with pytest.raises(ValueError, match="layers"):
        numbers.table1("omniglot", "maml", 5)
    with pytest.raises(ValueError, match="adam"):
        numbers.table2("omniglot", "adam")


def _run(path, accuracy, *, seed, metaopt="none", layers=2, linnet=0, ci95=0.01,
         kind="engine-run", algo="maml"):
    cfg = {"dataset": "omniglot", "algo": algo, "metaopt": metaopt, "layers": layers,
           "linnet": linnet, "ways": 5, "shots": 5, "iterations": 100, "seed": seed,
           "inner_lr": 0.4, "meta_lr": 0.001}
    path.parent.mkdir(parents=True, exist_ok=True)
    failure = {"status": "error"} if kind == "engine-run-failed" else {}
    path.write_text(json.dumps({"kind": kind, "config": cfg, "seed": seed, **failure,
                                "test": {"accuracy": accuracy, "ci95": ci95, "episodes": 600}}))


def test_every_method_name_maps_back_from_its_config():
    for name, overrides in vocabulary.METHODS.items():
        assert vocabulary.method_of({"algo": "maml", "metaopt": "none", "linnet": 0, **overrides}) \
            == name
    assert vocabulary.method_of({"algo": "anil", "metaopt": "mc"}) is None


def test_reader_finds_records_anywhere_and_averages_seeds(tmp_path):
    _run(tmp_path / "a.json", 0.70, seed=0)
    _run(tmp_path / "deep/er/b.json", 0.80, seed=1)
    _run(tmp_path / "c.json", 0.90, seed=0, linnet=1)
    _run(tmp_path / "d.json", 0.95, seed=0, metaopt="kfo")
    _run(tmp_path / "f.json", 0.5, seed=0, algo="anil", metaopt="kfo")
    _run(tmp_path / "e.json", 0.99, seed=0, kind="figure-data")  # not an engine run
    _run(tmp_path / "g.json", 0.99, seed=2, kind="engine-run-failed")
    found = cells.cells(tmp_path, "omniglot")
    assert sorted(found) == [("anil-kfo", 2), ("kfo", 2), ("linnet", 2), ("maml", 2)]
    maml = found[("maml", 2)]
    assert maml["seeds"] == 2 and maml["accuracy"] == pytest.approx(75.0)
    assert maml["failed"] == 1 and maml["interval"] == "seeds"
    # Student t with 1 degree of freedom over the two seed accuracies
    assert maml["ci95"] == pytest.approx(12.706 * np.std([70, 80], ddof=1) / math.sqrt(2),
                                         rel=1e-3)
    linnet = found[("linnet", 2)]
    assert linnet["accuracy"] == pytest.approx(90.0) and linnet["ci95"] == pytest.approx(1.0)
    assert linnet["interval"] == "episodes"
    assert cells.summary(linnet) == {k: v for k, v in linnet.items()
                                     if k not in ("records", "failed")}
    assert cells.cells(tmp_path, "synthetic") == {} and cells.cells(tmp_path / "no", "x") == {}
    assert cells.summarise([]) is None and cells.summary(None) is None


def _cell(acc, ci, seeds=3):
    return {"accuracy": acc, "ci95": ci, "seeds": seeds, "failed": 0}


def test_compare_verdicts():
    # n=3 each, half-widths 1: Welch's interval of the difference is about +-0.91
    assert verdicts.compare(_cell(90, 1), _cell(80, 1)) == "held"
    assert verdicts.compare(_cell(81, 1), _cell(80, 1)) == "held"
    assert verdicts.compare(_cell(80.5, 1), _cell(80, 1)) == "within noise"
    assert verdicts.compare(_cell(79.5, 1), _cell(80, 1)) == "within noise"
    assert verdicts.compare(_cell(70, 1), _cell(80, 1)) == "did not hold"
    assert verdicts.compare(None, _cell(80, 1)) == "not run"
    assert verdicts.compare({"failed": 3}, _cell(80, 1)) == "not run"
    # a cell whose interval is unknown (one test episode) can neither confirm nor refute
    assert verdicts.compare(_cell(99, None, seeds=1), _cell(20, 1)) == "within noise"
    assert verdicts.compare(_cell(20, 1), _cell(99, None, seeds=1)) == "within noise"


def _seeds(*accs):
    return cells.summarise([{"test": {"accuracy": a / 100, "ci95": 0.01}, "config": {},
                             "path": f"r{i}.json"} for i, a in enumerate(accs)])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(30, 99), min_size=2, max_size=6),
       st.lists(st.floats(30, 99), min_size=2, max_size=6))
def test_difference_of_two_multi_seed_cells_is_welchs_interval(a, b):
    assume(np.std(a) > 1e-3 and np.std(b) > 1e-3)
    d = verdicts.difference(_seeds(*a), _seeds(*b))
    welch = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert d.mean == pytest.approx(np.mean(a) - np.mean(b), abs=1e-9)
    assert d.mean - d.half == pytest.approx(welch.low, abs=1e-6)
    assert d.mean + d.half == pytest.approx(welch.high, abs=1e-6)


def test_seeds_needed_is_the_fewest_that_resolve_the_difference():
    a, b = _seeds(80, 84, 88), _seeds(79, 81, 86)
    d = verdicts.difference(a, b)
    assert d.verdict() == "within noise"
    n = d.seeds_needed()
    assert 3 < n <= verdicts.MAX_SEEDS

    def resolved(k):   # Welch's test at k seeds per cell with the measured spreads
        return stats.ttest_ind_from_stats(84, np.std([80, 84, 88], ddof=1), k,
                                          82, np.std([79, 81, 86], ddof=1), k,
                                          equal_var=False).pvalue < 0.05
    assert resolved(n) and not resolved(n - 1)
    assert f"about {n} seeds per cell would settle it" in d.text()
    equal = verdicts.difference(_seeds(80, 84), _seeds(84, 80))
    assert equal.seeds_needed() == verdicts.MAX_SEEDS + 1
    assert "would not settle it" in equal.text()
    single = verdicts.difference(_cell(80, 1, seeds=1), _cell(80.5, 1, seeds=1))
    assert single.seeds_needed() is None and "no spread over seeds yet" in single.text()


def test_cell_text_says_what_its_interval_is_over():
    assert render.ours_text(_cell(70, None, seeds=1)) == "70.0 ± ? (n=1, test episodes only)"
    assert render.ours_text(_cell(70, 2.04)) == "70.0 ± 2.0 (n=3, t over seeds)"
    assert render.ours_text(None) == "not run"
    assert render.ours_text(None, "cifarfs") == render.ABSENT


def test_claims_on_hand_made_cells():
    found = {("maml", 2): _cell(60, 2), ("linnet", 2): _cell(85, 2),
             ("maml", 6): _cell(97, 1), ("linnet", 6): _cell(97.5, 1),
             ("metasgd", 2): _cell(70, 2), ("mc", 2): _cell(93, 2), ("tnet", 2): _cell(91, 2),
             ("kfo", 2): _cell(92.5, 2)}
    assert [c.verdict for c in verdicts.claims(found)] == ["held", "held", "held",
                                                           "within noise"]
    assert not any(c.single_seed for c in verdicts.claims(found))
    found[("metasgd", 2)] = _cell(50, 2)
    found[("kfo", 2)] = _cell(95, 2)
    assert [c.verdict for c in verdicts.claims(found)][2:] == ["did not hold", "held"]
    del found[("linnet", 6)], found[("tnet", 2)]
    assert [c.verdict for c in verdicts.claims(found)][1:3] == ["not run", "did not hold"]
    assert [c.verdict for c in verdicts.claims({})] == ["not run"] * 4


def test_a_verdict_resting_on_a_single_seed_says_so():
    found = {("maml", 2): _cell(77, 2), ("linnet", 2): _cell(76, 2),
             ("maml", 6): _cell(85, 1, seeds=1), ("linnet", 6): _cell(51, 1, seeds=1)}
    gap = verdicts.claims(found)[1]
    assert gap.verdict == "did not hold"
    assert gap.single_seed == [("maml", 6), ("linnet", 6)]
    assert gap.verdict_text() == ("did not hold (rests on a single seed: MAML 6 layers, "
                                  "MAML w/ LinNet 6 layers)")
    assert verdicts.claims(found)[0].verdict_text() == "within noise"


def test_gap_claim_uses_the_combined_interval():
    found = {("maml", 2): _cell(60, 3), ("linnet", 2): _cell(64, 3),
             ("maml", 4): _cell(90, 3), ("linnet", 4): _cell(91, 3)}
    gap = verdicts.claims(found)[1]
    # gap 4 vs 1 with half-width sqrt(4 * 9) = 6: not resolved
    assert gap.verdict == "within noise" and "4 layers" in gap.detail
    found[("linnet", 4)] = _cell(85.5, None, seeds=1)     # unknown interval: cannot refute
    found[("maml", 4)] = _cell(85, 1, seeds=1)
    assert verdicts.claims(found)[1].verdict == "within noise"
    found[("linnet", 4)] = _cell(51, 1, seeds=1)          # reversed with depth: not closed
    assert verdicts.claims(found)[1].verdict == "did not hold"


def test_summary_renders_all_39_paper_values_beside_ours(tmp_path, capsys):
    for seed, acc in enumerate((0.6, 0.62, 0.64)):
        _run(tmp_path / f"results/table-a/omniglot/maml-L2-s{seed}.json", acc, seed=seed)
    assert cli.main(["summary", "--results", str(tmp_path / "results"), "--budget", "cpu"]) == 0
    out = capsys.readouterr().out
    half = 4.302652729749464 * np.std([60, 62, 64], ddof=1) / math.sqrt(3)
    assert f"| MAML | 66.8 | 62.0 ± {half:.1f} (n=3, t over seeds) |" in out
    assert "| KFO | 96.62 | not run |" in out and "| MAML w/ LinNet | 88.1 | not run |" in out
    assert "## synthetic" in out and "hidden 16" in out and "over seeds (Student's t)" in out
    for text in numbers.PRINTED.values():
        assert f"| {text} |" in out
    assert "| 54.0 |" in out and "| 59.90 |" in out     # as the paper prints them
    assert out.count(render.ABSENT) == 2 * (8 + 7)
    assert "`python -m theory.paper run --budget cpu --datasets cifarfs --data cifarfs=PATH`" \
        in out


@given(st.lists(st.floats(0.2, 1.0), min_size=1, max_size=6))
def test_summary_of_seeds_is_their_mean_in_percent_with_a_nonnegative_interval(accs):
    runs = [{"config": {"iterations": 10}, "path": f"r{i}.json",
             "test": {"accuracy": acc, "ci95": 0.01, "episodes": 600}}
            for i, acc in enumerate(accs)]
    summary = cells.summarise(runs)
    assert summary["seeds"] == len(accs)
    assert summary["accuracy"] == pytest.approx(100 * np.mean(accs))
    assert 100 * min(accs) - 1e-9 <= summary["accuracy"] <= 100 * max(accs) + 1e-9
    assert summary["ci95"] >= 0
    if len(accs) > 1 and np.ptp(accs) == 0:
        assert summary["ci95"] == pytest.approx(0.0, abs=1e-9)
