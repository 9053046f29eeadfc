"""Square factors acting on one axis of a gradient: a full matrix, or a diagonal (a vector).

A factor of side d is a (d, d) matrix, or a (d,) vector standing for ``diag(v)`` when d is
above the ``max_dim`` cap (a full d x d factor for d = 1568 features would dwarf the model).
Either may carry leading task axes; the gradient may too; they broadcast.
"""

from autograd import numpy as np


def is_diagonal(side, max_dim):
    """A side longer than ``max_dim`` is stored as a diagonal."""
    return side > max_dim


def identity(side, max_dim, dtype):
    """The identity factor: eye(side), or the diagonal ones(side) above ``max_dim``."""
    if is_diagonal(side, max_dim):
        return np.ones(side, dtype=dtype)
    return np.eye(side, dtype=dtype)


def left(M, X, diagonal):
    """M X for X of shape (..., n, m): a matrix M (..., n, n) or a diagonal M (..., n)."""
    if diagonal:
        return M[..., :, None] * X
    return np.matmul(M, X)


def right(X, R, diagonal):
    """X R for X of shape (..., n, m): a matrix R (..., m, m) or a diagonal R (..., m)."""
    if diagonal:
        return X * R[..., None, :]
    return np.matmul(X, R)


def gram(M, diagonal):
    """M^T M, positive semi-definite for any M; for a diagonal, v * v."""
    if diagonal:
        return M * M
    return np.matmul(np.swapaxes(M, -1, -2), M)


def mode_product(M, X, axis, diagonal):
    """X x_axis M: contract M's second index with X's ``axis`` (a negative index), shared M.

    (X x_a M)[..., i, ...] = sum_j M[i, j] X[..., j, ...]  (Kolda & Bader 2009, sec. 2.5).
    """
    if axis == -2:
        return left(M, X, diagonal)
    if axis == -1:
        return right(X, M if diagonal else M.T, diagonal)
    return np.swapaxes(left(M, np.swapaxes(X, axis, -2), diagonal), axis, -2)
