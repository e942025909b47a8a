"""Shared input/output plumbing for the estimators of sklearn-mece.

Every estimator of the package follows one contract:

* columns are selected by name (or by integer position for arrays) and resolved
  to positions at ``fit``;
* columns a step does not use pass through untouched and are never validated
  as numbers;
* a step adds its own output columns *beside* the columns it received, so that
  raw values flow through the whole pipeline;
* ``transform`` returns an ndarray by default (scikit-learn's convention) and a
  DataFrame that keeps every input dtype when ``set_output(transform="pandas")``
  (or ``"polars"``) is configured.
"""

import contextlib
import functools
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from . import _version
from ._compat import (
    ADAPTERS_MANAGER,
    _check_feature_names_in,
    _get_output_config,
    column_array,
    frame_from_arrays,
    validate_data,
)
from ._version import DOCS_URL, docs_version


def check_positive_integer(value, what):
    """``value`` as an int if it is an integer >= 1 (not a bool), else a
    ValueError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}.")
    return int(value)


def _package_version():
    return _version.__version__


def _is_polars_frame(X):
    return type(X).__module__.split(".")[0] == "polars" and hasattr(X, "to_pandas")


def check_container(X):
    """Refuse containers whose meaning would be guessed.

    * A polars ``LazyFrame`` is a query, not data: collecting it is the
      caller's decision (memory, streaming), so it is refused with the hint.
    * A DataFrame whose column names are not all strings, unless they are
      exactly the positions ``0 .. n - 1`` (pandas' default): other names are
      ambiguous with positions (a rule on column ``1`` would test the second
      column, not the one labelled ``1``), and scikit-learn drops non-string
      names, so columns would be selected by position silently.

    Examples
    --------
    >>> check_container(pd.DataFrame({0: [1.0], 1: [2.0]}))  # positions: fine
    >>> check_container(pd.DataFrame({2024: [1.0], 2025: [2.0]}))
    Traceback (most recent call last):
    ...
    TypeError: DataFrame column names must be strings, got [2024, 2025] (int); rename them, e.g. X.columns = X.columns.astype(str), or pass X.to_numpy() to select columns by position.
    """
    module = type(X).__module__.split(".")[0]
    if module == "polars" and type(X).__name__ == "LazyFrame":
        raise TypeError(
            "Got a polars LazyFrame, which is a query, not data: call .collect() "
            "first (or pass a polars or pandas DataFrame)."
        )
    if _is_dataframe(X):
        columns = X.columns.tolist()
        bad = [c for c in columns if not isinstance(c, str)]
        positional = len(bad) == len(columns) and all(
            isinstance(c, (int, np.integer))
            and not isinstance(c, (bool, np.bool_))
            and c == i
            for i, c in enumerate(columns)
        )
        if bad and not positional:
            kinds = sorted({type(c).__name__ for c in bad})
            shown = bad[:5] + (["..."] if len(bad) > 5 else [])
            raise TypeError(
                f"DataFrame column names must be strings, got {shown} "
                f"({', '.join(kinds)}); rename them, e.g. X.columns = "
                "X.columns.astype(str), or pass X.to_numpy() to select "
                "columns by position."
            )


def _is_dataframe(X):
    return isinstance(X, pd.DataFrame)


class NonNumericColumnError(TypeError, ValueError):
    """A column that must hold numbers has another dtype (dates, durations,
    complex numbers, categories).

    A ``TypeError`` (the dtype is wrong) that is also a ``ValueError``, the
    error scikit-learn raises for complex input, so code catching either sees it.
    """


def _dtype_problem(dtype):
    """Why a column of ``dtype`` cannot be read as numbers, or None if it can.

    Text (object or string dtypes) is checked value by value elsewhere; every
    other dtype must be boolean, integer or real floating point. Dates,
    durations and tz-aware timestamps are never read as integers since the
    epoch, complex numbers never lose their imaginary part silently.
    """
    if isinstance(dtype, pd.CategoricalDtype):
        return "a categorical column"
    kind = getattr(dtype, "kind", None)
    if kind in ("O", "U", "S") or isinstance(dtype, pd.StringDtype):
        return None
    if kind == "M" or isinstance(dtype, pd.DatetimeTZDtype):
        return (
            f"dates ({dtype}); convert them to a number first, e.g. days since "
            "a date: (snapshot - column).dt.days"
        )
    if kind == "m":
        return (
            f"durations ({dtype}); convert them to a number first, e.g. "
            "column.dt.days or column / pd.Timedelta(days=1)"
        )
    if kind == "c" or pd.api.types.is_complex_dtype(dtype):
        return f"complex numbers ({dtype})"
    if not pd.api.types.is_numeric_dtype(dtype):
        return f"dtype {dtype}"
    return None


def check_numeric_dtype(dtype, name):
    """Raise :class:`NonNumericColumnError` unless ``dtype`` can hold numbers.

    The one check of a column's dtype, shared by every path that reads a
    numeric column (estimators, level columns, distributed engines).

    Parameters
    ----------
    dtype : numpy or pandas dtype
        The column's dtype.
    name : str
        The column's name, used in the message.

    Examples
    --------
    >>> check_numeric_dtype(np.dtype("int64"), "days")
    >>> check_numeric_dtype(np.dtype("timedelta64[ns]"), "days")
    Traceback (most recent call last):
    ...
    sklearn_mece._base.NonNumericColumnError: Column 'days' must be numeric, got durations (timedelta64[ns]); convert them to a number first, e.g. column.dt.days or column / pd.Timedelta(days=1).
    """
    problem = _dtype_problem(dtype)
    if problem is not None:
        raise NonNumericColumnError(f"Column {name!r} must be numeric, got {problem}.")


def to_plain(value):
    """``value`` as plain, JSON-ready Python data.

    The one converter of the package (exports, comparison results, rules,
    MECE reports): numpy scalars become Python scalars, arrays, lists and
    tuples become lists, dict keys become strings, missing values (None,
    NaN, infinities, ``pd.NA``, ``pd.NaT``) become None, timestamps and
    durations ISO 8601 text.

    Examples
    --------
    >>> to_plain({"a": np.float64(1.5), 2: [np.int8(3), np.nan], "t": (pd.NA,)})
    {'a': 1.5, '2': [3, None], 't': [None]}
    """
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [to_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, (pd.Timestamp, pd.Timedelta)):
        return value.isoformat()
    return value


_LIBRARY_DIRS = None


def _library_dirs():
    """Folders whose frames are library code, not the user's (computed once)."""
    global _LIBRARY_DIRS
    if _LIBRARY_DIRS is None:
        import os

        import joblib
        import sklearn

        _LIBRARY_DIRS = tuple(
            os.path.dirname(os.path.abspath(mod.__file__)) + os.sep
            for mod in (sklearn, joblib, np, pd)
        ) + (os.path.dirname(os.path.abspath(__file__)) + os.sep,)
    return _LIBRARY_DIRS


def warn_user(message, category):
    """Issue a warning attributed to the first caller outside the libraries.

    A warning raised deep inside ``fit`` (called by a scikit-learn Pipeline,
    by the CLI, or directly) points at the user's line: the frames of this
    package, scikit-learn, joblib, numpy and pandas are skipped, whatever
    their depth.

    Parameters
    ----------
    message : str
    category : type of Warning

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_user("look here", UserWarning)
    >>> caught[0].filename.endswith("_base.py")
    False
    """
    import sys

    library = _library_dirs()
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(library):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level + 1)


def as_timestamp(value, name):
    """``value`` as a pandas Timestamp (None stays None); a clear error otherwise.

    The one parser of user-given times (``snapshot``, ``reference_time``).

    Examples
    --------
    >>> as_timestamp("2024-01-05", "snapshot")
    Timestamp('2024-01-05 00:00:00')
    >>> as_timestamp("soon", "snapshot")
    Traceback (most recent call last):
    ...
    ValueError: snapshot must be a timestamp (str, datetime or pandas.Timestamp), got 'soon'.
    """
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be a timestamp (str, datetime or pandas.Timestamp), "
            f"got {value!r}."
        ) from exc
    if ts is pd.NaT:
        raise ValueError(f"{name} must not be NaT.")
    return ts


def infinite_values_error(name, n_inf, where=""):
    """The one error for infinite values in a column that is tested or cut.

    Parameters
    ----------
    name : str
        The column.
    n_inf : int
        How many infinite values (0: unknown).
    where : str, optional
        Where in the column, e.g. ``" in segment 'A'"``.

    Returns
    -------
    ValueError
        To raise.

    Examples
    --------
    >>> raise infinite_values_error("days", 2)
    Traceback (most recent call last):
    ...
    ValueError: Column 'days' contains 2 infinite value(s); replace them (or mark them missing with NaN): cut points and comparisons with infinity are undefined.
    """
    count = f"{n_inf} " if n_inf else ""
    return ValueError(
        f"Column {name!r} contains {count}infinite value(s){where}; replace them "
        "(or mark them missing with NaN): cut points and comparisons with "
        "infinity are undefined."
    )


def optional_import(module, *, feature, extra, detail=""):
    """Import an optional dependency, or say how to install it.

    The one home of the package's install hints: every optional dependency
    (statsmodels, matplotlib, skops, DataSketches, Dask, pyspark, sqlglot,
    DuckDB, pyarrow) is imported through here, when first needed.

    Parameters
    ----------
    module : str
        Dotted module name (``"statsmodels.stats.multitest"``).
    feature : str
        What needs it, starting the message (``"Observed lift"``).
    extra : str
        The pyproject extra that installs it.
    detail : str, optional
        Appended to the hint (what else the extra holds, an alternative).

    Returns
    -------
    module

    Raises
    ------
    ImportError
        ``"<feature> needs <package>: pip install 'sklearn-mece[<extra>]'..."``
        when the package is missing; when it is installed but its import
        fails (a broken install, a missing dependency of its own), a message
        saying so, with the original error.

    Examples
    --------
    >>> optional_import("json", feature="Reading", extra="all").__name__
    'json'
    >>> optional_import("no_such_module", feature="Flying", extra="wings")
    Traceback (most recent call last):
    ...
    ImportError: Flying needs no_such_module: pip install 'sklearn-mece[wings]'.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0]
        missing = getattr(exc, "name", None)
        parts = module.split(".")
        if not isinstance(exc, ModuleNotFoundError) or missing not in {
            ".".join(parts[:i]) for i in range(1, len(parts) + 1)
        }:
            # installed, but its own import failed: installing again won't help
            raise ImportError(
                f"{feature} needs {package}, which is installed but failed to "
                f"import: {exc}"
            ) from exc
        raise ImportError(
            f"{feature} needs {package}: pip install 'sklearn-mece[{extra}]'"
            f"{' ' + detail if detail else ''}."
        ) from exc


def column_as_float(values, name):
    """Return ``values`` as a 1-D float64 array, or raise naming the column.

    Parameters
    ----------
    values : array-like or pandas.Series
        One column of the input.
    name : str
        The column's name, used in error messages.

    Returns
    -------
    ndarray of float64
        The values; pandas' missing values (``pd.NA``) become ``NaN``. The
        array may be a read-only view of the input.

    Raises
    ------
    NonNumericColumnError
        For dates, durations, complex numbers or categories (a ``TypeError``
        that is also a ``ValueError``).
    ValueError
        For text, even text that looks like a number (``"12"``).

    Examples
    --------
    >>> column_as_float([1, 2, 3], "days")
    array([1., 2., 3.])
    >>> column_as_float(["12", "a"], "days")
    Traceback (most recent call last):
    ...
    ValueError: Column 'days' must be numeric, got text (<U2).
    """
    if isinstance(values, (pd.Series, pd.Index)) or isinstance(
        values, pd.api.extensions.ExtensionArray
    ):
        check_numeric_dtype(values.dtype, name)
        if (
            values.dtype == object
            or isinstance(values.dtype, pd.StringDtype)
            # pandas 3 keeps numpy's bytes and str dtypes in a Series
            or getattr(values.dtype, "kind", None) in ("U", "S")
        ):
            _refuse_text(np.asarray(values, dtype=object), name)
        try:
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"Column {name!r} must be numeric: {exc}") from None
    values = np.asarray(values)
    if values.dtype == np.float64:
        return values
    check_numeric_dtype(values.dtype, name)
    _refuse_text(values, name)
    try:
        return values.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"Column {name!r} must be numeric: {exc}") from None


def _refuse_text(values, name):
    """Text never passes as a number, not even "12" (it fails loudly)."""
    if values.dtype.kind in "US":
        raise ValueError(f"Column {name!r} must be numeric, got text ({values.dtype}).")
    if values.dtype == object:
        inferred = pd.api.types.infer_dtype(values, skipna=True)
        if inferred in ("string", "bytes") or (
            inferred.startswith("mixed")
            and any(isinstance(v, (str, bytes)) for v in values)
        ):
            example = next(v for v in values if isinstance(v, (str, bytes)))
            raise ValueError(
                f"Column {name!r} must be numeric, got text such as {example!r}."
            )


@functools.lru_cache(maxsize=128)
def _categorical_dtype(names):
    return pd.CategoricalDtype(list(names))


def categorical_dtype(names):
    """``pandas.CategoricalDtype(names)``, cached (building one costs ~0.1 ms).

    Parameters
    ----------
    names : sequence of str
        The categories, in code order.

    Returns
    -------
    pandas.CategoricalDtype

    Examples
    --------
    >>> categorical_dtype(["a", "b"]) is categorical_dtype(("a", "b"))
    True
    """
    return _categorical_dtype(tuple(names))


#: Up to this many rows, output frames are rebuilt from their columns (a copy
#: of a few rows, ~7x faster than ``pd.concat``); above, ``pd.concat`` shares
#: the input's memory.
_SMALL_FRAME = 1024


@functools.lru_cache(maxsize=256)
def _cached_columns(names, new_names):
    return pd.Index([*names, *new_names])


def _frame_columns(names, new_names):
    """Index of an output frame's columns.

    Building an Index of strings costs ~0.1 ms, so one is cached per set of
    names; each output gets its own shallow copy (same immutable values), so
    that renaming one output's columns in place never reaches another.
    """
    return _cached_columns(names, new_names).copy()


def _small_frame(base, new_columns, columns):
    arrays = [column_array(base, i) for i in range(base.shape[1])]
    arrays.extend(new_columns.values())
    return frame_from_arrays(arrays, columns, base.index)


def _is_fitted_attribute(name):
    """Fitted state: ``name_`` (public) or ``_name_`` (private caches)."""
    return name.endswith("_") and not name.startswith("__")


class DocLinkMixin:
    """Link an estimator's HTML diagram to its API page in this package's docs.

    scikit-learn's diagram shows a "?" link per estimator built from
    ``_doc_link_module`` and ``_doc_link_template`` (otherwise it links to
    scikit-learn's pages, or nowhere). The page name is the class's public
    path: its module up to the first private part, then its name
    (``sklearn_mece._thresholder.PercentileThresholder`` is documented as
    ``sklearn_mece.PercentileThresholder``, ``sklearn_mece.presets.
    SegmentationPipeline`` under its own name), which is how ``docs/api.rst``
    lists them (a test checks that every estimator's page is listed there). A
    subclass defined outside the package gets no link, as in scikit-learn.
    """

    _doc_link_module = "sklearn_mece"
    _doc_link_template = (
        f"{DOCS_URL}/en/{docs_version()}/generated/"
        "{estimator_module}.{estimator_name}.html"
    )


class MECETransformerMixin(DocLinkMixin, TransformerMixin, BaseEstimator):
    """Base class holding the column contract shared by every estimator.

    Subclasses call :meth:`_validate_input` at the top of every public method,
    :meth:`_resolve_column` at fit to turn a name into a position, and
    :meth:`_assemble_output` to return the input columns with the step's new
    columns appended. They define ``_new_feature_names(input_names)``.

    ``transform`` already returns the container configured with
    :meth:`set_output` (see :meth:`_assemble_output`), so the subclasses opt
    out of scikit-learn's automatic output wrapping (``auto_wrap_output_keys=
    None``, the documented opt-out): the wrapper would only set the same column
    names again, which costs a new column index per step (~0.1 ms on one row).
    """

    def __init_subclass__(cls, auto_wrap_output_keys=None, **kwargs):
        super().__init_subclass__(auto_wrap_output_keys=auto_wrap_output_keys, **kwargs)

    def set_output(self, *, transform=None):
        """Set output container.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"}, default=None
            Configure output of ``transform`` and ``fit_transform``:
            ``"default"`` a 2-D ndarray, ``"pandas"`` / ``"polars"`` a DataFrame
            that keeps every input column's dtype, or another container
            registered with scikit-learn's output adapters; ``None`` leaves
            the configuration unchanged.

        Returns
        -------
        self : estimator instance
            Estimator instance.
        """
        if transform is None:
            return self
        supported = ADAPTERS_MANAGER.supported_outputs
        if transform not in supported:
            raise ValueError(
                f"set_output(transform=...) must be one of {sorted(supported)} or "
                f"None, got {transform!r}."
            )
        if not hasattr(self, "_sklearn_output_config"):
            self._sklearn_output_config = {}
        self._sklearn_output_config["transform"] = transform
        return self

    # -- versions -------------------------------------------------------------------
    def __getstate__(self):
        state = super().__getstate__()
        state["_sklearn_mece_version"] = _package_version()
        return state

    def __setstate__(self, state):
        version = state.pop("_sklearn_mece_version", None)
        if version is not None and version != _package_version():
            warnings.warn(
                f"Trying to unpickle {type(self).__name__} from sklearn-mece "
                f"{version} when using version {_package_version()}. This might "
                "lead to breaking code or invalid results. Use at your own risk.",
                UserWarning,
                stacklevel=2,
            )
        super().__setstate__(state)

    @contextlib.contextmanager
    def _all_or_nothing_fit(self):
        """A ``fit`` that raises leaves the estimator unfitted, never half-fitted.

        Used by every ``fit``: its parameters may have changed since the last
        fit (``set_params``), so the previous fitted state is not restored.
        """
        try:
            yield
        except BaseException:
            for attr in [a for a in vars(self) if _is_fitted_attribute(a)]:
                delattr(self, attr)
            raise

    @contextlib.contextmanager
    def _all_or_nothing_update(self):
        """An update (``partial_fit``, ``merge``) that raises changes nothing.

        The fitted state before the call is restored exactly: the attributes
        are put back, and containers (dicts, lists) the update may have
        changed in place are restored from shallow copies. Arrays are never
        written in place by an update.
        """
        saved = {
            k: (v.copy() if isinstance(v, (dict, list)) else v)
            for k, v in vars(self).items()
            if _is_fitted_attribute(k)
        }
        try:
            yield
        except BaseException:
            for attr in [a for a in vars(self) if _is_fitted_attribute(a)]:
                delattr(self, attr)
            self.__dict__.update(saved)
            raise

    # -- state read from a file ---------------------------------------------------------
    def _check_fitted_state(self):
        """Refuse fitted state that ``fit`` cannot have made (a crafted file).

        :func:`sklearn_mece.load` calls it on every estimator of this package
        it loads, before anything uses the state: the kernels index arrays
        with it and trust their lengths. Subclasses extend it; caches derived
        from the fitted state are rebuilt from it, never trusted.

        Raises
        ------
        ValueError
            Naming the attribute that is inconsistent.
        """
        n = self.__dict__.get("n_features_in_")
        if n is None:
            return  # not fitted: nothing to check
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n_features_in_ must be a positive int, got {n!r}")
        names = self.__dict__.get("feature_names_in_")
        if names is not None and (
            not isinstance(names, np.ndarray)
            or names.shape != (n,)
            or not all(isinstance(c, str) for c in names)
        ):
            raise ValueError("feature_names_in_ must hold n_features_in_ strings")

    # -- input --------------------------------------------------------------------------
    def _validate_input(self, X, *, reset):
        """Validate ``X`` without converting untouched columns.

        A pandas (or polars) DataFrame stays a DataFrame: only its shape and
        column names are checked here, each used column is converted on its
        own. Anything else goes through :func:`sklearn.utils.check_array`
        with ``dtype=None`` so that object columns survive.
        """
        if type(X).__name__ == "LazyFrame":
            check_container(X)
        if _is_polars_frame(X):
            X = X.to_pandas()
        if not _is_dataframe(X):
            return validate_data(
                self,
                X,
                reset=reset,
                dtype=None,
                ensure_all_finite=False,
                accept_sparse=False,
            )
        fitted_names = None if reset else getattr(self, "feature_names_in_", None)
        if fitted_names is not None and X.ndim == 2 and X.shape[0] > 0:
            # Fast path (single rows!): the columns are exactly those seen at
            # fit, so validate_data would find nothing to say. Anything else
            # goes through the full checks below, for their errors/warnings.
            columns = X.columns.tolist()
            if columns == fitted_names.tolist():
                return X
        check_container(X)  # after the fast path: fitted names are strings
        if (
            not reset
            and getattr(self, "select_by_name", False)
            and hasattr(self, "feature_names_in_")
        ):
            wanted = list(self.feature_names_in_)
            present = set(map(str, X.columns))
            missing = [c for c in wanted if c not in present]
            if missing:
                raise ValueError(
                    f"{type(self).__name__}: columns seen at fit are missing: "
                    f"{missing}."
                )
            if list(X.columns) != wanted:
                X = X[wanted]
        if X.ndim != 2 or X.shape[1] == 0:
            raise ValueError(
                f"Found array with 0 feature(s) (shape={X.shape}) while a "
                "minimum of 1 is required."
            )
        if X.shape[0] == 0:
            raise ValueError(
                f"Found array with 0 sample(s) (shape={X.shape}) while a minimum "
                "of 1 is required."
            )
        validate_data(self, X, reset=reset, skip_check_array=True)
        return X

    def _column_labels(self, n_features):
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return [str(c) for c in names]
        return [f"x{i}" for i in range(n_features)]

    def _resolve_column(self, column, what="column"):
        """Return the position of ``column`` in the data seen at fit."""
        names = getattr(self, "feature_names_in_", None)
        if isinstance(column, (bool, np.bool_)):
            raise TypeError(f"{what} {column!r}: expected a column name or position.")
        if isinstance(column, (int, np.integer)):
            if not 0 <= column < self.n_features_in_:
                raise ValueError(
                    f"{what} {column!r} is out of range: X has "
                    f"{self.n_features_in_} feature(s)."
                )
            return int(column)
        if isinstance(column, str):
            if names is None:
                if column.startswith("x") and column[1:].isdigit():
                    return self._resolve_column(int(column[1:]), what)
                raise ValueError(
                    f"{what} {column!r} is given by name but X has no column "
                    "names (an array, or a DataFrame whose column names are the "
                    "positions 0, 1, ...); pass a DataFrame with string column "
                    "names or use integer positions."
                )
            matches = np.flatnonzero(names == column)
            if matches.size == 0:
                raise ValueError(
                    f"Unknown {what} {column!r}; X has columns {list(names)}."
                )
            return int(matches[0])
        raise TypeError(
            f"{what} {column!r}: expected a column name (str) or position (int), "
            f"got {type(column).__name__}."
        )

    @staticmethod
    def _column(X, position):
        if _is_dataframe(X):
            return X.iloc[:, position]
        return X[:, position]

    @staticmethod
    def _column_array(X, position):
        """The column's values without building a Series (ndarray or pandas
        extension array); ``X.iloc[:, position]`` costs ~30x more on one row."""
        if _is_dataframe(X):
            return column_array(X, position)
        return X[:, position]

    def _float_column(self, X, position):
        values = self._column_array(X, position)
        if isinstance(values, np.ndarray) and values.dtype == np.float64:
            return values
        name = self._column_labels(X.shape[1])[position]
        return column_as_float(self._column(X, position), name)

    # -- output ----------------------------------------------------------------------
    def _output_dense(self):
        return _get_output_config("transform", self)["dense"]

    def _assemble_output(self, X, new_columns):
        """Return ``X`` with ``new_columns`` (name -> 1-D array) appended.

        With pandas or polars output configured the result is a DataFrame that
        keeps every input column's dtype (no copy of the input columns under
        pandas' copy-on-write); otherwise a 2-D ndarray.
        """
        dense = self._output_dense()
        if dense in ("pandas", "polars"):
            # the names of get_feature_names_out, also when X's own names differ
            # (fitted on an array, transforming a frame)
            labels = tuple(self._column_labels(X.shape[1]))
            columns = _frame_columns(labels, tuple(new_columns))
            base = X if _is_dataframe(X) else pd.DataFrame(X, columns=list(labels))
            if base.shape[0] <= _SMALL_FRAME:
                out = _small_frame(base, new_columns, columns)
            else:
                added = pd.DataFrame(new_columns, index=base.index, copy=False)
                out = pd.concat([base, added], axis=1)
                out.columns = columns
            if dense == "polars":
                import polars as pl

                return pl.from_pandas(out)
            return out
        values = X.to_numpy() if _is_dataframe(X) else X
        values = np.column_stack([values, *new_columns.values()])
        if dense != "default":  # a container registered with scikit-learn
            adapter = ADAPTERS_MANAGER.adapters[dense]
            return adapter.create_container(values, X, self.get_feature_names_out())
        return values

    def get_feature_names_out(self, input_features=None):
        """Get output feature names for transformation.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input features. If None, ``feature_names_in_`` is used, or
            ``x0, x1, ...`` when the estimator was fitted without names.

        Returns
        -------
        feature_names_out : ndarray of str objects
            The input feature names followed by the columns this step adds.
        """
        check_is_fitted(self, "n_features_in_")
        names = _check_feature_names_in(self, input_features)
        return np.asarray([*names, *self._new_feature_names(list(names))], dtype=object)
