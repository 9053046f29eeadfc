"""The paper's ordering claims on CNNs, judged on table cells (``theory.paper.cells``).

Each claim is a difference of cell means with a 95 % interval (``Difference``). A cell of
``n >= 2`` seeds is an estimate of its mean with variance ``s^2 / n`` on ``n - 1`` degrees of
freedom, recovered from its Student-t half-width (``cells.summarise``); a cell of one seed
has only its test-episode interval, taken as normal (infinite degrees of freedom). A sum of
independent cell means has the sum of their variances and Welch-Satterthwaite's degrees of
freedom, so two cells of several seeds give Welch's interval. Verdict of "A > B" with
difference ``d`` and half-width ``h``: ``d > h`` is "held", ``|d| <= h`` "within noise" (not
contradicted) and ``d < -h`` "did not hold"; a missing cell gives "not run". Within noise, the
detail says how many seeds per cell would settle it: the fewest ``n`` at which Welch's interval
of the same difference would exclude 0 (assumption: the difference and each cell's spread over
seeds stay as measured).

"LinNet's gain shrinks with depth and closes" is the worse of two verdicts: the gap (LinNet -
MAML) at 2 layers > the gap at the deepest depth run (four cells combined), and the deepest
gap is within its interval of 0 (else "did not hold": LinNet clearly better or clearly worse
there does not close the gap); "every meta-optimizer > MAML" is the worst of its four
verdicts; "KFO best or near best" held if KFO has the highest mean of the paper's five
2-layer methods, else it is KFO vs the best.

The adaptation claim (``adaptation_claim``, claim C12 of ``paper_repro.md``) is judged the same
way on the adaptation curves' accuracies after one inner step: "every other model > MAML at 2
layers" is the worst of its verdicts. Its second statistic (``trained_claim``) is each curve's
mean accuracy over the inner steps of meta-training (``cells.curve``'s ``"trained"``): "MAML 4
layers > MAML 2 layers" on it is a test; the other 2-layer models' differences on it are
description (results/README.md says which was fixed before which curve was measured).

A cell of one seed leaves out the seed-to-seed variance (several times larger at 2 layers in
our records): each claim lists the single-seed cells it rests on, and the rendered verdict
says so.
"""

import collections
import math

from scipy import stats

from theory.paper import vocabulary
from theory.paper.cells import has_result

HELD, NOISE, FAILED_CLAIM, NOT_RUN = "held", "within noise", "did not hold", "not run"
MAX_SEEDS = 100     # "seeds needed" above this is reported as "more than"


class Claim(collections.namedtuple("Claim", "claim verdict detail single_seed")):
    """One ordering claim: its text, verdict, detail (differences with their intervals) and
    the single-seed cells it rests on (``[(method, layers)]``)."""

    __slots__ = ()

    def verdict_text(self):
        """The verdict, with the single-seed cells it rests on when there are any."""
        if not self.single_seed or self.verdict == NOT_RUN:
            return self.verdict
        where = ", ".join(map(_label, self.single_seed))
        return f"{self.verdict} (rests on a single seed: {where})"


class Difference(collections.namedtuple("Difference", "mean var df spreads")):
    """A signed sum of independent cell means: ``mean``, its variance ``var``, Welch's degrees
    of freedom ``df`` (``inf``: normal) and each cell's per-seed standard deviation
    (``spreads``; ``None`` for a cell of one seed)."""

    __slots__ = ()

    @property
    def half(self):
        """The 95 % half-width (``inf`` when a cell's interval is unknown)."""
        if math.isinf(self.var):
            return math.inf
        return float(stats.t.ppf(0.975, self.df)) * math.sqrt(self.var)

    def verdict(self):
        """"held" if the interval lies above 0, "did not hold" below, else "within noise"."""
        h = self.half
        return HELD if self.mean > h else (NOISE if self.mean >= -h else FAILED_CLAIM)

    def seeds_needed(self):
        """The fewest seeds per cell (2..``MAX_SEEDS``) at which Welch's interval of this mean
        would exclude 0 if every cell kept its spread (a single-seed cell taking the others'
        root-mean-square spread); ``MAX_SEEDS + 1`` if none does, ``None`` if no cell has
        several seeds."""
        known = [s for s in self.spreads if s is not None]
        if not known:
            return None
        rms = math.sqrt(sum(s * s for s in known) / len(known))
        spreads = [rms if s is None else s for s in self.spreads]
        for n in range(2, MAX_SEEDS + 1):
            parts = [s * s / n for s in spreads]
            var = sum(parts)
            if var == 0:
                return n if self.mean != 0 else MAX_SEEDS + 1
            df = var ** 2 / sum(v * v / (n - 1) for v in parts)
            if stats.t.ppf(0.975, df) * math.sqrt(var) < abs(self.mean):
                return n
        return MAX_SEEDS + 1

    def text(self):
        """``"+3.1 ± 2.0"``: the difference in points with its 95 % half-width, and, within
        noise, the seeds per cell that would settle it."""
        half = "?" if math.isinf(self.half) else f"{self.half:.1f}"
        out = f"{self.mean:+.1f} ± {half}"
        if self.verdict() == NOISE:
            n = self.seeds_needed()
            out += ("; more seeds per cell would tell (no spread over seeds yet)" if n is None
                    else f"; about {n} seeds per cell would settle it" if n <= MAX_SEEDS
                    else f"; {MAX_SEEDS} seeds per cell would not settle it")
        return out


def estimate(cell):
    """A cell mean as a ``Difference`` of one term (see the module docstring)."""
    n, h = cell["seeds"], cell["ci95"]
    if h is None:
        return Difference(cell["accuracy"], math.inf, math.inf, (None,))
    if n >= 2:
        var = (h / stats.t.ppf(0.975, n - 1)) ** 2
        return Difference(cell["accuracy"], var, n - 1, (math.sqrt(var * n),))
    return Difference(cell["accuracy"], (h / stats.norm.ppf(0.975)) ** 2, math.inf, (None,))


def combine(*signed):
    """``sum(sign * term)`` of ``(sign, Difference)`` pairs of independent estimates."""
    var = sum(d.var for _, d in signed)
    if math.isinf(var):
        df = math.inf
    else:
        tail = sum(d.var ** 2 / d.df for _, d in signed if not math.isinf(d.df))
        df = var ** 2 / tail if tail > 0 else math.inf
    return Difference(sum(s * d.mean for s, d in signed), var, df,
                      tuple(x for _, d in signed for x in d.spreads))


def difference(a, b):
    """``a - b`` of two cells with a result, as a ``Difference``."""
    return combine((1, estimate(a)), (-1, estimate(b)))


def compare(a, b):
    """Verdict of "a > b" for two cells (summaries with ``accuracy``/``ci95`` in %)."""
    if not (has_result(a) and has_result(b)):
        return NOT_RUN
    return difference(a, b).verdict()


def _closes(gap):
    """Verdict of "the gap is 0": held when 0 lies in its interval, else did not hold."""
    if math.isinf(gap.half):
        return NOISE
    return HELD if abs(gap.mean) <= gap.half else FAILED_CLAIM


def _worst(verdicts):
    for v in (FAILED_CLAIM, NOT_RUN, NOISE):
        if v in verdicts:
            return v
    return HELD


def _label(key):
    """``"MAML w/ LinNet 4 layers"``: the text of a cell key ``(method, layers)``."""
    return f"{vocabulary.LABEL[key[0]]} {key[1]} layers"


def _single(found, keys):
    return [k for k in keys if has_result(found.get(k)) and found[k]["seeds"] == 1]


def _versus(found, a, b):
    """``"<verdict> (+d ± h)"`` of cell ``a`` > cell ``b``, or "not run"."""
    if not (has_result(found.get(a)) and has_result(found.get(b))):
        return NOT_RUN
    d = difference(found[a], found[b])
    return f"{d.verdict()} ({d.text()})"


def _above(found, others, base, label):
    """``(verdict, detail)`` of "every cell of ``others`` > cell ``base``": the worst verdict,
    and each one's with its difference (``label(key)`` names a cell)."""
    verdict = _worst([compare(found.get(k), found.get(base)) for k in others])
    return verdict, ", ".join(f"{label(k)}: {_versus(found, k, base)}" for k in others)


def adaptation_claim(curves, step=1):
    """The ``Claim`` that after ``step`` inner steps every model of ``curves`` (``{(method,
    layers): cells.curve or None}``) is more accurate than MAML at 2 layers: the paper's
    mechanism (a shallow model adapts slowly) on CNNs, judged like the table claims on the
    curves' accuracies at ``step`` (a curve without that step counts as not run)."""
    base = ("maml", 2)
    found = {k: {"accuracy": c["accuracy"][c["steps"].index(step)], "seeds": c["seeds"],
                 "ci95": c["ci95"][c["steps"].index(step)]}
             for k, c in curves.items() if c is not None and step in c["steps"]}
    others = [k for k in curves if k != base]
    return Claim(f"after {step} inner step{'s' if step != 1 else ''}, "
                 f"{', '.join(map(_label, others))} > MAML 2 layers",
                 *_above(found, others, base, _label), _single(found, [base] + others))


def trained_claim(curves, deep=("maml", 4), base=("maml", 2)):
    """``(Claim, description)``: the ``Claim`` that the curve ``deep`` of ``curves`` (as for
    ``adaptation_claim``) has a higher mean accuracy over the inner steps of meta-training
    than ``base``, and the other models' differences from ``base`` on that statistic
    (``"<label> − <base label> (+d ± h)"``, comma-separated; "not run" for a missing one)."""
    found = {k: c["trained"] for k, c in curves.items()
             if c is not None and c.get("trained") is not None}
    over = sorted({k for c in curves.values() if c is not None
                   for k in c.get("trained_steps") or ()})
    steps = f"k = {over[0]}..{over[-1]}" if over else "the trained steps"
    verdict, detail = _above(found, [deep], base, _label)
    claim = Claim(f"mean accuracy over {steps}, {_label(deep)} > {_label(base)}", verdict,
                  detail, _single(found, [base, deep]))
    others = [k for k in curves if k not in (base, deep)]
    described = ", ".join(
        f"{_label(k)} − {_label(base)} "
        + (f"({difference(found[k], found[base]).text()})"
           if has_result(found.get(k)) and has_result(found.get(base)) else NOT_RUN)
        for k in others)
    return claim, described


def claims(found):
    """``[Claim]`` for the paper's four ordering claims on the cells ``found``
    (``{(method, layers): cell}``)."""
    get = found.get
    two = compare(get(("linnet", 2)), get(("maml", 2)))
    out = [Claim("MAML w/ LinNet > MAML at 2 layers", two, "" if two == NOT_RUN else
                 f"LinNet − MAML: {difference(get(('linnet', 2)), get(('maml', 2))).text()}",
                 _single(found, [("linnet", 2), ("maml", 2)]))]
    deep = [n for n in (6, 4, 3)
            if has_result(get(("linnet", n))) and has_result(get(("maml", n)))]
    verdict, detail, used = NOT_RUN, "", []
    if has_result(get(("linnet", 2))) and has_result(get(("maml", 2))) and deep:
        def gap(n):
            return difference(get(("linnet", n)), get(("maml", n)))
        shrink = combine((1, gap(2)), (-1, gap(deep[0])))
        verdict = _worst([shrink.verdict(), _closes(gap(deep[0]))])
        detail = (f"deepest: {deep[0]} layers; gap at 2 layers − gap at {deep[0]}: "
                  f"{shrink.text()}; gap at {deep[0]}: {gap(deep[0]).text()}")
        used = _single(found, [(m, n) for n in (2, deep[0]) for m in ("maml", "linnet")])
    out.append(Claim("LinNet's gain shrinks with depth and closes (gap at 2 layers > gap at "
                     "the deepest run, which is within noise of 0)", verdict, detail, used))
    out.append(Claim("every meta-optimizer > MAML at 2 layers",
                     *_above(found, [(m, 2) for m in vocabulary.META_OPTIMIZERS], ("maml", 2),
                             lambda key: vocabulary.LABEL[key[0]]),
                     _single(found, [(m, 2) for m in ("maml",) + vocabulary.META_OPTIMIZERS])))
    kfo = get(("kfo", 2))
    others = [m for m in ("maml", "metasgd", "mc", "tnet") if has_result(get((m, 2)))]
    verdict, detail = NOT_RUN, ""
    if has_result(kfo) and others:
        best = max(others, key=lambda m: get((m, 2))["accuracy"])
        # the highest mean is "best"; below the best but within noise is "near best"
        d = difference(kfo, get((best, 2)))
        verdict = HELD if d.mean >= 0 else d.verdict()
        detail = f"KFO − {vocabulary.LABEL[best]} (best of the others): {d.text()}"
    out.append(Claim("KFO best or near best of the paper's 2-layer methods", verdict, detail,
                     _single(found, [(m, 2) for m in ("maml",) + vocabulary.META_OPTIMIZERS])))
    return out
