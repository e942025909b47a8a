"""Champion vs challenger: the rule-based preset against a KMeans segmentation.
============================================================================

Usage::

    python examples/champion_challenger.py [--n-users N] [--n-clusters K]
                                           [--random-state S] [--resamples R]
                                           [--output-dir DIR]

On the mock cart-abandoner data, the champion is the seed's rule hierarchy
(:func:`make_cart_abandoner_pipeline`); the challenger is the same pipeline
with its ``segments`` step swapped for a :class:`ClusterSegmenter` wrapping
``KMeans`` on the four features the rules read. Everything after the segmenter
(the scorer) runs unchanged. The script prints:

1. the comparison (:func:`compare_segmentations`): agreement indices, best
   match and Jaccard per segment, size compliance, score differences, crosstab;
2. the challenger's clusters (centroids in the features' own units);
3. the stability of both under re-fitting on K folds
   (:func:`segment_stability`): the share of held-out rows that change segment;
4. the migration of both between this snapshot and a simulated one a week
   later (:func:`segment_migration`).

With ``--output-dir`` the comparison is written as CSV, JSON and HTML, and the
migration heatmaps as PNG.
"""

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

try:
    import sklearn_mece  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.cluster import KMeans  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from sklearn_mece import (  # noqa: E402
    ClusterSegmenter,
    SegmentSizeWarning,
    compare_segmentations,
    make_cart_abandoner_pipeline,
    segment_migration,
    segment_stability,
)
from sklearn_mece.datasets import make_cart_abandoners  # noqa: E402

FEATURES = [
    "avg_order_value",
    "engagement_score",
    "profitability_score",
    "days_since_last_order",
]
ABBREVIATIONS = {
    "avg_order_value": "aov",
    "engagement_score": "eng",
    "profitability_score": "profit",
    "days_since_last_order": "days",
}


def make_challenger(n_clusters, min_size, random_state):
    """The preset with a KMeans segmentation in place of the rules."""
    segments = ClusterSegmenter(
        KMeans(n_clusters, n_init=10),
        FEATURES,
        abbreviations=ABBREVIATIONS,
        min_size=min_size,
        output="names",
        random_state=random_state,
    )
    pipe = make_cart_abandoner_pipeline(min_size=min_size)
    # Pipeline.set_params does not pass the pipeline's output container on to the
    # new step: ask for pandas again so the scorer reads columns by name.
    return pipe.set_params(segments=segments).set_output(transform="pandas")


def next_week(X, random_state):
    """A simulated snapshot a week later: 5 % churn, 5 % new, behaviour drift."""
    rng = np.random.RandomState(random_state)
    after = X.sample(frac=0.95, random_state=rng).copy()
    after["days_since_last_order"] += 7
    buyers = rng.uniform(size=len(after)) < 0.1  # 10 % ordered again this week
    after.loc[buyers, "days_since_last_order"] = rng.randint(0, 7, buyers.sum())
    drift = np.exp(0.15 * rng.standard_normal(len(after)))
    after["engagement_score"] = np.clip(after["engagement_score"] * drift, 0, 1)
    new = make_cart_abandoners(len(X) // 20, random_state=random_state + 1)
    new["user_id"] += 10 * len(X)
    return pd.concat([after, new], ignore_index=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-users", type=int, default=20_000)
    parser.add_argument("--n-clusters", type=int, default=6)
    parser.add_argument("--min-size", type=int, default=500)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--resamples", type=int, default=5, help="folds (>= 2)")
    parser.add_argument("--output-dir", type=Path, default=None)
    args = parser.parse_args(argv)

    X = make_cart_abandoners(args.n_users, random_state=args.random_state)
    champion = make_cart_abandoner_pipeline(min_size=args.min_size)
    challenger = make_challenger(args.n_clusters, args.min_size, args.random_state)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SegmentSizeWarning)
        comparison = compare_segmentations(champion, challenger, X)
    print(comparison)

    print("\nchallenger clusters (centroids at fit):")
    print(challenger.named_steps["segments"].centroid_table_.round(2).to_string())

    print(f"\nstability under re-fitting on {args.resamples} folds:")
    for name, pipe in (("champion", champion), ("challenger", challenger)):
        stability = segment_stability(
            pipe, X, args.resamples, "kfold", random_state=args.random_state
        )
        fragile = ", ".join(stability.fragile_segments) or "none"
        print(
            f"  {name:<10} {100 * stability.change_rate:5.1f} % of held-out rows "
            f"change segment; fragile: {fragile}"
        )

    after = next_week(X, args.random_state)
    print("\nmigration to a simulated snapshot a week later:")
    migrations = {}
    for name, pipe in (("champion", champion), ("challenger", challenger)):
        migrations[name] = segment_migration(pipe, X, after, "user_id")
        s = migrations[name].summary
        print(
            f"  {name:<10} stability rate {migrations[name].stability_rate:.3f}; "
            f"{s['n_exits']:,} exits, {s['n_entries']:,} entries"
        )

    if args.output_dir is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out = args.output_dir
        out.mkdir(parents=True, exist_ok=True)
        comparison.to_csv(out / "comparison_champion.csv")
        comparison.to_csv(out / "comparison_crosstab.csv", table="crosstab")
        comparison.to_json(out / "comparison.json")
        comparison.to_html(out / "comparison.html")
        for name, migration in migrations.items():
            ax = migration.plot()
            ax.figure.savefig(out / f"migration_{name}.png", bbox_inches="tight")
            plt.close(ax.figure)
        print(f"\nwrote comparison and migration heatmaps to {out}")
    return comparison


if __name__ == "__main__":
    # Small data: one BLAS/OpenMP thread is fastest and avoids busy-waiting
    # threads on a loaded machine.
    with threadpool_limits(1):
        main()
