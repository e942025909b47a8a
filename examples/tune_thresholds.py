"""Cut points tuned on the incremental outcome, checked on rows the search never saw.
==================================================================================

Usage::

    python examples/tune_thresholds.py PATH/TO/hillstrom.csv [--outcome visit]
                                       [--test-size 0.3] [--cv 5] [--seed 0]
                                       [--n-bootstrap 1000]

On Kevin Hillstrom's e-mail test (64,000 customers, a randomized no-e-mail
control; the features are mapped as in ``examples/real_lift.py``), the rows
are split once into a training part and an untouched test part, stratified
by treatment and outcome. On the training part:

* **seed**: the cart-abandoner preset with the seed's percentiles
  (``avg_order_value`` 40/75, ``engagement_score`` 40/70,
  ``profitability_score`` 70), fitted with the observed lift;
* **tuned**: :func:`sklearn_mece.tune_thresholds` searches the percentiles
  of the three features by the policy value of ``--cv`` folds (each
  candidate fitted on four folds and judged on the fifth), keeping the
  preset's size limits as a constraint;
* **uplift tree** (if EconML is installed, ``pip install econml``): a causal
  forest (EconML's ``CausalForestDML``) summarised by a single tree of as
  many leaves as the tuned segmentation has segments
  (``SingleTreeCateInterpreter``): unconstrained splits, no hierarchy, no
  size limits, no ELSE bucket.

Each then contacts the segments (or leaves) whose lift on the training part
is positive, and the three are compared on the test part only: the
incremental outcome per customer with a bootstrap interval, and each one's
difference from the seed's (paired resamples). The table is printed in
markdown. The data is not part of this project: pass the path of your copy.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

try:
    import sklearn_mece  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from real_lift import OUTCOMES, hillstrom_features  # noqa: E402

from sklearn_mece import make_cart_abandoner_pipeline  # noqa: E402
from sklearn_mece.metrics import (  # noqa: E402
    compare_policies,
    pipeline_policy,
    segment_policy,
    tune_thresholds,
)

FEATURES = [
    "avg_order_value",
    "engagement_score",
    "profitability_score",
    "days_since_last_order",
]

#: The candidates: every combination of these percentiles (the seed's first).
SEARCH_SPACE = {
    "thresholds__percentiles": [
        {
            "avg_order_value": aov,
            "engagement_score": engagement,
            "profitability_score": profit,
        }
        for aov in [(40, 75), (30, 70), (50, 80), (40, 85)]
        for engagement in [(40, 70), (30, 60), (50, 80)]
        for profit in [(70,), (50,), (85,)]
    ]
}


def _split(n_rows, strata, test_size, seed):
    from sklearn.model_selection import train_test_split

    return train_test_split(
        np.arange(n_rows), test_size=test_size, stratify=strata, random_state=seed
    )


def _uplift_tree(F_train, t_train, y_train, F_test, n_leaves, seed, budget):
    """EconML's causal forest summarised by one tree of ``n_leaves`` leaves;
    its leaves contacted where the training lift is positive."""
    from econml.cate_interpreter import SingleTreeCateInterpreter
    from econml.dml import CausalForestDML
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import HistGradientBoostingRegressor

    forest = CausalForestDML(
        model_y=HistGradientBoostingRegressor(max_iter=100, random_state=seed),
        model_t=DummyClassifier(),  # randomized: the propensity is constant
        discrete_treatment=True,
        n_estimators=200,
        min_samples_leaf=200,
        random_state=seed,
    )
    forest.fit(y_train, t_train, X=F_train)
    tree = SingleTreeCateInterpreter(
        max_leaf_nodes=n_leaves, min_samples_leaf=500, include_model_uncertainty=False
    ).interpret(forest, F_train)
    leaves = np.unique(tree.tree_model_.apply(F_train))
    train_codes = np.searchsorted(leaves, tree.tree_model_.apply(F_train))
    test_codes = np.searchsorted(leaves, tree.tree_model_.apply(F_test))
    frame = pd.DataFrame({"leaf": train_codes, "t": t_train, "y": y_train})
    means = frame.groupby(["leaf", "t"])["y"].mean().unstack()
    lift = (means[1.0] - means[0.0]).reindex(range(len(leaves))).to_numpy()
    sizes = np.bincount(train_codes, minlength=len(leaves))
    return test_codes, len(leaves), segment_policy(lift, sizes, budget)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="hillstrom.csv")
    parser.add_argument("--outcome", choices=OUTCOMES, default="visit")
    parser.add_argument("--test-size", type=float, default=0.3)
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.add_argument("--min-size", type=int, default=500)
    parser.add_argument("--max-size", type=float, default=0.5)
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="contact at most this share of the customers (best segments first)",
    )
    args = parser.parse_args(argv)

    data = hillstrom_features(pd.read_csv(args.path))
    t = data["treatment"].to_numpy(dtype=float)
    y = data[args.outcome].to_numpy(dtype=float)
    train, test = _split(len(data), 2 * t + (y > 0), args.test_size, args.seed)
    X = data[FEATURES]
    X_train, X_test = X.iloc[train], X.iloc[test]
    print(
        f"Hillstrom, outcome {args.outcome}: {len(train):,} training rows, "
        f"{len(test):,} untouched test rows."
    )

    seed_pipe = make_cart_abandoner_pipeline(
        min_size=args.min_size, max_size=args.max_size
    )
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = tune_thresholds(
            seed_pipe,
            X_train,
            treatment=t[train],
            outcome=y[train],
            search_space=SEARCH_SPACE,
            cv=args.cv,
            budget=args.budget,
            n_bootstrap=args.n_bootstrap,
            random_state=args.seed,
        )
        seed_fitted = seed_pipe.fit(
            X_train, scores__treatment=t[train], scores__outcome=y[train]
        )
    chosen = result.best_params_["thresholds__percentiles"]
    print(
        f"Searched {len(result.cv_results_)} candidates x {args.cv} folds in "
        f"{time.perf_counter() - started:.0f} s; chosen: {chosen}"
    )
    print("\nOut-of-fold on the training part (the tuned one chosen on these folds):")
    print(result.policy_value_.to_string(float_format=lambda v: f"{v:+.5f}"))

    policies = {
        "seed (40/75, 40/70, 70)": pipeline_policy(
            seed_fitted, X_test, budget=args.budget
        ),
        "tuned": pipeline_policy(result.best_pipeline_, X_test, budget=args.budget),
    }
    n_segments = len(result.best_pipeline_.named_steps["scores"].segments_)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            policies[f"uplift tree ({n_segments} leaves, EconML)"] = _uplift_tree(
                X_train.to_numpy(),
                t[train],
                y[train],
                X_test.to_numpy(),
                n_segments,
                args.seed,
                args.budget,
            )
    except ImportError:
        print("\n(EconML is not installed: pip install econml for the uplift tree.)")
    table = compare_policies(
        policies,
        t[test],
        y[test],
        n_bootstrap=args.n_bootstrap,
        random_state=args.seed,
    )
    spend = args.outcome == "spend"
    unit = "dollars per customer" if spend else "per 100 customers"
    scale = 1.0 if spend else 100.0
    budget = "" if args.budget is None else f", at most {args.budget:.0%} contacted"
    print(
        f"\nOn the untouched test rows: incremental {args.outcome} "
        f"({unit} of the test rows) when each policy contacts the segments "
        f"whose training lift "
        f"is positive{budget}; 95 % bootstrap intervals, paired for the "
        "differences:\n"
    )
    print(f"| policy | {args.outcome} {unit} | 95 % interval |")
    print("|---|---:|---:|")
    for name, row in table.iterrows():
        print(
            f"| {name} | {scale * row['policy_value']:+.2f} | "
            f"[{scale * row['ci_low']:+.2f}, {scale * row['ci_high']:+.2f}] |"
        )
    return table


if __name__ == "__main__":
    main()
