"""Write the sweep's records into ``paper_repro.md`` and the README's results block.

``paper_repro.md`` has one row per cell of the paper's Tables 1 and 2, all 39 (ids
``T1/<dataset>/<method>/<layers>``, ``T2/<dataset>/<method>``), one per CNN claim (``C7``:
LinNet vs depth, ``C8``: meta-optimizers, ``C12``: adaptation curves) and one per CNN figure
(``F5``, ``F6``, ``F9``, ``F10``: the validation curves). ``repro_rows`` builds those rows from
``results/`` (``cells``, the figures' reader too); each row reads the budget
``cells.preferred`` for its cells (a T row: its one cell; a claim and its figure: all the
cells they need) and names it. ``update`` puts the rows in place of the rows with the same id
and leaves every other line alone. The README's results block (between ``BEGIN``/``END``
markers) is ``render.render`` of every dataset and budget. ``tests/test_paper_repro.py``
checks that the committed files equal what ``update`` writes from the committed results, so
the prose cannot drift from the JSON.

The numbers of a C row are backticked and name their source (``figure:json key``) in the
``results/figures/`` JSON of figures 5, 6 and ``adaptation_cnn``, which ``python -m
theory.figures`` rebuilds from the same cells and the same budget choice. A row is a named
tuple of its cells (``theory.paper.rows``: ``CellRow``, ``ClaimRow``, ``FigureRow``), written as
markdown last; the sentences of a claim row (the claim, its statistics, which of them were
fixed before the data) are the document's own text, so they are written here with the row.
"""

import os

from theory import _io
from theory.paper import cells as cellmod
from theory.paper import alpha, budgets, numbers, protocols, render, verdicts, vocabulary
from theory.paper.rows import (CellRow, ClaimRow, FigureRow, claim_verdict, figure_row,
                               rewrite_block, rewrite_rows, run_command, sources)

BEGIN = "<!-- tables: python -m theory.paper repro -->"
END = "<!-- end of tables -->"
CHECKPOINTS = ("<!-- checkpoints: python -m theory.paper repro -->",
               "<!-- end of checkpoints -->")
PROTOCOLS = ("<!-- protocols: python -m theory.paper repro -->", "<!-- end of protocols -->")
ADAPTATION_STEPS = (0, 1, 5, 10)   # the inner steps whose accuracy claim C12 quotes
def _budget(key, cell, name):
    """The budget text of a cell of budget ``name`` from its records (every seed shares one
    config): ``render.budget_text`` with the learning rates and the training time."""
    recs = cell["records"]
    cfg, info = recs[0]["config"], recs[0].get("sweep", {})
    walls = [r["wall_time_s"] for r in recs if "wall_time_s" in r]
    wall = f", {sum(walls) / len(walls) / 60:.1f} min training per seed" if walls else ""
    return (f"{render.budget_text(name, {key: cell})}, inner lr {cfg['inner_lr']:g}, meta lr "
            f"{cfg['meta_lr']:g} ({info.get('lr_source', '?')}){wall}")


def _records(cell, results_dir, method, layers):
    """The glob of a cell's record files, as ``results/<folder>/<method>-L<layers>-s*.json``."""
    folder = os.path.dirname(os.path.relpath(cell["records"][0]["path"], results_dir))
    return "/".join(["results", *folder.split(os.sep), f"{method}-L{layers}-s*.json"])


def _cell_row(row_id, setting, dataset, key, groups, quoted, claim, results_dir):
    method, layers = key
    printed = render.paper_text(dataset, method, layers,
                                "table-b" if row_id.startswith("T2/") else "table-a")
    name = cellmod.preferred(groups, [key]) or next((b for b in groups if key in groups[b]),
                                                    None)
    cell = groups.get(name, {}).get(key)
    if not cellmod.has_result(cell):
        if dataset in vocabulary.NEEDS_PATH:
            command = render.fill_command(dataset)
            why = (f"{render.ABSENT}; with PATH {render.DATA_LAYOUT[dataset]}, "
                   f"{render.fill_text(dataset)}, then `python -m theory.paper repro` fills it")
        else:
            command = run_command(render.FILL_BUDGETS[0])
            failed = (f" ({cell['failed']} seed(s) of budget {render.budget_label(name)} "
                      "failed)") if cell else ""
            why = f"not run: no record under `results/` yet{failed}; `{command}` runs it"
        return CellRow(row_id, setting, printed, "not run", f"`{command}`", "—", why)
    verdict = (f"measured: ours − paper = {cell['accuracy'] - quoted:+.1f} points at a "
               f"budget far below the paper's, so only the ordering is judged ({claim})")
    return CellRow(row_id, setting, printed, render.ours_text(cell),
                   f"`{run_command(name)}` (records: "
                   f"`{_records(cell, results_dir, method, layers)}`)",
                   _budget(key, cell, name), verdict)


def _numbers(found, specs):
    """For ``specs`` ``[(cell key, source key, label)]``: the texts ``label `value``` (or
    ``label not run``) and the source keys of the cells that ran, in order."""
    parts, keys = [], []
    for cell_key, source, label in specs:
        cell = found.get(cell_key)
        if cellmod.has_result(cell):
            parts.append(f"{label} `{cell['accuracy']:.1f}`")
            keys.append(source)
        else:
            parts.append(f"{label} not run")
    return parts, keys


def _claim_rows(groups):
    """Rows C7, C8, F5, F6 from ``groups`` (``{budget: cells}`` of Omniglot), each claim and
    its figure on the budget ``cells.preferred`` for their cells."""
    name = cellmod.preferred(groups, vocabulary.TABLE1_KEYS)
    found = groups.get(name, {})
    c2l, cgap, _, _ = verdicts.claims(found)
    parts, keys = _numbers(found, [((m, n), f"linnet_depth:ours.{m}.{i}.accuracy",
                                    f"{vocabulary.LABEL[m]} {n} layers")
                                   for i, n in enumerate(vocabulary.TABLE1_LAYERS)
                                   for m in vocabulary.TABLE1_METHODS])
    deepest = f" ({cgap.detail})" if cgap.detail else ""
    c7 = ClaimRow(
        "C7", "On CNNs, LinNet (extra collapsible linear layers) helps MAML most for shallow "
        "networks; the gap closes with depth", "Table 1, see T1 rows",
        f"Omniglot test accuracy % ({_at(name)}): {', '.join(parts)}. LinNet > MAML at 2 "
        f"layers: {c2l.verdict_text()}{f' ({c2l.detail})' if c2l.detail else ''}; the gain "
        f"shrinks with depth: {cgap.verdict_text()}{deepest}", sources(keys),
        f"`{_command(name)}`, then `python -m theory.figures linnet_depth`",
        claim_verdict([c2l, cgap], name))
    f5 = figure_row("F5", "LinNet vs CNN depth, paper beside ours", "Table 1 (Omniglot)",
                    "linnet_depth", _count(found, vocabulary.TABLE1_KEYS), "of our cells run",
                    c7)
    name = cellmod.preferred(groups, vocabulary.TABLE2_KEYS)
    found = groups.get(name, {})
    _, _, call, ckfo = verdicts.claims(found)
    parts, keys = _numbers(found, [((m, 2), f"meta_optimizers:ours.{m}.accuracy",
                                    vocabulary.LABEL[m]) for m in vocabulary.TABLE2_METHODS])
    c8 = ClaimRow(
        "C8", "Meta-optimizers help 2-layer CNNs, KFO best or near best", "Table 2, see T2 rows",
        f"Omniglot test accuracy % ({_at(name)}): {', '.join(parts)}. Every meta-optimizer > "
        f"MAML: {call.verdict_text()} ({call.detail}); KFO best or near best: "
        f"{ckfo.verdict_text()}{f' ({ckfo.detail})' if ckfo.detail else ''}", sources(keys),
        f"`{_command(name)}`, then `python -m theory.figures meta_optimizers`",
        claim_verdict([call, ckfo], name))
    f6 = figure_row("F6", "meta-optimizers on 2-layer CNNs, paper beside ours",
                    "Table 2 (Omniglot)", "meta_optimizers",
                    _count(found, vocabulary.TABLE2_KEYS), "of our cells run", c8)
    return {"C7": c7, "C8": c8, "F5": f5, "F6": f6}


def _at(name):
    return "no run yet" if name is None else f"budget {render.budget_label(name)}"


def _command(name):
    """The sweep command of budget ``name`` (``None``: of the budget that fills cells)."""
    return run_command(render.FILL_BUDGETS[0] if name is None else name)


def _count(found, keys, ok=cellmod.has_result):
    return sum(1 for k in keys if ok(found.get(k))), len(keys)


def _curve_parts(curves, side):
    """Each curve of ``curves`` as text (accuracy at ``ADAPTATION_STEPS``, steps to 90 % of
    its gain, mean over the trained steps) and its source keys in ``adaptation_cnn``'s JSON
    entry ``side`` (``ours`` or ``authors``)."""
    parts, keys = [], []
    for (method, layers), c in curves.items():
        label, where = f"{vocabulary.LABEL[method]} {layers} layers", f"{method}_L{layers}"
        if c is None:
            parts.append(f"{label} not run")
            continue
        quoted = [(k, c["steps"].index(k)) for k in ADAPTATION_STEPS if k in c["steps"]]
        parts.append(f"{label} " + ", ".join(f"k={k} `{c['accuracy'][i]:.1f}`"
                                             for k, i in quoted)
                     + f", 90 % of its gain from k={c['steps'][0]} to k={c['steps'][-1]} after "
                     f"`{c['steps_to_90']}` steps"
                     + ("" if c.get("trained") is None else
                        f", mean over k={c['trained_steps'][0]}..{c['trained_steps'][-1]} "
                        f"`{c['trained']['accuracy']:.1f}`"))
        keys += [f"adaptation_cnn:{side}.{where}.accuracy.{i}" for _, i in quoted]
        keys.append(f"adaptation_cnn:{side}.{where}.steps_to_90")
        if c.get("trained") is not None:
            keys.append(f"adaptation_cnn:{side}.{where}.trained.accuracy")
    return parts, keys


def _adaptation_rows(results_dir):
    """Rows C12 and F9: the adaptation curves of ``cells.adaptation`` (Omniglot), and C12a:
    the same curves under the authors' protocol (budget ``authors``)."""
    name, curves = cellmod.adaptation(results_dir)
    claim = verdicts.adaptation_claim(curves)
    parts, keys = _curve_parts(curves, "ours")
    detail = f" ({claim.detail})" if name is not None else ""
    second = "" if name is None else " " + render.trained_text(curves)
    c12 = ClaimRow(
        "C12", "After meta-training, MAML's shallow (2-layer) CNN adapts more slowly than MAML "
        "w/ LinNet, KFO or a 4-layer CNN (the paper's mechanism, on CNNs); judged on test "
        "accuracy after one inner step (the row's verdict), with the steps each model needs for "
        "90 % of its gain and its mean accuracy over the trained steps stated beside",
        "qualitative: shallow MAML cannot adapt fast; LinNet and meta-optimizers let it",
        f"Omniglot 5-way 5-shot test accuracy % after k inner steps from the best-validation "
        f"parameters ({_at(name)}): {'; '.join(parts)}. Every other model > MAML 2 layers "
        f"after 1 step: {claim.verdict_text()}{detail}.{second}", sources(keys),
        f"`{_command(name)}`, then `python -m theory.figures adaptation_cnn`",
        claim_verdict([claim], name))
    f9 = figure_row("F9", "adaptation curves on CNNs: test accuracy after k inner steps, "
                    "MAML at 2 and 4 layers, MAML w/ LinNet and KFO at 2 layers", "— (the CNN "
                    "counterpart of the paper's failure-mode figure; Omniglot)",
                    "adaptation_cnn", _count(curves, curves, lambda c: c is not None),
                    "curves", c12)
    return {"C12": c12, "F9": f9, "C12a": _authors_adaptation_row(results_dir)}


def _authors_adaptation_row(results_dir, budget=vocabulary.AUTHORS):
    """Row C12a: C12's second statistic (mean test accuracy over the trained inner steps),
    applied unchanged to the curves of the authors' protocol, where every model adapts with
    the same inner lr; each other model is tested against 2-layer MAML."""
    found = cellmod.grouped(results_dir, "omniglot").get(budget, {})
    curves = {k: cellmod.curve(found.get(k)) for k in vocabulary.ADAPTATION_KEYS}
    parts, keys = _curve_parts(curves, "authors")
    base = vocabulary.ADAPTATION_KEYS[0]
    others = [k for k in vocabulary.ADAPTATION_KEYS if k != base]
    tests = [verdicts.trained_claim(curves, deep=k, base=base)[0] for k in others]

    def gap(k):
        a, b = (None if curves[x] is None else curves[x].get("trained") for x in (k, base))
        return (f" ({verdicts.difference(a, b).text()})"
                if cellmod.has_result(a) and cellmod.has_result(b) else "")

    said = "; ".join(f"{t.claim}: {t.verdict_text()}{gap(k)}" for k, t in zip(others, tests))
    lr = budgets.budget(budget)["default_lr"][0]
    return ClaimRow(
        "C12a", "C12 under the authors' protocol: with one inner lr shared by every model, "
        "MAML's 2-layer CNN adapts more slowly than MAML w/ LinNet, KFO or a 4-layer CNN; "
        "judged on each model's mean test accuracy over the inner steps of meta-training, "
        "C12's second statistic applied unchanged",
        "qualitative: shallow MAML cannot adapt fast; LinNet and meta-optimizers let it",
        f"Omniglot 5-way 5-shot test accuracy % after k inner steps from the best-validation "
        f"parameters (budget `{budget}`: the authors' network, inner lr {lr:g} for every "
        f"model): {'; '.join(parts)}. {said}.", sources(keys),
        f"`{run_command(budget)}`, then `python -m theory.figures adaptation_cnn`",
        claim_verdict(tests, budget))


def _training_row(results_dir):
    """Row F10: the validation curves of ``cells.validation_curves`` (Omniglot), under the
    authors' protocol and ours: how many early-stopped runs ended on a plateau and at the cap,
    how much they still gained over their last two validation rounds, and how far each cell's
    validation accuracy fell below its best round (``cells.stopping``)."""
    sides = (("authors", "the authors' protocol", {"budget": vocabulary.AUTHORS}),
             ("ours", "ours", {"exclude": (vocabulary.AUTHORS,)}))
    counts, states = [], []
    for side, who, which in sides:
        name, found = cellmod.validation_curves(results_dir, **which)
        s = cellmod.stopping(found)
        if not s["runs"]:
            continue
        where = f"training_curves:{side}.summary"
        counts.append(f"{who}: {s['runs']} run{'s' * (s['runs'] != 1)} of budget "
                      f"{render.budget_label(name)}, {s['plateau']} stopped on a plateau, "
                      f"{s['cap']} at the cap")
        gains = [f"{where}.late_gain_{k}" for k in ("median", "min", "max")]
        falls = [(k, f"{where}.largest_fall.{k[0]}_L{k[1]}") for k in s["largest_fall"]]
        states.append(
            f"{who}: gain over each run's last two validation rounds, in points, median "
            f"`{s['late_gain_median']:.2f}`, from `{s['late_gain_min']:.2f}` to "
            f"`{s['late_gain_max']:.2f}`; largest fall of a seed below its best round so far, "
            "in points: " + ", ".join(f"{vocabulary.LABEL[k[0]]} {k[1]} layers "
                                      f"`{s['largest_fall'][k]:.3g}`" for k, _ in falls)
            + f" ({sources(gains + [key for _, key in falls])})")
    count = "; ".join(counts) or "no early-stopped run yet"
    state = "; ".join(states) or f"not run: `{_command(None)}`"
    return {"F10": FigureRow(
        "F10", "validation accuracy vs meta-iteration of every early-stopped CNN run, best round "
        "and stop marked, under the authors' protocol and ours", "— (our check that the table "
        "runs converged, and how steadily; Omniglot)",
        f"`figures/training_curves.png` ({count})", "`python -m theory.figures training_curves`",
        state)}


def _alpha_rows(results_dir):
    """Rows C15 and F11: the alpha sweep on CNNs (``theory.paper.alpha``, budget ``authors``)."""
    alphas = budgets.budget(alpha.BUDGET)["alpha"]["inner_lr"]
    found = alpha.sweep(results_dir)
    claim = alpha.claim(found, alphas)
    parts, keys = [], []
    for key in alpha.MODELS:
        label, where = f"{vocabulary.LABEL[key[0]]} {key[1]} layers", f"{key[0]}_L{key[1]}"
        points = found.get(key, {})
        if not points:
            parts.append(f"{label} not run")
            continue
        parts.append(f"{label} " + ", ".join(
            f"alpha={a:g} `{p['accuracy']:.1f}`" + (" (diverged)" if p.get("diverged") else "")
            for a, p in points.items()))
        keys += [f"alpha_cnn:ours.{where}.{i}.accuracy" for i in range(len(points))]
    c15 = ClaimRow(
        "C15", "On CNNs, shallow MAML's accuracy depends on the inner lr alpha, while MAML w/ "
        "LinNet, KFO and a 4-layer CNN depend on it much less (R1's mechanism on real images; "
        "registered statistic: each model's spread over alpha, results/README.md)",
        "qualitative: R1, the shallow floor is set by alpha",
        f"Omniglot 5-way 5-shot test accuracy % at inner lr alpha, the authors' network and "
        f"protocol, one seed, cap {budgets.budget(alpha.BUDGET)['alpha']['iterations']:,} "
        f"iterations: {'; '.join(parts)}. Shallow MAML's spread exceeds the others': "
        f"{claim.verdict_text()}" + (f" ({claim.detail})" if claim.detail else "") + ".",
        sources(keys), f"`{run_command(alpha.BUDGET)} --only alpha`, then `python -m "
        "theory.figures alpha_cnn`", claim.verdict if claim.verdict != verdicts.NOT_RUN
        else f"not run: `{run_command(alpha.BUDGET)} --only alpha`")
    f11 = FigureRow("F11", "the alpha sweep on CNNs: final test accuracy vs the inner lr alpha, "
                    "MAML at 2 and 4 layers, MAML w/ LinNet and KFO at 2 layers (the authors' "
                    "network)", "— (the CNN counterpart of the 1D alpha sweep, F3)",
                    f"`figures/alpha_cnn.png` ({sum(len(v) for v in found.values())} of "
                    f"{len(alpha.MODELS) * len(alphas)} runs)",
                    "`python -m theory.figures alpha_cnn`", f"{c15.verdict.split(':')[0]} (C15)")
    return {"C15": c15, "F11": f11}


def repro_rows(results_dir="results"):
    """``{row id: row}`` (``CellRow``, ``ClaimRow``, ``FigureRow``) of every table cell, of
    claims C7, C8, C12, C15 and of figures F5, F6, F9, F10, F11."""
    rows = {}
    for dataset in vocabulary.PAPER_DATASETS:
        groups = cellmod.grouped(results_dir, dataset)
        label = vocabulary.DATASET_LABEL[dataset]
        for (d, method, n), quoted in numbers.TABLE1.items():
            if d == dataset:
                row_id = f"T1/{d}/{method}/{n}"
                rows[row_id] = _cell_row(row_id, f"{label}, {vocabulary.LABEL[method]}, "
                                         f"{n} layers", d, (method, n), groups, quoted, "C7",
                                         results_dir)
        for (d, method), quoted in numbers.TABLE2.items():
            if d == dataset:
                row_id = f"T2/{d}/{method}"
                rows[row_id] = _cell_row(row_id, f"{label}, 2-layer CNN, "
                                         f"{vocabulary.LABEL[method]}", d, (method, 2), groups,
                                         quoted, "C8", results_dir)
        if dataset == "omniglot":
            rows.update(_claim_rows(groups))
    rows.update(_adaptation_rows(results_dir))
    rows.update(_training_row(results_dir))
    rows.update(_alpha_rows(results_dir))
    return rows


def update(repro="paper_repro.md", readme="README.md", results_dir="results", *, write=True):
    """Rewrite the generated rows of ``repro``, the tables block of ``readme`` and its
    checkpoints block (if it has one) in place (atomically); returns the paths that changed
    (with ``write=False``: that would change, and nothing is written). A path of ``None`` is
    left out."""
    changed = []

    side = protocols.render(protocols.compare(results_dir))

    def both(text):         # the claims under both protocols, where a file has the block
        return rewrite_block(text, side, *PROTOCOLS) if PROTOCOLS[0] in text else text

    def blocks(text):
        text = rewrite_block(text, render.render(results_dir, level=3), BEGIN, END)
        if CHECKPOINTS[0] in text:
            text = rewrite_block(text, render.render_checkpoints(results_dir), *CHECKPOINTS)
        return both(text)

    new = [(repro, lambda t: both(rewrite_rows(t, repro_rows(results_dir)))),
           (readme, blocks)]
    for path, edit in new:
        if path is None:
            continue
        with open(path) as handle:
            old = handle.read()
        text = edit(old)
        if text != old:
            if write:
                with _io.atomic_open(path, "w") as handle:
                    handle.write(text)
            changed.append(path)
    return changed
