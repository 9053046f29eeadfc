"""``python -m theory.engine``: train -> eval -> adapt end to end; bad input is one line, exit 2."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import assert_one_line_error, ended, run_main
from theory.engine import adapt_task, checkpoint, cli, cnn, data, maml
from theory.engine import train as training

# One BLAS thread: the tiny matrices here gain nothing from more, and CI cores are shared.
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
           PYTHONFAULTHANDLER="1")   # a hung process shows where (``conftest.ended``)
# The short run that must beat chance (5-way 1-shot, chance 0.2); about 10 s on one core.
QUICK = ["--dataset", "synthetic", "--algo", "maml", "--metaopt", "none", "--layers", "4",
         "--hidden", "16", "--linnet", "0", "--ways", "5", "--shots", "1", "--query", "5",
         "--steps", "1", "--inner-lr", "0.4", "--meta-lr", "0.01", "--meta-batch", "4",
         "--iterations", "80", "--val-every", "40", "--val-episodes", "20",
         "--test-episodes", "100", "--seed", "0"]
TINY = ["--layers", "1", "--hidden", "4", "--ways", "3", "--query", "2", "--meta-batch", "2",
        "--iterations", "2", "--val-every", "2", "--val-episodes", "2", "--test-episodes", "2",
        "--no-progress"]


def run_module(*args):
    return subprocess.run([sys.executable, "-m", "theory.engine", *args], capture_output=True,
                          text=True, env=ENV, timeout=600)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick")
    done = run_module("train", *QUICK, "--out", out, "--no-progress")
    assert done.returncode == 0, done.stderr
    return out, done.stdout


def test_train_beats_chance_and_reports_parameters(quick_run, tmp_path):
    out, stdout = quick_run
    result = json.loads((out / training.RESULTS).read_text())
    assert result["kind"] == "engine-run" and result["test"]["episodes"] == 100
    assert result["config"]["layers"] == 4 and result["seed"] == 0
    assert [it for it, _ in result["validation"]] == [40, 80]
    assert re.fullmatch(r"unknown|[0-9a-f]{40}(\+dirty)?", result["commit"])
    untrained = training.train(dict(result["config"], iterations=0), out_dir=tmp_path,
                               progress=False)
    # chance is 0.2; 100 episodes x 25 queries put the standard error near 0.01
    assert result["test"]["accuracy"] > 0.5, result["test"]
    assert result["test"]["accuracy"] > untrained["test"]["accuracy"] + 0.15
    counts = result["parameters"]
    assert counts["meta"] == counts["deployed"] > 0       # plain MAML: nothing is dropped
    assert f"meta-parameters: {counts['meta']}  deployed parameters: {counts['deployed']}" \
        in stdout
    assert f"test accuracy: {result['test']['accuracy']:.4f}" in stdout


def test_eval_reproduces_the_test_accuracy_of_the_run(quick_run, capsys):
    out, _ = quick_run
    result = json.loads((out / training.RESULTS).read_text())
    code, stdout, _ = run_main(["eval", "--checkpoint", out / training.CHECKPOINT,
                                "--episodes", 100, "--json", "--no-progress"], capsys)
    assert code == 0
    record = json.loads(stdout)
    assert record["test"] == result["test"]
    assert record["parameters"] == result["parameters"]
    code, stdout, _ = run_main(["eval", "--checkpoint", out / training.CHECKPOINT,
                                "--episodes", 5, "--split", "val", "--no-progress"], capsys)
    assert code == 0 and "val accuracy:" in stdout and "over 5 episodes" in stdout
    # without the inner step the labels, permuted per task, are guessed at chance (0.2)
    code, stdout, _ = run_main(["eval", "--checkpoint", out / training.CHECKPOINT,
                                "--episodes", 20, "--steps", 0, "--json", "--no-progress"],
                               capsys)
    assert code == 0 and json.loads(stdout)["test"]["accuracy"] < 0.35


def test_eval_query_sets_the_query_images_of_each_episode(quick_run, capsys, monkeypatch):
    out, _ = quick_run
    ckpt = out / training.CHECKPOINT
    seen = []
    sample = data.sample_tasks
    monkeypatch.setattr(data, "sample_tasks", lambda *a, **kw: seen.append(kw) or sample(*a, **kw))
    runs = {}
    for query in (None, 5, 19):     # trained with 5; shots 1 + 19 = the 20 images of a class
        argv = [] if query is None else ["--query", query]
        code, stdout, err = run_main(["eval", "--checkpoint", ckpt, "--episodes", 20, *argv,
                                      "--json", "--no-progress"], capsys)
        assert code == 0, err
        runs[query] = json.loads(stdout)
        assert runs[query]["config"]["query"] == (query or 5)
        assert {kw["query"] for kw in seen} == {query or 5}
        seen.clear()
    assert runs[None]["test"] == runs[5]["test"]          # the default is the training value
    code, _, err = run_main(["eval", "--checkpoint", ckpt, "--query", 20, "--no-progress"],
                            capsys)
    assert_one_line_error(code, err, "shots + query = 1 + 20 = 21 exceeds the 20 images")


def _write_png(path, image):
    Image.fromarray(np.round(image[0] * 255).astype(np.uint8)).save(path)


def _task_folders(root, ways, shots=1, query=3, first_class=0):
    """Support ``root/support/<class>/`` and query ``root/query/`` from synthetic test classes."""
    test = data.load("synthetic", split="test")
    truth = {}
    for k in range(ways):
        images = test.class_images(first_class + k)
        name = f"glyph{first_class + k:03d}"
        (root / "support" / name).mkdir(parents=True)
        for i in range(shots):
            _write_png(root / "support" / name / f"{i}.png", images[i])
        (root / "query").mkdir(exist_ok=True)
        for i in range(query):
            file = root / "query" / f"{name}_{i}.png"
            _write_png(file, images[shots + i])
            truth[str(file)] = name
    return root / "support", root / "query", truth


def test_adapt_predicts_query_files_like_the_evaluation_path(quick_run, tmp_path, capsys):
    out, _ = quick_run
    ckpt = out / training.CHECKPOINT
    support, query, truth = _task_folders(tmp_path, ways=5, first_class=10)
    code, stdout, _ = run_main(["adapt", "--checkpoint", ckpt, "--support", support,
                                "--query", query, "--json"], capsys)
    assert code == 0
    res = json.loads(stdout)
    assert res["classes"] == sorted({c for c in truth.values()}) and res["steps"] == 1
    assert [p["file"] for p in res["predictions"]] == sorted(truth)
    for p in res["predictions"]:
        assert abs(sum(p["probabilities"].values()) - 1) < 1e-5
        assert p["class"] == max(p["probabilities"], key=p["probabilities"].get)
    hits = [p["class"] == truth[p["file"]] for p in res["predictions"]]
    # the same adaptation through maml.evaluate_batch scores the same query images identically
    config, meta_params, _, ckpt_data = checkpoint.restore(ckpt)
    sup = data.load_image_folder(support, tuple(ckpt_data["extra"]["in_shape"]))
    qry = data.load_image_folder(query, tuple(ckpt_data["extra"]["in_shape"]))
    y_q = np.array([res["classes"].index(truth[f]) for f in qry.files])
    acc = maml.evaluate_batch(meta_params["model"], (sup.images[None], sup.labels[None],
                                                     qry.images[None], y_q[None]),
                              alpha=config["inner_lr"], steps=config["steps"], algo="maml")
    assert float(acc[0]) == pytest.approx(np.mean(hits), abs=1e-12)
    assert np.mean(hits) > 0.2 + 0.2, hits           # 15 queries, chance 0.2
    code, stdout, _ = run_main(["adapt", "--checkpoint", ckpt, "--support", support,
                                "--query", query, "--steps", 0], capsys)
    assert code == 0
    lines = stdout.splitlines()
    assert len(lines) == len(truth) and all(line.split("\t")[1] in res["classes"]
                                            for line in lines)


def test_errors_through_the_module_entry_point_are_one_line(tmp_path):
    done = run_module("train", "--shots", "0", "--out", tmp_path)
    assert_one_line_error(done.returncode, done.stderr, "--shots", "'0' is not an integer >= 1")
    done = run_module("eval", "--checkpoint", tmp_path / "missing.npz")
    assert_one_line_error(done.returncode, done.stderr, "missing.npz", "does not exist")


@pytest.mark.parametrize("argv, fragments", [
    (["--algo", "reptile"], ["--algo", "invalid choice: 'reptile'"]),
    (["--metaopt", "lbfgs"], ["--metaopt", "invalid choice: 'lbfgs'"]),
    (["--dataset", "mnist"], ["--dataset", "invalid choice: 'mnist'"]),
    (["--shots", "0"], ["--shots", "'0' is not an integer >= 1"]),
    (["--ways", "-5"], ["--ways", "'-5' is not an integer >= 2"]),
    (["--ways", "1"], ["--ways", "'1' is not an integer >= 2"]),
    (["--inner-lr", "nan"], ["--inner-lr", "'nan' is not a finite number > 0"]),
    (["--linnet-width", "64"], ["linnet_width=64", "linnet=0 adds none"]),
    (["--ways", "300"], ["ways=300 exceeds the 256 classes of the val split"]),
    (["--dataset", "omniglot", "--data", "/nonexistent/omniglot"],
     ["no Omniglot data at /nonexistent/omniglot", "images_background_small1.zip"]),
    (["--dataset", "cifarfs"], ["cifar-100-python/train", "--data PATH"]),
    (["--dataset", "mini-imagenet", "--data", "/nonexistent/mini"],
     ["mini-imagenet-cache-train.pkl"]),
    (["--algo", "anil", "--first-order"], ["first_order=True applies to algo='maml'"]),
    (["--task-chunk", "0"], ["--task-chunk", "'0' is not an integer >= 1"]),
    (["--task-chunk", "3"], ["task_chunk=3", "1..2 (meta_batch)"]),
])
def test_bad_train_input_is_one_line_and_exit_2(argv, fragments, tmp_path, capsys):
    code, _, err = run_main(["train", *TINY, *argv, "--out", tmp_path / "run"], capsys)
    assert_one_line_error(code, err, *fragments)
    assert not os.path.exists(tmp_path / "run" / training.CHECKPOINT)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    training.train(training.make_config(layers=1, hidden=4, ways=3, query=2, meta_batch=2,
                                        iterations=2, val_every=2, val_episodes=2,
                                        test_episodes=2), out_dir=out, progress=False)
    return out


def test_checkpoint_from_another_architecture_is_refused(tiny_run, tmp_path, capsys):
    code, _, err = run_main(["train", *TINY, "--layers", "2", "--out", tiny_run, "--resume"],
                            capsys)
    assert_one_line_error(code, err, "it was run with layers=1, now layers=2")
    # a checkpoint whose weights do not fit its own config (e.g. edited by hand)
    ck = checkpoint.load(tiny_run / training.CHECKPOINT)
    model = dict(ck["model"], **{"conv1/w": np.zeros((8, 1, 3, 3), np.float32)})
    bad = tmp_path / "bad.npz"
    checkpoint.save(bad, model=model, metaopt=ck["metaopt"], adam=ck["adam"],
                    config=ck["config"], iteration=ck["iteration"], rng_state=ck["rng_state"],
                    extra=ck["extra"])
    for command in (["eval", "--checkpoint", bad, "--episodes", 2],
                    ["adapt", "--checkpoint", bad, "--support", tmp_path, "--query", tmp_path]):
        code, _, err = run_main(command, capsys)
        assert_one_line_error(code, err, "another architecture",
                              "conv1/w has shape (8, 1, 3, 3), expected (4, 1, 3, 3)")


def test_bad_adapt_folders_are_one_line_errors(tiny_run, tmp_path, capsys):
    ckpt = tiny_run / training.CHECKPOINT
    support, query, _ = _task_folders(tmp_path / "ok", ways=3)
    cases = []
    corrupt = tmp_path / "corrupt"
    _task_folders(corrupt, ways=3)
    (corrupt / "support" / "glyph001" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    cases.append((corrupt / "support", query, ["broken.png"]))
    (corrupt / "query" / "truncated.png").write_bytes(b"GIF89a")
    cases.append((support, corrupt / "query", ["truncated.png"]))
    four, _, _ = _task_folders(tmp_path / "four", ways=4)
    cases.append((four, query, ["has 4 class sub-folders", "3-way model"]))
    cases.append((query, query, ["holds no class sub-folders"]))
    cases.append((support, support, ["query folder", "holds sub-folders"]))
    cases.append((tmp_path / "nowhere", query, ["nowhere", "does not exist"]))
    for sup, qry, fragments in cases:
        code, _, err = run_main(["adapt", "--checkpoint", ckpt, "--support", sup,
                                 "--query", qry], capsys)
        assert_one_line_error(code, err, *fragments)


def test_bad_eval_options_are_one_line_errors(tiny_run, capsys):
    ckpt = tiny_run / training.CHECKPOINT
    for argv, fragments in [(["--split", "dev"], ["--split", "invalid choice: 'dev'"]),
                            (["--episodes", "0"], ["--episodes", "'0' is not an integer >= 1"]),
                            (["--query", "0"], ["--query", "'0' is not an integer >= 1"]),
                            (["--metaopt", "kfo"], ["--metaopt kfo does not match",
                                                    "trained with --metaopt none"])]:
        code, _, err = run_main(["eval", "--checkpoint", ckpt, *argv], capsys)
        assert_one_line_error(code, err, *fragments)
    code, _, err = run_main(["frobnicate"], capsys)
    assert_one_line_error(code, err, "invalid choice: 'frobnicate'")


def test_divergence_stops_with_one_line_and_keeps_the_last_checkpoint(tmp_path):
    # an outer step of 1e30 turns the first update into overflow: iteration 2 is non-finite
    done = run_module("train", *TINY, "--iterations", "6", "--checkpoint-every", "1",
                      "--meta-lr", "1e30", "--out", tmp_path)
    assert_one_line_error(done.returncode, done.stderr, "is not finite at iteration 2",
                          "last good checkpoint")
    assert os.listdir(tmp_path) == [training.CHECKPOINT]
    assert checkpoint.load(tmp_path / training.CHECKPOINT)["iteration"] == 1


@pytest.mark.parametrize("metaopt", ["kfo", "tnet"])
def test_meta_optimizer_runs_report_meta_and_deployed_parameters(metaopt, tmp_path, capsys):
    code, stdout, _ = run_main(["train", *TINY, "--metaopt", metaopt, "--linnet", "1",
                                "--linnet-width", "6", "--out", tmp_path, "--json"], capsys)
    assert code == 0
    record = json.loads(stdout)
    ck = checkpoint.load(tmp_path / training.CHECKPOINT)
    assert ck["model"]["lin1/w"].shape == (6, 4 * 14 * 14)
    base = {k: v for k, v in ck["model"].items() if not k.endswith("/T")}
    # deployed: the base CNN with the LinNet layer collapsed into the head; meta adds the rest
    assert record["parameters"]["deployed"] == cnn.count(cnn.collapse(base))
    assert record["parameters"]["meta"] == (cnn.count(ck["model"]) + sum(
        v.size for v in ck["metaopt"].values()))
    assert record["parameters"]["meta"] > record["parameters"]["deployed"]
    for choice in (metaopt, "none"):
        code, stdout, err = run_main(["eval", "--checkpoint", tmp_path / training.CHECKPOINT,
                                      "--episodes", 3, "--metaopt", choice, "--json",
                                      "--no-progress"], capsys)
        assert code == 0, err
        assert json.loads(stdout)["config"]["metaopt"] == choice


@pytest.mark.parametrize("metaopt", ["none", "kfo"])
def test_bench_times_the_parsed_config(metaopt, capsys):
    pytest.importorskip("theory.engine.bench")
    code, stdout, _ = run_main(["bench", "--layers", 1, "--hidden", 4, "--ways", 2,
                                "--shots", 1, "--query", 2, "--meta-batch", 1, "--repeats", 1,
                                "--metaopt", metaopt, "--json"], capsys)
    assert code == 0
    row = json.loads(stdout.splitlines()[0])
    assert (row["layers"], row["hidden"], row["ways"], row["meta_batch"]) == (1, 4, 2, 1)
    assert row["metaopt"] == metaopt
    assert row["engine_s"] > 0 and np.isfinite(row["engine_loss"])


def test_bench_without_the_benchmark_module_is_a_one_line_error(monkeypatch, capsys):
    import theory.engine
    monkeypatch.delattr(theory.engine, "bench", raising=False)
    monkeypatch.setitem(sys.modules, "theory.engine.bench", None)
    code, _, err = run_main(["bench", "--layers", 1], capsys)
    assert_one_line_error(code, err, "benchmark module theory.engine.bench is not available")
    code, _, err = run_main(["bench", "--layers", 0], capsys)
    assert_one_line_error(code, err, "--layers", "'0' is not an integer >= 1")


def test_ctrl_c_leaves_a_whole_checkpoint_and_resume_finishes(tmp_path):
    args = [*TINY, "--iterations", "100000", "--checkpoint-every", "1", "--out", tmp_path]
    proc = subprocess.Popen([sys.executable, "-m", "theory.engine", "train", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    ckpt = tmp_path / training.CHECKPOINT
    try:
        deadline = time.monotonic() + 120
        while not (ckpt.exists() and checkpoint.load(ckpt)["iteration"] >= 3):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)       # Ctrl-C, most likely in the middle of a step
        _, err = ended(proc, 60)
    finally:
        proc.kill()
    assert os.listdir(tmp_path) == [training.CHECKPOINT]   # no temporary file left behind
    done = checkpoint.load(ckpt)["iteration"]
    assert proc.returncode == 130 and err == (
        f"interrupted: the last checkpoint, {ckpt}, holds iteration {done}; the same command "
        "with --resume continues from it\n"), err
    assert done >= 3
    finish = run_module("train", *TINY, "--iterations", str(done + 2), "--checkpoint-every",
                        "1", "--out", tmp_path, "--resume")
    assert finish.returncode == 0, finish.stderr
    assert checkpoint.load(ckpt)["iteration"] == done + 2


def test_ctrl_c_before_the_first_checkpoint_says_nothing_is_saved(tmp_path, monkeypatch,
                                                                   capsys):
    def interrupted(config, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train", interrupted)
    code, _, err = run_main(["train", *TINY, "--out", tmp_path / "run"], capsys)
    assert code == 130 and err == (f"interrupted: no checkpoint was written to {tmp_path / 'run'}"
                                   " yet; nothing to resume\n")
    assert os.listdir(tmp_path) == []


def test_metaopt_options_are_trained_stored_and_rebuilt(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run_main(["train", *TINY, "--steps", 2, "--iterations", 3,
                                  "--test-episodes", 20, "--metaopt", "kfo",
                                  "--metaopt-option", "psd=true",
                                  "--metaopt-option", "adapt_transform=true",
                                  "--out", out, "--json"], capsys)
    assert code == 0, err
    result = json.loads(stdout)
    options = {"psd": True, "bias": False, "max_dim": 1024, "adapt_transform": True,
               "conv": "in", "vectors": "diagonal"}
    assert result["config"]["metaopt_options"] == options
    ckpt = out / training.CHECKPOINT
    assert checkpoint.load(ckpt)["config"]["metaopt_options"] == options
    config, meta_params, opt_obj, _ = checkpoint.restore(ckpt)
    assert dict(opt_obj.options) == dict(options, hidden=0) and opt_obj.adapt_phi is not None
    # phi moved away from the identity, so psd (L^T L) and plain (L) directions differ
    L = meta_params["metaopt"]["conv1/w/L"]
    assert not np.allclose(L, np.eye(len(L)), rtol=0, atol=1e-6)
    code, stdout, err = run_main(["eval", "--checkpoint", ckpt, "--episodes", 20, "--json",
                                  "--no-progress"], capsys)
    assert code == 0, err
    record = json.loads(stdout)
    assert record["test"] == result["test"]
    assert record["config"]["metaopt_options"] == options
    support, query, _ = _task_folders(tmp_path / "task", ways=3)
    code, stdout, err = run_main(["adapt", "--checkpoint", ckpt, "--support", support,
                                  "--query", query, "--json"], capsys)
    assert code == 0, err
    res = json.loads(stdout)
    assert res["metaopt"] == "kfo" and res["metaopt_options"] == options
    sup = data.load_image_folder(support, (1, 28, 28))
    qry = data.load_image_folder(query, (1, 28, 28))
    logits = adapt_task.predict(meta_params, config, opt_obj, sup.images, sup.labels,
                                qry.images)
    assert [p["label"] for p in res["predictions"]] == list(np.argmax(logits, axis=-1))


@pytest.mark.parametrize("argv, fragments", [
    (["--metaopt", "kfo", "--metaopt-option", "foo=1"],
     ["unknown option 'foo' for meta-optimizer 'kfo'", "valid options: psd, bias"]),
    (["--metaopt", "kfo", "--metaopt-option", "psd=maybe"], ["psd='maybe' must be True"]),
    (["--metaopt", "mc", "--metaopt-option", "max_dim=0.5"], ["max_dim=0.5 must be an"]),
    (["--metaopt-option", "conv=in"], ["unknown option 'conv' for meta-optimizer 'none'"]),
    (["--metaopt", "kfo", "--metaopt-option", "psd"], ["--metaopt-option", "'psd' is not "
                                                       "KEY=VALUE"]),
    (["--metaopt", "kfo", "--metaopt-option", "psd=true", "--metaopt-option", "psd=false"],
     ["--metaopt-option psd given twice"]),
])
def test_bad_metaopt_option_is_one_line_and_exit_2(argv, fragments, tmp_path, capsys):
    code, _, err = run_main(["train", *TINY, *argv, "--out", tmp_path / "run"], capsys)
    assert_one_line_error(code, err, *fragments)
    assert not os.path.exists(tmp_path / "run")


@pytest.mark.parametrize("text, value", [("psd=true", ("psd", True)), ("a=FALSE", ("a", False)),
                                         ("hidden=3", ("hidden", 3)), ("x=-2", ("x", -2)),
                                         ("lr=1e-3", ("lr", 1e-3)), ("conv=out", ("conv", "out")),
                                         (" conv = in ", ("conv", "in"))])
def test_metaopt_option_values_are_typed(text, value):
    got = cli.metaopt_option(text)
    assert got == value and type(got[1]) is type(value[1])


def test_task_chunk_is_trained_with_and_recorded(tmp_path, capsys):
    code, out, err = run_main(["train", *TINY, "--task-chunk", "1", "--json",
                               "--out", tmp_path / "run"], capsys)
    assert code == 0, err
    assert json.loads(out)["config"]["task_chunk"] == 1
