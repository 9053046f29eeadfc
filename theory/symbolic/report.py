"""R1-R5 as readable text: each claim, its closed form, and whether it holds (checked live)."""

import sympy

from . import claims, matrix, matrix_deep

HEADER = """\
Why MAML needs depth: exact results for 1D models (population loss sigma2/2 (W - a)^2,
W = w1 ... wL the end-to-end slope, K inner steps of size alpha; E[a] = mu, Var(a) = v),
then R5 in d dimensions (loss 1/2 (w - a)^T Sigma (w - a), E[a] = mu, Cov(a) = V), at depth
L = 1, 2 (R5a-R5d) and any L and K (R5e, R5f).
Each line is a claim lhs == rhs between a derived expression and a closed form;
[holds] means simplify(lhs - rhs) == 0 was just verified."""

SHOW_LIMIT = 240


def check(sections=None):
    """``[(title, [(claim, holds)])]``: every claim of ``sections`` (default: R1-R5) checked
    once, live."""
    sections = (claims.all_claims() + matrix.all_claims() + matrix_deep.all_claims()
                if sections is None else sections)
    return [(title, [(claim, bool(claims.holds(claim))) for claim in stated])
            for title, stated in sections]


def tally(checked):
    """``{"claims", "hold", "fail"}`` of ``check``'s result."""
    marks = [ok for _, stated in checked for _, ok in stated]
    return {"claims": len(marks), "hold": sum(marks), "fail": len(marks) - sum(marks)}


def _closed(claim):
    rhs = claim.rhs.tolist() if isinstance(claim.rhs, sympy.MatrixBase) else claim.rhs
    return sympy.sstr(rhs)  # matrices as nested lists: one line each


def text(checked=None):
    """The report: a header, then for each result its claims and closed forms, then the
    tally (``checked``: ``check``'s result, computed here if not given)."""
    checked = check() if checked is None else checked
    lines = [HEADER]
    for title, stated in checked:
        lines += ["", title]
        for claim, ok in stated:
            lines.append(f"  [{'holds' if ok else 'FAILS'}] {claim.statement}")
            closed = _closed(claim)
            # Long closed forms (the logistic chain rule) would bury the statements.
            if len(closed) <= SHOW_LIMIT:
                lines.append(f"          closed form: {closed}")
    count = tally(checked)
    lines += ["", f"{count['hold']} of {count['claims']} claims hold"
              + (f"; {count['fail']} FAIL" if count["fail"] else "")]
    return "\n".join(lines)


def document(checked):
    """The JSON-ready report: ``{"sections": [{"title", "claims": [{"statement", "holds",
    "closed_form"}]}], "tally": tally(checked)}``."""
    return {"sections": [{"title": title,
                          "claims": [{"statement": claim.statement, "holds": ok,
                                      "closed_form": _closed(claim)} for claim, ok in stated]}
                         for title, stated in checked],
            "tally": tally(checked)}
