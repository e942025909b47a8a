"""Customer features and the cart-abandoner universe from raw logs.

The preset segments one row per customer with ``avg_order_value``,
``engagement_score``, ``profitability_score`` and ``days_since_last_order``.
:func:`customer_features` builds exactly those columns (and a few more) from a
transaction log, one line per order line, and :func:`cart_abandoners` selects
the seed's universe, customers who left a cart in the last days, from a raw
event log. Both read pandas or polars DataFrames, return pandas DataFrames
indexed by customer id, and are vectorised (hash-based ``factorize``, then
``np.bincount`` and ``np.minimum.at`` on integer codes): no Python loop runs
over customers or orders.
"""

import datetime
import numbers

import numpy as np
import pandas as pd

from ._base import (
    NonNumericColumnError,
    _is_polars_frame,
    as_timestamp,
    check_container,
    column_as_float,
    infinite_values_error,
    warn_user,
)

__all__ = ["customer_features", "cart_abandoners", "ExcludedCustomersWarning"]

#: Nanoseconds in a day: times are compared as int64 nanoseconds.
_DAY_NS = 86_400 * 10**9
#: An order's net amount counts as zero up to this fraction of its gross
#: amount (the sum of the absolute line amounts): the float rounding of a
#: fully returned order (0.1 + 0.2 - 0.3) never makes it an order.
_NET_TOLERANCE = 1e-9
#: Orders per this many days of tenure measure frequency; a tenure shorter
#: than this counts as this long.
_FREQUENCY_DAYS = 30
_INT64_MAX = np.iinfo(np.int64).max
_INT64_MIN = np.iinfo(np.int64).min


class ExcludedCustomersWarning(UserWarning):
    """Customers or lines of a log were left out of the result.

    Issued by :func:`customer_features` when customers have no order of
    positive net amount before the snapshot (only returns, cancellations or
    zero-value orders) or lines have a missing customer id, and by
    :func:`cart_abandoners` when cart or purchase events have a missing
    customer id. The message says how many and why.

    Examples
    --------
    >>> import warnings
    >>> import pandas as pd
    >>> from sklearn_mece.features import ExcludedCustomersWarning, customer_features
    >>> log = pd.DataFrame({"c": [1, 2], "t": pd.to_datetime(["2024-01-01"] * 2),
    ...                     "v": [10.0, -5.0]})
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     out = customer_features(log, customer="c", time="t", amount="v")
    >>> list(out.index), [w.category is ExcludedCustomersWarning for w in caught]
    ([1], [True])
    """


# --------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------
def customer_features(
    transactions,
    *,
    customer,
    time,
    amount,
    order=None,
    margin=None,
    snapshot=None,
    quantity=None,
):
    """One row of features per customer from a transaction log.

    Builds the preset's inputs (``avg_order_value``, ``engagement_score``,
    ``profitability_score``, ``days_since_last_order``) and the counts they
    come from, from a log with one row per order line (or per order).

    Parameters
    ----------
    transactions : pandas.DataFrame or polars.DataFrame
        The log, one row per line. Only the named columns are read.
    customer : str
        Column of customer ids (any hashable values). Lines with a missing id
        (None, NaN, ``pd.NA``) are dropped and counted in an
        :class:`ExcludedCustomersWarning`.
    time : str
        Column of timestamps: datetime64 (naive or timezone-aware), a polars
        Datetime or Date, or text parsed with :func:`pandas.to_datetime`.
        Numbers are refused (never read as time since the epoch), and so are
        missing or unparseable timestamps.
    amount : str
        Column of line values (e.g. quantity x unit price), numeric, finite,
        not missing. Negative values are returns, cancellations or discounts.
    order : str, optional
        Column of order ids (e.g. the invoice number). When None, a
        customer's lines of one calendar day of ``time`` form one order.
        Missing order ids are refused.
    margin : str, optional
        Column of line margins (profit, in the units of ``amount``); it
        drives ``profitability_score``.
    snapshot : str, datetime or pandas.Timestamp, optional
        The "now" of the features. Lines at or after it are ignored. Default:
        midnight at the start of the calendar day after the latest time of
        the log (in the column's time zone when it has one), so that the last
        day counts whole: a purchase during that day has
        ``days_since_last_order == 0`` (1 when it is stamped at midnight, as
        in a log of dates without times).
    quantity : str, optional
        Column of quantities, for logs that record returns with a negative
        quantity but a positive amount: a line with a negative quantity and a
        positive amount counts as ``-amount`` (and ``-margin``). A line whose
        amount is already negative is taken as it is. Missing quantities are
        refused.

    Returns
    -------
    features : pandas.DataFrame
        One row per customer with at least one order (see Notes), indexed by
        customer id (the index keeps the column's dtype and is named after
        it), in order of the customers' first line before the snapshot.
        Columns:

        ==========================  ================  ============================
        ``n_orders``                int64             orders of positive net amount
        ``total_value``             float64           net amount of every line
        ``avg_order_value``         float64           ``total_value / n_orders``
        ``first_order``             datetime64[ns]    time of the first order
        ``last_order``              datetime64[ns]    time of the last order
        ``days_since_last_order``   int64             whole days to the snapshot
        ``tenure_days``             int64             whole days since first order
        ``engagement_score``        float64           in [0, 1], see Notes
        ``profitability_score``     float64           in [0, 1], see Notes
        ==========================  ================  ============================

        Timestamps keep the time zone of ``time``.

    Raises
    ------
    ValueError
        A named column is missing (the message names it), a timestamp is
        missing or unparseable, an amount, margin or quantity is missing or
        infinite, an order id is missing, or ``snapshot`` is not a timestamp
        or disagrees with the column on having a time zone.
    TypeError
        ``transactions`` is not a DataFrame, ``time`` holds numbers, or
        ``amount``, ``margin`` or ``quantity`` is not numeric (text, dates,
        categories: a :class:`~sklearn_mece._base.NonNumericColumnError`,
        which is also a ``ValueError``).

    Warns
    -----
    ExcludedCustomersWarning
        When customers are left out for having no order of positive net
        amount, or lines are dropped for a missing customer id; the message
        gives both counts. Silent on clean logs.

    See Also
    --------
    cart_abandoners : The cart-abandoner universe from an event log.

    Notes
    -----
    **Orders.** An order is one value of ``order`` for one customer, or, when
    ``order`` is None, one customer's lines of one calendar day (so lines at
    23:59 and 00:01 the next day are two orders; with an order id shared by
    both, one). Several lines of an order are summed. An order's time is the
    time of its earliest line. An order id found with several customers is
    one order of each. Lines are not de-duplicated.

    **Returns and cancellations.** Every line counts towards its order's net
    amount with its sign (a line with negative ``quantity`` as
    ``-abs(amount)`` when its amount is positive). Only an order whose net
    amount is positive is an order: it counts in ``n_orders``,
    ``first_order`` and ``last_order``. An order whose net amount is zero or
    negative (a cancellation invoice such as Online Retail's ``C...``
    invoices, a refund, a purchase fully returned the same day when ``order``
    is None) is not an order, but its amount still reduces the customer's
    ``total_value``, which is therefore the net value of every line before
    the snapshot and can be zero or negative when returns exceed the
    purchases of the log (e.g. returns of purchases made before it starts;
    the preset declares ``avg_order_value >= 0`` and warns about such rows:
    drop them with ``features[features["total_value"] > 0]`` if unwanted).
    A net amount within ``1e-9`` times the order's gross amount (the sum of
    its lines' absolute amounts) of zero counts as zero, so float rounding
    never turns a fully returned order into an order. Customers left with no
    order are excluded from the result and counted in an
    :class:`ExcludedCustomersWarning`, never silently; customers whose every
    line is at or after ``snapshot`` are simply not in the log as of the
    snapshot and are not counted.

    **Average order value.** ``avg_order_value = total_value / n_orders``
    over all orders, one-time buyers included. This is *not* the
    ``monetary_value`` of the ``lifetimes`` package, which averages repeat
    orders only and is 0 for one-time buyers.

    **Days.** ``days_since_last_order`` and ``tenure_days`` are whole days
    (floor) of 24 hours from ``last_order`` and ``first_order`` to
    ``snapshot``. With the default snapshot an order placed during the last
    day of the log is 0 days old; in a log of dates without times (every
    line at midnight) a full day separates the last day's orders from the
    snapshot, so they are 1 day old (subtract 1 to count calendar days).

    **Scores.** Both scores are percentile ranks among the customers of the
    result, the mid-rank empirical percentile that
    :class:`~sklearn_mece.SegmentScorer` uses: ``pct(x) = (r - 0.5) / n``
    with ``r`` the rank of ``x`` among the ``n`` customers, ties getting the
    average of their ranks, so scores lie in (0, 1), a tie of everyone (or
    ``n == 1``) scores 0.5, and the order of the rows does not matter. They
    are deterministic, scale-free and relative to the customers passed
    (adding customers changes them).

    * ``engagement_score = (pct(frequency) + pct(last_order)) / 2`` with
      ``frequency = 30 * n_orders / max(tenure_days, 30)``, the orders per 30
      days of tenure (a tenure under 30 days counts as 30, so a new
      customer's single order is not an extreme frequency). It increases with
      frequency and with recency (a later ``last_order`` ranks higher).
    * ``profitability_score = pct(margin rate)`` with ``margin rate = total
      margin / total_value`` (the margin summed like the amount, returns
      included) when ``margin`` is given; customers whose ``total_value`` is
      not positive rank lowest. Without ``margin`` the proxy is
      ``pct(total_value)``.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_mece.features import customer_features
    >>> log = pd.DataFrame({
    ...     "customer": ["ann", "ann", "ann", "bob", "bob", "cy"],
    ...     "invoice": ["1", "1", "2", "3", "C3", "4"],
    ...     "time": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 10:00",
    ...                             "2024-01-20 09:00", "2024-01-05 12:00",
    ...                             "2024-01-06 08:00", "2024-01-30 18:00"]),
    ...     "amount": [30.0, 10.0, 60.0, 50.0, -20.0, 25.0],
    ... })
    >>> features = customer_features(log, customer="customer", time="time",
    ...                              amount="amount", order="invoice")
    >>> features[["n_orders", "total_value", "avg_order_value", "tenure_days"]]
    ... # doctest: +NORMALIZE_WHITESPACE
              n_orders  total_value  avg_order_value  tenure_days
    customer
    ann              2        100.0             50.0           29
    bob              1         30.0             30.0           25
    cy               1         25.0             25.0            0
    >>> features[["last_order", "days_since_last_order"]]
    ... # doctest: +NORMALIZE_WHITESPACE
                       last_order  days_since_last_order
    customer
    ann       2024-01-20 09:00:00                     10
    bob       2024-01-05 12:00:00                     25
    cy        2024-01-30 18:00:00                      0
    >>> features[["engagement_score", "profitability_score"]]
    ... # doctest: +NORMALIZE_WHITESPACE
              engagement_score  profitability_score
    customer
    ann               0.666667             0.833333
    bob               0.250000             0.500000
    cy                0.583333             0.166667

    Bob's cancellation ``C3`` reduces his value but is not an order. Ann
    orders most often (frequency percentile 5/6, the others tie at 1/3), Cy
    most recently (recency percentile 5/6, Ann 1/2, Bob 1/6). A customer with only a
    return is left out, with a warning:

    >>> import warnings
    >>> returns = pd.concat([log, pd.DataFrame({
    ...     "customer": ["dee"], "invoice": ["C9"],
    ...     "time": pd.to_datetime(["2024-01-10"]), "amount": [-5.0]})])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     out = customer_features(returns, customer="customer", time="time",
    ...                             amount="amount", order="invoice")
    >>> list(out.index)
    ['ann', 'bob', 'cy']
    >>> print(caught[0].message)  # doctest: +NORMALIZE_WHITESPACE
    customer_features left out 1 customer(s) with no order of positive net
    amount before the snapshot (only returns, cancellations or zero-value
    orders).
    """
    names = {"customer": customer, "time": time, "amount": amount}
    names.update(order=order, margin=margin, quantity=quantity)
    columns = _read_columns(transactions, "transactions", names)
    stamps, tz = _timestamps(columns["time"], time)
    value = _numbers(columns["amount"], amount)
    margin_values = None if margin is None else _numbers(columns["margin"], margin)
    if quantity is not None:
        returned = (_numbers(columns["quantity"], quantity) < 0) & (value > 0)
        if returned.any():
            value = np.where(returned, -value, value)
            if margin_values is not None:
                margin_values = np.where(returned, -margin_values, margin_values)
    order_values = columns.get("order")
    if order_values is not None:
        n_missing_orders = int(order_values.isna().sum())
        if n_missing_orders:
            raise ValueError(
                f"Column {order!r} has {n_missing_orders} missing order id(s); "
                "fill them, or pass order=None to count one order per customer "
                "and calendar day."
            )

    snap = _snapshot(snapshot, stamps, tz, time)
    ids = columns["customer"]
    missing_ids = ids.isna().to_numpy(dtype=bool)
    keep = stamps < snap
    n_missing_ids = int((missing_ids & keep).sum())
    keep &= ~missing_ids
    if not keep.all():
        rows = np.flatnonzero(keep)
        ids = ids.take(rows)
        stamps, value = stamps[rows], value[rows]
        if margin_values is not None:
            margin_values = margin_values[rows]
        if order_values is not None:
            order_values = order_values.take(rows)

    # orders: one integer code per line, the customer of each order
    if order_values is not None:
        order_codes, customer_codes, uniques = _orders_by_id(ids, order_values)
    else:
        order_codes, customer_codes, uniques = _orders_by_day(
            ids, _wall_clock(stamps, tz)
        )
    n_customers = len(uniques)
    n_order_keys = len(customer_codes)

    net = np.bincount(order_codes, weights=value, minlength=n_order_keys)
    gross = np.bincount(order_codes, weights=np.abs(value), minlength=n_order_keys)
    order_time = np.full(n_order_keys, _INT64_MAX, dtype=np.int64)
    np.minimum.at(order_time, order_codes, stamps)
    is_order = net > _NET_TOLERANCE * gross

    total_value = np.bincount(customer_codes, weights=net, minlength=n_customers)
    buyer_codes = customer_codes[is_order]
    n_orders = np.bincount(buyer_codes, minlength=n_customers)
    first = np.full(n_customers, _INT64_MAX, dtype=np.int64)
    np.minimum.at(first, buyer_codes, order_time[is_order])
    last = np.full(n_customers, _INT64_MIN, dtype=np.int64)
    np.maximum.at(last, buyer_codes, order_time[is_order])
    total_margin = None
    if margin_values is not None:
        order_margin = np.bincount(
            order_codes, weights=margin_values, minlength=n_order_keys
        )
        total_margin = np.bincount(
            customer_codes, weights=order_margin, minlength=n_customers
        )

    kept = n_orders > 0
    n_excluded = n_customers - int(kept.sum())
    if not kept.all():
        uniques = uniques[kept]
        total_value, n_orders = total_value[kept], n_orders[kept]
        first, last = first[kept], last[kept]
        if total_margin is not None:
            total_margin = total_margin[kept]
    _warn_excluded(
        "customer_features",
        n_excluded,
        "with no order of positive net amount before the snapshot (only "
        "returns, cancellations or zero-value orders)",
        n_missing_ids,
        "line(s)",
        customer,
    )

    days_since = (snap - last) // _DAY_NS
    tenure = (snap - first) // _DAY_NS
    frequency = _FREQUENCY_DAYS * n_orders / np.maximum(tenure, _FREQUENCY_DAYS)
    engagement = (_percentile(frequency) + _percentile(last)) / 2
    if total_margin is None:
        profitability = _percentile(total_value)
    else:
        positive = total_value > 0
        rate = np.full(len(total_value), -np.inf)
        np.divide(total_margin, total_value, out=rate, where=positive)
        profitability = _percentile(rate)

    index = pd.Index(uniques, name=customer, copy=False)
    return pd.DataFrame(
        {
            "n_orders": n_orders.astype(np.int64),
            "total_value": total_value,
            "avg_order_value": total_value / n_orders,
            "first_order": _as_datetime(first, tz),
            "last_order": _as_datetime(last, tz),
            "days_since_last_order": days_since,
            "tenure_days": tenure,
            "engagement_score": engagement,
            "profitability_score": profitability,
        },
        index=index,
    )


def cart_abandoners(
    events,
    *,
    customer,
    time,
    event,
    cart="add_to_cart",
    purchase="purchase",
    window="7D",
    snapshot=None,
    value=None,
):
    """The customers who abandoned a cart recently, from a raw event log.

    The seed's universe: customers with a cart event within ``window``
    before ``snapshot`` and no purchase after their last cart event.

    Parameters
    ----------
    events : pandas.DataFrame or polars.DataFrame
        The event log, one row per event. Only the named columns are read.
    customer : str
        Column of customer ids. Cart and purchase events with a missing id
        are dropped and counted in an :class:`ExcludedCustomersWarning`.
    time : str
        Column of timestamps, read as in :func:`customer_features`.
    event : str
        Column of event types (text, categories or numbers); values other
        than ``cart`` and ``purchase`` (page views, removals from the cart,
        missing values) are ignored.
    cart : str or list of str, default="add_to_cart"
        The value (or values) of ``event`` that put something in a cart.
    purchase : str or list of str, default="purchase"
        The value (or values) of ``event`` that complete a purchase. Must not
        share a value with ``cart``.
    window : str, timedelta or number, default="7D"
        How far back from ``snapshot`` the last cart event may be: a
        :class:`pandas.Timedelta` string (``"7D"``, ``"36h"``), a timedelta,
        or a number of days. Must be positive. The window is half-open:
        ``snapshot - window <= abandoned_at < snapshot``.
    snapshot : str, datetime or pandas.Timestamp, optional
        The "now". Events at or after it are ignored. Default: midnight at the
        start of the calendar day after the latest event (any event type),
        as in :func:`customer_features`.
    value : str, optional
        Column of the cart events' values (the value of what each event put
        in the cart). Adds ``cart_value``.

    Returns
    -------
    abandoners : pandas.DataFrame
        One row per abandoner, indexed by customer id (named after the
        column), in order of the customers' first cart or purchase event in
        the log, with ``abandoned_at`` (the time of the last cart event,
        datetime64[ns], in the column's time zone) and, with ``value``,
        ``cart_value`` (float64): the sum of the values of the customer's
        cart events after their last purchase (all their cart events before
        the snapshot when they never purchased), i.e. what was put in the
        cart since the last checkout. Missing values among those events are
        refused.

    Raises
    ------
    ValueError
        A named column is missing (the message names it), a timestamp is
        missing or unparseable, ``window`` is not a positive duration,
        ``cart`` and ``purchase`` share a value, or ``snapshot`` is not a
        timestamp.
    TypeError
        ``events`` is not a DataFrame, ``time`` holds numbers, or ``value`` is
        not numeric.

    Warns
    -----
    ExcludedCustomersWarning
        When cart or purchase events with a missing customer id are dropped.

    See Also
    --------
    customer_features : The features of these customers, from their orders.

    Notes
    -----
    A purchase at the same time as the last cart event counts as a purchase
    after it (logs stamped to the second often stamp both alike). Removals
    from the cart are not modelled: a cart event counts until a purchase
    follows it.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_mece.features import cart_abandoners
    >>> events = pd.DataFrame({
    ...     "user": ["ann", "ann", "bob", "bob", "cy", "dee"],
    ...     "time": pd.to_datetime(["2024-03-01 09:00", "2024-03-09 08:30",
    ...                             "2024-03-08 09:00", "2024-03-08 10:00",
    ...                             "2024-03-09 12:00", "2024-02-01 09:00"]),
    ...     "event": ["add_to_cart", "add_to_cart", "add_to_cart", "purchase",
    ...               "add_to_cart", "add_to_cart"],
    ...     "price": [20.0, 15.0, 40.0, None, 9.5, 70.0],
    ... })
    >>> cart_abandoners(events, customer="user", time="time", event="event",
    ...                 value="price")  # doctest: +NORMALIZE_WHITESPACE
                 abandoned_at  cart_value
    user
    ann   2024-03-09 08:30:00        35.0
    cy    2024-03-09 12:00:00         9.5

    Bob bought after his cart event; Dee's cart is older than 7 days before
    the snapshot (2024-03-10, the day after the last event).
    """
    names = {"customer": customer, "time": time, "event": event, "value": value}
    columns = _read_columns(events, "events", names)
    carts, purchases = _event_values(cart, "cart"), _event_values(purchase, "purchase")
    shared = [v for v in carts if any(_same_value(v, p) for p in purchases)]
    if shared:
        raise ValueError(
            f"cart and purchase must not share an event value, got {shared!r} in both."
        )
    span = _window(window)
    stamps, tz = _timestamps(columns["time"], time)
    snap = _snapshot(snapshot, stamps, tz, time)

    kinds = columns["event"]
    is_cart = kinds.isin(carts).to_numpy(dtype=bool)
    is_purchase = kinds.isin(purchases).to_numpy(dtype=bool)
    relevant = (is_cart | is_purchase) & (stamps < snap)
    ids = columns["customer"]
    missing_ids = ids.isna().to_numpy(dtype=bool)
    n_missing_ids = int((missing_ids & relevant).sum())
    relevant &= ~missing_ids
    rows = np.flatnonzero(relevant)
    ids, stamps, is_cart = ids.take(rows), stamps[rows], is_cart[rows]

    codes, uniques = pd.factorize(ids)
    n_customers = len(uniques)
    last_cart = np.full(n_customers, _INT64_MIN, dtype=np.int64)
    np.maximum.at(last_cart, codes[is_cart], stamps[is_cart])
    last_purchase = np.full(n_customers, _INT64_MIN, dtype=np.int64)
    np.maximum.at(last_purchase, codes[~is_cart], stamps[~is_cart])
    abandoned = (
        (last_cart >= snap - span)
        & (last_cart > last_purchase)
        & (last_cart > _INT64_MIN)
    )
    _warn_excluded(
        "cart_abandoners", 0, "", n_missing_ids, "cart or purchase event(s)", customer
    )

    out = {"abandoned_at": _as_datetime(last_cart[abandoned], tz)}
    if value is not None:
        open_carts = is_cart & (stamps > last_purchase[codes]) & abandoned[codes]
        amounts = _numbers(columns["value"].take(rows[open_carts]), value)
        cart_value = np.bincount(
            codes[open_carts], weights=amounts, minlength=n_customers
        )
        out["cart_value"] = cart_value[abandoned]
    index = pd.Index(uniques[abandoned], name=customer, copy=False)
    return pd.DataFrame(out, index=index)


# --------------------------------------------------------------------------
# reading the columns
# --------------------------------------------------------------------------
def _read_columns(frame, what, names):
    """The named columns of a pandas or polars DataFrame as pandas Series.

    ``names`` maps a role (``"customer"``) to a column name or None (not
    used). A polars frame is converted once, only the columns read.
    """
    check_container(frame)
    polars = _is_polars_frame(frame)
    if not (polars or isinstance(frame, pd.DataFrame)):
        raise TypeError(
            f"{what} must be a pandas or polars DataFrame, got {type(frame).__name__}."
        )
    available = list(frame.columns)
    used = {role: name for role, name in names.items() if name is not None}
    for role, name in used.items():
        if name not in available:
            shown = available[:20] + (["..."] if len(available) > 20 else [])
            raise ValueError(
                f"Column {name!r} ({role}={name!r}) not found in {what}; it has "
                f"columns {shown}."
            )
    if polars:
        wanted = list(dict.fromkeys(used.values()))
        frame = frame.select(wanted).to_pandas()
    columns = {}
    for role, name in used.items():
        column = frame[name]
        if isinstance(column, pd.DataFrame):
            raise ValueError(
                f"Column name {name!r} ({role}={name!r}) is duplicated in {what}; "
                "it must name exactly one column."
            )
        columns[role] = column.reset_index(drop=True)
    return columns


def _timestamps(column, name):
    """``column`` as int64 nanoseconds since the epoch (UTC when tz-aware),
    and its time zone (None when naive)."""
    dtype = column.dtype
    if not pd.api.types.is_datetime64_any_dtype(dtype):
        if pd.api.types.is_numeric_dtype(dtype) or dtype.kind == "m":
            raise TypeError(
                f"Column {name!r} must hold timestamps, got {dtype}; numbers are "
                "never read as time since the epoch: convert them first, e.g. "
                "pd.to_datetime(column, unit='s')."
            )
        try:
            column = pd.to_datetime(column)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"Column {name!r} must hold timestamps: {exc}") from None
        if not pd.api.types.is_datetime64_any_dtype(column.dtype):
            raise ValueError(
                f"Column {name!r} must hold timestamps of one time zone (or none), "
                f"got values that parse to {column.dtype}."
            )
    n_missing = int(column.isna().sum())
    if n_missing:
        raise ValueError(
            f"Column {name!r} has {n_missing} missing timestamp(s); drop or fill "
            "those rows first."
        )
    tz = getattr(column.dtype, "tz", None)
    try:
        column = column.astype("datetime64[ns, UTC]" if tz else "datetime64[ns]")
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(
            f"Column {name!r} holds timestamps out of the supported range: {exc}"
        ) from None
    values = column.to_numpy() if tz is None else column.dt.tz_localize(None).to_numpy()
    return values.view(np.int64), tz


def _wall_clock(stamps, tz):
    """Nanoseconds of the local wall clock (calendar days follow the zone)."""
    if tz is None:
        return stamps
    utc = pd.DatetimeIndex(stamps.view("datetime64[ns]")).tz_localize("UTC")
    return utc.tz_convert(tz).tz_localize(None).asi8


def _as_datetime(nanoseconds, tz):
    stamps = pd.DatetimeIndex(np.asarray(nanoseconds).view("datetime64[ns]"))
    if tz is not None:
        stamps = stamps.tz_localize("UTC").tz_convert(tz)
    return stamps


def _snapshot(snapshot, stamps, tz, name):
    """The snapshot as int64 nanoseconds (UTC when tz-aware)."""
    if snapshot is None:
        if len(stamps) == 0:
            return _INT64_MAX
        last = int(_wall_clock(stamps, tz).max())
        midnight = pd.Timestamp((last // _DAY_NS + 1) * _DAY_NS)
        if tz is not None:
            midnight = midnight.tz_localize(
                tz, ambiguous=False, nonexistent="shift_forward"
            )
        return midnight.as_unit("ns").value
    stamp = as_timestamp(snapshot, "snapshot")
    if (stamp.tz is None) != (tz is None):
        raise ValueError(
            f"snapshot {stamp} and column {name!r} must both be timezone-aware or "
            "both naive."
        )
    return stamp.as_unit("ns").value


def _numbers(column, name):
    """Finite float64 values of a numeric column, or an error naming it."""
    try:
        values = column_as_float(column, name)
    except NonNumericColumnError:
        raise
    except ValueError as exc:  # text: the wrong type for an amount
        raise NonNumericColumnError(str(exc)) from None
    finite = np.isfinite(values)
    if not finite.all():
        n_nan = int(np.isnan(values).sum())
        if n_nan:
            raise ValueError(
                f"Column {name!r} has {n_nan} missing value(s); fill or drop those "
                "rows first."
            )
        raise infinite_values_error(name, int((~finite).sum()))
    return values


def _event_values(values, name):
    if values is None:
        raise ValueError(f"{name} must be an event value or a list of them, got None.")
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        return [values]
    values = list(values)
    if not values:
        raise ValueError(f"{name} must name at least one event value.")
    return values


def _same_value(a, b):
    # 1, 1.0, numpy's 1 and True name the same event value: equal is the same
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _window(window):
    if isinstance(window, str) and window.strip().replace(".", "", 1).isdigit():
        span = None  # "7" would be 7 nanoseconds: a unit is required
    elif isinstance(window, (np.timedelta64, datetime.timedelta)):
        span = pd.Timedelta(window)
    elif isinstance(window, numbers.Real) and not isinstance(window, bool):
        span = pd.Timedelta(days=float(window)) if np.isfinite(window) else None
    else:
        try:
            span = pd.Timedelta(window)
        except (TypeError, ValueError):
            span = None
    if span is None or span is pd.NaT or not span > pd.Timedelta(0):
        raise ValueError(
            f"window must be a positive duration ('7D', a timedelta or a number of "
            f"days; a text needs its unit), got {window!r}."
        )
    return span.as_unit("ns").value


# --------------------------------------------------------------------------
# grouping
# --------------------------------------------------------------------------
def _first_rows(codes, n_groups):
    """The row of each group's first line."""
    first = np.full(n_groups, len(codes), dtype=np.intp)
    np.minimum.at(first, codes, np.arange(len(codes), dtype=np.intp))
    return first


def _orders_by_id(ids, order_values):
    """Orders by id: the order code of each line, the customer code of each
    order and the customers (in order of their first line).

    Order ids are factorized alone and customers over the orders; when an id
    is shared by several customers (unusual) the pairs (customer, order) are
    factorized instead.
    """
    codes, uniques = pd.factorize(order_values)
    first = _first_rows(codes, len(uniques))
    owners = ids.take(first)
    same = owners.take(codes).to_numpy() == ids.to_numpy()
    if np.asarray(same, dtype=bool).all():
        owner_codes, customers = pd.factorize(owners)
        return codes, owner_codes, customers
    customer_codes, customers = pd.factorize(ids)
    codes, _ = pd.factorize(customer_codes.astype(np.int64) * len(uniques) + codes)
    first = _first_rows(codes, codes.max() + 1)
    return codes, customer_codes[first], customers


def _orders_by_day(ids, wall):
    """Orders by calendar day: the order code of each line, the customer code
    of each order and the customers (in order of their first line)."""
    customer_codes, customers = pd.factorize(ids)
    if len(wall) == 0:
        return customer_codes, customer_codes, customers
    day = wall // _DAY_NS
    first_day = day.min()
    n_days = int(day.max() - first_day) + 1
    codes, _ = pd.factorize(
        customer_codes.astype(np.int64) * n_days + (day - first_day)
    )
    first = _first_rows(codes, codes.max() + 1)
    return codes, customer_codes[first], customers


#: A ranked column whose sample of ~65,536 values holds at most this share of
#: distinct values is ranked by hashing (``pd.factorize``), else by argsort.
_HASH_RANK_MAX_DISTINCT = 0.75


def _midrank_percentile(values, descending=False):
    """Mid-rank empirical percentile in (0, 1) of every finite value; NaN stays.

    ``(#smaller + 0.5 * #equal) / n`` among the ``n`` non-NaN values (``1 -``
    that with ``descending``), exactly ``(rankdata(v, "average") - 0.5) / n``:
    the rank of a value is computed from integer counts, so the floats are
    the same. Values that repeat (prices in cents, integer days, scores with
    3 decimals) are ranked without sorting the rows: hash them
    (``pd.factorize``, O(n)), count each distinct value, and sort only the
    distinct values. Otherwise one argsort (no ``rankdata`` overhead).
    """
    n_all = values.shape[0]
    nan = np.isnan(values)
    n_nan = int(np.count_nonzero(nan))
    n = n_all - n_nan
    if n == 0:
        return np.full(values.shape, np.nan)
    step = max(1, n_all // 65536)
    sample = values[::step]
    n_sample = sample.shape[0] - int(np.count_nonzero(nan[::step]))
    distinct = len(pd.unique(sample)) - (n_sample < sample.shape[0])
    if distinct <= _HASH_RANK_MAX_DISTINCT * max(n_sample, 1):
        # codes index the distinct values in order of appearance; NaN gets -1.
        # Only the distinct values are sorted.
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        order = np.argsort(uniques)
        counts = np.bincount(codes[codes >= 0] if n_nan else codes)[order]
        high = np.cumsum(counts)  # #(<=) per distinct value, in sorted order
        table = np.empty(len(counts) + 1)
        table[order] = _unit_rank(high - counts, high, n, descending)
        table[-1] = np.nan
        return np.take(table, codes)  # code -1: the last entry
    finite = values[~nan] if n_nan else values
    order = np.argsort(finite)
    ordered = finite[order]
    # tie groups of the sorted values: first and one-past-last position
    start = np.empty(n, dtype=bool)
    start[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=start[1:])
    del ordered
    first = np.flatnonzero(start)
    group = np.cumsum(start) - 1
    del start
    last = np.append(first[1:], n)
    ranks = _unit_rank(first, last, n, descending)[group]
    del group
    unit = np.empty(n)
    unit[order] = ranks
    if not n_nan:
        return unit
    out = np.full(values.shape, np.nan)
    out[~nan] = unit
    return out


def _unit_rank(low, high, n, descending):
    """``(rank - 0.5) / n`` with ``rank = (low + high + 1) / 2`` (the average of
    the 1-based positions ``low + 1 .. high``), computed as scipy's rankdata
    and the seed-era code did, so the floats are identical."""
    rank = 0.5 * (np.asarray(high, dtype=np.intp) + low + 1)
    unit = (rank - 0.5) / n
    return 1.0 - unit if descending else unit


def _percentile(values):
    """Mid-rank percentile in (0, 1): ``(r - 0.5) / n``."""
    values = np.asarray(values)
    if values.dtype.kind in "iu" and len(values):
        values = values - values.min()  # exact as float64 (ns timestamps)
    return _midrank_percentile(values.astype(np.float64, copy=False))


def _warn_excluded(function, n_customers, why, n_missing, lines, column):
    parts = []
    if n_customers:
        parts.append(f"left out {n_customers} customer(s) {why}")
    if n_missing:
        parts.append(
            f"dropped {n_missing} {lines} with a missing customer id in column "
            f"{column!r}"
        )
    if parts:
        warn_user(f"{function} {' and '.join(parts)}.", ExcludedCustomersWarning)
