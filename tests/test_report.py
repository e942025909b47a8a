"""The HTML report: self-contained, plots embedded, everything escaped."""

import base64
import re
import warnings

import numpy as np
import pandas as pd
from markupsafe import escape

from sklearn_mece import check_mece, make_cart_abandoner_pipeline
from sklearn_mece.export import segment_report
from sklearn_mece.report import (
    PlotDisplay,
    html_report,
    plot_cuts,
    plot_lift,
    plot_scores,
    plot_sizes,
    write_html_report,
)

IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _with_scores_and_lift(report):
    """A report as the scorer fills it, with observed lift."""
    report = report.copy()
    rng = np.random.default_rng(0)
    n = len(report)
    for column in (
        "conversion_potential",
        "profitability",
        "lift_score",
        "strategic_fit",
    ):
        report[column] = rng.uniform(0, 1, n)
    report["size_score"] = rng.uniform(0, 1, n)
    report["score"] = rng.uniform(0.3, 0.8, n)
    report["tier"] = rng.integers(1, 5, n)
    report["n_treated"] = (report["size"] * 0.9).round().astype(int)
    report["n_control"] = report["size"] - report["n_treated"]
    report["rate_treated"] = rng.uniform(0.1, 0.2, n)
    report["rate_control"] = rng.uniform(0.08, 0.15, n)
    report["lift_observed"] = report["rate_treated"] - report["rate_control"]
    report["lift_ci_low"] = report["lift_observed"] - 0.03
    report["lift_ci_high"] = report["lift_observed"] + 0.03
    report.iloc[-1, report.columns.get_loc("lift_observed")] = np.nan
    return report


def _images(page):
    return [base64.b64decode(m) for m in IMG.findall(page)]


def test_html_is_self_contained_with_its_plots(fitted_preset, preset_data):
    pipe, _ = fitted_preset
    page = html_report(pipe, preset_data)
    assert page.startswith("<!DOCTYPE html>")
    for section in ("Segments", "Learned thresholds", "Rule tree", "MECE checks"):
        assert section in page
    images = _images(page)
    has_scorer = "scores" in pipe.named_steps
    assert len(images) >= (3 if has_scorer else 2)  # sizes, (scores,) cuts
    assert all(img.startswith(b"\x89PNG\r\n\x1a\n") for img in images)
    assert "<script" not in page and 'src="http' not in page and "<link" not in page
    # learned cut values, descriptions and strategies are in the page
    cut = pipe.named_steps["thresholds"].cuts_["engagement_score"][0]
    assert f"{cut:,.6g}" in page
    report = segment_report(pipe)
    for text in report["strategy"]:
        assert str(escape(text)) in page
    assert "PASS" in page
    # without campaign data the lift the scores read is simulated: a banner says so
    if has_scorer:
        assert "Lift is simulated for every segment" in page


def test_all_four_plots_with_scores_and_lift(fitted_preset):
    pipe, out = fitted_preset
    report = _with_scores_and_lift(segment_report(pipe, out))
    page = html_report(pipe, out, report=report)
    assert len(_images(page)) == 4
    assert "Observed lift" in page and "interval" in page
    assert "No observed lift" not in page


def test_plots_return_figures(fitted_preset):
    pipe, out = fitted_preset
    report = _with_scores_and_lift(segment_report(pipe, out))
    for display in (
        plot_sizes(report, min_size=50, max_size=2_000),
        plot_scores(report),
        plot_cuts(pipe, out),
        plot_lift(report),
    ):
        assert isinstance(display, PlotDisplay) and display.figure_.axes
        assert display._repr_png_().startswith(b"\x89PNG")
    assert len(plot_cuts(pipe, out).ax_) == 3  # one panel per thresholded feature
    plain = segment_report(pipe, out)
    if "scores" not in pipe.named_steps:
        assert plot_scores(plain) is None
    assert plot_lift(plain.drop(columns=["lift_observed"], errors="ignore")) is None


def test_amount_lift_is_not_shown_as_a_rate(fitted_preset):
    pipe, out = fitted_preset
    report = _with_scores_and_lift(segment_report(pipe, out))
    report["rate_treated"] *= 100  # mean spend, dollars
    report["rate_control"] *= 100
    page = html_report(pipe, out, report=report)
    assert "mean treated" in page and "outcome units" in page


def test_everything_is_escaped(preset_data):
    rules = {
        "levels": {
            "avg_order_value": {"names": ["low", "high"], "percentiles": [50]},
        },
        "segments": [
            {
                "name": "<script>alert(1)</script>",
                "when": [["avg_order_value", "==", "high"]],
                "description": "Tom & Jerry's <b>best</b>",
                "strategy": '"quoted" <i>offer</i>',
            }
        ],
        "else": {"name": "Rest<br>", "strategy": "a < b"},
    }
    pipe = make_cart_abandoner_pipeline(min_size=0, max_size=None, rules=rules)
    pipe.fit(preset_data)
    page = html_report(pipe, preset_data, title="<title>&")
    assert "<script>" not in page and "<b>best</b>" not in page
    assert "<br>" not in page and "<i>offer</i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Tom &amp; Jerry&#39;s &lt;b&gt;best&lt;/b&gt;" in page
    assert "&lt;title&gt;&amp;" in page


def test_a_failed_mece_check_shows(fitted_preset):
    pipe, out = fitted_preset
    labels = out["segment"].astype(object).copy()
    labels.iloc[:3] = None
    mece = check_mece(labels, expected_labels=list(out["segment"].cat.categories))
    page = html_report(pipe, out, mece=mece)
    assert 'class="fail"' in page or "class='fail'" in page
    assert "3 rows in no segment" in page


def test_write_html_report(fitted_preset, tmp_path):
    pipe, out = fitted_preset
    path = write_html_report(pipe, out, tmp_path / "sub" / "report.html")
    text = path.read_text(encoding="utf-8")
    assert len(_images(text)) >= 2
    assert (
        pd.Series(["Other_Bucket"]).isin(text.split()).any() or "Other_Bucket" in text
    )


def test_report_of_a_cluster_pipeline(preset_data):
    from sklearn.cluster import KMeans
    from sklearn.pipeline import Pipeline

    from sklearn_mece import ClusterSegmenter, SegmentScorer

    pipe = Pipeline(
        [
            (
                "segments",
                ClusterSegmenter(
                    KMeans(3, n_init=2),
                    columns=["avg_order_value", "engagement_score"],
                    output="names",
                    random_state=0,
                    select_by_name=True,
                ),
            ),
            ("scores", SegmentScorer(select_by_name=True)),
        ]
    ).set_output(transform="pandas")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pipe.fit_transform(preset_data.drop(columns="abandoned_at"))
    report = segment_report(pipe, out)
    assert list(report.index) == pipe.named_steps["segments"].segment_names_
    page = html_report(pipe, out)
    assert len(_images(page)) == 2  # sizes and scores: no thresholder, no lift
    assert "no declared rules" in page


def test_names_are_plain_text_never_mathtext(preset_data):
    import io

    import matplotlib
    from matplotlib.text import Text

    column = "$\\alpha$ <b>aov</b>"  # a hostile column name, thresholded
    X = preset_data.assign(**{column: preset_data["avg_order_value"]})
    names = ["$x^$", "a$b$c", "\\frac", "<script>alert(1)</script>"]
    rules = {
        "levels": {column: {"names": ["$lo", "hi$^"], "percentiles": [50]}},
        "segments": [
            {"name": names[0], "when": [[column, "==", "hi$^"]]},
            {"name": names[1], "when": [["days_since_last_order", "<=", 30]]},
            {"name": names[2], "when": [["engagement_score", ">", 0.6]]},
        ],
        "else": {"name": names[3], "strategy": "$\\sqrt{x}$ <i>offer</i>"},
    }
    pipe = make_cart_abandoner_pipeline(min_size=0, max_size=None, rules=rules)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pipe.fit_transform(X)
    report = _with_scores_and_lift(segment_report(pipe, out))
    assert list(report.index) == names

    page = html_report(pipe, out, report=report)
    assert len(_images(page)) == 4  # sizes, scores, cuts, lift: none crashed
    assert "<script>" not in page and "<b>aov</b>" not in page
    assert "<i>offer</i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "$\\alpha$ &lt;b&gt;aov&lt;/b&gt;" in page and "a$b$c" in page

    figures = [
        plot_sizes(report, min_size=10, max_size=2_000),
        plot_scores(report),
        plot_cuts(pipe, out),
        plot_lift(report),
    ]
    figures = [display.figure_ for display in figures]
    for fig in figures:
        texts = [t for t in fig.findobj(Text) if "$" in t.get_text()]
        assert texts  # the names with dollars are drawn ...
        assert not any(t.get_parse_math() for t in texts)  # ... as plain text
        fig.savefig(io.BytesIO(), format="png")  # also rendered outside the report
    shown = {t.get_text() for fig in figures for t in fig.findobj(Text)}
    assert set(names) <= shown and any(t.startswith("hi$^: ") for t in shown)
    assert any(column in text for text in shown)
    assert matplotlib.rcParams["text.parse_math"]  # restored after each call


def _summary_names(page):
    """Segment names of the executive summary table, in order."""
    start = page.index('id="summary"')
    table = page[start : page.index("</table>", start)]
    return re.findall(r"<tr><th>([^<]+)</th><td", table)


def test_executive_summary_ranks_by_incremental_outcome_when_observed():
    from sklearn_mece import assign_holdout
    from sklearn_mece.datasets import make_cart_abandoners

    X = make_cart_abandoners(8_000, random_state=1)
    X["t"] = 1 - assign_holdout(X["user_id"], fraction=0.3, salt="s").astype(int)
    rng = np.random.default_rng(0)
    X["y"] = (rng.random(len(X)) < 0.05 + 0.04 * X["t"]).astype(int)
    pipe = make_cart_abandoner_pipeline(
        min_size=100, scores__treatment="t", scores__outcome="y"
    ).fit(X)
    report = segment_report(pipe, pipe.transform(X))
    page = html_report(
        pipe, X, report=report, display_names={"Other_Bucket": "Everyone else"}
    )
    expected = report["incremental_outcome"].sort_values(ascending=False).index
    shown = [
        "Everyone else" if n == "Other_Bucket" else n.replace("_", " ")
        for n in expected
    ]
    assert _summary_names(page) == shown
    assert "Segments ranked by incremental outcome" in page
    # each segment's outcome with its interval, as counts
    top = report.loc[expected[0]]
    assert f"{round(top['incremental_outcome']):,} [" in page
    # how scores work: every dimension with the weight used, and the tier cut-offs
    for name, weight in zip(
        ("conversion_potential", "profitability", "lift_score"),
        ("0.25", "0.25", "0.20"),
    ):
        assert f"<b>{name}</b> (weight {weight})" in page
    assert "Tier 1: score &gt;= 0.70; Tier 2: score &gt;= 0.60" in page
    assert "Tier 4: score below 0.50" in page


def test_executive_summary_ranks_by_score_without_lift(fitted_preset, preset_data):
    pipe, _ = fitted_preset
    assert "scores" in pipe.named_steps
    report = segment_report(pipe)
    page = html_report(pipe, preset_data, report=report)
    expected = report["score"].sort_values(ascending=False, kind="stable").index
    assert _summary_names(page) == [n.replace("_", " ") for n in expected]
    assert "Segments ranked by score" in page
    assert "Lift is simulated for every segment" in page


def test_the_report_and_the_mece_check_display_in_a_notebook(
    fitted_preset, preset_data, tmp_path
):
    pipe, _ = fitted_preset
    page = html_report(pipe, preset_data, title="a <b> & c")
    assert isinstance(page, str) and page.startswith("<!DOCTYPE html>")
    view = page._repr_html_()
    # the whole page inside an iframe, escaped once more as an attribute
    assert view.startswith("<iframe srcdoc=") and "<!DOCTYPE" not in view
    assert "&lt;!DOCTYPE html&gt;" in view and "a &amp;lt;b&amp;gt; &amp;amp; c" in view
    path = page.save(tmp_path / "sub" / "r.html")
    assert path.read_text(encoding="utf-8") == page

    mece = check_mece(pd.Series(["a", "b", None]), expected_labels=["a", "<x>"])
    html = mece._repr_html_()
    assert "FAIL" in html and "rows in no segment" in html
    assert "<x>" not in html and "&lt;x&gt;" in html
