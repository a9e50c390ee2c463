"""The road not taken, measured: DuckDB's own S3 reader (the httpfs extension of the LTS line,
from its PyPI extension wheel, in a virtual environment of its own) against the project's
reader (pyarrow's S3 filesystem feeding DuckDB 2.0) on the same bucket and the same files.

    python -m venv /tmp/lts && /tmp/lts/bin/pip install duckdb==1.4.4 duckdb-extension-httpfs==1.4.4
    python -m benches.compare_httpfs --lts-python /tmp/lts/bin/python [--rows 2000000]

It starts SeaweedFS, writes :mod:`benches.synthetic_run` rows into a bucket, and times the
report's floor scan (best of 3) both ways over the committed files; the LTS side gets the list
of files (it must not glob: a glob would also read parts that never committed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from v2x.objectstore.bucket import Bucket
from v2x.objectstore.server import start_s3_server

from pipeline.ingest.bucket_store import destination_commits
from pipeline.sql.views import connect

from benches.synthetic_run import write_synthetic_run
from benches.test_object_storage import FLOOR_SQL, HOURS

LTS_SCRIPT = r"""
import json, sys, time, duckdb
from pathlib import Path
import duckdb_extension_httpfs
args = json.loads(sys.argv[1])
con = duckdb.connect()
con.execute("LOAD '" + str(next(Path(duckdb_extension_httpfs.__file__).parent.rglob("httpfs.duckdb_extension"))) + "'")
con.execute(
    "CREATE SECRET (TYPE s3, KEY_ID ?, SECRET ?, ENDPOINT ?, URL_STYLE 'path', USE_SSL false, REGION 'us-east-1')"
    .replace("?", "'{}'").format(args["key"], args["secret"], args["endpoint"])
)
files = "[" + ", ".join("'s3://" + f + "'" for f in args["files"]) + "]"
sql = args["sql"].replace("FROM messages", "FROM read_parquet(" + files + ", hive_partitioning = true)")
best = None
for _ in range(3):
    began = time.perf_counter()
    rows = con.execute(sql).fetchall()
    took = time.perf_counter() - began
    best = took if best is None else min(best, took)
print(json.dumps({"seconds": best, "rows": sum(r[1] for r in rows), "version": duckdb.__version__}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lts-python", required=True, help="the Python of the environment with DuckDB LTS and its httpfs wheel")
    parser.add_argument("--rows", type=int, default=2_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_s3_server(Path(tmp) / "s3") as server:
        os.environ.update(server.environment())
        bucket = Bucket.parse("s3://telemetry/synthetic")
        per_second = args.rows / (HOURS * 3600)
        vehicles, rsus = max(1, int(per_second * 0.85 / 10)), max(1, int(per_second * 0.15 / 21))
        run, rows = write_synthetic_run(Path(tmp) / "run", args.rows, vehicles=vehicles, rsus=rsus, chunk_s=60.0, bucket=bucket)
        files = [bucket.path(f) for cs in destination_commits(bucket).values() for c in cs for f in c.files]
        attach, query = [], []
        for _ in range(3):
            began = time.perf_counter()
            con = connect(run.root, sandboxed=True)
            attach.append(time.perf_counter() - began)
            began = time.perf_counter()
            counted = sum(r[1] for r in con.execute(FLOOR_SQL).fetchall())
            query.append(time.perf_counter() - began)
        assert counted == rows
        env = server.environment()
        lts_args = {
            "key": env["AWS_ACCESS_KEY_ID"],
            "secret": env["AWS_SECRET_ACCESS_KEY"],
            "endpoint": env["AWS_ENDPOINT_URL"].removeprefix("http://"),
            "files": files,
            "sql": FLOOR_SQL,
        }
        done = subprocess.run([args.lts_python, "-c", LTS_SCRIPT, json.dumps(lts_args)], capture_output=True, text=True)
        if done.returncode:
            sys.exit(done.stderr)
        lts = json.loads(done.stdout)
        assert lts["rows"] == rows
        print(f"{rows:,} rows in {len(files)} files over {HOURS} hours")
        print(f"pyarrow S3 filesystem -> DuckDB 2.0: the query {min(query):.3f} s (making the views: {min(attach):.3f} s)")
        print(f"DuckDB {lts['version']} httpfs:                 the query {lts['seconds']:.3f} s")


if __name__ == "__main__":
    main()
