"""Every registered figure computes on quick budgets and renders without a single warning."""

import io
import json
import warnings

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from theory.figures import REGISTRY, cli, style
from theory.figures.surface import predicted_minimisers


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Quick data and figures of every registered name, built with warnings as errors."""
    empty = tmp_path_factory.mktemp("no-results")
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in REGISTRY:
            data, fig = cli.build(name, seed=0, quick=True, results_dir=empty)
            buffer = io.BytesIO()
            with style.context():
                fig.savefig(buffer, format="png")  # drawing is where most warnings fire
            out[name] = (data, fig, buffer.getvalue())
    return out


@pytest.mark.parametrize("name", list(REGISTRY))
def test_figure_renders_with_labelled_axes_and_json_data(built, name):
    data, fig, png = built[name]
    assert isinstance(fig, Figure)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    json.dumps(data, allow_nan=False)  # JSON-ready, no NaN/inf
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert panels
    for ax in panels:
        assert ax.get_xlabel() and ax.get_ylabel(), f"{name}: unlabelled axes {ax.get_title()!r}"


def test_same_seed_same_data_other_seed_other_data():
    first, _ = cli.build("collapse", seed=3, quick=True)
    again, _ = cli.build("collapse", seed=3, quick=True)
    other, _ = cli.build("collapse", seed=4, quick=True)
    assert json.dumps(first) == json.dumps(again)
    assert json.dumps(first) != json.dumps(other)


def test_style_is_applied_only_inside_the_context():
    before = dict(matplotlib.rcParams)
    with style.context():
        assert matplotlib.rcParams["axes.spines.top"] is False
    assert dict(matplotlib.rcParams) == before


def test_figures_carry_the_style_even_when_drawn_outside_the_context(built):
    _, fig, _ = built["collapse"]
    data = built["collapse"][0]
    fresh = REGISTRY["collapse"].fig(data)  # as a notebook calls it: no context around
    for ax in fresh.axes:
        assert not ax.spines["top"].get_visible()
        assert any(line.get_visible() for line in ax.get_xgridlines())
    assert fresh.axes[0].lines[0].get_color() == fig.axes[0].lines[0].get_color()


def test_predicted_minimisers_are_on_both_sets():
    for alpha, sigma2 in [(0.25, 1.0), (0.1, 3.0)]:
        m = predicted_minimisers(alpha, sigma2)
        np.testing.assert_allclose(m[:, 0] * m[:, 1], 0.0)
        np.testing.assert_allclose(alpha * sigma2 * (m ** 2).sum(axis=1), 1.0)


def test_quick_numbers_obey_the_theory(built):
    failure = built["failure_mode"][0]["summary"]
    # R1: no shallow model beats the floor; the deep model does better than the floor
    assert failure["shallow_post_loss"] >= failure["shallow_r1_floor"] * (1 - 1e-9)
    assert failure["deep_post_loss"] < failure["shallow_r1_floor"]
    collapse = built["collapse"][0]["summary"]
    assert collapse["collapsed_max_abs_gap_to_r1"] < 1e-9
    assert collapse["collapsed_median_loss"] >= collapse["shallow_floor"] * (1 - 1e-9)
    ratio = built["gradient_ratio"][0]
    assert ratio["summary"]["max_abs_symbolic_minus_closed_form"] < 1e-12
    conv = ratio["convergence"]
    # more shots per task: the simulated ratio approaches the population value (1 - a s2)^2
    assert abs(conv["simulated"][-1] - conv["population"]) < abs(
        conv["simulated"][0] - conv["population"])


def test_quick_preconditioner_numbers_obey_r5(built):
    data = built["preconditioner"][0]
    runs = {label: np.array(r["loss"], dtype=float) for label, r in data["runs"].items()}
    floor, floor_metasgd = np.array(data["floor"]), np.array(data["floor_metasgd"])
    # R5a / R5b: no shallow model beats its floor, no diagonal step beats the Meta-SGD floor
    assert np.all(runs["shallow"] >= floor * (1 - 1e-9))
    assert np.all(runs["metasgd_rotated"] >= floor_metasgd * (1 - 1e-9) - 1e-12)
    # R5d: width h = d goes well below the shallow floor at every kappa
    assert np.all(runs["deep_wide"] < 0.1 * floor)
    # R5e/R5f, the depth axis: the shallow model sits on the R5a floor of its K; at every
    # depth L >= 2 the wide network (h = d) ends far below that floor at K = 1
    depth = data["depth"]
    for steps in depth["steps"]:
        shallow = depth["runs"][f"L1_K{steps}"]["loss"]
        assert shallow == pytest.approx(depth["floor"][f"K{steps}"], rel=1e-3)
    wide = [depth["runs"][f"L{L}_h{depth['setting']['dim']}_K1"]["loss"]
            for L in depth["depths"][1:]]
    assert max(wide) < 0.01 * depth["floor"]["K1"]
