"""Markdown of the paper's tables: paper beside ours per cell, and the ordering verdicts.

Our cells come from ``theory.paper.cells``, the paper's from ``theory.paper.numbers``. Each
dataset shows the tables and verdicts of every budget that has records of it, most thorough
first (``cells.ORDER``), each under a line saying what its runs were (``budget_text``: width,
iterations or early stopping with its cap and where the runs stopped, test episodes); cells
of two budgets never meet in one table or verdict. A cell's text says what its ± is over
(seeds or one seed's test episodes) and a verdict that rests on single-seed cells says so
(``theory.paper.verdicts``). A dataset whose data is not on this machine (CIFAR-FS,
mini-ImageNet) shows the paper's numbers beside "not run: the data is not on this machine" and
the commands that fill its cells (``FILL_BUDGETS``). A budget whose records hold adaptation
curves also shows them, with every model against 2-layer MAML at each step of meta-training
(``_curves``). ``render_checkpoints``: the table of the shipped checkpoints (``index.json``).
"""

import os

import numpy as np

from theory.engine.data import cifarfs, miniimagenet
from theory.paper import cells as cellmod
from theory.paper import budgets, numbers, schema, verdicts, vocabulary

ABSENT = "not run: the data is not on this machine"
DATA_LAYOUT = {"cifarfs": f"the folder holding {cifarfs.EXPECTED}",
               "mini-imagenet": f"the folder holding {miniimagenet.EXPECTED}"}
INTERVALS = ("± is a 95 % interval: over seeds (Student's t) where n ≥ 2; where n = 1, over "
             "that one seed's test episodes only, which leaves out the seed-to-seed variance. A verdict's "
             "detail is the difference of means in points with its 95 % interval (Welch's, "
             "over seeds) and, within noise, how many seeds per cell would settle it.")


FILL_BUDGETS = ("converged", "cpu")   # offered for cells not run: to a plateau, or minutes


def fill_command(dataset, budget_name=FILL_BUDGETS[0]):
    """The sweep command that fills ``dataset``'s cells (``PATH``: ``DATA_LAYOUT``)."""
    data = f" --data {dataset}=PATH" if dataset in vocabulary.NEEDS_PATH else ""
    return f"python -m theory.paper run --budget {budget_name} --datasets {dataset}{data}"


def fill_text(dataset):
    """``"`<converged command>` (or `<cpu command>`: minutes per run)"``."""
    first, *rest = FILL_BUDGETS
    return f"`{fill_command(dataset, first)}`" + "".join(
        f" (or `{fill_command(dataset, b)}`: minutes per run)" for b in rest)


def budget_label(name):
    """A budget as text: ``"`cpu`"``, or what a record without a sweep budget is."""
    return "none (records not written by the sweep)" if name is None else f"`{name}`"


# the networks of ``theory.engine.cnn.Arch`` other than the original (max-pool, flatten)
NETWORK = {"stride/mean": "the authors' network (stride-2 convs, mean readout)",
           "none/mean": "the authors' CIFAR-FS network (no downsampling, mean readout)"}


def budget_text(name, found):
    """What the runs of the cells ``found`` of budget ``name`` were (``cells.setup``)."""
    s = cellmod.setup(found)

    def join(values):
        return "/".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values) or "?"

    parts = [f"hidden {join(s['hidden'])}"]
    if any(net != "maxpool/flatten" for net in s["network"]):
        parts[0] = (f"{'/'.join(NETWORK.get(n, n) for n in s['network'])}, "
                    f"hidden {join(s['hidden'])}, meta lr {'/'.join(s['schedule'])}")
    if s["patience"]:
        rounds = join(s["patience"])
        parts.append(f"early stopping after {rounds} validation round"
                     f"{'' if rounds == '1' else 's'} without a better one "
                     f"({join(s['val_episodes'])} episodes, one round every "
                     f"{join(s['val_every'])} meta-iterations), cap {join(s['iterations'])} "
                     "meta-iterations, tested on the best-validation parameters")
        if stops := s["stopped"]:
            median = float(np.median(stops))
            parts.append(f"stopped at meta-iteration {median:g} (median; {stops[0]}-"
                         f"{stops[-1]}): {s['reasons']['plateau']} of {len(stops)} runs on "
                         f"a plateau, {s['reasons']['cap']} at the cap")
    else:
        parts.append(f"{join(s['iterations'])} meta-iterations")
    parts.append(f"{join(s['test_episodes'])} test episodes per seed")
    return f"{budget_label(name)}: " + ", ".join(parts)


def ours_text(cell, dataset=None):
    """A cell as text: mean ± 95% half-width (seeds and what ± is over, failures), or why
    there is none."""
    if cell is None:
        return ABSENT if dataset in vocabulary.NEEDS_PATH else "not run"
    failed = f", {cell['failed']} failed" if cell.get("failed") else ""
    if "accuracy" not in cell:
        return f"failed ({cell['failed']} seeds)"
    half = "?" if cell["ci95"] is None else f"{cell['ci95']:.1f}"
    over = "t over seeds" if cell["seeds"] > 1 else "test episodes only"
    stop = f", median stop {cell['stopped']['median']:g}" if cell.get("stopped") else ""
    return f"{cell['accuracy']:.1f} ± {half} (n={cell['seeds']}, {over}{stop}{failed})"


def paper_text(dataset, method, layers=2, table="table-b"):
    """The paper's value in % as it prints it ("—" when the paper has no such cell)."""
    if table == "table-a":
        key, value = (dataset, method, layers), numbers.table1(dataset, method, layers)
    else:
        key, value = (dataset, method), numbers.table2(dataset, method)
    return "—" if value is None else numbers.PRINTED[key]


def _tables(found, dataset, mark, where=""):
    lines = [f"{mark} {dataset}{where}: MAML vs MAML w/ LinNet (5-way 5-shot, accuracy %)\n",
             "| method | " + " | ".join(f"{n} layers: paper | ours"
                                       for n in vocabulary.TABLE1_LAYERS) + " |",
             "|---|" + "---|---|" * len(vocabulary.TABLE1_LAYERS)]
    for m in vocabulary.TABLE1_METHODS:
        lines.append(f"| {vocabulary.LABEL[m]} | " + " | ".join(
            f"{paper_text(dataset, m, n, 'table-a')} | {ours_text(found.get((m, n)), dataset)}"
            for n in vocabulary.TABLE1_LAYERS) + " |")
    lines += [f"\n{mark} {dataset}{where}: meta-optimizers on 2 layers (5-way 5-shot, "
              "accuracy %)\n", "| method | paper | ours |", "|---|---|---|"]
    for m in vocabulary.TABLE_B_METHODS:
        lines.append(f"| {vocabulary.LABEL[m]} | {paper_text(dataset, m)} | "
                     f"{ours_text(found.get((m, 2)), dataset)} |")
    return lines


def _section(found, dataset, name, mark):
    """One budget's tables and verdicts of ``dataset``."""
    where = f", budget {budget_label(name)}"
    lines = [f"{vocabulary.DATASET_LABEL[dataset]} at budget {budget_text(name, found)}.\n"]
    lines += _tables(found, dataset, mark, where)
    lines += [f"\n{mark} {dataset}{where}: ordering claims\n",
              "| claim | verdict | detail |", "|---|---|---|"]
    for claim in verdicts.claims(found):
        lines.append(f"| {claim.claim} | {claim.verdict_text()} | {claim.detail} |")
    return lines + _curves(found, dataset, mark, where) + [""]


def _curves(found, dataset, mark, where):
    """The adaptation curves of ``found`` (``vocabulary.ADAPTATION_KEYS``), if any record has one:
    test accuracy after k inner steps per model, and every model against MAML at 2 layers at
    each k up to the inner steps of meta-training. The claim C12 is judged at k = 1; the
    other steps describe the curves, and its second statistic (``verdicts.trained_claim``) is
    stated after them."""
    curves = {key: cellmod.curve(found.get(key)) for key in vocabulary.ADAPTATION_KEYS}
    shown = {key: c for key, c in curves.items() if c is not None}
    if not shown:
        return []
    steps = next(iter(shown.values()))["steps"]
    trained = max(r["config"].get("steps", steps[-1]) for key in shown
                  for r in found[key]["records"])
    lines = [f"\n{mark} {dataset}{where}: adaptation curves (test accuracy % after k inner "
             "steps)\n", "| model | " + " | ".join(f"k={k}" for k in steps)
             + f" | steps to 90 % of the gain | mean over k=1..{trained} |",
             "|---|" + "---|" * (len(steps) + 2)]
    for (method, layers), c in shown.items():
        mean = "—" if c["trained"] is None else f"{c['trained']['accuracy']:.1f}"
        lines.append(f"| {vocabulary.LABEL[method]} {layers} layers (n={c['seeds']}) | "
                     + " | ".join(f"{a:.1f}" for a in c["accuracy"])
                     + f" | {c['steps_to_90']} | {mean} |")
    lines += ["", f"Every model against MAML 2 layers after k = 1..{trained} steps, those of "
              "meta-training (the claim C12 is judged at k = 1; the other steps describe the "
              "curves):\n", "| k | detail |", "|---|---|"]
    for k in (k for k in steps[1:] if k <= trained):
        lines.append(f"| {k} | {verdicts.adaptation_claim(curves, step=k).detail} |")
    return lines + ["", trained_text(curves)]


def trained_text(curves):
    """The sentence of C12's second statistic on ``curves`` (``verdicts.trained_claim``): the
    test of MAML at 4 layers against 2, and the other 2-layer models' differences as
    description."""
    deep, described = verdicts.trained_claim(curves)
    return (f"C12's second statistic, fixed before MAML 4 layers' curve was measured: "
            f"{deep.claim}: {deep.verdict_text()} ({deep.detail}). The same difference for the "
            f"other 2-layer models, chosen after their curves were seen (a description, not a "
            f"test): {described}.")


def render(results_dir, datasets=vocabulary.DATASETS, budget_name=None, level=2):
    """Markdown of both tables and the claim verdicts for every dataset and every budget that
    has records of it (module docstring); the header states ``budget_name``'s preset if
    given; ``level``: the heading level of the sections."""
    lines, mark = [], "#" * level
    if budget_name is not None:
        b = budgets.budget(budget_name)
        length = (f"early stopping (patience {b['patience']}), cap {b['iterations']}"
                  if b.get("patience") else f"{b['iterations']}")
        lines.append(f"Budget `{budget_name}` preset: hidden {b['hidden']}, {length} "
                     f"meta-iterations, {b['test_episodes']} test episodes, "
                     f"{b['seeds']} seeds (2 layers), {b['deep_seeds']} (deeper).")
    lines.append(f"{INTERVALS}\n")
    for dataset in datasets:
        groups = cellmod.grouped(results_dir, dataset)
        for name, found in groups.items():
            lines += _section(found, dataset, name, mark)
        if groups:
            continue
        lines += _tables({}, dataset, mark)
        if dataset in vocabulary.NEEDS_PATH:
            lines.append(f"\nEvery cell of {vocabulary.DATASET_LABEL[dataset]}: "
                         f"{fill_text(dataset)}, then `python -m theory.paper repro`, with "
                         f"PATH {DATA_LAYOUT[dataset]}.")
        lines.append("")
    return "\n".join(lines)


_NETWORK = {("downsample", "stride"): "stride-2 convs", ("downsample", "none"): "no downsampling",
            ("readout", "mean"): "mean readout", ("init", "authors"): "the authors' init"}


def _network(cfg):
    """``", stride-2 convs, mean readout, ..."`` for a network other than the original
    (max-pools, flattened readout, He init); ``""`` for the original."""
    return "".join(f", {_NETWORK[k, cfg[k]]}" for k in ("downsample", "readout", "init")
                   if (k, cfg.get(k)) in _NETWORK)


def _query(cfg):
    """``" (query Q)"``: the query images per class its validation and test episodes held
    (batch norm normalises them together, so the count is part of the condition)."""
    return f" (query {cfg['query']})" if cfg.get("query") else ""


def render_checkpoints(results_dir):
    """Markdown table of the shipped checkpoints (``<results_dir>/checkpoints/index.json``):
    per file its model, task, meta-training, validation and test accuracy and what its test
    episodes are drawn from (the character split where the index does not say)."""
    index = schema.read(os.path.join(os.fspath(results_dir), "checkpoints", "index.json"),
                        schema.INDEX, "checkpoint index")
    if index is None:
        return "No checkpoints are shipped yet (`python -m theory.paper run --checkpoints`)."
    lines = ["| file | model | task | meta-training | validation % | test % (episodes) | "
             "test episodes drawn from |", "|---|---|---|---|---|---|---|"]
    for name, entry in sorted(index.items()):
        cfg, test = entry["config"], entry["test"]
        method = vocabulary.method_of(cfg)
        length = (f"early stopping, cap {cfg['iterations']}" if cfg.get("patience")
                  else f"{cfg['iterations']} meta-iterations")
        budget = f"`{entry['budget']}`: " if entry.get("budget") else ""
        holds = entry.get("test_holds", "characters never seen in meta-training "
                                        "(character split)")
        lines.append(
            f"| `{name}` | {vocabulary.LABEL.get(method, method)}, {cfg['layers']} layers, width "
            f"{cfg['hidden']}{_network(cfg)} | {cfg['ways']}-way {cfg['shots']}-shot{_query(cfg)} | {budget}{length} | "
            f"{100 * entry['val_accuracy']:.1f} | {100 * test['accuracy']:.1f} ± "
            f"{100 * test['ci95']:.1f} ({test['episodes']}) | {holds} |")
    return "\n".join(lines)
