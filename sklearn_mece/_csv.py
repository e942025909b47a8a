"""The one CSV writer of the package: text a spreadsheet would run is neutralised.

A CSV file opened in a spreadsheet runs any cell that starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return as a formula (CSV or formula
injection). Segment names, strategies, descriptions, identifiers and column
names come from users' data and rules, so every CSV this package writes goes
through :func:`write_csv`, which by default prefixes such *text* cells with a
single quote, as OWASP recommends
(https://owasp.org/www-community/attacks/CSV_Injection). Numbers are never
touched: a float column of negative numbers is written as it is.
"""

import numpy as np
import pandas as pd

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_csv_text(value):
    """``value`` with a leading ``'`` if it is text a spreadsheet would run.

    Parameters
    ----------
    value : object
        A cell. Only ``str`` values are changed; numbers, missing values and
        other objects are returned as they are.

    Returns
    -------
    object

    Examples
    --------
    >>> escape_csv_text("=HYPERLINK(1)"), escape_csv_text("-2+3")
    ("'=HYPERLINK(1)", "'-2+3")
    >>> escape_csv_text("Premium"), escape_csv_text(-2.5)
    ('Premium', -2.5)
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _hostile_mask(values):
    """Boolean mask of the hostile text cells of a 1-D object array."""
    return np.fromiter(
        (isinstance(v, str) and v.startswith(FORMULA_PREFIXES) for v in values),
        dtype=bool,
        count=len(values),
    )


def _is_text_dtype(dtype):
    """String dtypes other than object: ``string``, pandas 3's ``str``, arrow."""
    if isinstance(dtype, pd.StringDtype):
        return True
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa

        kind = dtype.pyarrow_dtype
        return pa.types.is_string(kind) or pa.types.is_large_string(kind)
    return False


def _escape_index(index):
    """An Index (or MultiIndex) with its text labels and names neutralised."""
    names = [escape_csv_text(n) for n in index.names]
    if isinstance(index, pd.MultiIndex):
        levels = [_escape_index(level) for level in index.levels]
        if all(new is old for new, old in zip(levels, index.levels)):
            out = index
        elif all(level.is_unique for level in levels):
            out = index.set_levels(levels, verify_integrity=False)
        else:  # two labels collide once escaped: rebuild from the values
            out = pd.MultiIndex.from_tuples(
                [tuple(escape_csv_text(v) for v in row) for row in index]
            )
    elif isinstance(index, pd.CategoricalIndex):
        out = index
        if _escape_index(index.categories) is not index.categories:
            out = pd.Index([escape_csv_text(v) for v in index], dtype=object)
    elif pd.api.types.is_object_dtype(index.dtype) or _is_text_dtype(index.dtype):
        values = np.asarray(index, dtype=object)
        mask = _hostile_mask(values)
        out = index
        if mask.any():
            values = values.copy()
            values[mask] = ["'" + v for v in values[mask]]
            out = pd.Index(values, dtype=object)
    else:
        out = index
    if list(out.names) != names:
        out = out.set_names(names)
    return out


def _escape_column(column):
    """A Series with its hostile text cells neutralised (itself if none)."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        categories = _escape_index(dtype.categories)
        if categories is dtype.categories:
            return column
        if categories.is_unique:
            return column.cat.rename_categories(categories)
        return _escape_column(column.astype(object))
    if pd.api.types.is_object_dtype(dtype):
        values = column.to_numpy()
        mask = _hostile_mask(values)
    elif _is_text_dtype(dtype):
        mask = column.str.startswith(FORMULA_PREFIXES).fillna(False)
        mask = mask.to_numpy(dtype=bool)
    else:  # numbers, booleans, dates: never text
        return column
    if not mask.any():
        return column
    values = column.to_numpy(dtype=object, copy=True)
    values[mask] = ["'" + v for v in values[mask]]
    return pd.Series(values, index=column.index, name=column.name, dtype=dtype)


def escape_csv_frame(frame, *, index=True):
    """A copy of ``frame`` whose text cells cannot run as spreadsheet formulas.

    Every text cell (``str`` in an object column, a string dtype, a
    categorical's categories) that starts with one of
    :data:`FORMULA_PREFIXES` gets a leading single quote; so do such column
    names and, with ``index=True``, index labels and index names. Numeric,
    boolean and date columns are returned unchanged.

    Parameters
    ----------
    frame : pandas.DataFrame
    index : bool, default=True
        Also neutralise the index (set False when it is not written).

    Returns
    -------
    pandas.DataFrame
        ``frame`` itself when nothing needed neutralising.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"segment": ["=1+1", "Premium"], "lift": [-0.5, 0.25]})
    >>> safe = escape_csv_frame(df)
    >>> safe["segment"].tolist(), safe["lift"].tolist()
    (["'=1+1", 'Premium'], [-0.5, 0.25])
    """
    out = frame
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        escaped = _escape_column(column)
        if escaped is not column:
            if out is frame:
                out = frame.copy(deep=False)
            out.isetitem(position, escaped)
    columns = _escape_index(frame.columns)
    if columns is not frame.columns:
        out = out.set_axis(columns, axis=1)
    if index:
        labels = _escape_index(frame.index)
        if labels is not frame.index:
            out = out.set_axis(labels, axis=0)
    return out


def _has_carriage_return(values):
    """Whether a Series or Index holds text with a carriage return."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _has_carriage_return(dtype.categories)
    if isinstance(values, pd.MultiIndex):
        return any(_has_carriage_return(level) for level in values.levels)
    if pd.api.types.is_object_dtype(dtype):
        return any(isinstance(v, str) and "\r" in v for v in values)
    if _is_text_dtype(dtype):
        found = pd.Series(values).str.contains("\r", regex=False)
        return bool(found.fillna(False).any())
    return False


def write_csv(frame, path=None, *, csv_escape=True, index=False, **kwargs):
    """Write ``frame`` as CSV, neutralising formula-like text by default.

    The one CSV writer of the package: the exports, the command line, the
    engine and the comparison results all write through it.

    Parameters
    ----------
    frame : pandas.DataFrame
    path : str or path-like, optional
        Destination (compression follows the suffix, as in
        :meth:`pandas.DataFrame.to_csv`); ``None`` returns the text.
    csv_escape : bool, default=True
        Prefix text cells (and headers) that start with ``=``, ``+``, ``-``,
        ``@``, a tab or a carriage return with a single quote, so that a
        spreadsheet shows them as text instead of running them. ``False``
        writes every cell verbatim.
    index : bool, default=False
        Write the index as the first column(s).
    **kwargs
        Passed to :meth:`pandas.DataFrame.to_csv`. Lines end with ``"\n"``,
        or ``"\r\n"`` when a text cell holds a carriage return (the csv
        module quotes a cell only for the characters of the line terminator,
        and an unquoted carriage return would split the row in a reader).

    Returns
    -------
    str or None
        The CSV text when ``path`` is ``None``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"segment": ["=cmd()", "-2+3", "A"], "size": [1, -2, 3]})
    >>> print(write_csv(df), end="")
    segment,size
    '=cmd(),1
    '-2+3,-2
    A,3
    >>> print(write_csv(df, csv_escape=False), end="")
    segment,size
    =cmd(),1
    -2+3,-2
    A,3
    """
    axes = [frame.columns, pd.Index(frame.columns.names, dtype=object)]
    if index:
        axes += [frame.index, pd.Index(frame.index.names, dtype=object)]
    if "lineterminator" not in kwargs and any(
        _has_carriage_return(values)
        for values in [*axes, *(frame.iloc[:, k] for k in range(frame.shape[1]))]
    ):
        # The csv module quotes a cell only for the characters of the line
        # terminator: with "\n", a bare "\r" would end the row in a reader.
        kwargs["lineterminator"] = "\r\n"
    if csv_escape:
        frame = escape_csv_frame(frame, index=index)
    return frame.to_csv(path, index=index, **kwargs)
