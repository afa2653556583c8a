"""The Dagster demo: ``dagster_asp.examples.definitions`` against the embedded emulator.

``make demo-dagster`` runs this with ``.venv-dagster/bin/python``. It starts the emulator
(TLS, a SCRAM user, the Admin API), sets the ``ASP_*`` variables the example's resources read,
materializes the workspace and its ``cluster0`` connection (the Admin API: created, READY),
then the processor's assets twice (a deploy, then nothing to do), ticks the three sensors with
``build_sensor_context``, makes the processor fail and ticks the state sensor again, drops the
processor, stops the emulator, checks that the password and the service account's secret
appear nowhere, and says how to
open the same definitions in the Dagster UI. Nothing is left running.
"""

import json
import os
import time
from collections.abc import Callable
from typing import Any

import dagster as dg

from asp_emulator import Workspace

PASSWORD = "demo-Passw0rd-never-logged"
MODULE = "dagster_asp.examples.definitions"
#: Everything the demo shows, and every event Dagster stored, is searched for the password.
OUTPUT: list[str] = []
#: The secrets to search for: the password and the Admin API's service account secret.
SECRETS: list[str] = [PASSWORD]


def say(text: str = "") -> None:
    OUTPUT.append(text)
    print(text, flush=True)


def set_env(workspace: Workspace) -> dict[str, str]:
    client_id, client_secret = workspace.service_account(role="GROUP_STREAM_PROCESSING_OWNER")
    SECRETS.append(client_secret)
    env = {
        "ASP_HOST": workspace.host,
        "ASP_PORT": str(workspace.port),
        "ASP_USERNAME": "demo",
        "ASP_PASSWORD": PASSWORD,
        "ASP_TLS_CA_FILE": workspace.ca_file,
        "ASP_ADMIN_URL": workspace.admin_url,
        "ASP_ADMIN_PROJECT_ID": workspace.project_id,
        "ASP_ADMIN_CLIENT_ID": client_id,
        "ASP_ADMIN_CLIENT_SECRET": client_secret,
        "ASP_WORKSPACE_NAME": workspace.workspace_name,
    }
    os.environ.update(env)
    return env


def materialize(
    assets: list[dg.AssetsDefinition], defs: dg.Definitions, instance: Any, title: str
) -> None:
    result = dg.materialize(assets, resources=dict(defs.resources or {}), instance=instance)
    say(f"\n{title}: {'success' if result.success else 'FAILED'}")
    for event in result.get_asset_materialization_events():
        meta = event.materialization.metadata
        key = event.materialization.asset_key.to_user_string()
        say(
            f"  {key:<24} steps: {meta['asp/steps'].value}  changed: {meta['asp/changed'].value}"
            f"  state: {meta['asp/state'].value}"
        )
    for check in result.get_asset_check_evaluations():
        verdict = "passed" if check.passed else "FAILED"
        say(f"  check {check.check_name:<18} on {check.asset_key.to_user_string():<20} {verdict}")


def materialize_admin(
    assets: list[dg.AssetsDefinition], defs: dg.Definitions, instance: Any, title: str
) -> None:
    result = dg.materialize(assets, resources=dict(defs.resources or {}), instance=instance)
    say(f"\n{title}: {'success' if result.success else 'FAILED'}")
    for event in result.get_asset_materialization_events():
        meta = {k: v.value for k, v in event.materialization.metadata.items()}
        key = event.materialization.asset_key.to_user_string()
        state = f"  state: {meta['asp/state']}" if "asp/state" in meta else ""
        say(f"  {key:<32} action: {meta['asp/action']}{state}")


def tick(
    sensor: dg.SensorDefinition,
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    cursor: str | None,
) -> tuple[Any, str | None]:
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources=dict(defs.resources or {})
    ) as context:
        result = sensor.evaluate_tick(context)
    return result, result.cursor


def tick_until(
    sensor: dg.SensorDefinition,
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    cursor: str | None,
    done: Callable[[Any], bool],
    timeout: float = 20.0,
) -> tuple[Any, str | None]:
    """Tick (with the cursor each tick leaves) until ``done``; a bounded wait."""
    deadline = time.monotonic() + timeout
    while True:
        result, cursor = tick(sensor, defs, instance, cursor)
        if done(result) or time.monotonic() > deadline:
            return result, cursor
        time.sleep(0.2)


def show_stats(result: Any) -> None:
    for event in result.asset_events or []:
        if isinstance(event, dg.AssetObservation):
            meta = {k: v.value for k, v in event.metadata.items()}
            counts = {k: meta[k] for k in sorted(meta) if "Count" in k or k.endswith("state")}
            say(f"  observation on {event.asset_key.to_user_string()}: {json.dumps(counts)}")
        elif isinstance(event, dg.AssetCheckEvaluation):
            verdict = "passed" if event.passed else "FAILED"
            say(
                f"  check {event.check_name:<16} on {event.asset_key.to_user_string():<20} "
                f"{verdict}"
            )


def main() -> None:
    began = time.monotonic()
    with Workspace(users={"demo": PASSWORD}, admin_api=True, admin_ready_delay=0.5) as workspace:
        say(f"ASP emulator on {workspace.host}:{workspace.port} (TLS, user 'demo'),")
        say(f"its Admin API at {workspace.admin_url} (project {workspace.project_id})")
        env = set_env(workspace)
        from dagster_asp.examples import definitions as example

        defs = example.defs
        with dg.DagsterInstance.ephemeral() as instance:
            materialize_admin(
                [example.workspace_asset, *example.connection_assets],
                defs,
                instance,
                "Materialize the workspace and its connection (the Admin API)",
            )
            materialize(
                example.processor_assets, defs, instance, "Materialize the example's assets"
            )
            materialize(
                example.processor_assets, defs, instance, "Materialize again (nothing to do)"
            )
            leaked = run(workspace, defs, example, instance)
            events = [
                dg.serialize_value(record)
                for run_record in instance.get_runs()
                for record in instance.all_logs(run_record.run_id)
            ]
        left = workspace.processors()
    text = "\n".join(OUTPUT + events)
    found = leaked or any(secret in text for secret in SECRETS)
    say(f"\nProcessors left on the workspace: {len(left)}. Emulator stopped.")
    say(f"Password in any output: {'YES (bug!)' if found else 'no'}")
    say("\nThe same definitions in the Dagster UI (against an emulator or a workspace):")
    names = " ".join(f"{k}=..." for k in env)
    say(f"  {names} dagster dev -m {MODULE} -h 127.0.0.1")
    say("  (an emulator that prints them all: python -m asp_emulator serve --admin-api;")
    say("   materialize the workspace and cluster0 assets first: they deploy the connection)")
    say(f"Demo took {time.monotonic() - began:.1f} s.")
    if found or left:
        raise SystemExit(1)


def run(workspace: Workspace, defs: dg.Definitions, example: Any, instance: Any) -> bool:
    """The sensor ticks, the failure and the clean-up; whether a result held the password."""
    shown: list[str] = []
    say("\nTick the state sensor")
    result, state_cursor = tick(example.state_sensor, defs, instance, None)
    say(f"  runs requested: {len(result.run_requests or [])} (solar_high is STARTED)")

    say("\nTick the stats sensor twice (the second compares with the first)")
    cursor: str | None = None
    for _ in range(2):
        result, cursor = tick(example.stats_sensor, defs, instance, cursor)
    show_stats(result)
    shown.append(dg.serialize_value(result.asset_events))

    say("\nTick the output sensor until a batch of readings above 250 W is ready")
    result, _ = tick_until(
        example.output_sensor, defs, instance, None, lambda r: bool(r.run_requests)
    )
    for request in result.run_requests or []:
        config = request.run_config["ops"]["consume_high_readings"]["config"]
        say(f"  run requested: job consume_high, {config['count']} documents")
        shown.append(json.dumps(request.run_config, default=str))

    say("\nThe processor fails (emulated: 'Kafka broker unreachable')")
    workspace.fail_processor("solar_high", "Kafka broker unreachable", code=9)
    result, _ = tick_until(
        example.state_sensor, defs, instance, state_cursor, lambda r: bool(r.run_requests)
    )
    for request in result.run_requests or []:
        say(f"  run requested: job {request.job_name or 'remediate'}, run_key {request.run_key}")
        for tag, value in sorted(request.tags.items()):
            if tag.startswith("asp/"):
                say(f"    {tag:<22} {value!r}")
        shown.append(json.dumps(request.tags))

    say("\nClean up: drop the processor")
    drop(defs)
    return any(secret in text for secret in SECRETS for text in shown)


def drop(defs: dg.Definitions) -> None:
    from dagster_asp import asp_drop_processor_op

    @dg.job
    def retire() -> None:
        asp_drop_processor_op()

    result = retire.execute_in_process(
        resources=dict(defs.resources or {}),
        run_config={"ops": {"asp_drop_processor_op": {"config": {"processor_name": "solar_high"}}}},
    )
    say(f"  {result.output_for_node('asp_drop_processor_op')}")


if __name__ == "__main__":
    main()
