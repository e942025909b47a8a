"""Segment a parquet dataset larger than the memory you allow, chunk by chunk.
===========================================================================

Two passes over the files, never more than one chunk in memory:

1. ``PercentileThresholder.partial_fit`` on every chunk: mergeable KLL sketches
   (Apache DataSketches) learn the cut points of the preset's columns, each
   within a stated rank error. A small random sample of rows is kept on the
   way to fit the segmenter's merges (``min_size`` as a share of rows).
2. ``transform`` of every chunk through the preset's thresholds + segments;
   each chunk's ``customer_id`` and segment are written to an output parquet
   dataset, and the segment sizes are counted.

Usage::

    # make a 20-million-row dataset (about 800 MB as float64) and segment it
    # with chunks of 1 million rows
    python examples/out_of_core.py /tmp/customers --generate 20_000_000

    python examples/out_of_core.py PATH [--chunk-rows N] [--max-memory MB]

``--max-memory`` sizes the chunks from a memory budget (approximate: the
interpreter and libraries take ~200 MB, the first chunk ~100 MB more once,
then ~8x a chunk's float64 size) instead of ``--chunk-rows``. Measured on 20
million rows (763 MB as float64): peak resident memory 316 MB with chunks of
50,000 rows (7.8 s), 604 MB with chunks of 1,000,000 rows (5.5 s).
Progress goes to stderr (tqdm if installed, else a counter). Needs pyarrow and
datasketches: ``pip install 'sklearn-mece[parquet,sketch]'``.
"""

import argparse
import os
import resource
import sys
import time
import warnings

import numpy as np
import pandas as pd

try:
    import sklearn_mece  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir))

from sklearn_mece import make_cart_abandoner_pipeline

FEATURES = [
    "avg_order_value",
    "engagement_score",
    "profitability_score",
    "days_since_last_order",
]
BYTES_PER_ROW = 8 * (len(FEATURES) + 1)  # float64 features + int64 id


# ---------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------
class Progress:
    """Rows done out of a total, on stderr: tqdm if installed, else a counter."""

    def __init__(self, total, desc):
        self.total, self.desc, self.done, self.start = total, desc, 0, time.time()
        try:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="rows", unit_scale=True)
        except ImportError:
            self.bar = None

    def update(self, n):
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        rate = self.done / max(time.time() - self.start, 1e-9)
        sys.stderr.write(
            f"\r{self.desc}: {self.done:,} / {self.total:,} rows "
            f"({100 * self.done / max(self.total, 1):.0f}%, {rate / 1e6:.1f} M rows/s)"
        )
        sys.stderr.flush()

    def close(self):
        if self.bar is not None:
            self.bar.close()
        else:
            sys.stderr.write("\n")


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------
def generate(path, n_rows, n_files=8, seed=0, block=1_000_000):
    """Write ``n_rows`` customers as ``n_files`` parquet files, block by block.

    Files follow customer cohorts (later files: higher order values), the
    order in which real exports arrive and the one that breaks naive
    per-partition percentiles.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    os.makedirs(path, exist_ok=True)
    rng = np.random.default_rng(seed)
    per_file = -(-n_rows // n_files)
    progress = Progress(n_rows, "generate")
    start_id = 0
    for f in range(n_files):
        rows_left = min(per_file, n_rows - start_id)
        if rows_left <= 0:
            break
        with pq.ParquetWriter(
            os.path.join(path, f"part-{f:03d}.parquet"), _schema()
        ) as w:
            while rows_left > 0:
                n = min(block, rows_left)
                frame = pd.DataFrame(
                    {
                        "customer_id": np.arange(
                            start_id, start_id + n, dtype=np.int64
                        ),
                        "avg_order_value": np.round(
                            rng.lognormal(np.log(100.0) + 0.1 * f, 0.75, n), 2
                        ),
                        "engagement_score": np.round(rng.beta(2.0, 3.0, n), 3),
                        "profitability_score": np.round(rng.random(n), 3),
                        "days_since_last_order": rng.integers(0, 365, n).astype(float),
                    }
                )
                w.write_table(pa.Table.from_pandas(frame, preserve_index=False))
                start_id += n
                rows_left -= n
                progress.update(n)
    progress.close()


def _schema():
    import pyarrow as pa

    return pa.schema(
        [("customer_id", pa.int64())] + [(c, pa.float64()) for c in FEATURES]
    )


def _files(path):
    if os.path.isfile(path):
        return [path]
    return sorted(
        os.path.join(path, f) for f in os.listdir(path) if f.endswith(".parquet")
    )


def chunks(path, chunk_rows, columns):
    """pandas DataFrames of at most ``chunk_rows`` rows, file after file.

    ``ParquetFile.iter_batches`` streams one batch at a time (the dataset
    scanner reads ahead several batches, which defeats a memory budget).
    """
    import pyarrow.parquet as pq

    for name in _files(path):
        with pq.ParquetFile(name) as f:
            for batch in f.iter_batches(
                batch_size=chunk_rows, columns=columns, use_threads=False
            ):
                if batch.num_rows:
                    yield batch.to_pandas()


def count_rows(path):
    import pyarrow.parquet as pq

    total = 0
    for name in _files(path):
        with pq.ParquetFile(name) as f:
            total += f.metadata.num_rows
    return total


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# ---------------------------------------------------------------------------
# the two passes
# ---------------------------------------------------------------------------
def segment(path, out_path, chunk_rows, min_share=1e-4, sample_share=0.002, seed=0):
    """Fit by chunks, transform by chunks; returns the fitted pipeline and sizes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    total = count_rows(path)
    rng = np.random.default_rng(seed)
    pipe = make_cart_abandoner_pipeline(min_size=min_share, max_size=None)[:2]
    thresholds, segments = pipe.named_steps["thresholds"], pipe.named_steps["segments"]

    # pass 1: sketches + a uniform sample for the segmenter's merges
    sample = []
    progress = Progress(total, "pass 1/2 partial_fit")
    for chunk in chunks(path, chunk_rows, FEATURES):
        thresholds.partial_fit(chunk)
        sample.append(chunk[rng.random(len(chunk)) < sample_share])
        progress.update(len(chunk))
    progress.close()
    sample = pd.concat(sample, ignore_index=True)
    segments.fit(thresholds.transform(sample))

    # pass 2: transform, write customer_id + segment, count
    os.makedirs(out_path, exist_ok=True)
    sizes = np.zeros(len(segments.segment_names_), dtype=np.int64)
    progress = Progress(total, "pass 2/2 transform")
    names = pa.array(segments.segment_names_, type=pa.string())
    schema = pa.schema(
        [
            ("customer_id", pa.int64()),
            ("segment", pa.dictionary(pa.int8(), pa.string())),
        ]
    )
    with pq.ParquetWriter(os.path.join(out_path, "segments.parquet"), schema) as writer:
        for chunk in chunks(path, chunk_rows, ["customer_id", *FEATURES]):
            out = pipe.transform(chunk)
            codes = out["segment"].cat.codes.to_numpy()  # int8, no strings per row
            sizes += np.bincount(codes, minlength=sizes.size)
            segment = pa.DictionaryArray.from_arrays(pa.array(codes), names)
            ids = pa.array(chunk["customer_id"].to_numpy())
            writer.write_table(pa.table([ids, segment], schema=schema))
            progress.update(len(chunk))
    progress.close()
    return pipe, pd.Series(sizes, index=segments.segment_names_, name="size")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="directory of parquet files")
    parser.add_argument(
        "--generate",
        type=lambda s: int(s.replace("_", "")),
        metavar="ROWS",
        help="first write a generated dataset of ROWS customers to PATH",
    )
    parser.add_argument("--chunk-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--max-memory",
        type=float,
        metavar="MB",
        help="size chunks to fit this budget (overrides --chunk-rows)",
    )
    parser.add_argument("--out", help="output directory (default: PATH + '_segments')")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", UserWarning)

    if args.generate:
        generate(args.path, args.generate)
    chunk_rows = args.chunk_rows
    if args.max_memory:
        # measured: ~100 MB once (kernels, sketches, pyarrow's pool) plus
        # ~8-12x a chunk's float64 size; the interpreter and libraries already
        # hold peak_rss_mb()
        room = max(args.max_memory - peak_rss_mb() - 100, 8.0) * 2**20
        chunk_rows = max(10_000, int(room / (12 * BYTES_PER_ROW)))
    total = count_rows(args.path)
    data_mb = total * BYTES_PER_ROW / 2**20
    print(
        f"{total:,} rows in {args.path} ({data_mb:,.0f} MB in memory as float64), "
        f"chunks of {chunk_rows:,} rows",
        file=sys.stderr,
    )
    out_path = args.out or args.path.rstrip("/") + "_segments"
    rss_start = peak_rss_mb()
    start = time.time()
    pipe, sizes = segment(args.path, out_path, chunk_rows)
    thresholds = pipe.named_steps["thresholds"]
    print(f"\nsegmented {total:,} rows in {time.time() - start:.1f} s -> {out_path}")
    print(
        f"peak memory (RSS) {peak_rss_mb():,.0f} MB ({rss_start:,.0f} MB before the "
        f"first chunk: interpreter and libraries) for {data_mb:,.0f} MB of data"
    )
    print("\ncut points (rank error, 99% confidence):")
    for name in thresholds.columns_:
        cuts = ", ".join(f"{c:,.4g}" for c in thresholds.cuts_[name])
        eps = 100 * np.nanmax(thresholds.rank_error_[name])
        print(f"  {name}: {cuts}  (+/- {eps:.2f}% in rank)")
    print("\nsegment sizes:")
    print(sizes.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
