"""The cart-abandoner preset: the seed script's hierarchy as a Pipeline.

The hierarchy is declared once, as plain data (:data:`CART_ABANDONER_RULES`);
the thresholder's percentiles, the segmenter's rules, ``describe()``, the
exporters and the command line all read that one declaration. The columns it
reads are listed once too (:data:`PRESET_COLUMNS`); ``columns=`` maps them to
the data's own names.
"""

import os
from collections.abc import Mapping
from types import MappingProxyType

from sklearn.pipeline import Pipeline

from ._base import DocLinkMixin
from ._pipeline import find_steps, segment_step
from ._rules import RuleSet, _rule_features, load_rules
from ._scorer import SCORE_INPUTS, SegmentScorer
from ._segmenter import HierarchicalSegmenter
from ._thresholder import PercentileThresholder

__all__ = [
    "CART_ABANDONER_RULES",
    "PRESET_COLUMNS",
    "SegmentationPipeline",
    "describe_pipeline",
    "make_cart_abandoner_pipeline",
]


class SegmentationPipeline(DocLinkMixin, Pipeline):
    """A Pipeline whose output container also applies to steps set later.

    scikit-learn's :class:`~sklearn.pipeline.Pipeline` forgets
    ``set_output(transform="pandas")`` for a step replaced with ``set_params``
    (``pipe.set_params(segments=ClusterSegmenter(...))``): the new step returns
    an ndarray and every later step loses the column names. This subclass
    remembers the configured container and applies it again after
    ``set_params``, so a challenger swapped into the preset keeps the
    DataFrame contract. Everything else is :class:`~sklearn.pipeline.Pipeline`
    (segment size validity is the segment step's alone: nothing to keep in step).

    Parameters
    ----------
    steps : list of tuple
        ``(name, estimator)`` pairs, as in :class:`~sklearn.pipeline.Pipeline`.
    transform_input : list of str, default=None
        As in :class:`~sklearn.pipeline.Pipeline`.
    memory : str or object with the joblib.Memory interface, default=None
        As in :class:`~sklearn.pipeline.Pipeline`.
    verbose : bool, default=False
        As in :class:`~sklearn.pipeline.Pipeline`.

    Examples
    --------
    >>> from sklearn_mece import ClusterSegmenter, make_cart_abandoner_pipeline
    >>> pipe = make_cart_abandoner_pipeline()
    >>> pipe = pipe.set_params(segments=ClusterSegmenter())
    >>> pipe.named_steps["segments"]._sklearn_output_config["transform"]
    'pandas'
    """

    def set_output(self, *, transform=None):
        """Set the output container of every step, now and after ``set_params``.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"}, default=None
            Output container of ``transform`` and ``fit_transform``; ``None``
            leaves the configuration unchanged.

        Returns
        -------
        self : SegmentationPipeline
            The pipeline, its steps configured.
        """
        super().set_output(transform=transform)
        if transform is not None:
            self._sklearn_output_config = {"transform": transform}
        return self

    def set_params(self, **params):
        """Set parameters, then re-apply the configured output container.

        Parameters
        ----------
        **params : dict
            As :meth:`sklearn.pipeline.Pipeline.set_params`.

        Returns
        -------
        self : SegmentationPipeline
            The pipeline, its parameters set.
        """
        super().set_params(**params)
        transform = getattr(self, "_sklearn_output_config", {}).get("transform")
        if transform is not None:
            super().set_output(transform=transform)
        return self


_BY_POSITION = sorted(SCORE_INPUTS, key=lambda i: i.position)

#: The columns the cart-abandoner preset reads, in the seed's order, with their
#: meaning: the scorer's inputs (:data:`sklearn_mece._scorer.SCORE_INPUTS`),
#: which :data:`CART_ABANDONER_RULES` also tests. ``columns=`` of
#: :func:`make_cart_abandoner_pipeline` and of :class:`MECESegmentationEngine`
#: and ``--map`` on the command line map these names to the user's.
PRESET_COLUMNS = MappingProxyType({i.column: i.description for i in _BY_POSITION})

#: The scorer parameter naming each preset column.
_SCORER_PARAMS = MappingProxyType({i.column: i.param for i in _BY_POSITION})


def _preset_columns_text(sep="; "):
    """``name: meaning`` of every preset column, joined by ``sep``."""
    return sep.join(f"{name}: {meaning}" for name, meaning in PRESET_COLUMNS.items())


def _column_mapping(columns):
    """Check ``columns=`` (preset column -> user column); a plain dict.

    Raises
    ------
    TypeError
        Not a mapping, or a user column that is not a string.
    ValueError
        A key that is not a preset column (the message lists them), an empty
        name, or two preset columns that would read one column.
    """
    if columns is None:
        return {}
    if not isinstance(columns, Mapping):
        raise TypeError(
            "columns must be a mapping of the preset's column names to yours, "
            f"e.g. {{'avg_order_value': 'history'}}; got {type(columns).__name__}."
        )
    unknown = [k for k in columns if k not in PRESET_COLUMNS]
    if unknown:
        reversed_ = [k for k in unknown if columns[k] in PRESET_COLUMNS]
        hint = (
            f" (did you mean {{{columns[reversed_[0]]!r}: {reversed_[0]!r}}}?)"
            if reversed_
            else ""
        )
        raise ValueError(
            f"Unknown preset column(s) {', '.join(map(repr, unknown))} in columns; "
            f"the keys are the preset's column names ({_preset_columns_text()}) "
            f"and the values your column names{hint}."
        )
    for preset, user in columns.items():
        if not isinstance(user, str):
            raise TypeError(
                f"columns[{preset!r}] must be the name of your column (a string), "
                f"got {type(user).__name__} {user!r}."
            )
        if not user:
            raise ValueError(f"columns[{preset!r}] must be a non-empty column name.")
    read = {}
    for preset in PRESET_COLUMNS:
        user = columns.get(preset, preset)
        if user in read:
            raise ValueError(
                f"columns: the preset columns {read[user]!r} and {preset!r} would "
                f"both read the column {user!r}; map each to a column of its own."
            )
        read[user] = preset
    return dict(columns)


#: The seed's segment hierarchy over ``avg_order_value``, ``engagement_score``,
#: ``profitability_score`` and ``days_since_last_order``.
CART_ABANDONER_RULES = RuleSet.from_dict(
    {
        "levels": {
            "avg_order_value": {
                "names": ["low", "medium", "high"],
                "percentiles": [40, 75],
            },
            "engagement_score": {
                "names": ["low", "medium", "high"],
                "percentiles": [40, 70],
            },
            "profitability_score": {"names": ["low", "high"], "percentiles": [70]},
        },
        # what the seed's features can be: a value outside gives a DomainWarning
        "domains": {
            "avg_order_value": {"min": 0},
            "engagement_score": {"min": 0, "max": 1},
            "profitability_score": {"min": 0, "max": 1},
            "days_since_last_order": {"min": 0},
        },
        "segments": [
            {
                "name": "High_AOV_Premium",
                "when": [["avg_order_value", "==", "high"]],
                "description": "Top-quarter basket values: a small lift in recovery "
                "is worth more here than anywhere else.",
                "strategy": "Premium recovery: personal outreach, concierge help, "
                "exclusive rather than discount-led offers.",
            },
            {
                "name": "Med_AOV_High_Engagement",
                "when": [
                    ["avg_order_value", "==", "medium"],
                    ["engagement_score", "==", "high"],
                ],
                "description": "Mid-range baskets from highly responsive users: the "
                "sweet spot between value and likelihood to act.",
                "strategy": "Targeted incentives with urgency and social proof "
                "(low stock, others bought).",
            },
            {
                "name": "Med_AOV_Med_Engagement_High_Profit",
                "when": [
                    ["avg_order_value", "==", "medium"],
                    ["engagement_score", "==", "medium"],
                    ["profitability_score", "==", "high"],
                ],
                "description": "Moderately engaged but highly profitable users: "
                "margin justifies a dedicated effort.",
                "strategy": "Value-led messaging, loyalty enrolment and product "
                "education instead of deep discounts.",
            },
            {
                "name": "Low_AOV_High_Engagement",
                "when": [
                    ["avg_order_value", "==", "low"],
                    ["engagement_score", "==", "high"],
                ],
                "description": "Small baskets from engaged, price-sensitive users: "
                "room to grow volume.",
                "strategy": "Modest percentage discounts, bundles and referral "
                "rewards.",
            },
            {
                "name": "Recent_Customers",
                "when": [["days_since_last_order", "<=", 30]],
                "description": "Bought within the last month: already committed, "
                "often only need a reminder.",
                "strategy": "Soft reminders, complementary products and loyalty "
                "points; no discount needed.",
            },
        ],
        "else": {
            "name": "Other_Bucket",
            "description": "Everyone else: a broad base where efficiency matters "
            "more than personalisation.",
            "strategy": "Automated reminder sequences, general offers and brand "
            "awareness.",
        },
    }
)


def make_cart_abandoner_pipeline(
    min_size=500,
    max_size=20000,
    *,
    rules=None,
    scoring_weights=None,
    columns=None,
    **params,
):
    """The seed's segmentation as an unfitted scikit-learn Pipeline.

    Steps: ``thresholds`` (:class:`PercentileThresholder`: AOV p40/p75,
    engagement p40/p70, profitability p70), ``segments``
    (:class:`HierarchicalSegmenter` with :data:`CART_ABANDONER_RULES`) and
    ``scores`` (:class:`SegmentScorer`: the seed's score dimensions and tiers;
    pass ``scores__treatment=`` and ``scores__outcome=`` for an observed lift).
    Output is pandas; columns are selected by name, so extra input columns pass through
    and the column order may change between fit and transform.

    Parameters
    ----------
    min_size : int or float, default=500
        Segments smaller at fit merge into the ELSE bucket (``0``: no merge).
    max_size : int or float, default=20000
        Segments larger at fit are flagged invalid (see ``segments__max_size_policy``).
        Both limits are the segment step's; it alone decides which segments
        are valid (``segment_table_``, and :func:`segment_report`).
    rules : RuleSet, dict or str, default=None
        Another hierarchy in place of :data:`CART_ABANDONER_RULES`: a
        :class:`RuleSet`, its plain-data form or the path of a JSON/TOML rules
        file (:func:`load_rules`). The thresholder learns the percentiles its
        ``levels`` section declares (:meth:`RuleSet.percentiles`).
    scoring_weights : dict or sequence of floats, default=None
        The seed's ``scoring_weights``, keyed like
        :data:`sklearn_mece._scorer.DEFAULT_WEIGHTS` (one weight per score
        dimension), passed to the scorer as ``scores__weights``; ``None``:
        those defaults.
    columns : dict of str to str, default=None
        Your names for the preset's columns (:data:`PRESET_COLUMNS`), keyed by
        the preset's name: ``{"avg_order_value": "history",
        "days_since_last_order": "recency"}``; columns not given keep the
        preset's name. The rules are renamed (:meth:`RuleSet.rename`; with
        ``rules=``, the features of those rules that are preset columns), so
        the thresholder's percentiles, its level columns (``history_level``)
        and the scorer's column parameters (``scores__aov_column``, ...) all
        use your names; segment names and results are unchanged. A
        ``scores__<input>_column`` in ``params`` still wins.
    **params
        Any ``step__param`` of the pipeline, e.g. ``thresholds__method="lower"``
        or ``segments__output="codes"``.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Unfitted; ``transform`` returns the input with the level columns, a
        categorical ``segment``, a float ``segment_score`` and a categorical
        ``segment_tier`` (``"Tier 1"`` .. ``"Tier 4"``) added.

    Examples
    --------
    >>> from sklearn_mece import make_cart_abandoner_pipeline
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> X = make_cart_abandoners(2_000, random_state=0)
    >>> pipe = make_cart_abandoner_pipeline(min_size=50)
    >>> out = pipe.fit_transform(X)
    >>> len(out) == len(X), bool(out["segment"].isna().any())
    (True, False)
    >>> list(pipe.named_steps["segments"].segment_names_)[-1]
    'Other_Bucket'
    >>> list(out.columns[-3:])
    ['segment', 'segment_score', 'segment_tier']
    >>> report = pipe.named_steps["scores"].report_
    >>> report["score"].idxmax()
    'High_AOV_Premium'

    Data with its own column names:

    >>> mine = X.rename(columns={"avg_order_value": "history",
    ...                          "days_since_last_order": "recency"})
    >>> pipe = make_cart_abandoner_pipeline(
    ...     min_size=50,
    ...     columns={"avg_order_value": "history", "days_since_last_order": "recency"})
    >>> mine_out = pipe.fit_transform(mine)
    >>> "history_level" in mine_out, pipe.named_steps["scores"].aov_column
    (True, 'history')
    >>> bool((mine_out["segment"] == out["segment"]).all())
    True
    >>> make_cart_abandoner_pipeline(columns={"aov": "history"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Unknown preset column(s) 'aov' in columns; the keys are the preset's column names (avg_order_value: Average order value; ...) and the values your column names.
    """
    columns = _column_mapping(columns)
    if rules is None:
        rules = CART_ABANDONER_RULES
    elif isinstance(rules, (str, os.PathLike)):
        rules = load_rules(rules)
    else:
        rules = RuleSet.from_dict(rules)
    if not rules.percentiles():
        raise ValueError(
            "The rules declare no percentiles under 'levels'; the thresholder "
            "needs at least one feature with percentiles."
        )
    if columns:
        suffix = params.get("segments__level_suffix", "_level")
        named = _rule_features(rules, suffix)
        rules = rules.rename(
            {k: v for k, v in columns.items() if k in named}, suffix=suffix
        )
    scorer = SegmentScorer(
        weights=scoring_weights,
        tier_output="names",
        select_by_name=True,
        **{_SCORER_PARAMS[k]: v for k, v in columns.items()},
    )
    return _preset_pipeline(rules, min_size, max_size, scorer=scorer, **params)


def _preset_pipeline(
    rules, min_size, max_size, *, scorer=None, closed="left", **params
):
    """The steps every preset is made of: thresholds, segments, optional scores.

    The thresholder learns the percentiles ``rules`` declare (columns selected
    by name, ``closed`` ties); the segment step applies ``rules`` with the size
    limits and names output; ``scorer`` (a :class:`SegmentScorer`) is the third
    step when given. pandas output; ``params`` are ``step__param`` settings.

    Examples
    --------
    >>> from sklearn_mece.presets import CART_ABANDONER_RULES, _preset_pipeline
    >>> [name for name, _ in _preset_pipeline(CART_ABANDONER_RULES, 0, None).steps]
    ['thresholds', 'segments']
    """
    steps = [
        (
            "thresholds",
            PercentileThresholder(
                percentiles=rules.percentiles(), select_by_name=True, closed=closed
            ),
        ),
        (
            "segments",
            HierarchicalSegmenter(
                rules.to_dict(),
                min_size=min_size,
                max_size=max_size,
                output="names",
                select_by_name=True,
            ),
        ),
    ]
    if scorer is not None:
        steps.append(("scores", scorer))
    pipe = SegmentationPipeline(steps)
    pipe.set_output(transform="pandas")
    if params:
        pipe.set_params(**params)
    return pipe


def describe_pipeline(pipeline):
    """Describe a fitted preset-like pipeline: rules with learned cut values.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted, with a segment step (and usually a thresholder), found by type.

    Returns
    -------
    str
        The segment step's rules in words, with the thresholder's cut values
        when it has learned them.

    Examples
    --------
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> pipe = make_cart_abandoner_pipeline(min_size=0).fit(
    ...     make_cart_abandoners(1_000, random_state=0))
    >>> print(describe_pipeline(pipe).splitlines()[1])  # doctest: +ELLIPSIS
       - avg_order_value is high (avg_order_value >= ...)
    """
    thresholds = find_steps(pipeline).thresholder
    seg = segment_step(pipeline)
    if getattr(thresholds, "cuts_", None) is None:
        return seg.describe()
    return seg.describe(cuts=thresholds)
