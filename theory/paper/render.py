"""Markdown of the paper's tables: paper beside ours per cell, and the ordering verdicts.

Our cells come from ``theory.paper.cells.cells``, the paper's from ``theory.paper.numbers``;
a cell's text says what its ± is over (seeds or one seed's test episodes) and a verdict that
rests on single-seed cells says so (``theory.paper.verdicts``). A dataset whose data is not on
this machine (CIFAR-FS, mini-ImageNet) shows the paper's numbers beside "not run: the data is
not on this machine" and the command that fills its cells.
"""

from theory.engine.data import cifarfs, miniimagenet
from theory.paper import cells as cellmod
from theory.paper import numbers, verdicts
from theory.paper import plan as planning

ABSENT = "not run: the data is not on this machine"
DATA_LAYOUT = {"cifarfs": f"the folder holding {cifarfs.EXPECTED}",
               "mini-imagenet": f"the folder holding {miniimagenet.EXPECTED}"}
INTERVALS = ("± is a 95 % interval: over seeds (Student's t) where n ≥ 2; where n = 1, over "
             "that one seed's test episodes only, which leaves out the seed-to-seed variance. A verdict's "
             "detail is the difference of means in points with its 95 % interval (Welch's, "
             "over seeds) and, within noise, how many seeds per cell would settle it.")


def fill_command(dataset, budget_name="cpu"):
    """The sweep command that fills ``dataset``'s cells (``PATH``: ``DATA_LAYOUT``)."""
    data = f" --data {dataset}=PATH" if dataset in planning.NEEDS_PATH else ""
    return f"python -m theory.paper run --budget {budget_name} --datasets {dataset}{data}"


def ours_text(cell, dataset=None):
    """A cell as text: mean ± 95% half-width (seeds and what ± is over, failures), or why
    there is none."""
    if cell is None:
        return ABSENT if dataset in planning.NEEDS_PATH else "not run"
    failed = f", {cell['failed']} failed" if cell.get("failed") else ""
    if "accuracy" not in cell:
        return f"failed ({cell['failed']} seeds)"
    half = "?" if cell["ci95"] is None else f"{cell['ci95']:.1f}"
    over = "t over seeds" if cell["seeds"] > 1 else "test episodes only"
    return f"{cell['accuracy']:.1f} ± {half} (n={cell['seeds']}, {over}{failed})"


def paper_text(dataset, method, layers=2, table="table-b"):
    """The paper's value in % as it prints it ("—" when the paper has no such cell)."""
    if table == "table-a":
        key, value = (dataset, method, layers), numbers.table1(dataset, method, layers)
    else:
        key, value = (dataset, method), numbers.table2(dataset, method)
    return "—" if value is None else numbers.PRINTED[key]


def _tables(found, dataset, mark):
    lines = [f"{mark} {dataset}: MAML vs MAML w/ LinNet (5-way 5-shot, accuracy %)\n",
             "| method | " + " | ".join(f"{n} layers: paper | ours"
                                       for n in planning.TABLE_A_LAYERS) + " |",
             "|---|" + "---|---|" * len(planning.TABLE_A_LAYERS)]
    for m in planning.TABLE_A_METHODS:
        lines.append(f"| {numbers.LABEL[m]} | " + " | ".join(
            f"{paper_text(dataset, m, n, 'table-a')} | {ours_text(found.get((m, n)), dataset)}"
            for n in planning.TABLE_A_LAYERS) + " |")
    lines += [f"\n{mark} {dataset}: meta-optimizers on 2 layers (5-way 5-shot, accuracy %)\n",
              "| method | paper | ours |", "|---|---|---|"]
    for m in planning.TABLE_B_METHODS:
        lines.append(f"| {numbers.LABEL[m]} | {paper_text(dataset, m)} | "
                     f"{ours_text(found.get((m, 2)), dataset)} |")
    return lines


def render(results_dir, datasets=planning.DATASETS, budget_name=None, level=2):
    """Markdown of both tables and the claim verdicts for every dataset; the header states
    ``budget_name``'s preset if given, and each dataset the budgets found in its records;
    ``level``: the heading level of the sections."""
    lines, mark = [], "#" * level
    if budget_name is not None:
        b = planning.budget(budget_name)
        lines.append(f"Budget `{budget_name}`: hidden {b['hidden']}, {b['iterations']} "
                     f"meta-iterations, {b['test_episodes']} test episodes, "
                     f"{b['seeds']} seeds (2 layers), {b['deep_seeds']} (deeper). {INTERVALS}\n")
    for dataset in datasets:
        found = cellmod.cells(results_dir, dataset)
        if seen := cellmod.budgets(found):
            lines.append(f"Records of {dataset}: " + "; ".join(
                f"budget {b}, hidden {h}, {it} meta-iterations, {ep} test episodes"
                for b, h, it, ep in seen) + ".\n")
        lines += _tables(found, dataset, mark)
        if not found:
            if dataset in planning.NEEDS_PATH:
                lines.append(f"\nEvery cell of {numbers.DATASET_LABEL[dataset]}: "
                             f"`{fill_command(dataset)}` then `python -m theory.paper repro`, "
                             f"with PATH {DATA_LAYOUT[dataset]}.")
            lines.append("")
            continue
        lines += [f"\n{mark} {dataset}: ordering claims\n",
                  "| claim | verdict | detail |", "|---|---|---|"]
        for claim in verdicts.claims(found):
            lines.append(f"| {claim.claim} | {claim.verdict_text()} | {claim.detail} |")
        lines.append("")
    return "\n".join(lines)
