"""Adaptation curves: accuracy after k = 0..K inner steps from one adaptation per episode, and
``eval --curve`` on a run trained on the alphabet split of a fixture Omniglot."""

import json
import os

import numpy as np
import pytest
from conftest import SCRIPTS, run_main, write_zip

from theory.engine import data, maml
from theory.engine import config as run_config
from theory.engine import evaluate as evaluation
from theory.engine import train as training


def _perturbed(tree, rng):
    """The tree with every leaf scaled by 1 + 0.3 N(0, 1): a meta-optimizer that is not the
    identity, as after training."""
    if isinstance(tree, dict):
        return {k: _perturbed(v, rng) for k, v in tree.items()}
    return tree * (1 + 0.3 * rng.standard_normal(np.shape(tree))).astype(np.asarray(tree).dtype)


@pytest.mark.parametrize("algo, metaopt, options", [
    ("maml", "none", {}), ("anil", "none", {}), ("maml", "metasgd", {}),
    ("maml", "kfo", {"adapt_transform": True}),
])
def test_curve_at_k_is_the_evaluation_with_k_steps(algo, metaopt, options, monkeypatch):
    config = training.make_config(algo=algo, metaopt=metaopt, metaopt_options=options,
                                  layers=1, hidden=4, ways=3, query=3, steps=3)
    dataset = data.load("synthetic", split="val")
    rng = np.random.default_rng(0)
    meta_params = run_config.init_meta_params(config, dataset.in_shape, rng)
    meta_params["metaopt"] = _perturbed(meta_params["metaopt"], rng)
    opt = run_config.make_metaopt(metaopt, config["metaopt_options"])
    calls = []
    adapt = maml.adapt
    monkeypatch.setattr(maml, "adapt", lambda *a, **kw: calls.append(kw["steps"]) or
                        adapt(*a, **kw))
    curve = evaluation.adaptation_curve(meta_params, dataset, np.random.default_rng(7),
                                        config=config, steps=range(4), episodes=6,
                                        metaopt=opt, batch=4)
    assert calls == [3, 3]          # one adaptation of K = 3 steps per batch of episodes
    monkeypatch.setattr(maml, "adapt", adapt)
    assert curve["steps"] == [0, 1, 2, 3] and curve["episodes"] == 6
    for k in range(4):
        plain = evaluation.evaluate(meta_params, dataset, np.random.default_rng(7),
                                    config=dict(config, steps=k), episodes=6, metaopt=opt,
                                    batch=4)
        assert curve["accuracies"][k] == plain["accuracies"], k
        assert (curve["accuracy"][k], curve["ci95"][k]) == (plain["accuracy"], plain["ci95"])
    assert curve["accuracies"][0] != curve["accuracies"][3]     # adaptation did something


def test_curve_arguments_are_checked():
    config = training.make_config(layers=1, hidden=4, ways=3)
    dataset = data.load("synthetic", split="val")
    meta_params = run_config.init_meta_params(config, dataset.in_shape, np.random.default_rng(0))
    for steps, match in (([], "at least one integer >= 0"), ([-1, 2], "at least one")):
        with pytest.raises(ValueError, match=match):
            evaluation.adaptation_curve(meta_params, dataset, np.random.default_rng(0),
                                        config=config, steps=steps, episodes=2)
    for evaluate in (evaluation.adaptation_curve, evaluation.evaluate):
        with pytest.raises(ValueError, match="episodes must be an integer >= 1, got 0"):
            evaluate(meta_params, dataset, np.random.default_rng(0), config=config, episodes=0)
        with pytest.raises(ValueError, match="batch must be an integer >= 1, got True"):
            evaluate(meta_params, dataset, np.random.default_rng(0), config=config, batch=True)


def test_eval_curve_of_a_run_on_held_out_alphabets(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("THEORY_CACHE_DIR", os.fspath(tmp_path / "cache"))
    root = tmp_path / "omniglot"
    root.mkdir()
    write_zip(root / "images_background.zip", "images_background", SCRIPTS)
    out = tmp_path / "run"
    code, stdout, err = run_main(["train", "--dataset", "omniglot", "--data", root, "--split-by",
                              "alphabet", "--layers", "1", "--hidden", "4", "--ways", "3",
                              "--query", "2", "--meta-batch", "2", "--steps", "2",
                              "--iterations", "2", "--val-every", "2", "--val-episodes", "2",
                              "--test-episodes", "5", "--no-progress", "--json", "--out", out],
                             capsys)
    assert code == 0, err
    run = json.loads(stdout)
    assert run["config"]["split_by"] == "alphabet"
    ckpt = out / training.CHECKPOINT
    # eval reads the run's own split: the held-out alphabets, not the character split
    code, stdout, _ = run_main(["eval", "--checkpoint", ckpt, "--episodes", "5", "--json",
                            "--no-progress"], capsys)
    assert json.loads(stdout)["test"] == run["test"]
    code, stdout, _ = run_main(["eval", "--checkpoint", ckpt, "--episodes", "5", "--curve", "3",
                            "--json", "--no-progress"], capsys)
    record = json.loads(stdout)
    assert code == 0 and record["kind"] == "engine-curve"
    assert record["curve"]["steps"] == [0, 1, 2, 3] and record["curve"]["episodes"] == 5
    assert record["curve"]["accuracy"][2] == run["test"]["accuracy"]   # the trained K = 2
    code, stdout, _ = run_main(["eval", "--checkpoint", ckpt, "--episodes", "5", "--curve", "1",
                            "--no-progress"], capsys)
    assert code == 0 and [line.split(" accuracy")[0] for line in stdout.splitlines()] == \
        ["test k=0", "test k=1"]
    code, _, err = run_main(["eval", "--checkpoint", ckpt, "--curve", "-1"], capsys)
    assert code == 2 and "--curve" in err and err.count("\n") == 1
    # an episode for `adapt` drawn from the held-out alphabets
    test_alphabets = {n.split("/")[0] for n in data.load(
        "omniglot", root, split="test", split_by="alphabet").class_names}
    code, _, err = run_main(["episode", "--dataset", "omniglot", "--data", root, "--split-by",
                         "alphabet", "--ways", "3", "--out", tmp_path / "episode"], capsys)
    answers = json.loads((tmp_path / "episode" / "answers.json").read_text())["answers"]
    assert code == 0 and {name.split("_")[0] for name in answers.values()} <= test_alphabets
