"""sklearn-mece: scikit-learn compatible MECE customer segmentation."""

from ._backend import get_num_threads, set_num_threads, thread_limit  # noqa: E402
from ._cluster import ClusterSegmenter  # noqa: E402
from ._compare import (  # noqa: E402
    Comparison,
    Migration,
    Stability,
    compare_segmentations,
    segment_migration,
    segment_stability,
)
from ._lift import assign_holdout, observed_lift, shrink_lift  # noqa: E402
from ._mece import MECEReport, check_mece  # noqa: E402
from ._rfm import RFM_RULES, make_rfm_pipeline  # noqa: E402
from ._rules import (  # noqa: E402
    Condition,
    LevelSpec,
    RuleSet,
    Segment,
    load_rules,
    rules_schema,
)
from ._scorer import SegmentScorer, robust_unit  # noqa: E402
from ._segment_base import (  # noqa: E402
    DomainWarning,
    EmptyLevelWarning,
    PopulationShiftWarning,
    SegmentMergeWarning,
    SegmentSizeWarning,
)
from ._segmenter import HierarchicalSegmenter  # noqa: E402
from ._thresholder import CollapsedCutsWarning, PercentileThresholder  # noqa: E402
from ._version import __version__  # noqa: E402
from .engine import MECESegmentationEngine  # noqa: E402
from .export import (  # noqa: E402
    export_assignments,
    export_audiences,
    export_report,
    segment_report,
)
from .io import load, save  # noqa: E402
from .metrics import tune_thresholds  # noqa: E402
from .presets import (  # noqa: E402
    CART_ABANDONER_RULES,
    describe_pipeline,
    make_cart_abandoner_pipeline,
)
from .report import html_report, write_html_report  # noqa: E402

__all__ = [
    "CART_ABANDONER_RULES",
    "ClusterSegmenter",
    "CollapsedCutsWarning",
    "Comparison",
    "Condition",
    "DomainWarning",
    "EmptyLevelWarning",
    "HierarchicalSegmenter",
    "LevelSpec",
    "MECESegmentationEngine",
    "MECEReport",
    "Migration",
    "PercentileThresholder",
    "PopulationShiftWarning",
    "RFM_RULES",
    "RuleSet",
    "Segment",
    "SegmentMergeWarning",
    "SegmentScorer",
    "SegmentSizeWarning",
    "Stability",
    "__version__",
    "assign_holdout",
    "check_mece",
    "compare_segmentations",
    "describe_pipeline",
    "export_assignments",
    "export_audiences",
    "export_report",
    "get_num_threads",
    "html_report",
    "load",
    "load_rules",
    "make_cart_abandoner_pipeline",
    "make_rfm_pipeline",
    "observed_lift",
    "robust_unit",
    "rules_schema",
    "segment_migration",
    "segment_stability",
    "thread_limit",
    "tune_thresholds",
    "save",
    "segment_report",
    "set_num_threads",
    "shrink_lift",
    "write_html_report",
]
