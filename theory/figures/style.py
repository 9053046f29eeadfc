"""One look for every figure: the Okabe-Ito palette and rcParams applied in a context.

Nothing here changes matplotlib's global state at import; ``with style.context(): ...``
applies the settings while a figure is built and saved, and every ``fig_<name>`` is decorated
with :func:`styled` so that it builds its figure inside that context. Figures are created with
the object-oriented API (``matplotlib.figure.Figure``), never through pyplot.
"""

import contextlib
import functools

import matplotlib
import numpy as np
from matplotlib.figure import Figure

__all__ = ["OKABE_ITO", "ROLE", "CYCLE", "RC", "context", "styled", "figure", "note", "band"]

# Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour-vision
# deficiencies. Roles are fixed so that "shallow" is the same colour in every figure.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}

ROLE = {
    "shallow": OKABE_ITO["vermillion"],
    "deep": OKABE_ITO["blue"],
    "deeper": OKABE_ITO["green"],
    "collapsed": OKABE_ITO["orange"],
    "theory": OKABE_ITO["black"],
    "paper": OKABE_ITO["sky"],
    "ours": OKABE_ITO["blue"],
    "other": OKABE_ITO["purple"],
}

CYCLE = [OKABE_ITO[k] for k in ("blue", "vermillion", "green", "orange", "sky", "purple",
                                "yellow", "black")]

RC = {
    "axes.prop_cycle": matplotlib.cycler(color=CYCLE),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "font.size": 9,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,
    "image.cmap": "viridis",
}


@contextlib.contextmanager
def context():
    """Apply the project's rcParams inside the block, restore the previous ones after."""
    with matplotlib.rc_context(RC):
        yield


def styled(draw):
    """Decorator: run a ``fig_<name>`` function inside :func:`context`, so a figure has the
    project's look wherever it is drawn (CLI, notebook, test)."""
    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with context():
            return draw(*args, **kwargs)

    return wrapper


def figure(nrows=1, ncols=1, *, width=3.4, height=2.8, **subplot_kw):
    """A ``Figure`` of ``nrows x ncols`` panels (``width``/``height`` inches per panel).

    Returns ``(fig, axes)`` with ``axes`` always a 2-D array, so callers index uniformly.
    """
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    return fig, axes


def note(ax, text, *, loc=(0.5, 0.5), **kwargs):
    """Write an explanatory note (e.g. "our result: not yet run") inside an axes."""
    kwargs = {"ha": "center", "va": "center", "fontsize": 8, "color": OKABE_ITO["black"],
              "bbox": {"boxstyle": "round", "fc": "white", "ec": "0.6"}, **kwargs}
    ax.text(*loc, text, transform=ax.transAxes, **kwargs)


def band(ax, x, runs, *, color, label, quantiles=(0.1, 0.9)):
    """Plot the median of ``runs`` (shape (R, len(x)), R restarts) with a shaded quantile band.

    Each axes with bands gets one grey legend entry saying what the shading is.
    """
    runs = np.asarray(runs, dtype=float)
    lo, mid, hi = np.quantile(runs, [quantiles[0], 0.5, quantiles[1]], axis=0)
    ax.plot(x, mid, color=color, label=label)
    ax.fill_between(x, lo, hi, color=color, alpha=0.2, linewidth=0)
    key = f"shaded: {100 * quantiles[0]:g}-{100 * quantiles[1]:g} % quantiles"
    for old in [c for c in ax.collections if c.get_label() == key]:
        old.remove()  # one grey entry, listed after the bands drawn so far
    ax.fill_between([], [], [], color="0.6", alpha=0.35, linewidth=0, label=key)
