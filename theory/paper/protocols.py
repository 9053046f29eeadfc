"""The paper's CNN claims judged under two protocols side by side: the authors' and ours.

Each ordering claim of ``verdicts.claims`` (and the alpha sweep's, ``theory.paper.alpha``) is
judged on the cells of one budget at a time, never mixed (``cells.grouped``):

- ``authors``: the paper authors' Omniglot network (stride-2 convs, the mean of the final map,
  their initialisation) at width 32, one inner lr (0.1) for every method and depth, Adam at a
  constant meta lr, plateau stopping at a 2,000-iteration cap;
- ``converged``: this project's network (2x2 max-pools, the final map flattened into the
  head) at width 16, the inner and meta lr searched per method and depth, an 800-iteration
  cosine schedule, tested on the best validation round.

``compare`` pairs the two verdicts of each claim with one sentence on what their difference
means, chosen by a fixed rule (``meaning``) so that the text follows the records whichever way
they go.
"""

import dataclasses

from theory.paper import alpha, budgets, cells, verdicts, vocabulary

__all__ = ["PROTOCOLS", "BASE", "Row", "meaning", "compare", "render"]

BASE = ("maml", 2)

PROTOCOLS = {
    "authors": "the authors' network (stride-2 convs, mean readout, width 32), one inner lr "
               "0.1 for all, constant meta lr, plateau stopping (cap 2,000)",
    "converged": "our network (max-pools, flattened readout, width 16), inner lr searched per "
                 "method and depth, an 800-iteration cosine schedule",
}


@dataclasses.dataclass(frozen=True)
class Row:
    """One claim under both protocols: its text, a ``verdicts.Claim`` per budget, the sentence."""

    claim: str
    judged: dict
    meaning: str


def meaning(authors, ours, details=("", "")):
    """What the pair of verdicts (authors' protocol, ours) says, by a fixed rule; ``details``
    (the two claims' differences with their intervals, where known) are quoted where the
    verdicts alone would hide how far apart the protocols are."""
    held, run = verdicts.HELD, verdicts.NOT_RUN
    if authors == run:
        return ("Not yet run under the authors' protocol: `python -m theory.paper run "
                "--budget authors`.")
    if ours == run:
        return "Only the authors' protocol has judged it."
    if authors == ours:
        text = f"Both protocols agree ({authors})."
    elif authors == held:
        text = ("It holds on the authors' network and protocol but not on ours: what it "
                "remedies is a property of their setting (the mean readout, one shared inner "
                "lr), not of MAML on every CNN.")
    elif ours == held:
        text = ("It holds on our network but not on the authors': the paper's own setting "
                "does not reproduce it here.")
    else:
        text = (f"Neither protocol supports it ({authors} under theirs, {ours} under ours); "
                "the two differ only in how clearly.")
    if all(details):
        text += f" Under theirs: {details[0]}. Under ours: {details[1]}."
    return text


def _meaning(pair):
    """``meaning`` of a ``{budget: Claim}`` pair, with the claims' details."""
    a, o = pair["authors"], pair["converged"]
    return meaning(a.verdict, o.verdict, (a.detail, o.detail))


def compare(results_dir, dataset="omniglot"):
    """``[Row]``: the four ordering claims of ``verdicts.claims``, the adaptation curves'
    registered statistic (mean accuracy over the trained inner steps, each model of
    ``vocabulary.ADAPTATION_KEYS`` against 2-layer MAML: ``verdicts.trained_claim``) and the
    alpha sweep's claim, each judged on the cells of each budget of ``PROTOCOLS``."""
    groups = cells.grouped(results_dir, dataset)
    judged = {name: verdicts.claims(groups.get(name, {})) for name in PROTOCOLS}
    rows = []
    for i, claim in enumerate(judged["authors"]):
        pair = {name: judged[name][i] for name in PROTOCOLS}
        rows.append(Row(claim.claim, pair, _meaning(pair)))
    curves = {name: {k: cells.curve(groups.get(name, {}).get(k))
                     for k in vocabulary.ADAPTATION_KEYS} for name in PROTOCOLS}
    for deep in [k for k in vocabulary.ADAPTATION_KEYS if k != BASE]:
        pair = {name: verdicts.trained_claim(curves[name], deep=deep, base=BASE)[0]
                for name in PROTOCOLS}
        said = _meaning(pair)
        if deep != ("maml", 4):     # registered for depth only under ``converged``
            pair["converged"] = pair["converged"]._replace(
                verdict=pair["converged"].verdict + " (described, not a registered test)"
                if pair["converged"].verdict != verdicts.NOT_RUN else verdicts.NOT_RUN)
        rows.append(Row(f"adaptation: {pair['authors'].claim}", pair, said))
    alphas = budgets.budget(alpha.BUDGET)["alpha"]["inner_lr"]
    swept = alpha.claim(alpha.sweep(results_dir, dataset), alphas)
    rows.append(Row(swept.claim, {"authors": swept,
                                  "converged": verdicts.Claim(swept.claim, verdicts.NOT_RUN,
                                                              "", [])},
                    "The alpha sweep runs under the authors' protocol only (one seed per "
                    "point): it shows what the shared inner lr does to each model."
                    if swept.verdict != verdicts.NOT_RUN else
                    meaning(verdicts.NOT_RUN, verdicts.NOT_RUN)))
    return rows


def render(rows):
    """A markdown table: claim, verdict under each protocol, what the difference means."""
    lines = ["| claim | the authors' protocol | ours (`converged`) | what the difference means |",
             "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.claim} | {row.judged['authors'].verdict_text()} | "
                     f"{row.judged['converged'].verdict_text()} | {row.meaning} |")
    return "\n".join(lines)
