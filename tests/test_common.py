"""scikit-learn's estimator checks on every public estimator, in several configurations.

Besides ``parametrize_with_checks`` this runs the checks that scikit-learn (and
imbalanced-learn) only call from their own ``test_common``: feature-name
consistency, ``get_feature_names_out``, ``set_output`` for pandas and polars, and
parameter validation.
"""

import warnings
from functools import partial

import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    _check_set_output_transform_dataframe,
    check_dataframe_column_names_consistency,
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

from sklearn_mece import HierarchicalSegmenter, PercentileThresholder

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


def _estimators():
    return [
        # defaults
        PercentileThresholder(),
        HierarchicalSegmenter(),
        # non-default configurations
        PercentileThresholder(
            percentiles={0: (40, 75), 1: (70,)},
            method="inverted_cdf",
            cut_values={1: (0.25,)},
        ),
        PercentileThresholder(percentiles=(10, 50, 90), method="averaged_inverted_cdf"),
        PercentileThresholder(
            percentiles={0: (50,)}, method="inverted_cdf", select_by_name=True
        ),
        HierarchicalSegmenter(RULES, min_size=0.1, nan_segment="missing"),
        HierarchicalSegmenter(
            LEVEL_RULES, max_size=0.45, max_size_policy="split", split_column=1
        ),
        HierarchicalSegmenter(RULES, output="names"),
        HierarchicalSegmenter(RULES, select_by_name=True),
    ]


# Why each expected failure is expected.
_PREDICT_NAMES = (
    "predict returns segment names (strings) and the check compares outputs with "
    "allclose; the same check on transform's numeric codes passes"
)
_NAMES_OUTPUT = (
    "output='names' makes transform return strings; the check compares outputs "
    "numerically. The default output='codes' passes it"
)
_WEIGHTS_NEED_INVERTED_CDF = (
    "sample_weight has no definition for interpolating percentile methods; "
    "method='inverted_cdf' (tested in another configuration) supports it"
)
_BY_NAME = (
    "select_by_name=True accepts reordered and extra columns on purpose: columns "
    "are selected by name; the default configuration passes this check"
)


_DF_DTYPES = (
    "DataFrame output keeps each column's dtype (int8 levels, integer codes); the "
    "check rebuilds its expected frame from the all-float ndarray output, so only "
    "dtypes differ. test_set_output_same_values runs the same check without the "
    "dtype comparison"
)
_UNVALIDATED_PASSTHROUGH = (
    "with no rule nothing is tested: columns pass through unvalidated by design "
    "(an id or a text column must never fail); configurations with rules pass"
)


def _expected_failed_checks(estimator):
    failed = {}
    if isinstance(estimator, PercentileThresholder) and estimator.method not in (
        "inverted_cdf",
        "averaged_inverted_cdf",
    ):
        for check in (
            "check_sample_weights_pandas_series",
            "check_sample_weights_not_an_array",
            "check_sample_weights_list",
            "check_sample_weights_shape",
            "check_sample_weights_not_overwritten",
            "check_sample_weight_equivalence_on_dense_data",
        ):
            failed[check] = _WEIGHTS_NEED_INVERTED_CDF
    if isinstance(estimator, HierarchicalSegmenter):
        for check in (
            "check_methods_subset_invariance",
            "check_methods_sample_order_invariance",
            "check_fit_idempotent",
            "check_estimators_pickle",
        ):
            failed[check] = _PREDICT_NAMES
        if estimator.rules is None:
            failed["check_dtype_object"] = _UNVALIDATED_PASSTHROUGH
        if estimator.output == "names":
            for check in (
                "check_transformer_data_not_an_array",
                "check_transformer_general",
                "check_transformer_preserve_dtypes",
                "check_pipeline_consistency",
            ):
                failed[check] = _NAMES_OUTPUT
    return failed


@parametrize_with_checks(
    _estimators(), expected_failed_checks=_expected_failed_checks, xfail_strict=True
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


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
    failed = {
        "check_set_output_transform_pandas": _DF_DTYPES,
        "check_global_output_transform_pandas": _DF_DTYPES,
        "check_set_output_transform_polars": _DF_DTYPES,
        "check_global_set_output_transform_polars": _DF_DTYPES,
    }
    if getattr(estimator, "select_by_name", False):
        failed["check_dataframe_column_names_consistency"] = _BY_NAME
    if getattr(estimator, "output", None) == "names":
        failed["check_set_output_transform"] = _NAMES_OUTPUT
    return failed


def _params():
    for estimator in _estimators():
        failures = _extra_expected_failures(estimator)
        for check in _EXTRA_CHECKS:
            reason = failures.get(check.__name__)
            marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
            yield pytest.param(
                estimator, check, marks=marks, id=f"{estimator!r}-{check.__name__}"
            )


@pytest.mark.parametrize("estimator, check", list(_params()))
def test_checks_from_sklearn_test_common(estimator, check):
    name = type(estimator).__name__
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check(name, clone(estimator))


@pytest.mark.parametrize("estimator", _estimators(), ids=repr)
@pytest.mark.parametrize("lib", ["pandas", "polars"])
@pytest.mark.parametrize("context", ["local", "global"])
def test_set_output_same_values(estimator, lib, context):
    """sklearn's set_output check, comparing values, index and names, not dtypes."""
    if lib == "pandas":
        import pandas as pd

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
    if getattr(estimator, "output", None) == "names":
        pytest.skip("string output: compared in test_segmenter instead")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        _check_set_output_transform_dataframe(
            type(estimator).__name__,
            clone(estimator),
            dataframe_lib=lib,
            is_supported_dataframe=is_frame,
            create_dataframe=create,
            assert_frame_equal=assert_equal,
            context=context,
        )


class _CodesOnlySegmenter(HierarchicalSegmenter):
    """The segmenter with ``predict`` hidden, so that the checks which compare
    method outputs numerically exercise ``transform``'s codes instead."""

    @property
    def predict(self):
        raise AttributeError("hidden: the checks compare transform codes")


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
@pytest.mark.parametrize(
    "params",
    [
        {"rules": RULES, "min_size": 0.1, "nan_segment": "missing"},
        {
            "rules": LEVEL_RULES,
            "max_size": 0.45,
            "max_size_policy": "split",
            "nan_segment": "missing",
            "split_column": 1,
        },
    ],
    ids=["merge", "split"],
)
def test_predict_checks_on_transform_codes(check, params):
    estimator = _CodesOnlySegmenter(**params)
    assert not hasattr(estimator, "predict")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check("HierarchicalSegmenter", estimator)
