"""Whether a budget's checkpoints replace the shipped ones: validation decides.

A budget that does not ship (``authors``: ``"ships": False``) keeps the best checkpoint of each
setting in ``<results>/<budget>/checkpoints/``, never over the shipped ones in
``<results>/checkpoints/``. ``compare`` scores a candidate and the shipped checkpoint of the
same file name on the *same* validation episodes: the validation split of the data split both
were meta-trained on (a candidate meta-trained on another split is refused), ``episodes`` tasks
drawn from one seed, ``query`` images per class for both (each run's own validation rounds used
its own query count and episodes, so their recorded numbers are not paired). The query count
is part of the condition, not only of the sample: batch norm normalises the query images with
their own batch statistics, so both are scored at one count (default 5: what the shipped
checkpoints were meta-trained with and what the README's example episodes hold). ``ship`` copies
every candidate whose validation accuracy is higher over the shipped file (a tie keeps the
shipped one) and records the comparison in ``index.json``; a name with nothing shipped yet
ships as it is. Test accuracy plays no part in the decision.

The interval of the paired difference is the usual normal one over episodes (mean +- 1.96
standard errors of the per-episode differences): both models meet the same tasks, so the
difference is far less noisy than either accuracy.
"""

import math
import os
import shutil

import numpy as np

from theory import _check, _io
from theory.engine import checkpoint, data
from theory.engine import config as run_config
from theory.engine import evaluate as evaluation
from theory.paper import records, schema

EPISODES, QUERY, SEED = 600, 5, 0
INDEX = "index.json"
# what must agree for two checkpoints to be scored on the same episodes
SAME = ("dataset", "split_by", "ways", "shots")


def _index(folder):
    return schema.read(os.path.join(os.fspath(folder), INDEX), schema.INDEX,
                       "checkpoint index") or {}


def _scores(path, *, episodes, query, seed, data_path, progress):
    """``(config, per-episode validation accuracies)`` of the checkpoint at ``path``."""
    config, meta_params, opt_obj, _ = checkpoint.restore(path)
    config = dict(config, query=query)
    where = data_path if data_path is not None else config["data"]
    dataset = run_config.check_ways(config, data.load(
        config["dataset"], where, split="val", split_by=config["split_by"]))
    res = evaluation.mean_accuracy(meta_params, dataset, run_config.episode_rng(seed, "val"),
                                   config=config, episodes=episodes, metaopt=opt_obj,
                                   progress=progress, desc=os.path.basename(path))
    return config, np.asarray(res["accuracies"])


def compare(candidate, shipped, *, episodes=EPISODES, query=QUERY, seed=SEED, data_path=None,
            progress=False):
    """Validation accuracy of two checkpoints on the same episodes, and their difference.

    Both read the dataset at ``data_path`` (default: the path stored in ``candidate``).
    Returns ``{"candidate", "shipped", "difference", "ci95", "episodes", "query", "seed"}``
    (accuracies as fractions; ``ci95`` is the half-width of the paired difference's interval,
    ``None`` for one episode).
    ``ValueError`` if the two were meta-trained for different settings (``SAME``).
    """
    episodes = _check.integer("episodes", episodes, 1)
    query = _check.integer("query", query, 1)
    seed = _check.integer("seed", seed, 0)
    cfg_c, acc_c = _scores(candidate, episodes=episodes, query=query, seed=seed,
                           data_path=data_path, progress=progress)
    cfg_s, acc_s = _scores(shipped, episodes=episodes, query=query, seed=seed,
                           data_path=data_path if data_path is not None else cfg_c["data"],
                           progress=progress)
    differ = {k: (cfg_c[k], cfg_s[k]) for k in SAME if cfg_c[k] != cfg_s[k]}
    if differ:
        raise ValueError(f"{candidate} and {shipped} were meta-trained for different settings "
                         f"({', '.join(f'{k} {a!r} vs {b!r}' for k, (a, b) in differ.items())})"
                         "; only checkpoints of one setting are compared")
    mean, half = data.mean_ci95(acc_c - acc_s)
    return {"candidate": float(acc_c.mean()), "shipped": float(acc_s.mean()),
            "difference": float(mean), "ci95": None if math.isnan(half) else float(half),
            "episodes": episodes,
            "query": query, "seed": seed}


def ship(results_dir, budget_name, *, episodes=EPISODES, query=QUERY, seed=SEED,
         data_path=None, write=True, progress=False):
    """Compare each of ``budget_name``'s checkpoints with the shipped one of its name and, with
    ``write``, copy the better-validated candidates over them.

    Returns ``[(name, comparison or None, shipped?)]`` in name order (``None``: nothing of
    that name was shipped). A shipped entry of ``index.json`` takes the candidate's entry plus
    ``"chosen_by"``: the comparison and the run it replaced.
    """
    results_dir = os.fspath(results_dir)
    source = os.path.join(records.budget_dir(results_dir, budget_name), "checkpoints")
    found = _index(source)
    if not found:
        raise ValueError(f"budget {budget_name!r} has no checkpoints in {source} (run `python "
                         f"-m theory.paper run --budget {budget_name} --checkpoints` first)")
    target = os.path.join(results_dir, "checkpoints")
    if os.path.realpath(source) == os.path.realpath(target):
        raise ValueError(f"budget {budget_name!r} ships its checkpoints as it runs; there is "
                         "nothing to compare")
    shipped_index, out = _index(target), []
    for name, entry in sorted(found.items()):
        cand = _io.inside(source, name, what=f"checkpoint name (from {source}/{INDEX})")
        dest = _io.inside(target, name, what="checkpoint name")
        old = shipped_index.get(name)
        result = None
        if old is not None and os.path.isfile(dest):
            result = compare(cand, dest, episodes=episodes, query=query, seed=seed,
                             data_path=data_path, progress=progress)
        wins = result is None or result["difference"] > 0
        out.append((name, result, wins))
        if not (wins and write):
            continue
        os.makedirs(target, exist_ok=True)
        with _io.atomic_open(dest, "wb") as sink, open(cand, "rb") as handle:
            shutil.copyfileobj(handle, sink)
        chosen = dict(result or {}, replaced=None if old is None else
                      {"run": old["run"], "budget": old.get("budget")})
        shipped_index[name] = dict(entry, chosen_by=chosen)
        _io.write_json(os.path.join(target, INDEX), shipped_index)
    return out


def describe(outcome, budget_name, *, write=True):
    """One line per compared checkpoint: both validation accuracies, their paired difference
    and what was done."""
    lines = []
    for name, result, wins in outcome:
        verb = ("shipped" if write else "would ship") if wins else \
            ("kept the shipped one" if write else "would keep the shipped one")
        if result is None:
            lines.append(f"{name}: nothing shipped under this name; {verb}")
            continue
        lines.append(
            f"{name}: validation {100 * result['candidate']:.1f} % ({budget_name}) vs "
            f"{100 * result['shipped']:.1f} % (shipped), difference "
            f"{100 * result['difference']:+.1f}{_pm(result['ci95'])} points on "
            f"{result['episodes']} episodes (query {result['query']}, seed {result['seed']}); "
            f"{verb}")
    return "\n".join(lines)


def _pm(half):
    return "" if half is None else f" ± {100 * half:.1f}"
