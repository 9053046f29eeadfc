"""``python -m theory.symbolic``: ``derive`` prints a derivation, ``report`` prints R1-R5.

derive --model {linear,logistic} --depth L --steps K [--first-order]
       [--loss {population,empirical}] [--shots n] [--format {text,latex,json} | --json]
report [--json]

(``--json`` is ``--format json``; ``report`` ends with the tally of claims that hold and exits
1 if one fails)
(the logistic model has only the empirical loss; n defaults to ``SHOTS``). In LaTeX, shared
subexpressions are written the same way where defined and where used (``c_{0}``).

The json document holds ``params``, ``symbols``, ``adapted``, ``meta_loss``, ``meta_grad``,
``multitask_grad`` and ``effective_step`` (null for logistic) as strings that
``sympy.sympify`` parses with the symbols of ``theory.symbolic.symbols``. Expressions whose
written-out trees exceed ``FLAT_LIMIT`` nodes in total (deep models, several inner steps) would
print to gigabytes, so they share subexpressions instead: ``definitions`` lists ``[name, text]``
pairs ``c0, c1, ...`` in dependency order (empty for small derivations); ``parse`` substitutes
them back.

A derivation whose estimated time exceeds ``--max-seconds`` (default ``MAX_SECONDS``, 10
minutes) is refused before it starts, in one line naming the estimate.
"""

import json
import sys

import sympy
from tqdm import tqdm

from .. import _cli
from . import dag, maml, report, symbols

__all__ = ["FLAT_LIMIT", "PROG", "document", "parse", "DESCRIPTION", "SHOTS", "SLOW", "MAX_SECONDS",
           "estimate", "build_parser", "main"]

FLAT_LIMIT = 100_000
PROG = "python -m theory.symbolic"


def document(d):
    """The json-ready dict of a ``Derivation`` (see the module docstring)."""
    names = {"adapted": list(d.adapted), "meta_loss": [d.meta_loss],
             "meta_grad": list(d.meta_grad), "multitask_grad": list(d.multitask_grad),
             "effective_step": [] if d.effective_step is None else [d.effective_step]}
    exprs = [e for group in names.values() for e in group]
    if dag.tree_size(exprs) > FLAT_LIMIT:
        definitions, exprs = dag.share(exprs, prefix="c")
    else:
        definitions = []
    texts = iter(sympy.sstr(e, order="none") for e in exprs)
    doc = {"model": d.model, "depth": d.depth, "steps": d.steps, "loss": d.loss,
           "shots": d.shots, "first_order": d.first_order,
           "params": [p.name for p in d.params], "symbols": [s.name for s in d.symbols],
           "definitions": [[n.name, sympy.sstr(e, order="none")] for n, e in definitions]}
    for key, group in names.items():
        doc[key] = [next(texts) for _ in group]
    doc["meta_loss"] = doc["meta_loss"][0]
    doc["effective_step"] = doc["effective_step"][0] if doc["effective_step"] else None
    return doc


def parse(doc):
    """Sympy expressions of a ``document``: dict with the same keys, definitions substituted."""
    table = symbols.by_name(doc["symbols"])
    names = [sympy.Symbol(n) for n, _ in doc["definitions"]]
    local = {**table, **{n.name: n for n in names}}
    definitions = [(n, sympy.sympify(text, locals=local))
                   for n, (_, text) in zip(names, doc["definitions"], strict=True)]
    keys = ["adapted", "meta_loss", "meta_grad", "multitask_grad", "effective_step"]
    groups = [doc[k] if isinstance(doc[k], list) else [doc[k]] for k in keys]
    flat = [sympy.sympify(t, locals=local) for g in groups for t in g if t is not None]
    flat = iter(dag.unshare(definitions, flat))
    out = {k: tuple(next(flat) for t in g if t is not None) for k, g in zip(keys, groups)}
    out["meta_loss"] = out["meta_loss"][0]
    out["effective_step"] = out["effective_step"][0] if out["effective_step"] else None
    return out


def _lines(d, fmt):
    doc = document(d)
    show = ((lambda t: _latex(sympy.sympify(t, locals=_locals(doc)), doc)) if fmt == "latex"
            else (lambda t: t))
    eq = " = " if fmt == "text" else " &= "
    head = (f"{d.model} model, depth L={d.depth}, K={d.steps} inner steps, {d.loss} loss"
            + (f", n={d.shots} shots" if d.shots else "")
            + (", first-order MAML" if d.first_order else ", exact meta-gradient"))
    lines = [head if fmt == "text" else f"% {head}"]
    rows = [(name, text) for name, text in doc["definitions"]]
    rows.append(("meta_loss", doc["meta_loss"]))
    for key in ("adapted", "meta_grad", "multitask_grad"):
        rows += [(f"{key}[{p}]", t) for p, t in zip(doc["params"], doc[key], strict=True)]
    if doc["effective_step"] is not None:
        rows.append(("effective_step", doc["effective_step"]))
    shared = {n for n, _ in doc["definitions"]}
    for name, text in rows:
        label = (name if fmt == "text" else show(name) if name in shared
                 else "\\mathrm{" + name.replace("_", r"\_") + "}")
        lines.append(f"{label}{eq}{show(text)}" + (r" \\" if fmt == "latex" else ""))
    return lines


# LaTeX of the names that sympy's default would misread (``sigma2`` is sigma squared, not
# sigma with a subscript 2)
LATEX_NAMES = {"sigma2": r"\sigma^{2}"}


def _latex(expr, doc):
    names = {s: LATEX_NAMES[s.name] for s in expr.free_symbols if s.name in LATEX_NAMES}
    return sympy.latex(expr, symbol_names=names)


def _locals(doc):
    return {**symbols.by_name(doc["symbols"]),
            **{n: sympy.Symbol(n) for n, _ in doc["definitions"]}}


DESCRIPTION = ("Symbolic MAML on the paper's 1D models: 'derive' prints the objective, the "
               "adapted parameters and the meta-gradients of one task; 'report' prints the "
               "results R1-R5 and checks them.")
SHOTS = 2  # default n of the empirical loss: small enough to read, shows the mean over points
SLOW = 10.0  # seconds: a derivation expected to take longer says so and shows progress


MAX_SECONDS = 600.0  # default --max-seconds: a longer derivation is refused before it starts


def estimate(model, depth, steps, shots):
    """Rough seconds of a derivation on a loaded 2-core machine: logistic 0.014 (L+1)^2 K n,
    fitted to L=3..6, K=3..5, n=10 (within a factor 2 there); linear 3.2e-4 L^3 max(K, 1)
    (times n for the empirical loss), fitted to L=4..32, K=2..16 (0.3-21 s; an upper bound
    within a factor 4 there)."""
    if model != "logistic":
        return 3.2e-4 * depth ** 3 * max(steps, 1) * (shots or 1)
    return 0.014 * (depth + 1) ** 2 * steps * shots


def build_parser():
    """The argument parser; bad input is one line on stderr and exit status 2."""
    parser = _cli.ArgumentParser(prog=PROG, description=DESCRIPTION,
                                 formatter_class=_cli.DefaultsHelpFormatter)
    _cli.add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    text = "print the MAML objective and meta-gradients"
    derive = sub.add_parser("derive", help=text, description=text,
                            formatter_class=_cli.DefaultsHelpFormatter)
    derive.add_argument("--model", choices=maml.MODELS, default="linear", help="1D model")
    derive.add_argument("--depth", type=_cli.positive_int, default=1, help="layers L >= 1")
    derive.add_argument("--steps", type=_cli.nonnegative_int, default=1,
                        help="inner steps K >= 0")
    derive.add_argument("--first-order", action="store_true", help="first-order MAML")
    derive.add_argument("--loss", choices=maml.LOSSES, default=None,
                        help="default: population for linear, empirical for logistic (the "
                             "only one it has)")
    derive.add_argument("--shots", type=_cli.positive_int, default=None,
                        help="support and query points n >= 1 of the empirical loss "
                             f"(default: {SHOTS})")
    _cli.add_json(derive, "the derivation", formats=("text", "latex", "json"))
    _cli.add_progress(derive)
    derive.add_argument("--max-seconds", type=_cli.positive_float, default=MAX_SECONDS,
                        help="refuse a derivation whose estimated time exceeds this")
    text = "print results R1-R5, check them, and end with the tally"
    report_ = sub.add_parser("report", help=text, description=text)
    _cli.add_json(report_, "every claim, whether it holds, and the tally")
    return parser


def main(argv=None):
    """Entry point of ``python -m theory.symbolic``; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "report":
        checked = report.check()
        if args.json:
            _cli.emit(json.dumps(report.document(checked), indent=1))
        else:
            _cli.emit(report.text(checked))
        return 0 if report.tally(checked)["fail"] == 0 else 1
    fmt = _cli.output_format(args)
    loss = args.loss or ("population" if args.model == "linear" else "empirical")
    if args.model == "logistic" and loss == "population":
        raise ValueError("--loss population is not available for --model logistic: the "
                         "logistic model has only the empirical loss")
    if loss == "population" and args.shots is not None:
        raise ValueError(f"--shots {args.shots} needs --loss empirical: the population loss "
                         "has no data points")
    shots = (SHOTS if args.shots is None else args.shots) if loss == "empirical" else None
    seconds = estimate(args.model, args.depth, args.steps, shots)
    if seconds > args.max_seconds:
        raise ValueError(f"--depth {args.depth} --steps {args.steps}"
                         + (f" --shots {shots}" if shots else "")
                         + f" takes roughly {seconds:.3g} s by estimate, more than --max-seconds "
                         f"{args.max_seconds:g}; ask for less, or raise --max-seconds to run it")
    total = maml.stages(args.steps, args.first_order)
    if seconds >= SLOW:
        sys.stderr.write(f"{PROG}: this derivation takes roughly {seconds:.0f} s (a rough "
                         "estimate; it grows with depth^2 x steps x shots)\n")
    with tqdm(total=total, desc="derive", unit="step", file=sys.stderr,
              disable=not args.progress or seconds < SLOW or total == 0) as bar:
        d = maml.derive(args.model, args.depth, args.steps, loss, shots, args.first_order,
                        progress=bar.update)
    if fmt == "json":
        return _cli.emit(json.dumps(document(d), indent=1))
    return _cli.emit("\n".join(_lines(d, fmt)))


main.prog = PROG
