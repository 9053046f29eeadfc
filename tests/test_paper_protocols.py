"""The claims under the authors' protocol and ours, side by side (``theory.paper.protocols``)."""

import json

import pytest

from theory.paper import protocols, verdicts

H, N, F, R = verdicts.HELD, verdicts.NOISE, verdicts.FAILED_CLAIM, verdicts.NOT_RUN


@pytest.mark.parametrize("authors, ours, words", [
    (R, H, "Not yet run under the authors' protocol"),
    (H, R, "Only the authors' protocol"),
    (N, N, "Both protocols agree (within noise)"),
    (H, N, "holds on the authors' network and protocol but not on ours"),
    (F, H, "holds on our network but not on the authors'"),
    (F, N, "Neither protocol supports it (did not hold under theirs, within noise under ours)"),
])
def test_what_a_pair_of_verdicts_means(authors, ours, words):
    assert words in protocols.meaning(authors, ours)


def test_a_meaning_quotes_both_differences_where_both_are_known():
    said = protocols.meaning(N, N, ("LinNet - MAML: +7.7 ± 9.4", "LinNet - MAML: +0.8 ± 1.0"))
    assert said.endswith("Under theirs: LinNet - MAML: +7.7 ± 9.4. "
                         "Under ours: LinNet - MAML: +0.8 ± 1.0.")
    assert "Under theirs" not in protocols.meaning(N, N, ("LinNet - MAML: +7.7 ± 9.4", ""))


def _record(root, budget, method, acc, seed):
    cfg = {"dataset": "omniglot", "layers": 2, "ways": 5, "shots": 5, "algo": "maml",
           "metaopt": "none", "linnet": 2 if method == "linnet" else 0, "hidden": 16,
           "iterations": 800, "inner_lr": 0.1, "meta_lr": 0.003, "seed": seed, "steps": 5}
    rec = {"kind": "engine-run", "seed": seed, "config": cfg, "wall_time_s": 1.0,
           "test": {"accuracy": acc, "ci95": 0.005, "episodes": 600},
           "sweep": {"budget": budget, "table": "table-a", "method": method,
                     "lr_source": "default"}}
    folder = root / budget / "table-a" / "omniglot"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{method}-L2-s{seed}.json").write_text(json.dumps(rec))


def test_each_claim_is_judged_on_each_budget_alone(tmp_path):
    for seed in range(3):
        # the authors' protocol: LinNet far above MAML; ours: the two level
        _record(tmp_path, "authors", "maml", 0.62 + 0.01 * seed, seed)
        _record(tmp_path, "authors", "linnet", 0.85 + 0.01 * seed, seed)
        _record(tmp_path, "converged", "maml", 0.94 - 0.01 * seed, seed)
        _record(tmp_path, "converged", "linnet", 0.93 + 0.01 * seed, seed)
    rows = protocols.compare(tmp_path)
    first = rows[0]
    assert first.claim == "MAML w/ LinNet > MAML at 2 layers"
    assert (first.judged["authors"].verdict, first.judged["converged"].verdict) == (H, N)
    assert "but not on ours" in first.meaning
    assert f"Under theirs: {first.judged['authors'].detail}." in first.meaning
    assert rows[-1].judged["authors"].verdict == R          # no alpha sweep yet
    table = protocols.render(rows).splitlines()
    assert len(table) == 2 + len(rows)
    assert table[2].startswith("| MAML w/ LinNet > MAML at 2 layers | held | within noise")


def test_a_budget_text_names_the_network_unless_it_is_the_original(tmp_path):
    from theory.paper import cells, render

    for seed in range(2):
        _record(tmp_path, "converged", "maml", 0.9, seed)
        _record(tmp_path, "authors", "maml", 0.6, seed)
    for path in (tmp_path / "authors").rglob("*.json"):
        rec = json.loads(path.read_text())
        rec["config"].update(downsample="stride", readout="mean", meta_lr_schedule="constant")
        path.write_text(json.dumps(rec))
    groups = cells.grouped(tmp_path, "omniglot")
    assert render.budget_text("authors", groups["authors"]).startswith(
        "`authors`: the authors' network (stride-2 convs, mean readout), hidden 16, meta lr "
        "constant")
    assert render.budget_text("converged", groups["converged"]).startswith(
        "`converged`: hidden 16")
