"""The paper's ordering claims on CNNs, judged on table cells (``theory.paper.cells``).

Ordering verdict of a claim "A > B" from two cells with means ``a``, ``b`` and half-widths
``ha``, ``hb``: with ``d = a - b`` and ``h = sqrt(ha^2 + hb^2)``, ``d > h`` is "held",
``|d| <= h`` is "within noise" (not contradicted) and ``d < -h`` is "did not hold"; a
missing cell gives "not run". "LinNet's gain shrinks with depth and closes" is the worse of two
verdicts: the gap (LinNet - MAML) at 2 layers > the gap at the deepest depth run (half-width:
all four combined), and the deepest gap is within its half-width of 0 (else "did not hold":
LinNet clearly better or clearly worse there does not close the gap); "every
meta-optimizer > MAML" is the worst of its four verdicts; "KFO best or near best" held if KFO
has the highest mean of the paper's five 2-layer methods, else it is KFO vs the best.

A cell of one seed carries only its test-episode interval, which ignores the seed-to-seed
variance (several times larger at 2 layers in our records): each claim lists the single-seed
cells it rests on, and the rendered verdict says so.
"""

import collections
import math

from theory.paper import numbers
from theory.paper.cells import has_result

HELD, NOISE, FAILED_CLAIM, NOT_RUN = "held", "within noise", "did not hold", "not run"
META_OPTIMIZERS = ("metasgd", "mc", "tnet", "kfo")


class Claim(collections.namedtuple("Claim", "claim verdict detail single_seed")):
    """One ordering claim: its text, verdict, detail and the single-seed cells it rests on
    (``[(method, layers)]``)."""

    __slots__ = ()

    def verdict_text(self):
        """The verdict, with the single-seed cells it rests on when there are any."""
        if not self.single_seed or self.verdict == NOT_RUN:
            return self.verdict
        where = ", ".join(f"{numbers.LABEL[m]} {n} layers" for m, n in self.single_seed)
        return f"{self.verdict} (rests on a single seed: {where})"


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


def _single(found, keys):
    return [k for k in keys if has_result(found.get(k)) and found[k]["seeds"] == 1]


def claims(found):
    """``[Claim]`` for the paper's four ordering claims on the cells ``found``
    (``{(method, layers): cell}``)."""
    get = found.get
    out = [Claim("MAML w/ LinNet > MAML at 2 layers",
                 compare(get(("linnet", 2)), get(("maml", 2))), "",
                 _single(found, [("linnet", 2), ("maml", 2)]))]
    deep = [n for n in (6, 4, 3)
            if has_result(get(("linnet", n))) and has_result(get(("maml", n)))]
    gap, used = None, []
    if has_result(get(("linnet", 2))) and has_result(get(("maml", 2))) and deep:
        def diff(n):
            la, ma = get(("linnet", n)), get(("maml", n))
            return {"accuracy": la["accuracy"] - ma["accuracy"],
                    "ci95": math.hypot(_half(la), _half(ma))}
        gap = _worst([compare(diff(2), diff(deep[0])), _closes(diff(deep[0]))])
        used = _single(found, [(m, n) for n in (2, deep[0]) for m in ("maml", "linnet")])
    out.append(Claim("LinNet's gain shrinks with depth and closes (gap at 2 layers > gap at "
                     "the deepest run, which is within noise of 0)",
                     gap or NOT_RUN, f"deepest: {deep[0]} layers" if deep else "", used))
    each = {m: compare(get((m, 2)), get(("maml", 2))) for m in META_OPTIMIZERS}
    out.append(Claim("every meta-optimizer > MAML at 2 layers", _worst(list(each.values())),
                     ", ".join(f"{numbers.LABEL[m]}: {v}" for m, v in each.items()),
                     _single(found, [(m, 2) for m in ("maml",) + META_OPTIMIZERS])))
    kfo = get(("kfo", 2))
    others = [get((m, 2)) for m in ("maml", "metasgd", "mc", "tnet")
              if has_result(get((m, 2)))]
    if not has_result(kfo) or not others:
        verdict = NOT_RUN
    else:
        best = max(others, key=lambda c: c["accuracy"])
        # the highest mean is "best"; below the best but within noise is "near best"
        verdict = HELD if kfo["accuracy"] >= best["accuracy"] else compare(kfo, best)
    out.append(Claim("KFO best or near best of the paper's 2-layer methods", verdict, "",
                     _single(found, [(m, 2) for m in ("maml",) + META_OPTIMIZERS])))
    return out
