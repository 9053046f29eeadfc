"""Markdown summary of the sweep's records: paper vs ours per table cell, and the ordering claims.

Cells are aggregated over seeds by ``theory.figures.results.summarise`` (Student's t 95 % CI
over seed means; one seed: the run's own CI over test episodes), so the summary and the figures
agree. Paper values come from ``theory.figures.paper`` (Omniglot only; other cells "—").

Ordering verdict of a claim "A > B" from two cells with means ``a``, ``b`` and half-widths
``ha``, ``hb``: with ``d = a - b`` and ``h = sqrt(ha^2 + hb^2)``, ``d > h`` is "held",
``|d| <= h`` is "within noise" (not contradicted) and ``d < -h`` is "did not hold"; a
missing cell gives "not run". "LinNet's gain shrinks with depth and closes" is the worse of two
verdicts: the gap (LinNet - MAML) at 2 layers > the gap at the deepest depth run (half-width:
all four combined), and the deepest gap is within its half-width of 0 (else "did not hold":
LinNet clearly better or clearly worse there does not close the gap); "every
meta-optimizer > MAML" is the worst of its four verdicts; "KFO best or near best" held if KFO
has the highest mean of the paper's five 2-layer methods, else it is KFO vs the best.
"""

import math
import os

from theory import _io
from theory.engine import sweep
from theory.figures import paper, results

HELD, NOISE, FAILED_CLAIM, NOT_RUN = "held", "within noise", "did not hold", "not run"
PAPER_METHOD = {"maml": "maml", "linnet": "maml+linnet", "metasgd": "metasgd", "mc": "mc",
                "tnet": "tnet", "kfo": "kfo"}
LABEL = {"maml": "MAML", "linnet": "MAML w/ LinNet", "metasgd": "Meta-SGD", "mc": "MC",
         "tnet": "T-Nets", "kfo": "KFO", "anil": "ANIL", "anil-kfo": "ANIL+KFO"}
META_OPTIMIZERS = ("metasgd", "mc", "tnet", "kfo")


def load_cells(results_dir, dataset):
    """``{(method, layers): summary}`` of the 5-way 5-shot table records of ``dataset``, with
    failures counted: ``summary`` is ``results.summarise`` plus ``"failed"`` and the cell's
    engine ``"records"`` (or only ``{"failed": n}`` when every seed failed)."""
    runs, failed = {}, {}
    for table in ("table-a", "table-b"):
        folder = os.path.join(os.fspath(results_dir), table, dataset)
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
            if not name.endswith(".json"):
                continue
            path = os.path.join(folder, name)
            rec = _io.read_json(path)
            info = rec.get("sweep", {})
            key = (info.get("method"), rec["config"]["layers"])
            if rec.get("kind") == sweep.FAILED:
                failed[key] = failed.get(key, 0) + 1
            elif rec.get("kind") == "engine-run":
                runs.setdefault(key, []).append(dict(rec, path=path))
    cells = {}
    for key in set(runs) | set(failed):
        summary = results.summarise(runs.get(key, [])) or {}
        cells[key] = dict(summary, failed=failed.get(key, 0))
        if key in runs:
            cells[key]["records"] = runs[key]
    return cells


def has_result(cell):
    """True when ``cell`` (a ``load_cells`` value or ``None``) has an accuracy."""
    return cell is not None and "accuracy" in cell


def compare(a, b):
    """Verdict of "a > b" for two cells (summaries with ``accuracy``/``ci95`` in %)."""
    if not (has_result(a) and has_result(b)):
        return NOT_RUN
    d = a["accuracy"] - b["accuracy"]
    h = math.hypot(_half(a), _half(b))
    return HELD if d > h else (NOISE if d >= -h else FAILED_CLAIM)


def _half(cell):
    """A cell's 95% half-width; an unknown one (a single test episode) bounds nothing."""
    return math.inf if cell["ci95"] is None else cell["ci95"]


def _closes(gap):
    """Verdict of "the gap is 0": held when 0 lies in its interval, else did not hold."""
    h = _half(gap)
    if math.isinf(h):
        return NOISE
    return HELD if abs(gap["accuracy"]) <= h else FAILED_CLAIM


def _worst(verdicts):
    for v in (FAILED_CLAIM, NOT_RUN, NOISE):
        if v in verdicts:
            return v
    return HELD


def claims(cells):
    """``[(claim, verdict, detail)]`` for the paper's four ordering claims on ``cells``."""
    get = cells.get
    out = [("MAML w/ LinNet > MAML at 2 layers",
            compare(get(("linnet", 2)), get(("maml", 2))), "")]
    deep = [n for n in (6, 4, 3)
            if has_result(get(("linnet", n))) and has_result(get(("maml", n)))]
    gap = None
    if has_result(get(("linnet", 2))) and has_result(get(("maml", 2))) and deep:
        def diff(n):
            la, ma = get(("linnet", n)), get(("maml", n))
            return {"accuracy": la["accuracy"] - ma["accuracy"],
                    "ci95": math.hypot(_half(la), _half(ma))}
        gap = _worst([compare(diff(2), diff(deep[0])), _closes(diff(deep[0]))])
    out.append(("LinNet's gain shrinks with depth and closes (gap at 2 layers > gap at the "
                "deepest run, which is within noise of 0)",
                gap or NOT_RUN, f"deepest: {deep[0]} layers" if deep else ""))
    each = {m: compare(get((m, 2)), get(("maml", 2))) for m in META_OPTIMIZERS}
    out.append(("every meta-optimizer > MAML at 2 layers", _worst(list(each.values())),
                ", ".join(f"{LABEL[m]}: {v}" for m, v in each.items())))
    kfo = get(("kfo", 2))
    others = [get((m, 2)) for m in ("maml", "metasgd", "mc", "tnet")
              if has_result(get((m, 2)))]
    if not has_result(kfo) or not others:
        verdict = NOT_RUN
    else:
        best = max(others, key=lambda c: c["accuracy"])
        # the highest mean is "best"; below the best but within noise is "near best"
        verdict = HELD if kfo["accuracy"] >= best["accuracy"] else compare(kfo, best)
    out.append(("KFO best or near best of the paper's 2-layer methods", verdict, ""))
    return out


def ours_text(cell):
    """A cell as text: mean ± 95% half-width (seeds, failures), or why there is none."""
    if cell is None:
        return "not run"
    failed = f", {cell['failed']} failed" if cell.get("failed") else ""
    if "accuracy" not in cell:
        return f"failed ({cell['failed']} seeds)"
    half = "?" if cell["ci95"] is None else f"{cell['ci95']:.1f}"
    return f"{cell['accuracy']:.1f} ± {half} (n={cell['seeds']}{failed})"


def _paper(dataset, method, layers=2, table="table-b"):
    """The paper's value in % as text ("—" when not quoted or not in the paper's tables)."""
    if dataset not in paper.DATASETS or method not in PAPER_METHOD:
        return "—"
    if table == "table-a":
        value = paper.table1(dataset, PAPER_METHOD[method], layers)
    elif PAPER_METHOD[method] in paper.TABLE2_METHODS:
        value = paper.table2(dataset, PAPER_METHOD[method])
    else:
        value = None
    return "—" if value is None else f"{value:g}"


def budgets(cells):
    """The distinct ``(budget, hidden, iterations, test episodes)`` of the records of
    ``cells`` (``load_cells``)."""
    found = {(rec.get("sweep", {}).get("budget"), rec["config"].get("hidden"),
              rec["config"].get("iterations"), rec["test"].get("episodes"))
             for cell in cells.values() for rec in cell.get("records", ())}
    return sorted(found, key=str)


def render(results_dir, datasets=sweep.DATASETS, budget_name=None, level=2):
    """Markdown of both tables and the claim verdicts for every dataset; the header states
    ``budget_name``'s preset if given, and each dataset the budgets found in its records;
    ``level``: the heading level of the sections."""
    lines, mark = [], "#" * level
    if budget_name is not None:
        b = sweep.budget(budget_name)
        lines.append(f"Budget `{budget_name}`: hidden {b['hidden']}, {b['iterations']} "
                     f"meta-iterations, {b['test_episodes']} test episodes, "
                     f"{b['seeds']} seeds (2 layers), {b['deep_seeds']} (deeper).\n")
    for dataset in datasets:
        cells = load_cells(results_dir, dataset)
        found = budgets(cells)
        if found:
            lines.append(f"Records of {dataset}: " + "; ".join(
                f"budget {b}, hidden {h}, {it} meta-iterations, {ep} test episodes"
                for b, h, it, ep in found) + ".\n")
        lines.append(f"{mark} {dataset}: MAML vs MAML w/ LinNet (5-way 5-shot, accuracy %)\n")
        lines.append("| method | " + " | ".join(f"{n} layers: paper | ours"
                                                 for n in sweep.TABLE_A_LAYERS) + " |")
        lines.append("|---|" + "---|---|" * len(sweep.TABLE_A_LAYERS))
        for m in sweep.TABLE_A_METHODS:
            lines.append(f"| {LABEL[m]} | " + " | ".join(
                f"{_paper(dataset, m, n, 'table-a')} | {ours_text(cells.get((m, n)))}"
                for n in sweep.TABLE_A_LAYERS) + " |")
        lines.append(f"\n{mark} {dataset}: meta-optimizers on 2 layers "
                     "(5-way 5-shot, accuracy %)\n")
        lines.append("| method | paper | ours |\n|---|---|---|")
        for m in sweep.TABLE_B_METHODS:
            lines.append(f"| {LABEL[m]} | {_paper(dataset, m)} | "
                         f"{ours_text(cells.get((m, 2)))} |")
        lines.append(f"\n{mark} {dataset}: ordering claims\n")
        lines.append("| claim | verdict | detail |\n|---|---|---|")
        for claim, verdict, detail in claims(cells):
            lines.append(f"| {claim} | {verdict} | {detail} |")
        lines.append("")
    return "\n".join(lines)
