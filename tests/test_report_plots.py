"""The report's plots (drawn where asked, labelled, never overlapping), the
tier colours, the audience files and the report's layout."""

import itertools
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from sklearn_mece import DomainWarning, make_cart_abandoner_pipeline, segment_migration
from sklearn_mece.datasets import make_cart_abandoners
from sklearn_mece.export import export_audiences, segment_report
from sklearn_mece.report import (
    PlotDisplay,
    html_report,
    plot_cuts,
    plot_lift,
    plot_migration,
    plot_scores,
    plot_sizes,
    tier_colors,
    write_html_report,
)


def _observed(report):
    """A report with an observed lift, as a scorer given a campaign fills it."""
    report = report.copy()
    n = len(report)
    report["lift_observed"] = np.linspace(-0.02, 0.08, n)
    report["lift_ci_low"] = report["lift_observed"] - 0.03
    report["lift_ci_high"] = report["lift_observed"] + 0.03
    report["rate_treated"] = 0.2
    return report


def _displays(pipe, out):
    report = _observed(segment_report(pipe, out))
    previous = make_cart_abandoners(3_000, random_state=1)
    moves = segment_migration(pipe, previous, out, id_col="user_id", fit=False)
    return {
        "sizes": lambda ax=None: plot_sizes(report, min_size=50, max_size=900, ax=ax),
        "scores": lambda ax=None: plot_scores(report, ax=ax),
        "cuts": lambda ax=None: plot_cuts(pipe, out, max_features=1, ax=ax),
        "lift": lambda ax=None: plot_lift(report, ax=ax),
        "migration": lambda ax=None: plot_migration(moves, ax=ax),
    }


@pytest.mark.parametrize("name", ["sizes", "scores", "cuts", "lift", "migration"])
def test_each_plot_draws_on_the_axes_it_is_given(fitted_preset, name):
    from matplotlib.figure import Figure

    pipe, out = fitted_preset
    draw = _displays(pipe, out)[name]
    fig = Figure(figsize=(12, 8), layout="constrained")
    mine, other = fig.subplots(1, 2)
    display = draw(ax=mine)
    assert isinstance(display, PlotDisplay) and display.figure_ is fig
    drawn = display.ax_[0] if isinstance(display.ax_, list) else display.ax_
    assert drawn is mine and mine.has_data() and not other.has_data()
    # and on a figure of its own otherwise, every axis labelled
    own = draw()
    axes = own.ax_ if isinstance(own.ax_, list) else [own.ax_]
    for ax in axes:
        assert ax.get_xlabel() and ax.get_ylabel(), (name, ax.get_title())


def _overlaps(boxes):
    return [
        (i, j)
        for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2)
        if a.overlaps(b)
    ]


def test_cut_labels_never_overlap_and_stay_inside_the_panel():
    # three cuts close together and level names longer than their levels
    rng = np.random.default_rng(0)
    X = make_cart_abandoners(4_000, random_state=0)
    X["engagement_score"] = np.round(rng.beta(2, 5, len(X)), 2)
    rules = {
        "levels": {
            "engagement_score": {
                "names": ["a_very_long_lowest_level", "next", "third", "top_level"],
                "percentiles": [48, 50, 52],
            }
        },
        "segments": [
            {"name": "Top", "when": [["engagement_score", "==", "top_level"]]}
        ],
        "else": {"name": "Rest"},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_cart_abandoner_pipeline(min_size=0, max_size=None, rules=rules)
        out = pipe.fit_transform(X)
    display = plot_cuts(pipe, out)
    fig = display.figure_
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax, labels in zip(display.ax_, display.artists_["labels"]):
        boxes = [t.get_window_extent(renderer) for t in labels]
        assert len(boxes) >= 4 and not _overlaps(boxes)
        frame = ax.get_window_extent(renderer)
        for box in boxes:
            assert frame.x0 - 1 <= box.x0 and box.x1 <= frame.x1 + 1


def test_each_level_is_labelled_with_its_real_share_of_rows(fitted_preset):
    pipe, out = fitted_preset
    display = plot_cuts(pipe, out)
    for feature, shares in display.artists_["shares"].items():
        real = out[f"{feature}_level"].value_counts(normalize=True).sort_index()
        np.testing.assert_allclose(shares, real.to_numpy())
    # a coarse feature: most rows tie at the cut, p70 holds far less than 70 %
    X = make_cart_abandoners(3_000, random_state=0)
    X["profitability_score"] = np.where(np.arange(len(X)) % 10 < 4, 0.0, 1 / 3)
    X.loc[X.index[:300], "profitability_score"] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_cart_abandoner_pipeline(min_size=0, max_size=None).fit(X)
    out = pipe.transform(X)
    display = plot_cuts(pipe, out)
    ax = display.ax_[list(display.artists_["shares"]).index("profitability_score")]
    share_high = (out["profitability_score_level"] == 1).mean()
    texts = [t.get_text() for t in ax.texts]
    assert f"high: {100 * share_high:.1f} %" in texts
    assert "ties at the cuts" in ax.get_title(loc="left")


def test_size_labels_never_touch_a_bar_or_a_limit_line(fitted_preset):
    pipe, out = fitted_preset
    report = segment_report(pipe, out)
    # max_size at the largest bar's end: the old label ran into the line
    display = plot_sizes(report, min_size=50, max_size=int(report["size"].max()))
    fig = display.figure_
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = [t.get_window_extent(renderer) for t in display.artists_["labels"]]
    others = [b.get_window_extent(renderer) for b in display.artists_["bars"]]
    others += [line.get_window_extent(renderer) for line in display.artists_["lines"]]
    assert not _overlaps(labels)
    assert not any(a.overlaps(b) for a in labels for b in others)


@pytest.mark.parametrize("n", [2, 4, 7])
def test_tier_colours_are_ordered_darker_for_better_tiers(n):
    from matplotlib.colors import to_rgb

    names = [f"Tier {i}" for i in range(n, 0, -1)]  # given worst first
    colors = tier_colors(names)
    assert list(colors) == sorted(names, key=lambda t: int(t.split()[1]))

    def lightness(color):  # CIE L*, what greyscale shows, 0 (black) to 100
        r, g, b = (
            c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
            for c in to_rgb(color)
        )
        y = 0.2126 * r + 0.7152 * g + 0.0722 * b
        return 116 * y ** (1 / 3) - 16 if y > 0.008856 else 903.3 * y

    values = [lightness(c) for c in colors.values()]
    assert all(b > a + 5 for a, b in zip(values, values[1:]))  # visibly lighter
    # the scorer's order wins over sorting
    order = ["Gold", "Silver", "Bronze"]
    assert list(tier_colors(["Bronze", "Gold"], order=order)) == order


def test_audiences_hold_every_row_once_whatever_the_names(tmp_path):
    names = ["../../escape", "a/b", "a_b", "", "C:\\x", "=cmd"]
    labels = [names[i % len(names)] for i in range(60)] + ["a/b"]
    out = pd.DataFrame({"id": [f"u{i}" for i in range(61)], "segment": labels})
    files = export_audiences(
        out, tmp_path / "aud", id_col="id", segment_names=[*names, "Empty"]
    )
    assert list(files) == [*names, "Empty"]
    assert len({p.name for p in files.values()}) == len(files)  # no clash
    assert all(p.parent == tmp_path / "aud" for p in files.values())
    assert sorted(p.name for p in (tmp_path / "aud").iterdir()) == sorted(
        p.name for p in files.values()
    )
    read = {name: pd.read_csv(p)["id"].tolist() for name, p in files.items()}
    assert read["Empty"] == []
    for name in names:
        assert read[name] == out.loc[out["segment"] == name, "id"].tolist()
    with pytest.raises(ValueError, match="'segment' holds 10 row"):
        export_audiences(out, tmp_path / "x", id_col="id", segment_names=names[1:])


def test_the_report_links_its_audiences_and_shows_the_migration(
    fitted_preset, tmp_path
):
    pipe, out = fitted_preset
    previous = make_cart_abandoners(3_000, random_state=1)
    path = write_html_report(
        pipe,
        out,
        tmp_path / "r" / "report.html",
        audiences=True,
        id_col="user_id",
        previous=previous,
    )
    page = path.read_text(encoding="utf-8")
    moves = segment_migration(pipe, previous, out, id_col="user_id", fit=False)
    assert f"{100 * moves.stability_rate:.1f} % kept their segment" in page
    assert 'alt="where each segment&#39;s customers went"' in page
    links = re.findall(r'href="(audiences/[^"]+)"', page)
    files = sorted((tmp_path / "r" / "audiences").iterdir())
    assert sorted(set(links)) == [f"audiences/{f.name}" for f in files]
    ids = pd.concat([pd.read_csv(f) for f in files])["user_id"]
    assert sorted(ids) == sorted(out["user_id"])


def test_tables_show_the_essentials_and_fold_the_details(fitted_preset):
    pipe, out = fitted_preset
    page = html_report(pipe, out)
    segments = page[page.index('id="segments"') : page.index('id="plots"')]
    first_table = segments[: segments.index("<details>")]
    headers = re.findall(r"<th>([^<]*)</th>", first_table.split("</thead>")[0])
    assert headers == ["segment", "size", "share", "tier", "score", "valid"]
    folded = re.findall(r"<details><summary>([^<]*)</summary>", segments)
    assert {"Score dimensions", "Mean of each score input"} <= set(folded)
    assert "conversion potential" in segments.split("<details>", 1)[1]


# ---------------------------------------------------------------------------------
# found by a review of the first version, each with the test that catches it
# ---------------------------------------------------------------------------------
def _thresholded(X, **params):
    from sklearn.pipeline import make_pipeline

    from sklearn_mece import PercentileThresholder

    return (
        make_pipeline(PercentileThresholder(**params))
        .set_output(transform="pandas")
        .fit(X)
    )


def test_labels_that_find_no_room_are_left_out_and_said_so():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=5_000)})
    pipe = _thresholded(X, percentiles=tuple(range(2, 100, 2)))  # 49 cuts
    display = plot_cuts(pipe, pipe.transform(X))
    ax, drawn = display.ax_[0], display.artists_["labels"][0]
    assert all(t in ax.texts for t in drawn)  # what is returned is drawn
    left_out = display.artists_["unplaced"]["x"]
    assert left_out and len(drawn) + len(left_out) == 49 + 50
    assert "left out for lack of room" in ax.get_title(loc="left")
    display.figure_.canvas.draw()
    frame = ax.get_window_extent()
    ticks = [t.get_window_extent() for t in ax.get_xticklabels() if t.get_text()]
    ticks.append(ax.xaxis.label.get_window_extent())
    for text in drawn:  # inside the panel: over no tick and no axis label
        box = text.get_window_extent()
        assert frame.y0 - 1 <= box.y0 and box.y1 <= frame.y1 + 1
        assert not any(box.overlaps(t) for t in ticks)
    assert not _overlaps([t.get_window_extent() for t in drawn])


def test_shares_are_not_guessed_from_global_cuts_when_cuts_are_per_group():
    rng = np.random.default_rng(0)
    g = np.where(rng.random(4_000) < 0.5, "a", "b")
    x = rng.integers(0, 5, size=4_000) + np.where(g == "b", 10.0, 0.0)
    X = pd.DataFrame({"x": x, "g": g})
    pipe = _thresholded(X, percentiles=(50,), columns=["x"], groupby="g")
    raw = plot_cuts(pipe, X)
    assert raw.artists_["shares"]["x"] is None
    assert "need the level columns" in raw.ax_[0].get_title(loc="left")
    out = pipe.transform(X)  # the level columns: the real shares
    real = out["x_level"].value_counts(normalize=True).sort_index().to_numpy()
    np.testing.assert_allclose(plot_cuts(pipe, out).artists_["shares"]["x"], real)


def test_a_small_amount_is_shown_in_outcome_units_not_points():
    X = make_cart_abandoners(6_000, random_state=0)
    rng = np.random.default_rng(0)
    X["treated"] = rng.integers(0, 2, len(X))
    cents = np.where(rng.random(len(X)) < 0.1, rng.uniform(0.5, 4.0, len(X)), 0.0)
    X["spend"] = cents * (1 + 0.3 * X["treated"])  # every mean below 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_cart_abandoner_pipeline(
            min_size=50, scores__treatment="treated", scores__outcome="spend"
        ).fit(X)
    report = segment_report(pipe, X)
    assert report.attrs["outcome_type"] == "amount"
    assert report[["rate_treated", "rate_control"]].to_numpy().max() < 1
    display = plot_lift(report)
    assert display.ax_.get_xlabel().endswith("(outcome units)")
    assert "mean" in display.ax_.get_xlabel()
    lift = report["lift_observed"].iloc[0]
    assert display.artists_["labels"][0].get_text().startswith(f"{lift:+.2f}")
    page = html_report(pipe, X)
    assert "lift (outcome units)" in page and "(pp)" not in page


def test_audiences_of_codes_repeated_names_a_multiindex_and_a_rerun(tmp_path):
    X = make_cart_abandoners(2_000, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_cart_abandoner_pipeline(min_size=50, segments__output="codes")
        pipe.fit(X)
    path = write_html_report(
        pipe, X, tmp_path / "report.html", audiences=True, id_col="user_id"
    )
    files = sorted((tmp_path / "audiences").iterdir())
    names = list(pipe.named_steps["segments"].segment_names_)
    assert [f.name[3:-4] for f in files] == names
    ids = pd.concat([pd.read_csv(f) for f in files])["user_id"]
    assert sorted(ids) == sorted(X["user_id"])
    # a rerun into the same folder with fewer segments leaves no stale file
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fewer = make_cart_abandoner_pipeline(min_size=400).fit(X)
    write_html_report(fewer, X, path, audiences=True, id_col="user_id")
    again = sorted((tmp_path / "audiences").iterdir())
    assert len(again) == len(fewer.named_steps["segments"].segment_names_)
    ids = pd.concat([pd.read_csv(f) for f in again])["user_id"]
    assert sorted(ids) == sorted(X["user_id"])
    out = pd.DataFrame({"segment": ["A", "B"]})
    with pytest.raises(ValueError, match="already holds 2 audience file"):
        export_audiences(out, tmp_path / "audiences", segment_names=["A", "B"])
    with pytest.raises(ValueError, match=r"\['A'\] appear more than once"):
        export_audiences(out, tmp_path / "dup", segment_names=["A", "B", "A"])
    # a MultiIndex: one id column per level
    index = pd.MultiIndex.from_tuples([("s1", 1), ("s2", 2)], names=["shop", None])
    files = export_audiences(out.set_index(index), tmp_path / "mi")
    assert pd.read_csv(files["A"]).to_dict("list") == {"shop": ["s1"], "row_1": [1]}


def test_tiers_sort_as_numbers_and_missing_text_shows_as_missing(fitted_preset):
    assert list(tier_colors([2, 1.5, -1, 10])) == [-1, 1.5, 2, 10]
    pipe, out = fitted_preset
    report = segment_report(pipe, out)
    report.loc[report.index[0], ["tier", "strategy"]] = np.nan
    page = html_report(pipe, out, report=report)
    summary = page[page.index('id="summary"') : page.index('id="how-scores-work"')]
    assert ">nan<" not in summary and "–" in summary


def test_values_near_the_float64_limit_render_a_readable_report():
    """Order values at 1.7e308 (and engagement at -1.7e308): the report
    renders (the cuts plot raised LinAlgError), with no overflow warning, and
    the means read "8.16e+306", not a number hundreds of digits wide."""
    X = make_cart_abandoners(5_000, random_state=0)
    X.loc[X.index[:60], "avg_order_value"] = 1.7e308
    X.loc[X.index[60:70], "engagement_score"] = -1.7e308
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DomainWarning)  # engagement below 0
        warnings.simplefilter("error", RuntimeWarning)
        pipe = make_cart_abandoner_pipeline(min_size=0).fit(X)
        page = html_report(pipe, X)
    text = str(page)
    cells = re.findall(r">([^<>]*)<", text)
    numbers = [c for c in cells if re.fullmatch(r"[-+$]?[\d,.]+(e[-+]\d+)?", c.strip())]
    assert numbers and max(map(len, numbers)) < 24, max(numbers, key=len)
    assert "$8.16e+306" in text
    assert text.count("data:image/png;base64,") >= 3  # sizes, scores, cuts
