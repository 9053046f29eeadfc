"""``theory.paper.ship``: a budget's checkpoints replace the shipped ones only where they score
higher on the same validation episodes."""

import json
import shutil

import numpy as np
import pytest

from theory import _cli
from theory.engine import checkpoint, data
from theory.engine import config as run_config
from theory.engine import evaluate as evaluation
from theory.engine import train as training
from theory.engine.data import omniglot
from theory.paper import cli, ship

pytestmark = pytest.mark.skipif(
    not (omniglot.default_root() / "images_background_small1.zip").is_file(),
    reason="real Omniglot zips not found (set THEORY_OMNIGLOT)")

NAME = "omniglot-20w1s-2layer.npz"


def _train(out, seed, split_by="character"):
    """A tiny 20-way 1-shot checkpoint on real Omniglot and its index entry."""
    config = run_config.make_config(
        dataset="omniglot", ways=20, shots=1, query=1, layers=2, hidden=4, steps=1,
        iterations=2, meta_batch=2, test_episodes=4, seed=seed, split_by=split_by,
        downsample="stride", readout="mean", init="authors")
    rec = training.train(config, out_dir=out, progress=False)
    path = out / training.CHECKPOINT
    entry = {"run": f"checkpoints/omniglot/maml-L2-20w1s-s{seed}", "budget": "x",
             "val_accuracy": 0.1, "test": rec["test"], "config": rec["config"],
             "test_split": split_by, "test_holds": split_by}
    return path, entry


def _place(folder, path, entry):
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, folder / NAME)
    (folder / ship.INDEX).write_text(json.dumps({NAME: entry}))


def _validation(path, episodes, query, seed):
    """Per-episode validation accuracies of one checkpoint, computed here on their own."""
    config, meta_params, opt_obj, _ = checkpoint.restore(path)
    config = dict(config, query=query)
    dataset = data.load("omniglot", None, split="val", split_by=config["split_by"])
    res = evaluation.mean_accuracy(meta_params, dataset, run_config.episode_rng(seed, "val"),
                                   config=config, episodes=episodes, metaopt=opt_obj)
    return np.asarray(res["accuracies"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("ship")
    return [_train(root / f"s{seed}", seed) for seed in (0, 1)]


def test_the_better_validated_checkpoint_ships_and_the_index_says_why(tmp_path, trained):
    (old, old_entry), (new, new_entry) = trained
    results = tmp_path / "results"
    _place(results / "checkpoints", old, old_entry)
    _place(results / "authors" / "checkpoints", new, dict(new_entry, budget="authors"))
    dry = ship.ship(results, "authors", episodes=6, query=2, seed=3, write=False)
    assert (results / "checkpoints" / NAME).read_bytes() == old.read_bytes()   # nothing moved
    [(name, result, wins)] = dry
    a_new, a_old = _validation(new, 6, 2, 3), _validation(old, 6, 2, 3)
    assert name == NAME and len(a_new) == 6
    assert result["candidate"] == pytest.approx(a_new.mean(), abs=1e-12)
    assert result["shipped"] == pytest.approx(a_old.mean(), abs=1e-12)
    assert result["difference"] == pytest.approx((a_new - a_old).mean(), abs=1e-12)
    assert wins == (a_new.mean() > a_old.mean())
    assert ship.ship(results, "authors", episodes=6, query=2, seed=3) == dry
    index = json.loads((results / "checkpoints" / ship.INDEX).read_text())
    winner = new if wins else old
    assert (results / "checkpoints" / NAME).read_bytes() == winner.read_bytes()
    if wins:
        assert index[NAME]["chosen_by"]["replaced"] == {"run": old_entry["run"], "budget": "x"}
        assert index[NAME]["budget"] == "authors"
    else:
        assert index[NAME] == old_entry


def test_a_tie_keeps_the_shipped_checkpoint(tmp_path, trained):
    (path, entry), _ = trained
    results = tmp_path / "results"
    _place(results / "checkpoints", path, entry)
    _place(results / "authors" / "checkpoints", path, dict(entry, budget="authors"))
    [(_, result, wins)] = ship.ship(results, "authors", episodes=4, query=1)
    assert result["difference"] == 0 and result["ci95"] == 0 and not wins
    assert json.loads((results / "checkpoints" / ship.INDEX).read_text()) == {NAME: entry}


def test_a_name_with_nothing_shipped_ships_as_it_is(tmp_path, trained):
    (path, entry), _ = trained
    results = tmp_path / "results"
    _place(results / "authors" / "checkpoints", path, entry)
    assert ship.ship(results, "authors") == [(NAME, None, True)]
    assert (results / "checkpoints" / NAME).read_bytes() == path.read_bytes()


def test_checkpoints_of_different_splits_are_not_compared(tmp_path, trained):
    (path, entry), _ = trained
    other, other_entry = _train(tmp_path / "alphabet", 0, split_by="alphabet")
    results = tmp_path / "results"
    _place(results / "checkpoints", path, entry)
    _place(results / "authors" / "checkpoints", other, other_entry)
    with pytest.raises(ValueError, match="split_by 'alphabet' vs 'character'"):
        ship.ship(results, "authors", episodes=2)


@pytest.mark.parametrize("argv", [["ship", "--budget", "converged"], ["ship", "--episodes", "0"],
                                  ["ship", "--results", "/nonexistent"]])
def test_bad_ship_input_is_one_line_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        _cli.run(cli.main, argv)
    assert exc.value.code == 2 and capsys.readouterr().err.count("\n") == 1


def test_ship_prints_one_line_per_checkpoint(tmp_path, trained, capsys):
    (old, old_entry), (new, new_entry) = trained
    results = tmp_path / "results"
    _place(results / "checkpoints", old, old_entry)
    _place(results / "authors" / "checkpoints", new, new_entry)
    argv = ["ship", "--results", str(results), "--episodes", "3", "--check", "--no-progress"]
    [(_, result, wins)] = ship.ship(results, "authors", episodes=3, write=False)
    assert cli.main(argv) == (1 if wins else 0)         # --check: 1 if anything would ship
    out = capsys.readouterr().out
    assert out.startswith(f"{NAME}: validation ") and "on 3 episodes (query 5, seed 0)" in out
    assert cli.main(argv + ["--json"]) == (1 if wins else 0)
    assert json.loads(capsys.readouterr().out) == [
        {"checkpoint": NAME, "comparison": result, "ships": wins}]
    assert (results / "checkpoints" / NAME).read_bytes() == old.read_bytes()
