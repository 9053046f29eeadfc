"""The rows of ``paper_repro.md`` and the markdown they are written into.

A row is a named tuple with one field per column of its table (``CellRow`` of Tables 1 and 2,
``ClaimRow`` of a claim, ``FigureRow`` of a figure); ``markdown`` writes one as a line.
``rewrite_rows`` puts rows in place of the lines with the same id and ``rewrite_block``
replaces what stands between two marker lines, leaving every other line alone. What goes
into the rows is ``theory.paper.repro``'s concern.
"""

import collections

from theory.paper import render, verdicts, vocabulary

# The rows of paper_repro.md's three tables, one field per column (``markdown`` writes one)
CellRow = collections.namedtuple("CellRow", "id setting paper ours command budget verdict")
ClaimRow = collections.namedtuple("ClaimRow", "id claim paper ours source command verdict")
FigureRow = collections.namedtuple("FigureRow", "id figure paper ours command verdict")


def markdown(row):
    """The markdown line of ``row`` (any of the row types)."""
    return "| " + " | ".join(row) + " |"


def run_command(budget_name):
    """The sweep command of ``budget_name`` (the one that fills the cells of this machine)."""
    return f"python -m theory.paper run --budget {budget_name}"


def claim_verdict(found, name):
    """The row verdict of claims ``found`` (``[verdicts.Claim]``) on cells of budget
    ``name``."""
    got = [c.verdict for c in found]
    single = sorted({k for c in found if c.verdict != verdicts.NOT_RUN
                     for k in c.single_seed})
    on_one = (" (resting on single-seed cells: " + ", ".join(
        f"{vocabulary.LABEL[m]} {n} layers" for m, n in single) + ")") if single else ""
    if all(v == verdicts.NOT_RUN for v in got):
        return "not run"
    if verdicts.FAILED_CLAIM in got:
        return f"not reproduced at the {render.budget_label(name)} budget{on_one}"
    if verdicts.NOT_RUN in got:
        return "incomplete: some cells not run yet"
    if all(v == verdicts.HELD for v in got):
        return f"reproduced at the {render.budget_label(name)} budget{on_one}"
    return (f"not contradicted at the {render.budget_label(name)} budget (differences within "
            f"noise){on_one}")


def sources(keys):
    return ", ".join(f"`{k}`" for k in keys) or "—"


def figure_row(row_id, title, paper, name, count, what, claim):
    """A figure's row: how many of its ``count`` ``(run, total)`` cells or curves have runs,
    and the verdict of its ``claim`` (a ``ClaimRow``)."""
    return FigureRow(row_id, title, paper, f"`figures/{name}.png` ({count[0]} of {count[1]} "
                     f"{what})", f"`python -m theory.figures {name}`",
                     f"{claim.verdict} ({claim.id})")


def row_id(line):
    """The id in the first cell of markdown row ``line`` (``None`` if it is no row)."""
    return line.strip().strip("|").split("|")[0].strip() if line.startswith("|") else None


def rewrite_rows(text, rows):
    """``text`` with each markdown row whose id is in ``rows`` replaced by that row's
    ``markdown`` (``ValueError`` if an id of ``rows`` has no row in ``text``)."""
    lines, seen = [], set()
    for line in text.splitlines():
        rid = row_id(line)
        if rid in rows:
            seen.add(rid)
            line = markdown(rows[rid])
        lines.append(line)
    if missing := sorted(set(rows) - seen):
        raise ValueError(f"no row for {missing}")
    return "\n".join(lines) + "\n"


def rewrite_block(text, block, begin, end):
    """``text`` with the part between the ``begin`` and ``end`` lines replaced by ``block``."""
    if begin not in text or end not in text:
        raise ValueError(f"no {begin!r} ... {end!r} block")
    head, rest = text.split(begin, 1)
    return f"{head}{begin}\n{block.strip()}\n\n{end}{rest.split(end, 1)[1]}"
