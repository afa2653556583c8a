"""Import cost of ``airflow_provider_asp.operators.asp`` over ``airflow.sdk`` alone.

Each run is a fresh interpreter that imports ``airflow.sdk``, then times importing the
operators module (what a DAG file adds at parse time) and reports whether pymongo or the
hook got imported. Prints the median of the runs. A script, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

PROBE = """
import json, sys, time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
import airflow_provider_asp.operators.asp
t2 = time.perf_counter()
heavy = ("pymongo", "bson", "airflow_provider_asp.hooks.asp")
print(json.dumps({"sdk": t1 - t0, "operators": t2 - t1,
                  "loaded": [m for m in heavy if m in sys.modules]}))
"""


def probe(env: dict[str, str]) -> tuple[float, float, list[str]]:
    """(seconds for airflow.sdk, seconds for the operators after it, heavy modules loaded)."""
    run = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    return float(result["sdk"]), float(result["operators"]), list(result["loaded"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="asp-import-home-") as home:
        env = {**os.environ, "AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        probe(env)  # warm the file cache and compile bytecode once
        results = [probe(env) for _ in range(args.runs)]
    sdk = statistics.median(r[0] for r in results)
    operators = statistics.median(r[1] for r in results)
    loaded = sorted({module for r in results for module in r[2]})
    print(f"runs: {args.runs} fresh interpreters (median)")
    print(f"import airflow.sdk:                              {sdk * 1000:8.1f} ms")
    print(f"then import airflow_provider_asp.operators.asp: {operators * 1000:8.1f} ms")
    print(f"pymongo/bson/hook imported by the operators:    {', '.join(loaded) or 'no'}")


if __name__ == "__main__":
    main()
