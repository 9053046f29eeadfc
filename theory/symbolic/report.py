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


def text(sections=None):
    """The report: a header, then for each result its claims and closed forms."""
    sections = (claims.all_claims() + matrix.all_claims() + matrix_deep.all_claims()
                if sections is None else sections)
    lines = [HEADER]
    for title, stated in sections:
        lines += ["", title]
        for claim in stated:
            mark = "holds" if claims.holds(claim) else "FAILS"
            lines.append(f"  [{mark}] {claim.statement}")
            rhs = claim.rhs.tolist() if isinstance(claim.rhs, sympy.MatrixBase) else claim.rhs
            closed = sympy.sstr(rhs)  # matrices as nested lists: one line each
            # Long closed forms (the logistic chain rule) would bury the statements.
            if len(closed) <= SHOW_LIMIT:
                lines.append(f"          closed form: {closed}")
    return "\n".join(lines)
