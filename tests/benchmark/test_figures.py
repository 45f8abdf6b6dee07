"""The bench figure survives long method names and outliers (baselines/harness/figures.py).

Drawn with warnings as errors: matplotlib's layout engine warns ("constrained_layout not
applied", "collapsed to zero") when labels do not fit, which is how long ``ppo:PATH``
names used to break the figure.
"""

import warnings

import pytest

from baselines.harness.summary import MethodSummary, conclusion

pytest.importorskip("matplotlib")

from baselines.harness.figures import method_bars, method_figure, split_outliers, wrap_label

LONG = "ppo:/home/someone/experiments/2026-12-04/scct_round__maskable_ppo__0/best_model.zip"


def _row(method: str, normalized: float, gap: float, ci: float = 0.004) -> MethodSummary:
    return MethodSummary(
        scenario="scct", method=method, n=5, mean=3600 * normalized, std=10.0, ci95=12.0,
        normalized=normalized, normalized_ci95=0.005, gap_to_exact=float("nan"),
        gap_to_best=gap, feasible=1.0, decision_time_s=0.01, config_sha256="c087aa15dc08",
        timescale="round", gap_to_best_ci95=0.0 if gap == 0 else ci, best="scctt",
    )  # fmt: skip


ROWS = [
    _row("equal", 1.0, 0.040),
    _row("scctt", 0.960, 0.0),
    _row("ppo:/some/long/path/to/agent.zip", 0.9619, 0.0019),
    _row(LONG, 0.9650, 0.0050),
    _row("random", 5.7, 4.74, ci=0.8),
]


def test_long_names_are_wrapped_at_path_separators():
    label = wrap_label(LONG)
    assert all(len(line) <= 24 for line in label.splitlines())
    assert label.replace("\n", "") == LONG
    assert wrap_label("equal") == "equal"


def test_outliers_are_split_off():
    keep, out = split_outliers([r.normalized for r in ROWS])
    assert [ROWS[i].method for i in out] == ["random"]
    assert len(keep) == 4
    assert split_outliers([1.0, 9.0]) == ([0, 1], [])  # too few to call anything an outlier


def test_figure_draws_without_layout_warnings(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = method_figure(ROWS)
        path = method_bars(ROWS, tmp_path / "bench.png")
    assert path.stat().st_size > 10_000
    axes = fig.get_axes()
    assert len(axes) == 4  # the regular methods, then the outlier on its own scale
    top_left, top_right, bottom_left, _ = axes
    assert [t.get_text() for t in bottom_left.get_yticklabels()] == ["random"]
    assert "lower is better" in bottom_left.get_xlabel()
    assert "lower is better" in axes[3].get_xlabel()
    assert top_left.get_xlim()[0] == 0  # bars from 0: the title claims no zoom
    assert top_left.get_xlim()[1] < 2  # the outlier does not squash the others
    assert "zoomed" not in fig._suptitle.get_text()
    # the paired gaps are drawn with their 95 % intervals: one errorbar per method
    assert len(top_right.containers) == 4
    # every label and title lies inside the figure (none cut at an edge)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    box = fig.bbox
    texts = [fig._suptitle] + [t for ax in axes for t in (ax.xaxis.label, *ax.get_yticklabels())]
    for text in texts:
        ext = text.get_window_extent(renderer)
        assert box.x0 - 1 <= ext.x0 and ext.x1 <= box.x1 + 1, text.get_text()


def test_no_figure_layout_warning_with_one_method(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        method_bars([_row(LONG, 1.0, 0.0)], tmp_path / "one.png")


def test_conclusion_names_the_significant_gaps():
    text = conclusion(ROWS)
    assert "lowest cost `scctt`" in text
    assert "Significantly worse: `equal`" in text
    assert "`random`" in text.split("Significantly worse")[1]
    # ppo's gap (0.19 % ± 0.4) straddles 0: not distinguishable from the best
    assert "ppo:/some/long/path/to/agent.zip" in text.split("Not distinguishable")[1]


def test_every_figure_function_takes_long_names_and_notes(tmp_path):
    import numpy as np

    from baselines.harness.figures import grouped_bars, per_device_rounds, sweep_plot

    notes = ["[x] a claim of the paper that is long enough to need wrapping " * 3 + ": holds"]
    series = {LONG: [(10, 1.0, 0.1), (20, 2.0, 0.1)], "random": [(10, 5.7, 0.5), (20, 9.0, 1.0)]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sweep_plot(
            [(series, "y (s)", False)], tmp_path / "s.png", x_label="N", title="t", notes=notes
        )
        grouped_bars(
            [("delay (s)", {LONG: (1.0, 0.1), "card": (0.5, 0.05), "random": (5.7, 0.3)})],
            tmp_path / "g.png", "CARD-like", notes,
        )  # fmt: skip
        per_device_rounds([0, 1], [("cut", np.ones((2, 3)), 0.0)], tmp_path / "p.png", "t", notes)
    assert all((tmp_path / f"{n}.png").stat().st_size > 5_000 for n in "sgp")
