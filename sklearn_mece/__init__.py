"""sklearn-mece: scikit-learn compatible MECE customer segmentation."""

__version__ = "0.1.0"

from ._mece import MECEReport, check_mece  # noqa: E402
from ._rules import Condition, LevelSpec, RuleSet, Segment, load_rules  # noqa: E402
from ._segmenter import HierarchicalSegmenter, SegmentSizeWarning  # noqa: E402
from .io import load, save  # noqa: E402
from ._thresholder import CollapsedCutsWarning, PercentileThresholder  # noqa: E402
from .presets import (  # noqa: E402
    CART_ABANDONER_RULES,
    describe_pipeline,
    make_cart_abandoner_pipeline,
)

__all__ = [
    "CART_ABANDONER_RULES",
    "CollapsedCutsWarning",
    "Condition",
    "HierarchicalSegmenter",
    "LevelSpec",
    "MECEReport",
    "PercentileThresholder",
    "RuleSet",
    "Segment",
    "SegmentSizeWarning",
    "__version__",
    "check_mece",
    "describe_pipeline",
    "load",
    "load_rules",
    "make_cart_abandoner_pipeline",
    "save",
]
