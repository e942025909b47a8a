"""Every private scikit-learn and pandas API the package uses, in one place.

Private names can move between releases; importing them only here keeps the
supported version range a property of one file (and its tests).
"""

import pandas as pd
from sklearn.base import _fit_context as _fit_context
from sklearn.utils._param_validation import HasMethods as HasMethods
from sklearn.utils._param_validation import Interval as Interval
from sklearn.utils._param_validation import RealNotInt as RealNotInt
from sklearn.utils._param_validation import StrOptions as StrOptions
from sklearn.utils._set_output import ADAPTERS_MANAGER as ADAPTERS_MANAGER
from sklearn.utils._set_output import _get_output_config as _get_output_config
from sklearn.utils.validation import (
    _check_feature_names_in as _check_feature_names_in,
)
from sklearn.utils.validation import _check_sample_weight as _check_sample_weight
from sklearn.utils.validation import validate_data as validate_data


def column_array(frame, position):
    """The values of one column of a pandas DataFrame without building a Series
    (an ndarray or an extension array); ``frame.iloc[:, i]`` costs ~30x more
    on one row."""
    get = getattr(frame, "_get_column_array", None)
    if get is not None:
        return get(position)
    return frame.iloc[:, position].array  # pragma: no cover - other pandas


def frame_from_arrays(arrays, columns, index):
    """A DataFrame from whole column arrays, without checks or copies."""
    build = getattr(pd.DataFrame, "_from_arrays", None)
    if build is None:  # pragma: no cover - other pandas
        return pd.DataFrame(dict(enumerate(arrays)), index=index).set_axis(
            columns, axis=1
        )
    return build(arrays, columns=columns, index=index, verify_integrity=False)


def euclidean_distance_class():
    """scikit-learn's Euclidean metric class used inside its k-d trees."""
    from sklearn.metrics._dist_metrics import EuclideanDistance64

    return EuclideanDistance64


def categorical_codes(values):
    """The integer codes of a pandas Categorical, without the copy that the
    public ``codes`` property makes (a read-only view)."""
    codes = getattr(values, "_codes", None)
    return values.codes if codes is None else codes


def openmp_threads():
    """Threads OpenMP would use now, as scikit-learn reads it: honours
    ``OMP_NUM_THREADS`` and limits set with ``threadpoolctl.threadpool_limits``
    (about 1 microsecond per call)."""
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

    return _openmp_effective_n_threads()


# metadata routing of the outcome scorers (sklearn_mece.metrics): the mixin that
# gives an object get_metadata_routing, as scikit-learn's own scorers have
from sklearn.utils._metadata_requests import (  # noqa: E402
    _MetadataRequester as _MetadataRequester,
)
