"""Write the sweep's records into ``paper_repro.md`` and the README's results block.

``paper_repro.md`` has one row per cell of the paper's Tables 1 and 2, all 39 (ids
``T1/<dataset>/<method>/<layers>``, ``T2/<dataset>/<method>``), and one per CNN claim (``C7``:
LinNet vs depth, ``C8``: meta-optimizers) and table figure (``F5``, ``F6``). ``repro_rows``
builds those rows from ``results/`` (``cells.cells``, the figures' reader too); ``update``
puts them in place of the rows with the same id and leaves every other line alone. The
README's results block (between ``BEGIN``/``END`` markers) is ``render.render`` of every
dataset. ``tests/test_paper_repro.py`` checks that the committed files equal what ``update``
writes from the committed results, so the prose cannot drift from the JSON.

The numbers of a C row are backticked and name their source (``figure:json key``) in the
``results/figures/`` JSON of figures 5 and 6, which ``python -m theory.figures`` rebuilds from the
same cells.
"""

from theory import _io
from theory.paper import cells as cellmod
from theory.paper import numbers, render, verdicts
from theory.paper import plan as planning

BEGIN = "<!-- tables: python -m theory.paper repro -->"
END = "<!-- end of tables -->"
RUN = "python -m theory.paper run --budget cpu --checkpoints"


def _budget(cell):
    """The budget text of a cell from its records (every seed shares one config)."""
    recs = cell["records"]
    cfg, info = recs[0]["config"], recs[0].get("sweep", {})
    walls = [r["wall_time_s"] for r in recs if "wall_time_s" in r]
    wall = f", {sum(walls) / len(walls) / 60:.1f} min training per seed" if walls else ""
    return (f"`{info.get('budget')}`: hidden {cfg['hidden']}, {cfg['iterations']} "
            f"meta-iterations, inner lr {cfg['inner_lr']:g}, meta lr {cfg['meta_lr']:g} "
            f"({info.get('lr_source', '?')}), {recs[0]['test']['episodes']} test episodes per "
            f"seed{wall}")


def _cell_row(row_id, setting, dataset, method, layers, cell, quoted, claim):
    printed = render.paper_text(dataset, method, layers,
                                "table-b" if row_id.startswith("T2/") else "table-a")
    if not cellmod.has_result(cell):
        if dataset in planning.NEEDS_PATH:
            command = render.fill_command(dataset)
            why = (f"{render.ABSENT}; with PATH {render.DATA_LAYOUT[dataset]}, `{command}` "
                   "then `python -m theory.paper repro` fills it")
        else:
            command = RUN
            failed = f" ({cell['failed']} seed(s) failed)" if cell else ""
            why = f"not run: no record under `results/` yet{failed}; `{RUN}` runs it"
        return f"| {row_id} | {setting} | {printed} | not run | `{command}` | — | {why} |"
    table = "table-a" if method in planning.TABLE_A_METHODS else "table-b"
    files = f"results/{table}/{dataset}/{method}-L{layers}-s*.json"
    verdict = (f"measured: ours − paper = {cell['accuracy'] - quoted:+.1f} points at a "
               f"budget far below the paper's, so only the ordering is judged ({claim})")
    return (f"| {row_id} | {setting} | {printed} | {render.ours_text(cell)} | `{RUN}` "
            f"(records: `{files}`) | {_budget(cell)} | {verdict} |")


def _claim_verdict(found):
    """The row verdict of claims ``found`` (``[verdicts.Claim]``)."""
    got = [c.verdict for c in found]
    single = sorted({k for c in found if c.verdict != verdicts.NOT_RUN
                     for k in c.single_seed})
    on_one = (" (resting on single-seed cells: " + ", ".join(
        f"{numbers.LABEL[m]} {n} layers" for m, n in single) + ")") if single else ""
    if all(v == verdicts.NOT_RUN for v in got):
        return "not run"
    if verdicts.FAILED_CLAIM in got:
        return f"not reproduced at the `cpu` budget{on_one}"
    if verdicts.NOT_RUN in got:
        return "incomplete: some cells not run yet"
    if all(v == verdicts.HELD for v in got):
        return f"reproduced at the `cpu` budget{on_one}"
    return f"not contradicted at the `cpu` budget (differences within noise){on_one}"


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


def _claim_rows(found):
    c2l, cgap, call, ckfo = verdicts.claims(found)
    parts, keys = _numbers(found, [((m, n), f"linnet_depth:ours.{m}.{i}.accuracy",
                                    f"{numbers.LABEL[m]} {n} layers")
                                   for i, n in enumerate(numbers.TABLE1_LAYERS)
                                   for m in numbers.TABLE1_METHODS])
    deepest = f" ({cgap.detail})" if cgap.detail else ""
    c7 = (f"| C7 | On CNNs, LinNet (extra collapsible linear layers) helps MAML most for "
          f"shallow networks; the gap closes with depth | Table 1, see T1 rows | Omniglot "
          f"test accuracy %: {', '.join(parts)}. LinNet > MAML at 2 layers: "
          f"{c2l.verdict_text()}{f' ({c2l.detail})' if c2l.detail else ''}; the gain shrinks with depth: {cgap.verdict_text()}{deepest} | "
          f"{', '.join(f'`{k}`' for k in keys) or '—'} | `{RUN}`, then "
          f"`python -m theory.figures linnet_depth` | {_claim_verdict([c2l, cgap])} |")
    parts, keys = _numbers(found, [((m, 2), f"meta_optimizers:ours.{m}.accuracy",
                                    numbers.LABEL[m]) for m in numbers.TABLE2_METHODS])
    c8 = (f"| C8 | Meta-optimizers help 2-layer CNNs, KFO best or near best | Table 2, see T2 "
          f"rows | Omniglot test accuracy %: {', '.join(parts)}. Every meta-optimizer > MAML: "
          f"{call.verdict_text()} ({call.detail}); KFO best or near best: "
          f"{ckfo.verdict_text()}{f' ({ckfo.detail})' if ckfo.detail else ''} | {', '.join(f'`{k}`' for k in keys) or '—'} | `{RUN}`, then "
          f"`python -m theory.figures meta_optimizers` | {_claim_verdict([call, ckfo])} |")
    return {"C7": c7, "C8": c8,
            "F5": _figure_row("F5", "LinNet vs CNN depth", "Table 1", "linnet_depth", found,
                              [(m, n) for m in numbers.TABLE1_METHODS
                               for n in numbers.TABLE1_LAYERS], ("C7", c7)),
            "F6": _figure_row("F6", "meta-optimizers on 2-layer CNNs", "Table 2",
                              "meta_optimizers", found,
                              [(m, 2) for m in numbers.TABLE2_METHODS], ("C8", c8))}


def _figure_row(row_id, title, table, name, found, keys, claim):
    """A figure's row: how many of its cells have runs, and its claim's verdict."""
    run = sum(1 for k in keys if cellmod.has_result(found.get(k)))
    claim_id, claim_row = claim
    verdict = claim_row.rsplit("|", 2)[-2].strip()     # the claim row's last cell
    return (f"| {row_id} | {title}, paper beside ours | {table} (Omniglot) | "
            f"`figures/{name}.png` ({run} of {len(keys)} of our cells run) | "
            f"`python -m theory.figures {name}` | {verdict} ({claim_id}) |")


def repro_rows(results_dir="results"):
    """``{row id: markdown row}`` of every table cell and of claims C7 and C8."""
    rows = {}
    for dataset in numbers.DATASETS:
        found = cellmod.cells(results_dir, dataset)
        label = numbers.DATASET_LABEL[dataset]
        for (d, method, n), quoted in numbers.TABLE1.items():
            if d == dataset:
                row_id = f"T1/{d}/{method}/{n}"
                rows[row_id] = _cell_row(row_id, f"{label}, {numbers.LABEL[method]}, "
                                         f"{n} layers", d, method, n, found.get((method, n)),
                                         quoted, "C7")
        for (d, method), quoted in numbers.TABLE2.items():
            if d == dataset:
                row_id = f"T2/{d}/{method}"
                rows[row_id] = _cell_row(row_id, f"{label}, 2-layer CNN, "
                                         f"{numbers.LABEL[method]}", d, method, 2,
                                         found.get((method, 2)), quoted, "C8")
        if dataset == "omniglot":
            rows.update(_claim_rows(found))
    return rows


def _row_id(line):
    return line.strip().strip("|").split("|")[0].strip() if line.startswith("|") else None


def rewrite_rows(text, rows):
    """``text`` with each row whose id is in ``rows`` replaced (``ValueError`` if an id of
    ``rows`` has no row in ``text``)."""
    lines, seen = [], set()
    for line in text.splitlines():
        row_id = _row_id(line)
        if row_id in rows:
            seen.add(row_id)
            line = rows[row_id]
        lines.append(line)
    if missing := sorted(set(rows) - seen):
        raise ValueError(f"no row for {missing}")
    return "\n".join(lines) + "\n"


def rewrite_block(text, block):
    """``text`` with the part between the ``BEGIN`` and ``END`` lines replaced by ``block``."""
    if BEGIN not in text or END not in text:
        raise ValueError(f"no {BEGIN!r} ... {END!r} block")
    head, rest = text.split(BEGIN, 1)
    return f"{head}{BEGIN}\n{block.strip()}\n\n{END}{rest.split(END, 1)[1]}"


def update(repro="paper_repro.md", readme="README.md", results_dir="results"):
    """Rewrite the generated rows of ``repro`` and the tables block of ``readme`` in place
    (atomically); returns the paths that changed."""
    changed = []
    new = {repro: lambda t: rewrite_rows(t, repro_rows(results_dir)),
           readme: lambda t: rewrite_block(t, render.render(results_dir, budget_name="cpu",
                                                            level=3))}
    for path, edit in new.items():
        with open(path) as handle:
            old = handle.read()
        text = edit(old)
        if text != old:
            with _io.atomic_open(path, "w") as handle:
                handle.write(text)
            changed.append(path)
    return changed
