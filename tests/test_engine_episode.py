"""``python -m theory.engine episode``: one episode as image folders, read back exactly by adapt."""

import json
import pathlib

import numpy as np
import pytest

from conftest import run_main
from theory.engine import adapt_task, data
from theory.engine import train as training
from theory.engine.data import export, omniglot


@pytest.fixture(scope="module")
def test_split():
    return data.load("synthetic", split="test")


def test_folders_hold_the_sampled_images_and_the_answers_name_their_classes(test_split,
                                                                            tmp_path):
    record = export.write_episode(test_split, tmp_path, ways=4, shots=2, query=3, seed=5)
    support, queries = (i[0] for i in data.episodes.sample_indices(
        test_split, np.random.default_rng(5), tasks=1, ways=4, shots=2, query=3))
    sup = data.load_image_folder(tmp_path / "support", test_split.in_shape)
    # folder names sort differently from labels; every folder holds its class's drawn images
    assert len(sup.class_names) == 4 and len(sup.images) == 8
    for name in sup.class_names:
        k = test_split.class_names.index(name)
        mine = sup.images[sup.labels == sup.class_names.index(name)]
        drawn = test_split.images[[i for i in support if test_split.labels[i] == k]]
        # 8-bit PNG: the synthetic glyphs come back rounded to the nearest 1/255
        np.testing.assert_allclose(mine, drawn, rtol=0, atol=0.5 / 255 + 1e-6)
    qry = data.load_image_folder(tmp_path / "query", test_split.in_shape)
    names = [pathlib.Path(f).name for f in qry.files]
    assert len(qry.images) == 12 and sorted(record["answers"]) == sorted(names)
    for name, image in zip(names, qry.images, strict=True):
        k = test_split.class_names.index(record["answers"][name])
        assert any(np.allclose(image, test_split.images[i], rtol=0, atol=0.5 / 255 + 1e-6)
                   for i in queries
                   if test_split.labels[i] == k)
    assert json.loads((tmp_path / "answers.json").read_text()) == record
    # the same seed draws the same episode; the folder must be new
    with pytest.raises(ValueError, match="already exists"):
        export.write_episode(test_split, tmp_path, ways=4, shots=2, seed=5)


@pytest.mark.parametrize("fail_at", [1, 5, None])
def test_an_interrupted_write_leaves_no_partial_episode(test_split, tmp_path, monkeypatch,
                                                        fail_at):
    (tmp_path / "mine.txt").write_text("kept")
    real, calls = export._png, []

    def interrupted(array, path):
        calls.append(path)
        if fail_at is not None and len(calls) == fail_at:
            raise KeyboardInterrupt
        real(array, path)

    def interrupted_at_the_end(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "_png", interrupted)
    if fail_at is None:                    # the answers file is the last thing written
        monkeypatch.setattr(export._io, "write_json", interrupted_at_the_end)
    for out in (tmp_path, tmp_path / "new"):
        calls.clear()
        with pytest.raises(KeyboardInterrupt):
            export.write_episode(test_split, out, ways=3, shots=2, query=2, seed=0)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]
    monkeypatch.undo()
    export.write_episode(test_split, tmp_path, ways=3, shots=2, query=2, seed=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.json", "mine.txt", "query",
                                                          "support"]


@pytest.mark.skipif(not (omniglot.default_root() / "images_background_small1.zip").is_file(),
                    reason="real Omniglot zips not found (set THEORY_OMNIGLOT)")
def test_omniglot_episodes_round_trip_exactly(tmp_path):
    split = data.load("omniglot", split="test")
    export.write_episode(split, tmp_path, ways=20, shots=1, query=1, seed=0)
    support, _ = (i[0] for i in data.episodes.sample_indices(
        split, np.random.default_rng(0), tasks=1, ways=20, shots=1, query=1))
    sup = data.load_image_folder(tmp_path / "support", split.in_shape)
    folder = {c.replace("/", "_"): k for k, c in enumerate(split.class_names)}
    for name, image in zip(sup.class_names, sup.images, strict=True):
        k = folder[name]
        drawn = next(split.images[i] for i in support if split.labels[i] == k)
        np.testing.assert_array_equal(image, drawn)


def test_adapt_scores_an_episode_against_its_answers(tmp_path, capsys):
    run = tmp_path / "run"
    training.train(training.make_config(layers=1, hidden=4, ways=3, query=2, meta_batch=2,
                                        iterations=2, val_every=2, val_episodes=2,
                                        test_episodes=2), out_dir=run, progress=False)
    task = tmp_path / "task"
    code, out, err = run_main(["episode", "--dataset", "synthetic", "--ways", 3, "--shots", 1,
                           "--query", 4, "--seed", 2, "--out", task], capsys)
    assert code == 0 and "3-way 1-shot" in out and err == ""
    argv = ["adapt", "--checkpoint", run / "checkpoint.npz", "--support", task / "support",
            "--query", task / "query", "--answers", task / "answers.json"]
    code, out, _ = run_main(argv + ["--json"], capsys)
    result = json.loads(out)
    answers = json.loads((task / "answers.json").read_text())["answers"]
    hits = [answers[p["file"].rsplit("/", 1)[-1]] == p["class"] for p in result["predictions"]]
    assert code == 0 and len(hits) == 12 and result["accuracy"] == pytest.approx(np.mean(hits))
    code, out, _ = run_main(argv, capsys)
    assert code == 0 and f"accuracy: {np.mean(hits):.4f} (12 query images)" in out
    # answers that do not cover the query files are a one-line error
    (tmp_path / "other.json").write_text(json.dumps({"answers": {"x.png": "a"}}))
    code, _, err = run_main(argv[:-1] + [tmp_path / "other.json"], capsys)
    assert code == 2 and err.count("\n") == 1 and "not in" in err
    with pytest.raises(ValueError, match="maps no query file to a class"):
        (tmp_path / "bad.json").write_text("{}")
        adapt_task.score(result, tmp_path / "bad.json")
    # a plain {file: class} mapping scores the same as the episode's answers.json
    (tmp_path / "plain.json").write_text(json.dumps(answers))
    assert adapt_task.score(result, tmp_path / "plain.json") == result["accuracy"]
    code, out, _ = run_main(argv[:-1] + [tmp_path / "plain.json"], capsys)
    assert code == 0 and f"accuracy: {np.mean(hits):.4f} (12 query images)" in out


def test_the_package_map_states_what_adapt_folders_returns():
    """``help(theory.engine)`` gives ``adapt_folders``'s return type as its docstring does."""
    import theory.engine
    line = next(x for x in theory.engine.__doc__.splitlines() if "adapt_folders(" in x)
    assert "-> dict" in line and "predictions, notes" not in line
    assert adapt_task.adapt_folders.__doc__.split("Returns", 1)[1].split()[:2] == ["a", "dict,"]


@pytest.mark.parametrize("argv", [["--ways", 0], ["--ways", 300], ["--shots", 30],
                                  ["--split", "dev"]])
def test_bad_episode_input_is_one_line_exit_2(argv, tmp_path, capsys):
    code, _, err = run_main(["episode", "--dataset", "synthetic", *argv, "--out", tmp_path / "e"],
                        capsys)
    assert code == 2 and err.count("\n") == 1 and "error" in err
