"""``python -m theory.paper repro``: paper_repro.md rows and the README block from records."""

import json

import pytest

from theory import _cli as cli
from theory.paper import cli as paper_cli
from theory.paper import repro as sweep_repro
from theory.paper import verdicts


def _main():
    return paper_cli.main


def _record(folder, method, layers, seed, acc):
    folder.mkdir(parents=True, exist_ok=True)
    rec = {"kind": "engine-run", "seed": seed, "wall_time_s": 120.0,
           "config": {"dataset": "omniglot", "layers": layers, "hidden": 16, "iterations": 90,
                      "inner_lr": 0.01, "meta_lr": 0.003, "ways": 5, "shots": 5,
                      "algo": "maml", "metaopt": method if method == "kfo" else "none",
                      "linnet": 2 if method == "linnet" else 0},
           "test": {"accuracy": acc, "ci95": 0.01, "episodes": 600},
           "sweep": {"method": method, "budget": "cpu", "lr_source": "lr-search"}}
    (folder / f"{method}-L{layers}-s{seed}.json").write_text(json.dumps(rec))


def _files(tmp_path):
    repro, readme = tmp_path / "repro.md", tmp_path / "README.md"
    rows = "\n".join(f"| {row_id} | old |" for row_id in sweep_repro.repro_rows(tmp_path / "x"))
    repro.write_text(f"# title\n\nkept line\n\n{rows}\n| C1 | untouched |\n")
    readme.write_text(f"# readme\n\n{sweep_repro.BEGIN}\nold\n{sweep_repro.END}\n\nafter\n")
    return repro, readme


def test_rows_follow_the_records_and_other_lines_stay(tmp_path):
    results = tmp_path / "results"
    for seed, acc in enumerate((0.70, 0.72, 0.74)):
        _record(results / "table-a/omniglot", "maml", 2, seed, acc)
        _record(results / "table-b/omniglot", "kfo", 2, seed, acc + 0.2)
    repro, readme = _files(tmp_path)
    assert _main()(["repro", "--results", str(results), "--repro", str(repro),
                    "--readme", str(readme)]) == 0
    text = repro.read_text()
    assert "kept line" in text and "| C1 | untouched |" in text and "| old |" not in text
    maml = next(line for line in text.splitlines() if line.startswith("| T2/omniglot/maml "))
    assert "| 66.6 | 72.0 ± " in maml and "ours − paper = +5.4 points" in maml
    assert "inner lr 0.01, meta lr 0.003 (lr-search)" in maml and "2.0 min" in maml
    kfo = next(line for line in text.splitlines() if line.startswith("| T2/omniglot/kfo "))
    assert "| 96.62 | 92.0 ± " in kfo and "records: `results/table-b/omniglot/kfo-L2-s*" in kfo
    c8 = next(line for line in text.splitlines() if line.startswith("| C8 "))
    assert "MAML `72.0`" in c8 and "KFO `92.0`" in c8 and "Meta-SGD not run" in c8
    assert "`meta_optimizers:ours.kfo.accuracy`" in c8
    f6 = next(line for line in text.splitlines() if line.startswith("| F6 "))
    assert "(2 of 5 of our cells run)" in f6 and f6.endswith("| incomplete: some cells not run yet (C8) |")
    assert "| T1/omniglot/linnet/2 | Omniglot, MAML w/ LinNet, 2 layers | 88.1 | not run" \
        in text
    cifar = next(line for line in text.splitlines() if line.startswith("| T1/cifarfs/linnet/3 "))
    assert "| 71.1 | not run |" in cifar and "not run: the data is not on this machine" in cifar
    assert "`python -m theory.paper run --budget cpu --datasets cifarfs --data cifarfs=PATH`" \
        in cifar
    body = readme.read_text()
    assert body.startswith("# readme\n") and body.endswith(f"{sweep_repro.END}\n\nafter\n")
    assert "| MAML | 66.6 | 72.0 ± " in body and "### synthetic" in body
    # a second run finds nothing to change
    assert sweep_repro.update(repro, readme, results) == []


def test_claim_verdicts_in_c7():
    cells = {("maml", 2): {"accuracy": 60, "ci95": 1, "seeds": 3, "failed": 0},
             ("linnet", 2): {"accuracy": 85, "ci95": 1, "seeds": 3, "failed": 0},
             ("maml", 6): {"accuracy": 97, "ci95": 1, "seeds": 1, "failed": 0},
             ("linnet", 6): {"accuracy": 97.2, "ci95": 1, "seeds": 1, "failed": 0}}
    rows = sweep_repro._claim_rows({"cpu": cells})
    c2l, gap, _, _ = verdicts.claims(cells)
    assert (c2l.verdict, gap.verdict) == (verdicts.HELD, verdicts.HELD)
    assert "MAML 2 layers `60.0`" in rows["C7"].ours
    assert c2l.verdict_text() in rows["C7"].ours and gap.verdict_text() in rows["C7"].ours
    assert rows["C7"].verdict.startswith("reproduced at the `cpu` budget")
    assert "`linnet_depth:ours.linnet.3.accuracy`" in rows["C7"].source.split(", ")
    assert rows["C8"].verdict == "not run"
    cells[("linnet", 2)]["accuracy"] = 40
    assert sweep_repro._claim_rows({"cpu": cells})["C7"].verdict.startswith("not reproduced")


def test_missing_rows_or_markers_are_errors():
    with pytest.raises(ValueError, match="no row for"):
        sweep_repro.rewrite_rows("| C1 | x |\n", {"C7": ("C7", "y")})
    with pytest.raises(ValueError, match="block"):
        sweep_repro.rewrite_block("no markers", "tables", sweep_repro.BEGIN, sweep_repro.END)


def test_missing_file_is_one_line_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.run(_main(), ["repro", "--repro", str(tmp_path / "none.md")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none.md" in err
