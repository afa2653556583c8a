"""Import costs: the operators over ``airflow.sdk``, and the core against Airflow.

Each run is a fresh interpreter. The first probe imports ``airflow.sdk``, then times
importing the operators module (what a DAG file adds at parse time) and reports whether
pymongo or the hook got imported. The second times ``import asp_core.stream_processing``
(the client, what a Dagster user or a script pays) and then every other module of
``asp_core``, and counts the modules loaded and whether any is Airflow's or Dagster's (goal:
none, and well under ``airflow.sdk``). Prints the median of the runs. A script, not a test.
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

CORE_PROBE = """
import importlib, json, pkgutil, sys, time
t0 = time.perf_counter()
import asp_core.stream_processing
t1 = time.perf_counter()
import asp_core
for module in pkgutil.walk_packages(asp_core.__path__, "asp_core."):
    importlib.import_module(module.name)
t2 = time.perf_counter()
orchestrators = sorted({m.split(".")[0] for m in sys.modules} & {"airflow", "dagster"})
print(json.dumps({"client": t1 - t0, "rest": t2 - t1, "modules": len(sys.modules),
                  "orchestrators": orchestrators}))
"""


def core_probe(env: dict[str, str]) -> dict[str, object]:
    """The core's figures in one fresh interpreter (see ``CORE_PROBE``)."""
    run = subprocess.run(
        [sys.executable, "-c", CORE_PROBE], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


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
        core_probe(env)
        cores = [core_probe(env) for _ in range(args.runs)]
    sdk = statistics.median(r[0] for r in results)
    operators = statistics.median(r[1] for r in results)
    loaded = sorted({module for r in results for module in r[2]})
    print(f"runs: {args.runs} fresh interpreters (median)")
    print(f"import airflow.sdk:                              {sdk * 1000:8.1f} ms")
    print(f"then import airflow_provider_asp.operators.asp: {operators * 1000:8.1f} ms")
    print(f"pymongo/bson/hook imported by the operators:    {', '.join(loaded) or 'no'}")
    client = statistics.median(float(c["client"]) for c in cores)  # type: ignore[arg-type]
    rest = statistics.median(float(c["rest"]) for c in cores)  # type: ignore[arg-type]
    modules = statistics.median(int(c["modules"]) for c in cores)  # type: ignore[call-overload]
    found = sorted({str(o) for c in cores for o in c["orchestrators"]})  # type: ignore[attr-defined]
    print(f"import asp_core.stream_processing (no Airflow): {client * 1000:8.1f} ms")
    print(f"then every other asp_core module:               {rest * 1000:8.1f} ms")
    print(f"modules loaded by all of asp_core:              {modules:8.0f}")
    print(f"Airflow or Dagster imported by asp_core:        {', '.join(found) or 'no'}")


if __name__ == "__main__":
    main()
