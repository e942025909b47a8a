"""Numbers as people read them: the one home of the package's display formats.

The HTML report, the command line and the notebook views format counts,
shares, p-values, money and scores with these functions, so that a number
looks the same wherever it appears. None of them is used for data files: the
exports keep numbers as numbers (scores rounded to :data:`SCORE_DECIMALS`).
"""

import decimal
import math
import numbers
import re
import sys

import numpy as np
import pandas as pd

#: Decimals of the scores in the exports and on screen.
SCORE_DECIMALS = 4

#: p-values below this are shown as ``"< 0.001"``.
P_VALUE_FLOOR = 0.001

#: Shown for a missing value.
MISSING = "–"

#: Numbers this large (in magnitude) are written in scientific notation
#: (``"8.16e+306"``): no count or amount is, and written out in full such a
#: number is hundreds of digits wide.
SCIENTIFIC_FROM = 1e15


def is_missing(value):
    """Whether a value is missing: ``None``, NaN, NaT or pandas' ``NA``.

    Examples
    --------
    >>> import pandas as pd
    >>> [is_missing(v) for v in (None, float("nan"), pd.NA, pd.NaT, 0, "x")]
    [True, True, True, True, False, False]
    """
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # not a scalar
        return False


def _below_scientific(value):
    """Whether ``value`` is written out (below :data:`SCIENTIFIC_FROM`); an
    integer is compared as an exact int (numpy's most negative int64 too)."""
    if isinstance(value, numbers.Integral):
        return abs(int(value)) < SCIENTIFIC_FROM
    return abs(float(value)) < SCIENTIFIC_FROM


def format_value(value, number_format):
    """A cell as people read it: the missing mark, ``yes``/``no``, text as it
    is, and a number through ``number_format`` (one of this module's).

    Examples
    --------
    >>> [format_value(v, format_count) for v in (1234.0, None, True, "A")]
    ['1,234', '–', 'yes', 'A']
    """
    if is_missing(value):
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if not isinstance(value, numbers.Number):
        return str(value)
    return number_format(value)


def format_count(value):
    """A count with thousands separators.

    Examples
    --------
    >>> format_count(31272), format_count(None)
    ('31,272', '–')
    """
    if is_missing(value):
        return MISSING
    if not _below_scientific(value):
        return format_number(value)
    return f"{int(round(float(value))):,}"


def format_share(value, decimals=1):
    """A share in [0, 1] as a percentage.

    Examples
    --------
    >>> format_share(0.25), format_share(0.0144, decimals=2)
    ('25.0 %', '1.44 %')
    """
    if is_missing(value):
        return MISSING
    return f"{100 * float(value):,.{decimals}f} %"


def format_p_value(value):
    """A p-value: two significant digits, ``"< 0.001"`` below 0.001.

    Examples
    --------
    >>> format_p_value(9.4e-27), format_p_value(0.0013), format_p_value(0.36)
    ('< 0.001', '0.0013', '0.36')
    """
    if is_missing(value):
        return MISSING
    value = float(value)
    if value < P_VALUE_FLOOR:
        return f"< {P_VALUE_FLOOR:g}"
    return f"{value:.2g}"


def format_money(value, currency="$", decimals=2):
    """An amount of money with thousands separators and a currency.

    A currency of one character (``"$"``, ``"€"``, ``"£"``) is written before
    the amount, after the sign; a longer one (``"EUR"``, ``"CHF"``) after the
    amount, with a space. An empty currency writes the amount alone.

    Examples
    --------
    >>> format_money(590.662), format_money(-1234.5, "€"), format_money(12, "CHF")
    ('$590.66', '-€1,234.50', '12.00 CHF')
    """
    if is_missing(value):
        return MISSING
    value = float(value)
    if abs(value) < SCIENTIFIC_FROM:
        amount = f"{abs(value):,.{decimals}f}"
    else:
        amount = format_number(abs(value))
    sign = "-" if value < 0 and amount.strip("0.,") else ""
    if not currency:
        return f"{sign}{amount}"
    if len(currency) == 1:
        return f"{sign}{currency}{amount}"
    return f"{sign}{amount} {currency}"


def format_points(value, decimals=2):
    """A difference of two rates, in percentage points with its sign.

    Examples
    --------
    >>> format_points(0.0695), format_points(-0.0003)
    ('+6.95 pp', '-0.03 pp')
    """
    if is_missing(value):
        return MISSING
    return f"{100 * float(value):+,.{decimals}f} pp"


def format_score(value):
    """A score in [0, 1], rounded to :data:`SCORE_DECIMALS` decimals.

    Examples
    --------
    >>> format_score(0.44742250028579683)
    '0.4474'
    """
    if is_missing(value):
        return MISSING
    return f"{float(value):.{SCORE_DECIMALS}f}"


def format_number(value):
    """Any other number: thousands separators from 1,000 (no decimals there),
    3 decimals below, scientific notation from :data:`SCIENTIFIC_FROM`.

    Examples
    --------
    >>> format_number(1783.0), format_number(0.12345), format_number(12345.678)
    ('1,783', '0.123', '12,346')
    >>> format_number(8.16e306), format_number(-2**70), format_number(10**400)
    ('8.16e+306', '-1.18e+21', '1e+400')
    """
    if is_missing(value):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        if _below_scientific(value):
            return f"{int(value):,}"
        if abs(int(value)) > sys.float_info.max:  # no float holds it
            digits = format(decimal.Decimal(int(value)), ".3g")
            return re.sub(r"\.?0+e", "e", digits)  # as a float's: 1.8e+308
    value = float(value) + 0.0  # -0.0 shows as 0
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if abs(value) >= SCIENTIFIC_FROM:
        return f"{value:.3g}"
    if value.is_integer() or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3f}"
