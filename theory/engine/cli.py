"""``python -m theory.engine {train,eval,adapt,bench,episode}``: the engine's command line.

``train`` meta-trains and writes ``OUT/checkpoint.npz`` and ``OUT/results.json``; its options
are made from the run-config table ``theory.engine.config.FIELDS`` (one per field, with its
default and range), whose defaults are a quick synthetic run; ``bench`` takes its model and
task options from the same table.
``--metaopt-option KEY=VALUE`` (repeatable) sets an option of the ``--metaopt`` method (e.g.
``psd=true``, ``conv=out``); every option is stored in the run's config and checkpoint, so
``eval`` and ``adapt`` rebuild the same meta-optimizer. Training to convergence: ``--patience P``
stops on a validation plateau and tests the best round (``best.npz``), ``--meta-lr-schedule
cosine`` anneals the outer step size, ``--split-by alphabet`` holds out whole Omniglot
alphabets. ``eval`` scores a checkpoint on a split (``--curve K``: after each of 0..K inner
steps); ``adapt`` applies a checkpoint to a user's own support/query folders (as many classes
as the checkpoint's ways or fewer); ``bench`` times meta-steps (with ``--metaopt``);
``episode`` writes a task of a benchmark as image folders for ``adapt``. Bad input is one line
on stderr and exit status 2, and so is work beyond the machine's memory or ``--max-seconds``
(``train``, ``eval``, ``adapt``, ``bench``; estimated by ``theory.engine.footprint`` before it
starts, defaults in ``footprint.MAX_SECONDS``); Ctrl-C during ``train`` names the last
checkpoint, which ``--resume`` continues.
"""

import argparse
import json
import os
import sys

from theory import _cli, _limits
from theory.engine import adapt_task, checkpoint, data, footprint, metaopt, parallel, provenance
from theory.engine import config as run_config
from theory.engine import evaluate as evaluation
from theory.engine import train as training
from theory.engine.data import export

__all__ = ["PROG", "build_parser", "metaopt_option", "main", "cmd_train", "train_config",
           "cmd_eval", "cmd_adapt", "cmd_episode", "cmd_bench"]

PROG = "python -m theory.engine"


def build_parser():
    """The argument parser of every sub-command."""
    parser = _cli.ArgumentParser(prog=PROG,
                                 description=__doc__.splitlines()[0].replace("``", ""))
    _cli.add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_cli.ArgumentParser)
    _add_train(sub.add_parser("train", help="meta-train a CNN and evaluate it",
                              formatter_class=_cli.DefaultsHelpFormatter))
    _add_eval(sub.add_parser("eval", help="evaluate a checkpoint over test episodes"))
    _add_adapt(sub.add_parser("adapt", help="adapt a checkpoint to your own few examples"))
    _add_bench(sub.add_parser("bench", help="time meta-steps",
                              formatter_class=_cli.DefaultsHelpFormatter))
    _add_episode(sub.add_parser("episode", help="write one episode as image folders for "
                                "adapt", formatter_class=_cli.DefaultsHelpFormatter))
    return parser


def _add_train(p):
    """The options of every run-config field (``config.FIELDS``), then the run's own."""
    _add_fields(p, [field.name for field in run_config.FIELDS])
    _cli.add_out(p, "the run: checkpoint.npz and results.json", required=True)
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    _add_max_seconds(p, "train", "a run (the meta-steps left, validation and test)")
    _add_common(p)


def _add_eval(p):
    _add_checkpoint(p)
    p.add_argument("--episodes", type=_cli.positive_int, default=evaluation.EPISODES,
                   metavar="E", help=f"episodes to score (default: {evaluation.EPISODES})")
    p.add_argument("--split", choices=("train", "val", "test"), default="test",
                   help="the split whose classes the episodes draw (default: test)")
    p.add_argument("--data", metavar="PATH", default=None,
                   help="where the dataset is (default: the path stored in the checkpoint)")
    _cli.add_seed(p, default=None, what="seed of the episodes (default: the checkpoint's "
                                        "seed, which drew the run's own test episodes)")
    p.add_argument("--steps", type=_cli.nonnegative_int, default=None, metavar="S",
                   help="inner steps (default: the training value)")
    p.add_argument("--query", type=_cli.positive_int, default=None, metavar="Q",
                   help="query images per class of each episode (default: the training value); "
                        "batch norm normalises the query images together, so the accuracy of "
                        "one checkpoint depends on Q: compare checkpoints at one Q")
    p.add_argument("--curve", type=_cli.nonnegative_int, default=None, metavar="K",
                   help="adaptation curve: accuracy after each of 0..K inner steps, on the "
                        "same episodes (one adaptation of K steps each)")
    _add_metaopt_override(p)
    _add_max_seconds(p, "eval", "the episodes")
    _add_common(p)


def _add_checkpoint(p):
    p.add_argument("--checkpoint", required=True, metavar="CKPT",
                   help="a checkpoint.npz (or best.npz) written by train, or one of "
                        "results/checkpoints/")


def _add_adapt(p):
    _add_checkpoint(p)
    p.add_argument("--support", required=True, metavar="DIR",
                   help="one sub-folder of images per class: 2 up to the checkpoint's ways "
                        "(fewer classes use the head's first output units)")
    p.add_argument("--query", required=True, metavar="DIR", help="images to classify")
    p.add_argument("--steps", type=_cli.nonnegative_int, default=None, metavar="S",
                   help="inner steps (default: the training value)")
    _add_metaopt_override(p)
    p.add_argument("--answers", metavar="FILE", default=None,
                   help="the classes of the query files, as the answers.json of an "
                        "`episode` or a JSON object {file: class}: also print the accuracy")
    _add_max_seconds(p, "adapt", "the adaptation")
    _cli.add_json(p, "the predictions, notes and accuracy")


def _add_episode(p):
    _add_fields(p, ("dataset", "data", "split_by", "ways", "shots", "query"), query=1)
    p.add_argument("--split", choices=("train", "val", "test"), default="test",
                   help="the split whose classes the episode draws")
    _cli.add_seed(p, what="seed of the episode; the class split uses the dataset's seed 0")
    _cli.add_out(p, "the episode: support/<class>/, query/ and answers.json", required=True)
    _cli.add_json(p, "the episode's record (answers.json)")


def _add_bench(p):
    _add_fields(p, ("algo", "metaopt", "layers", "hidden", "downsample", "readout", "init",
                    "linnet", "ways", "shots", "query", "steps", "meta_batch", "first_order",
                    "seed"), hidden=32)
    p.add_argument("--repeats", type=_cli.positive_int, default=5, metavar="R",
                   help="timed meta-steps")
    _add_max_seconds(p, "bench", "the timed and untimed meta-steps")
    _cli.add_json(p, "the timings")


def _add_fields(p, names, **defaults):
    """One option per run-config field in ``names``, its default from ``defaults`` if there."""
    fields = {field.name: field for field in run_config.FIELDS}
    for name in names:
        field = fields[name]
        flag, default = "--" + name.replace("_", "-"), defaults.get(name, field.default)
        if field.kind == "flag":
            p.add_argument(flag, action="store_true", help=field.help)
        elif field.kind == "options":       # repeatable: one KEY=VALUE each
            p.add_argument(flag.removesuffix("s"), type=metaopt_option, action="append",
                           dest=name, metavar=field.metavar, help=field.help)
        elif field.kind == "choice":
            p.add_argument(flag, choices=field.bound, default=default, help=field.help)
        else:
            kind = _cli.positive_float if field.kind == "step" else \
                None if field.kind == "path" else _cli.int_at_least(field.bound)
            p.add_argument(flag, type=kind, default=default, metavar=field.metavar,
                           help=field.help)


def metaopt_option(text):
    """argparse type: ``KEY=VALUE`` -> ``(key, value)``, value an int, float, bool or str."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, value


def _options_dict(pairs):
    """``[(key, value), ...]`` -> dict; a key given twice is an error."""
    options = {}
    for key, value in pairs:
        if key in options:
            raise ValueError(f"--metaopt-option {key} given twice ({options[key]!r} and "
                             f"{value!r}); give each option once")
        options[key] = value
    return options


def _add_metaopt_override(p):
    p.add_argument("--metaopt", choices=metaopt.NAMES, default=None,
                   help="the checkpoint's meta-optimizer (default) or 'none' to adapt with "
                        "plain gradient steps from the meta-learned initialisation")


def _add_max_seconds(p, command, what):
    limit = footprint.MAX_SECONDS[command]
    p.add_argument("--max-seconds", type=_cli.positive_float, default=limit, metavar="S",
                   help=f"refuse, before it starts, work whose time ({what}) is estimated "
                        f"above S seconds; the estimate is a lower bound "
                        f"(theory.engine.footprint; default: {limit:g})")


def _add_common(p):
    _cli.add_json(p)
    _cli.add_progress(p)


def main(argv=None):
    """Parse ``argv`` and run the sub-command; returns the exit status."""
    args = build_parser().parse_args(argv)
    return {"train": cmd_train, "eval": cmd_eval, "adapt": cmd_adapt,
            "bench": cmd_bench, "episode": cmd_episode}[args.command](args)


main.prog = PROG


def cmd_train(args):
    """``train``: meta-train, print the parameter counts and the test accuracy."""
    try:
        result = training.train(train_config(args), out_dir=args.out, resume=args.resume,
                                progress=args.progress, max_seconds=args.max_seconds)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(_saved_so_far(args.out)) from None
    if args.json:
        _print_json(result)
    else:
        _print_counts(result["parameters"])
        _print_accuracy(result["test"], "test")
        print(f"results: {os.path.join(args.out, training.RESULTS)}")
    return 0


def train_config(args):
    """The run config of parsed ``train`` options (``train.train`` checks it)."""
    config = {field.name: getattr(args, field.name) for field in run_config.FIELDS}
    config["metaopt_options"] = _options_dict(args.metaopt_options or ())
    return config


def _saved_so_far(out):
    """What an interrupted ``train`` leaves in ``out``, and how to continue it."""
    path = os.path.join(out, training.CHECKPOINT)
    try:
        done = checkpoint.load(path)["iteration"]
    except (OSError, ValueError):
        return f"no checkpoint was written to {out} yet; nothing to resume"
    return (f"the last checkpoint, {path}, holds iteration {done}; the same command with "
            "--resume continues from it")


def cmd_eval(args):
    """``eval``: accuracy of a checkpoint over ``--episodes`` episodes of ``--split``."""
    if args.curve is not None and args.steps is not None:
        raise ValueError(f"--steps {args.steps} and --curve {args.curve} contradict each other: "
                         f"--curve K scores after each of 0..K inner steps; give one of them")
    config, meta_params, opt_obj, ckpt = checkpoint.restore(args.checkpoint)
    meta_params, opt_obj, config = checkpoint.override(meta_params, opt_obj, config,
                                                       args.metaopt, args.steps)
    if args.query is not None:          # the record's config says which Q the episodes had
        config["query"] = args.query
    _check_eval(args, config, tuple(ckpt["extra"]["in_shape"]))
    path = run_config.check_data(config["dataset"], args.data) if args.data is not None \
        else config["data"]
    dataset = run_config.check_ways(config, data.load(config["dataset"], path, split=args.split,
                                                       split_by=config["split_by"]))
    seed = config["seed"] if args.seed is None else args.seed
    rng = run_config.episode_rng(seed, args.split)
    if args.curve is not None:
        return _eval_curve(args, config, meta_params, opt_obj, dataset, rng)
    res = evaluation.mean_accuracy(meta_params, dataset, rng, config=config,   # parsed --episodes
                                   episodes=args.episodes, metaopt=opt_obj,
                                   progress=args.progress, desc=args.split)
    record = {"kind": "engine-eval", "checkpoint": args.checkpoint, "split": args.split,
              "config": config, "commit": provenance.source_commit(),
              "parameters": metaopt.count_parameters(meta_params),
              args.split: {k: res[k] for k in ("accuracy", "ci95", "episodes")}}
    if args.json:
        _print_json(record)
    else:
        _print_counts(record["parameters"])
        _print_accuracy(record[args.split], args.split)
    return 0


def _check_eval(args, config, in_shape):
    """Refuse ``eval`` beyond the memory limit or ``--max-seconds`` (``footprint``), before the
    dataset is read: ``BATCH`` episodes at a time, ``--curve K`` keeping K + 2 parameter copies."""
    steps = config["steps"] if args.curve is None else args.curve
    flag = f"--steps {steps}" if args.curve is None else f"--curve {steps}"
    what = (f"eval --episodes {args.episodes} {flag} of {args.checkpoint} "
            f"({footprint.describe(config, footprint.MODEL_KEYS + ('shots', 'query'))})")
    sizes = {"n_s": config["ways"] * config["shots"], "n_q": config["ways"] * config["query"]}
    _limits.check_memory(footprint.episode_bytes(
        config, in_shape, tasks=min(args.episodes, evaluation.BATCH),
        kept=3 if args.curve is None else steps + 2, **sizes), what)
    footprint.check_seconds(footprint.episode_seconds(
        config, in_shape, episodes=args.episodes, steps=steps, batch=evaluation.BATCH,
        cores=parallel.default_workers(), **sizes), args.max_seconds, what)


def _eval_curve(args, config, meta_params, opt_obj, dataset, rng):
    """``eval --curve K``: the ``engine-curve`` record of accuracy after 0..K inner steps."""
    res = evaluation.adaptation_curve(meta_params, dataset, rng, config=config,
                                      steps=range(args.curve + 1), episodes=args.episodes,
                                      metaopt=opt_obj, progress=args.progress,
                                      desc=args.split)
    record = {"kind": "engine-curve", "checkpoint": args.checkpoint, "split": args.split,
              "config": config, "commit": provenance.source_commit(),
              "curve": {k: res[k] for k in ("steps", "accuracy", "ci95", "episodes")}}
    if args.json:
        _print_json(record)
    else:
        for k, acc, ci in zip(res["steps"], res["accuracy"], res["ci95"], strict=True):
            _print_accuracy({"accuracy": acc, "ci95": ci, "episodes": res["episodes"]},
                            f"{args.split} k={k}")
    return 0


def cmd_adapt(args):
    """``adapt``: adapt to ``--support`` and print the predicted class of each query file."""
    if args.answers is not None:
        adapt_task.read_answers(args.answers)    # a bad file is found before the adaptation
    out = adapt_task.adapt_folders(args.checkpoint, args.support, args.query,
                                   steps=args.steps, metaopt=args.metaopt,
                                   max_seconds=args.max_seconds)
    if args.answers is not None:
        out["accuracy"] = adapt_task.score(out, args.answers)
    for note in out["notes"]:           # the run is valid, but not the task it was trained for
        print(f"note: {_cli.printable(note)}", file=sys.stderr)
    if args.json:
        _print_json(out)
    else:
        for item in out["predictions"]:     # folder and file names may hold tabs, newlines
            print(f"{_cli.printable(item['file'])}\t{_cli.printable(item['class'])}")
        if "accuracy" in out:
            print(f"accuracy: {out['accuracy']:.4f} ({len(out['predictions'])} query images)")
    return 0


def cmd_episode(args):
    """``episode``: write one seeded episode as image folders (``data.export``)."""
    export.check_out(args.out)              # before the dataset is read, which takes a while
    dataset = data.load(args.dataset, args.data, split=args.split, split_by=args.split_by)
    record = export.write_episode(dataset, args.out, ways=args.ways, shots=args.shots,
                                  query=args.query, seed=args.seed)
    if args.json:
        _print_json(record)
        return 0
    print(f"{args.ways}-way {args.shots}-shot episode of {record['dataset']}/{record['split']}: "
          f"{args.out}/support, {args.out}/query ({len(record['answers'])} images), "
          f"answers in {args.out}/answers.json")
    return 0


def cmd_bench(args):
    """``bench``: hand the parsed options to the speed benchmark."""
    try:
        from theory.engine import bench
    except ModuleNotFoundError as err:
        if err.name != "theory.engine.bench":
            raise
        raise ValueError("the benchmark module theory.engine.bench is not available") from None
    return bench.run(args)


def _print_counts(counts):
    print(f"meta-parameters: {counts['meta']}  deployed parameters: {counts['deployed']}")


def _print_accuracy(res, split):
    ci = "n/a" if res["ci95"] is None else f"{res['ci95']:.4f}"
    print(f"{split} accuracy: {res['accuracy']:.4f} +- {ci} (95% CI over {res['episodes']} "
          "episodes)")


def _print_json(obj):
    json.dump(obj, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
