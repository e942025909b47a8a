"""The fitted preset as SQL: DuckDB running the query against ``transform``.

    python benchmarks/bench_sql.py [--rows N] [--repeat R]
                                   [--parquet-rows N] [--memory-limit 256MB]

1. In memory. The preset (thresholds, segments, scores) is fitted on ``--rows``
   synthetic customers (10^7 by default: the four preset features, a third of
   the values rounded so that many sit exactly on the cuts). Timed round-robin
   in one process, medians of ``--repeat`` runs: ``pipeline.transform`` of the
   pandas frame against DuckDB executing ``sklearn_mece.sql.to_sql(pipeline,
   "customers")`` on the same frame (registered, not copied) and fetching the
   result as Arrow (segment, score and tier of every row). Both outputs are
   checked equal row by row once.
2. Beyond memory. A parquet file of ``--parquet-rows`` rows (5 x 10^7 by
   default, about 1.6 GB of float64 columns and an id) is segmented by DuckDB
   with ``memory_limit`` set to ``--memory-limit``, end to end
   (``COPY (query) TO 'out.parquet'``), in a fresh process whose peak resident
   memory (``VmHWM``) is reported.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import pandas as pd
from _common import machine, medians_interleaved

from sklearn_mece import make_cart_abandoner_pipeline
from sklearn_mece.sql import to_sql

MB = 2**20


def make_frame(rows, seed=0):
    """The preset's four features; a third of each rounded (values on the cuts)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(rows, dtype=np.int64),
            "avg_order_value": rng.lognormal(4.5, 0.8, rows),
            "engagement_score": rng.random(rows),
            "profitability_score": rng.random(rows),
            "days_since_last_order": rng.integers(0, 400, rows).astype(np.float64),
        }
    )
    rounded = rng.random(rows) < 1 / 3
    for column in ("avg_order_value", "engagement_score", "profitability_score"):
        frame.loc[rounded, column] = frame.loc[rounded, column].round(1)
    return frame


def fitted_pipeline(frame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_cart_abandoner_pipeline(min_size=0, max_size=None).fit(frame)


def in_memory(rows, repeat):
    import duckdb

    frame = make_frame(rows)
    pipe = fitted_pipeline(frame)
    query = to_sql(pipe, "customers", id_columns=["customer_id"])
    con = duckdb.connect()
    con.register("customers", frame)

    def ours():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pipe.transform(frame)

    def duck():
        return con.sql(query).to_arrow_table()

    expected = ours()
    got = duck().to_pandas().set_index("customer_id").loc[frame["customer_id"]]
    same = bool(
        (got["segment"].to_numpy() == expected["segment"].astype(str).to_numpy()).all()
        and np.array_equal(
            got["segment_score"].to_numpy(), expected["segment_score"].to_numpy()
        )
    )
    times = medians_interleaved({"transform": ours, "duckdb": duck}, repeat)
    return times, same


_CHILD = """
import sys, duckdb
query, parquet, out, limit = sys.argv[1:5]
con = duckdb.connect()
con.execute(f"SET memory_limit = '{limit}'")
con.execute("SET threads = 2")
con.execute("SET preserve_insertion_order = false")
con.read_parquet(parquet).create_view("customers")
con.execute(f"COPY ({query}) TO '{out}' (FORMAT parquet)")
# VmHWM: this process's peak resident memory (ru_maxrss would include the
# parent's at fork time)
with open("/proc/self/status") as status:
    hwm = [line for line in status if line.startswith("VmHWM:")][0]
print(int(hwm.split()[1]) * 1024)
"""


def beyond_memory(rows, limit):
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq

    fit_frame = make_frame(200_000, seed=1)
    pipe = fitted_pipeline(fit_frame)
    query = to_sql(pipe, "customers", id_columns=["customer_id"])
    with tempfile.TemporaryDirectory() as tmp:
        parquet = os.path.join(tmp, "customers.parquet")
        writer = None
        chunk = 5_000_000
        for start in range(0, rows, chunk):
            part = make_frame(min(chunk, rows - start), seed=start + 2)
            part["customer_id"] += start
            table = pa.Table.from_pandas(part, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(parquet, table.schema)
            writer.write_table(table)
        writer.close()
        size = os.path.getsize(parquet)
        out = os.path.join(tmp, "segments.parquet")
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", _CHILD, query, parquet, out, limit],
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise RuntimeError(f"DuckDB child failed:\n{result.stderr[-2000:]}")
        elapsed = time.perf_counter() - start
        peak = int(result.stdout.strip().splitlines()[-1])
        n_out = pq.ParquetFile(out).metadata.num_rows
    return {"size": size, "seconds": elapsed, "peak": peak, "rows_out": n_out}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--parquet-rows", type=int, default=50_000_000)
    parser.add_argument("--memory-limit", default="256MB")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    times, same = in_memory(args.rows, args.repeat)
    ratio = times["transform"] / times["duckdb"]
    print(f"\n{args.rows:,} rows in memory, medians of {args.repeat} runs\n")
    print("| | time | ratio |")
    print("|---|---|---|")
    print(
        f"| `pipeline.transform` (pandas in, pandas out) | "
        f"{1e3 * times['transform']:,.0f} ms | 1.00x |"
    )
    print(
        f"| DuckDB running `to_sql(pipeline)` (fetch as Arrow) | "
        f"{1e3 * times['duckdb']:,.0f} ms | {ratio:.2f}x |"
    )
    print(f"| same segment and score, row by row | {'yes' if same else 'NO'} | |")
    if args.parquet_rows:
        res = beyond_memory(args.parquet_rows, args.memory_limit)
        print(
            f"\nparquet of {args.parquet_rows:,} rows ({res['size'] / MB:,.0f} MB on "
            f"disk, {args.parquet_rows * 5 * 8 / MB:,.0f} MB as float64 columns), "
            f"DuckDB memory_limit {args.memory_limit}: {res['seconds']:.1f} s end to "
            f"end, peak resident memory {res['peak'] / MB:,.0f} MB, "
            f"{res['rows_out']:,} rows written"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
