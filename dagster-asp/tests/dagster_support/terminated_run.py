"""A materialization in a process of its own, for the termination tests: its arguments are
one JSON document (the resource's fields, the processors, ``cancel``); it prints the run's
final status as one JSON line. The instance is ``DAGSTER_HOME``'s."""

import json
import sys

import dagster as dg

from dagster_asp import AspProcessor, AspWorkspace, build_asp_processor_assets


def main() -> None:
    args = json.loads(sys.argv[1])
    processors = [AspProcessor(**fields) for fields in args["processors"]]
    assets = build_asp_processor_assets(
        processors, timeout=120, poll_interval=0.1, cancel_on_termination=args["cancel"]
    )
    instance = dg.DagsterInstance.get()
    result = dg.materialize(
        assets,
        resources={"asp": AspWorkspace(**args["resource"])},
        instance=instance,
        raise_on_error=False,
    )
    run = instance.get_run_by_id(result.run_id)
    print(json.dumps({"status": None if run is None else run.status.value}), flush=True)


if __name__ == "__main__":
    main()
