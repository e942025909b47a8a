"""Find a pipeline's steps by what they are, not by what they are called.

Every module that reads a fitted pipeline (the exporters, the HTML report,
the comparisons, the command line, the presets) asks this module for its
thresholder (:class:`PercentileThresholder`), its segment step
(:class:`HierarchicalSegmenter`, :class:`ClusterSegmenter` or any other
:class:`~sklearn_mece._segment_base.SegmentOutputMixin`) and its scorer
(:class:`SegmentScorer`). Steps are recognised with ``isinstance``, so a
pipeline whose steps carry other names (``("rules", HierarchicalSegmenter())``)
is read the same way as the preset.
"""

from typing import NamedTuple

from ._scorer import SegmentScorer
from ._segment_base import SegmentOutputMixin
from ._thresholder import PercentileThresholder

_KINDS = (
    ("thresholder", PercentileThresholder),
    ("segmenter", SegmentOutputMixin),
    ("scorer", SegmentScorer),
)


class PipelineSteps(NamedTuple):
    """The steps of a pipeline that sklearn-mece reads, ``None`` when absent.

    Attributes
    ----------
    thresholder : PercentileThresholder or None
        The last thresholder before the segment step (or the last one).
    segmenter : HierarchicalSegmenter, ClusterSegmenter or None
        The segment step: the last step that assigns segments.
    scorer : SegmentScorer or None
        The last scorer.
    segment_index : int or None
        Position of ``segmenter`` in ``pipeline.steps``; ``None`` for a bare
        estimator or without a segment step.
    names : dict of str -> str
        Step name of each found step, keyed ``"thresholder"``, ``"segmenter"``,
        ``"scorer"`` (empty for a bare step): the prefix of its parameters in
        ``pipeline.set_params``.
    """

    thresholder: object = None
    segmenter: object = None
    scorer: object = None
    segment_index: int | None = None
    names: dict = {}


def find_steps(pipeline):
    """The thresholder, segment step and scorer of a pipeline or a bare step.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline or estimator
        A pipeline (fitted or not), or one bare step (then it is the only step
        found, in the field its type gives).

    Returns
    -------
    PipelineSteps

    Examples
    --------
    >>> from sklearn_mece import make_cart_abandoner_pipeline
    >>> steps = find_steps(make_cart_abandoner_pipeline())
    >>> type(steps.segmenter).__name__, steps.segment_index
    ('HierarchicalSegmenter', 1)
    >>> steps.names
    {'thresholder': 'thresholds', 'segmenter': 'segments', 'scorer': 'scores'}
    >>> type(steps.scorer).__name__
    'SegmentScorer'
    >>> find_steps(steps.scorer).segmenter is None
    True
    """
    steps = getattr(pipeline, "steps", None)
    if steps is None:
        found = {kind: pipeline for kind, cls in _KINDS if isinstance(pipeline, cls)}
        return PipelineSteps(**found, names={})
    found, where = {}, {}
    for i, (name, step) in enumerate(steps):
        for kind, cls in _KINDS:
            if isinstance(step, cls):
                found[kind], where[kind] = step, (i, name)
    seg_at = where.get("segmenter")
    if seg_at is not None and where.get("thresholder", (-1,))[0] > seg_at[0]:
        # the thresholder whose levels the segment step reads comes before it
        before = [
            (i, s)
            for i, s in enumerate(steps[: seg_at[0]])
            if isinstance(s[1], PercentileThresholder)
        ]
        if before:
            i, (name, step) = before[-1]
            found["thresholder"], where["thresholder"] = step, (i, name)
    return PipelineSteps(
        **found,
        segment_index=None if seg_at is None else seg_at[0],
        names={kind: at[1] for kind, at in where.items()},
    )


def segment_steps(pipeline):
    """Every step that assigns segments, as ``(name, step)`` pairs.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline or estimator
        A bare segment step gives ``[(None, step)]``.

    Returns
    -------
    list of tuple

    Examples
    --------
    >>> from sklearn_mece import make_cart_abandoner_pipeline
    >>> [name for name, _ in segment_steps(make_cart_abandoner_pipeline())]
    ['segments']
    """
    steps = getattr(pipeline, "steps", None)
    if steps is None:
        return [(None, pipeline)] if isinstance(pipeline, SegmentOutputMixin) else []
    return [(name, s) for name, s in steps if isinstance(s, SegmentOutputMixin)]


def segment_step(pipeline, *, fitted=True):
    """The segment step of a pipeline (or a bare segment step), else an error.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline or estimator
    fitted : bool, default=True
        Also require the step to be fitted (to have ``segment_names_``).

    Returns
    -------
    HierarchicalSegmenter or ClusterSegmenter

    Raises
    ------
    ValueError
        Naming what was found instead.

    Examples
    --------
    >>> from sklearn_mece import make_cart_abandoner_pipeline
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> pipe = make_cart_abandoner_pipeline(min_size=0)
    >>> type(segment_step(pipe, fitted=False)).__name__
    'HierarchicalSegmenter'
    >>> segment_step(pipe)
    Traceback (most recent call last):
    ...
    ValueError: The segment step 'segments' (HierarchicalSegmenter) is not fitted: ...
    """
    steps = find_steps(pipeline)
    seg = steps.segmenter
    if seg is None:
        names = [name for name, _ in getattr(pipeline, "steps", ())]
        what = (
            f"the pipeline's steps {names}"
            if names
            else f"{type(pipeline).__name__} (not a pipeline)"
        )
        raise ValueError(
            "Expected a segment step (HierarchicalSegmenter or ClusterSegmenter, "
            f"usually named 'segments'), found none in {what}; e.g. "
            "make_cart_abandoner_pipeline(...).fit(X)."
        )
    if fitted and not hasattr(seg, "segment_names_"):
        name = steps.names.get("segmenter")
        name = "" if name is None else f" {name!r}"
        raise ValueError(
            f"The segment step{name} ({type(seg).__name__}) is not fitted: it has "
            "no `segment_names_`; fit the pipeline first."
        )
    return seg
