"""scikit-learn's estimator checks on every public estimator, in several configurations.

One list of estimators (default and non-default configurations of each), one
table of expected failures, each with its reason. Besides
``parametrize_with_checks`` this runs the checks that scikit-learn (and
imbalanced-learn) only call from their own ``test_common``: feature-name
consistency, ``get_feature_names_out``, ``set_output`` for pandas and polars,
and parameter validation. Where a check fails only because of a documented
choice (string output, dtype-preserving DataFrame output), the same check runs
again on a variant without that choice, so nothing it verifies goes unchecked.
"""

import inspect
import warnings
from functools import partial

import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.cluster import DBSCAN, AgglomerativeClustering, Birch, KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.utils.estimator_checks import (
    _check_set_output_transform_dataframe,
    check_dataframe_column_names_consistency,
    check_estimators_nan_inf,
    check_estimators_pickle,
    check_fit_idempotent,
    check_get_feature_names_out_error,
    check_global_output_transform_pandas,
    check_global_set_output_transform_polars,
    check_methods_sample_order_invariance,
    check_methods_subset_invariance,
    check_param_validation,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_set_output_transform_polars,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
    parametrize_with_checks,
)

from sklearn_mece import (
    ClusterSegmenter,
    HierarchicalSegmenter,
    PercentileThresholder,
    SegmentScorer,
)
from sklearn_mece._rfm import rfm_rules

RULES = [
    {"name": "high_x0", "when": [[0, ">=", 0.5]]},
    {"name": "low_x1", "when": [[1, "<", 0.3]]},
]
LEVEL_RULES = {
    "segments": [
        {"name": "top", "when": [[0, ">=", 0.7]]},
        {"name": "mid", "when": [[0, ">=", 0.2], [1, "<=", 0.5]]},
    ],
    "else": "rest",
}
SCORER_POSITIONS = {
    "segment_column": 0,
    "aov_column": 1,
    "engagement_column": 1,
    "profitability_column": None,
    "recency_column": 0,
}


def _estimators():
    return [
        # PercentileThresholder
        PercentileThresholder(),
        PercentileThresholder(
            percentiles={0: (40, 75), 1: (70,)},
            method="inverted_cdf",
            cut_values={1: (0.25,)},
        ),
        PercentileThresholder(percentiles=(10, 50, 90), method="averaged_inverted_cdf"),
        PercentileThresholder(percentiles=(20, 80), method="hazen"),
        PercentileThresholder(percentiles=(20, 40, 60, 80), closed="right"),
        PercentileThresholder(
            percentiles={0: (50,)}, method="inverted_cdf", select_by_name=True
        ),
        # HierarchicalSegmenter
        HierarchicalSegmenter(),
        HierarchicalSegmenter(RULES, min_size=0.1, nan_segment="missing"),
        HierarchicalSegmenter(
            LEVEL_RULES, max_size=0.45, max_size_policy="split", split_column=1
        ),
        HierarchicalSegmenter(RULES, output="names"),
        HierarchicalSegmenter(RULES, select_by_name=True),
        # text tests need text columns, which the checks never feed (a text test
        # of a numeric column is an error at fit): the text parameter on numbers
        HierarchicalSegmenter(RULES, unknown_category="error"),
        # the RFM preset's segment table on R and FM score columns (the checks'
        # data may have two columns only)
        HierarchicalSegmenter(rfm_rules(0, 1, 1, scores=True).to_dict()),
        # ClusterSegmenter
        ClusterSegmenter(),
        ClusterSegmenter(AgglomerativeClustering(3)),
        ClusterSegmenter(DBSCAN(eps=0.8), output="names"),
        ClusterSegmenter(
            KMeans(3, n_init=3),
            columns=[0, 1],
            scaler="robust",
            min_size=0.2,
            nan_segment="missing",
        ),
        ClusterSegmenter(
            Birch(n_clusters=2),
            scaler=None,
            max_size=0.45,
            max_size_policy="split",
            split_column=0,
        ),
        ClusterSegmenter(GaussianMixture(2), select_by_name=True),
        # SegmentScorer
        SegmentScorer(),
        SegmentScorer(
            **SCORER_POSITIONS,
            weights=(0.3, 0.2, 0.1, 0.2, 0.2),
            strategic_priority={0: 0.9},
            optimal_size=0.2,
            tier_thresholds=(0.8, 0.4),
            handle_unknown="nan",
        ),
        SegmentScorer(**SCORER_POSITIONS, tier_output="names", handle_unknown="nan"),
        SegmentScorer(**SCORER_POSITIONS, select_by_name=True),
    ]


# -- why each expected failure is expected ------------------------------------------
PREDICT_NAMES = (
    "predict returns segment names (strings) and the check compares outputs with "
    "allclose; test_predict_checks_on_transform_codes runs it on transform's codes"
)
NAMES_OUTPUT = (
    "output='names' (tier_output='names') makes transform return strings; the "
    "check compares outputs numerically. The default numeric codes pass it"
)
BY_NAME = (
    "select_by_name=True accepts reordered and extra columns on purpose: columns "
    "are selected by name; the default configuration passes this check"
)
DF_DTYPES = (
    "DataFrame output keeps each column's dtype (int8 levels, integer codes, "
    "categorical names); the check rebuilds its expected frame from the all-float "
    "ndarray output, so only dtypes differ. test_set_output_same_values runs the "
    "same check without the dtype comparison"
)
UNVALIDATED_PASSTHROUGH = (
    "with no rule nothing is tested: columns pass through unvalidated by design "
    "(an id or a text column must never fail); configurations with rules pass"
)
NAN_IN_SEGMENT = (
    "allow_nan is True because NaN in feature columns is supported (left out of "
    "means and ranks), and this check then writes NaN into random cells, including "
    "the segment column, which must name a segment. test_scorer_pickle_and_nan_checks "
    "runs the same check without NaN"
)
UNSEEN = (
    "the check transforms held-out rows whose continuous values in the segment "
    "column were never seen at fit; handle_unknown='error' refuses them by design "
    "(configurations with handle_unknown='nan' pass)"
)
SEED_NAMES = (
    "the default column parameters are the seed's names ('segment', "
    "'avg_order_value', ...): a DataFrame without them is refused rather than read "
    "by position; configurations with integer positions pass"
)
_STRING_OUTPUT_CHECKS = (
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
    "check_pipeline_consistency",
)
_SET_OUTPUT_DF_CHECKS = (
    "check_set_output_transform_pandas",
    "check_global_output_transform_pandas",
    "check_set_output_transform_polars",
    "check_global_set_output_transform_polars",
)


def _is_segment_step(estimator):
    return isinstance(estimator, (HierarchicalSegmenter, ClusterSegmenter))


def _expected_failed_checks(estimator):
    """Failures expected from ``parametrize_with_checks``, with their reasons."""
    failed = {}
    if _is_segment_step(estimator):
        for check in (
            "check_methods_subset_invariance",
            "check_methods_sample_order_invariance",
            "check_fit_idempotent",
            "check_estimators_pickle",
        ):
            failed[check] = PREDICT_NAMES
        if isinstance(estimator, HierarchicalSegmenter) and estimator.rules is None:
            failed["check_dtype_object"] = UNVALIDATED_PASSTHROUGH
        if estimator.output == "names":
            failed.update(dict.fromkeys(_STRING_OUTPUT_CHECKS, NAMES_OUTPUT))
    if isinstance(estimator, SegmentScorer):
        failed["check_estimators_pickle"] = NAN_IN_SEGMENT
        if estimator.handle_unknown == "error":
            failed["check_fit_idempotent"] = UNSEEN
        if estimator.tier_output == "names":
            names_checks = (
                *_STRING_OUTPUT_CHECKS,
                "check_methods_sample_order_invariance",
                "check_methods_subset_invariance",
                "check_fit_idempotent",
            )
            failed.update(dict.fromkeys(names_checks, NAMES_OUTPUT))
    return failed


# strict expected failures where scikit-learn supports them (1.7 and later)
_STRICT = (
    {"xfail_strict": True}
    if "xfail_strict" in inspect.signature(parametrize_with_checks).parameters
    else {}
)


@parametrize_with_checks(
    _estimators(), expected_failed_checks=_expected_failed_checks, **_STRICT
)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        # an undersized segment on the checks' tiny data is reported by a warning,
        # and Birch finds fewer subclusters than asked on some check data
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# -- the checks scikit-learn only runs in its own test_common -----------------------
_EXTRA_CHECKS = [
    check_dataframe_column_names_consistency,
    check_get_feature_names_out_error,
    check_param_validation,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_global_output_transform_pandas,
    check_set_output_transform_polars,
    check_global_set_output_transform_polars,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
]


def _extra_expected_failures(estimator):
    failed = dict.fromkeys(_SET_OUTPUT_DF_CHECKS, DF_DTYPES)
    if isinstance(estimator, SegmentScorer) and estimator.segment_column == "segment":
        for name in (
            *_SET_OUTPUT_DF_CHECKS,
            "check_dataframe_column_names_consistency",
            "check_transformer_get_feature_names_out_pandas",
        ):
            failed[name] = SEED_NAMES
    if estimator.select_by_name:
        failed["check_dataframe_column_names_consistency"] = BY_NAME
    if getattr(estimator, "output", None) == "names" or (
        getattr(estimator, "tier_output", None) == "names"
    ):
        failed["check_set_output_transform"] = NAMES_OUTPUT
    return failed


def _extra_params():
    for estimator in _estimators():
        failures = _extra_expected_failures(estimator)
        for check in _EXTRA_CHECKS:
            reason = failures.get(check.__name__)
            marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
            yield pytest.param(
                estimator, check, marks=marks, id=f"{estimator!r}-{check.__name__}"
            )


@pytest.mark.parametrize("estimator, check", list(_extra_params()))
def test_checks_from_sklearn_test_common(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(type(estimator).__name__, clone(estimator))


def _numeric_output(estimator):
    return (
        getattr(estimator, "output", "codes") == "codes"
        and getattr(estimator, "tier_output", "codes") == "codes"
        and getattr(estimator, "segment_column", 0) != "segment"
    )


@pytest.mark.parametrize(
    "estimator", [e for e in _estimators() if _numeric_output(e)], ids=repr
)
@pytest.mark.parametrize("lib", ["pandas", "polars"])
@pytest.mark.parametrize("context", ["local", "global"])
def test_set_output_same_values(estimator, lib, context):
    """sklearn's set_output check, comparing values, index and names, not dtypes."""
    if lib == "pandas":
        is_frame = lambda X: isinstance(X, pd.DataFrame)  # noqa: E731
        create = lambda X, columns, index: pd.DataFrame(  # noqa: E731
            X, columns=columns, copy=False, index=index
        )
        assert_equal = partial(
            pd.testing.assert_frame_equal, check_dtype=False, check_categorical=False
        )
    else:
        pl = pytest.importorskip("polars")
        from polars.testing import assert_frame_equal

        is_frame = lambda X: isinstance(X, pl.DataFrame)  # noqa: E731

        def create(X, columns, index):
            return pl.DataFrame(X, schema=list(columns), orient="row")

        assert_equal = partial(assert_frame_equal, check_dtypes=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        _check_set_output_transform_dataframe(
            type(estimator).__name__,
            clone(estimator),
            dataframe_lib=lib,
            is_supported_dataframe=is_frame,
            create_dataframe=create,
            assert_frame_equal=assert_equal,
            context=context,
        )


# -- the checks hidden by string predictions, on transform's codes -----------------
class _CodesOnlySegmenter(HierarchicalSegmenter):
    """The segmenter with ``predict`` hidden, so that the checks which compare
    method outputs numerically exercise ``transform``'s codes instead."""

    @property
    def predict(self):
        raise AttributeError("hidden: the checks compare transform codes")


class _CodesOnlyCluster(ClusterSegmenter):
    """ClusterSegmenter with ``predict`` hidden (see _CodesOnlySegmenter)."""

    @property
    def predict(self):
        raise AttributeError("hidden: the checks compare transform codes")


_CODES_ONLY = [
    _CodesOnlySegmenter(RULES, min_size=0.1, nan_segment="missing"),
    _CodesOnlySegmenter(
        LEVEL_RULES,
        max_size=0.45,
        max_size_policy="split",
        split_column=1,
        nan_segment="missing",
    ),
    _CodesOnlyCluster(KMeans(3, n_init=3), min_size=0.2, nan_segment="missing"),
    _CodesOnlyCluster(AgglomerativeClustering(3)),
    _CodesOnlyCluster(
        Birch(n_clusters=2),
        max_size=0.45,
        max_size_policy="split",
        split_column=0,
        nan_segment="missing",
    ),
]


@pytest.mark.parametrize(
    "check",
    [
        check_methods_subset_invariance,
        check_methods_sample_order_invariance,
        check_fit_idempotent,
        check_estimators_pickle,
    ],
    ids=lambda c: c.__name__,
)
@pytest.mark.parametrize("estimator", _CODES_ONLY, ids=repr)
def test_predict_checks_on_transform_codes(check, estimator):
    assert not hasattr(estimator, "predict")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(type(estimator).__name__, clone(estimator))


class _NoNaNTagScorer(SegmentScorer):
    """The scorer tagged allow_nan=False, so that sklearn's pickle check does not
    write NaN into the segment column, and its NaN/inf check runs."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


@pytest.mark.parametrize("check", [check_estimators_pickle, check_estimators_nan_inf])
def test_scorer_pickle_and_nan_checks(check):
    check("SegmentScorer", _NoNaNTagScorer())
    if check is check_estimators_pickle:
        check("SegmentScorer", _NoNaNTagScorer(), readonly_memmap=True)
