"""A triggerer dies with an event watcher on it; the other live triggerer takes it over.

Real Airflow 3.3 on PostgreSQL (a private cluster on 127.0.0.1): API server, scheduler
(LocalExecutor), DAG processor and two triggerers, both running before the DAG file is
parsed, every process bound to 127.0.0.1. The DAG file is the ``asp_event_driven``
example: an output watcher (readings of 400 W or more) and a state watcher (FAILED) of the
processor its deploy DAG deploys on a connection the test feeds.

Documents fed go to the consumer DAG, each once. Once each watcher runs in exactly the
triggerer that holds it (see :func:`settled`), the triggerer holding the output watcher
(the state watcher may be on it or not) is SIGKILLed (its process group, as a machine
dies); readings are fed while nobody watches (no sample cursor may open until they are
out); the watcher's trigger row moves to the survivor's job, which polls a sample cursor of
its own. Readings fed after that reach the consumer DAG exactly once, the earlier ones are
not sent again, and a failure starts the remediation DAG once.

Readings the processor emits while no triggerer runs the output watcher are outside what
the trigger promises (a sample is a tap, see :mod:`airflow_provider_asp.triggers.events`):
the test measures whether they arrive and asserts only that nothing arrives twice. On this
emulator a new sample cursor first hands out the processor's last 1,000 outputs, so they
do arrive, through the trigger's replay guard.

The figures (seconds, wall clock) are printed and written to
``artifacts/event_failover/figures.json``.
"""

from __future__ import annotations

import collections
import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asp_emulator import Workspace
from tests.support.airflow import PASSWORD, connection_json
from tests.support.airflow_cluster import LOOPBACK, AirflowCluster
from tests.support.event_driven import (
    CONSUMER,
    DEPLOY,
    EXAMPLE,
    FAILURE_ASSET,
    FEED,
    OUTPUT_TRIGGER,
    PROCESSOR,
    REMEDIATION,
    STATE_TRIGGER,
    as_json,
    assert_remediated_once,
    asset_events,
    by_device,
    consumed,
    count,
    done_runs,
    hot,
    looks,
    readings,
    runs,
    sent,
    trigger_dag,
    watcher_holders,
    watchers_running,
)
from tests.support.failover import (
    FAILOVER_SETTINGS,
    HEARTBEAT_SEC,
    deployed,
    fresh_heartbeat,
    heartbeat_stalls,
    held_triggers,
    live_triggerers,
    mark_delays,
    quiet_since_start,
    running_triggers,
    started_triggers,
)
from tests.support.postgres import PostgresCluster

pytestmark = pytest.mark.system

ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts" / "event_failover"
TRIGGERERS = ("triggerer-a", "triggerer-b")
SETTINGS = {
    **FAILOVER_SETTINGS,
    "AIRFLOW__CORE__PARALLELISM": "4",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
}
START_SAMPLE = "startSampleStreamProcessor"
GET_MORE_SAMPLE = "getMoreSampleStreamProcessor"
#: A watcher logs this once it has read its memory (its triggerer's supervisor answered, or
#: it gave up after 10 s) and looked at the processor.
LOOKED = f"Stream processor {PROCESSOR!r}"
#: A heartbeat this recent (seconds) shows a triggerer's supervisor is not stalled.
FRESH = 3 * HEARTBEAT_SEC
#: What the output watcher logs when a new cursor hands out documents it already sent.
SKIPPED = re.compile(r"Skipped (\d+) document\(s\) the new sample cursor handed out again")


# -- fixtures ----------------------------------------------------------------------------
@pytest.fixture
def workspace() -> Iterator[Workspace]:
    with Workspace(users={"admin": PASSWORD}, connections=[FEED]) as ws:
        yield ws


@pytest.fixture
def deployment(
    postgres_cluster: PostgresCluster, workspace: Workspace, tmp_path: Path
) -> Iterator[AirflowCluster]:
    """The deployment with the example as its only DAG file, nothing started yet; every
    process stopped (and its log kept in ``artifacts/event_failover/``) afterwards, and no
    file of the home may hold the workspace password."""
    settings = {**SETTINGS, "AIRFLOW_CONN_ASP_DEFAULT": connection_json(workspace)}
    cluster = AirflowCluster(tmp_path / "home", postgres_cluster, settings)
    cluster.migrate()
    shutil.copy(EXAMPLE, cluster.dags / EXAMPLE.name)
    with deployed(cluster, ARTIFACTS):
        yield cluster


# -- reading the deployment ----------------------------------------------------------------
def output_memory(cluster: AirflowCluster) -> list[str]:
    """The digests of sent documents the output watcher saved in the asset state store."""
    rows = cluster.query(
        "SELECT value FROM asset_state_store WHERE key LIKE %s", f"asp_output:{PROCESSOR}:%"
    )
    return [digest for (value,) in rows for digest in as_json(value).get("sent", [])]


def consumer_runs(cluster: AirflowCluster) -> list[tuple[float, float | None, list[str]]]:
    """``(start, end, devices)`` of every consumer run that returned (epoch seconds)."""
    rows = cluster.query(
        "SELECT r.start_date, r.end_date, x.value FROM dag_run r JOIN xcom x "
        "ON x.dag_id = r.dag_id AND x.run_id = r.run_id "
        "WHERE r.dag_id = %s AND x.task_id = 'handle_hot_panels' AND x.key = 'return_value'",
        CONSUMER,
    )
    return [
        (
            start.timestamp(),
            None if end is None else end.timestamp(),
            [doc["device_id"] for doc in as_json(value)["readings"]],
        )
        for start, end, value in rows
    ]


def hot_events(cluster: AirflowCluster) -> list[tuple[float, list[str]]]:
    """``(timestamp, devices)`` of every asset event of the output watcher."""
    rows = cluster.query(
        "SELECT e.timestamp, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
        "WHERE a.name = 'asp_event_driven_hot_panels' ORDER BY e.id"
    )
    return [
        (stamp.timestamp(), [doc["device_id"] for doc in as_json(extra)["payload"]["documents"]])
        for stamp, extra in rows
    ]


def delivery(cluster: AirflowCluster, fed_at: float, devices: list[str]) -> dict[str, float]:
    """Seconds from feeding ``devices`` to their asset event, and to the start and the end
    of the consumer run(s) that handled them; ``{}`` until those runs have ended."""
    wanted = set(devices)
    events = [stamp for stamp, got in hot_events(cluster) if wanted & set(got)]
    handled = [(start, end) for start, end, got in consumer_runs(cluster) if wanted & set(got)]
    ends = [end for _, end in handled if end is not None]
    if not events or not handled or len(ends) < len(handled):
        return {}
    return {
        "event_s": round(max(events) - fed_at, 1),
        "run_started_s": round(max(start for start, _ in handled) - fed_at, 1),
        "run_finished_s": round(max(ends) - fed_at, 1),
    }


def all_sent_consumed(cluster: AirflowCluster) -> list[dict[str, Any]]:
    """What the consumer DAG handled, once it handled every document the watcher sent and
    no consumer run is left to finish; else ``[]``."""
    pending = [state for _, state in runs(cluster, CONSUMER) if state != "success"]
    handled = consumed(cluster)
    if pending or by_device(handled) != by_device(sent(cluster)):
        return []
    return handled


def skipped_replays(cluster: AirflowCluster, name: str) -> int:
    """Documents triggerer ``name``'s output watcher skipped as handed out again."""
    text = cluster.services[name].log.read_text(errors="replace")
    return sum(int(found) for found in SKIPPED.findall(text))


def looked_marks(cluster: AirflowCluster) -> dict[int, tuple[str, ...]]:
    """``{trigger id: strings of the line its watcher logs after its first look}``: the look,
    and the trigger's logger (named after its class's module, which the public classpath
    does not name)."""
    rows = cluster.query(
        "SELECT id, classpath FROM trigger WHERE classpath IN (%s, %s)",
        OUTPUT_TRIGGER,
        STATE_TRIGGER,
    )
    return {trigger: (LOOKED, f".{classpath.rpartition('.')[2]}]") for trigger, classpath in rows}


def settled(cluster: AirflowCluster, jobs: dict[str, int]) -> bool:
    """Whether each triggerer of ``jobs`` (name: job id) heartbeats, runs exactly the
    triggers it holds, and each of its watchers has looked at the processor since it started
    there.

    A triggerer's supervisor stalls (no heartbeat) while it answers its first requests: the
    state-store reads of newly started watchers. A stall past the health check threshold
    lets the other triggerer take the watchers over while the first still runs them, until
    it notices; both would send what the processor emits meanwhile.
    """
    marks = looked_marks(cluster)
    for name, job in jobs.items():
        held = held_triggers(cluster, job)
        if not fresh_heartbeat(cluster, job, FRESH) or running_triggers(cluster, name) != held:
            return False
        if quiet_since_start(cluster, name, marks) & held:
            return False
    return True


def devices(documents: list[dict[str, Any]]) -> list[str]:
    return [doc["device_id"] for doc in documents]


# -- the test ----------------------------------------------------------------------------
@pytest.mark.timeout(600)
def test_the_surviving_triggerer_takes_the_watchers_over(
    workspace: Workspace, deployment: AirflowCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = deployment
    figures: dict[str, Any] = {}
    began = time.monotonic()

    # 1. Two live triggerers, then the DAG file is parsed and its watchers go to them.
    cluster.start_api_server()
    cluster.start_scheduler()
    jobs: dict[str, int] = {}
    for name in TRIGGERERS:  # one after the other: the order of their jobs tells them apart
        # Unbuffered: the test reads which triggers each one runs from its log.
        cluster.start(name, "triggerer", "--skip-serve-logs", env={"PYTHONUNBUFFERED": "1"})
        jobs[name] = cluster.wait_for(
            lambda: [job for job in live_triggerers(cluster) if job not in jobs.values()],
            90,
            f"{name}'s first heartbeat",
        )[0]
    cluster.start_dag_processor()
    cluster.wait_for(lambda: watchers_running(cluster), 120, "both watchers to run")
    assert set(watcher_holders(cluster).values()) <= set(jobs.values())
    cursors = count(workspace, START_SAMPLE)
    trigger_dag(cluster, DEPLOY, {"source": FEED})
    cluster.wait_for(lambda: done_runs(cluster, DEPLOY), 120, "the deploy run")
    assert workspace.processors()[PROCESSOR] == "STARTED"
    cluster.wait_for(
        lambda: count(workspace, START_SAMPLE) > cursors,
        60,
        "the output watcher to open a sample cursor",
    )
    cluster.wait_for(lambda: settled(cluster, jobs), 120, "each watcher on one triggerer")
    figures["ready_after_start_s"] = round(time.monotonic() - began, 1)

    # 2. Readings reach the consumer DAG, each once.
    before = readings("before", [450, 320, 410, 100, 500])
    fed_at = time.time()
    workspace.feed(FEED, before)
    cluster.wait_for(
        lambda: len(consumed(cluster)) >= len(hot(before)), 120, "the consumer DAG's runs"
    )
    assert by_device(consumed(cluster)) == by_device(hot(before))
    figures["before_kill"] = cluster.wait_for(
        lambda: delivery(cluster, fed_at, devices(hot(before))), 60, "the consumer runs to end"
    )
    # What was sent is in the asset state store (at most 2 s later) before the kill: a kill
    # right after an event may repeat it, as the trigger says.
    cluster.wait_for(
        lambda: len(output_memory(cluster)) >= len(hot(before)),
        60,
        "the output watcher to remember what it sent",
    )

    # 3. The output watcher's triggerer dies; readings come while nobody watches.
    cluster.wait_for(lambda: settled(cluster, jobs), 120, "each watcher on one triggerer")
    figures["watcher_starts_before_kill"] = {name: started_triggers(cluster, name) for name in jobs}
    holders = watcher_holders(cluster)
    holder = holders[OUTPUT_TRIGGER]
    assert holder is not None
    victim = next(name for name, job in jobs.items() if job == holder)
    (survivor,) = set(TRIGGERERS) - {victim}
    figures["state_watcher_moved"] = holders[STATE_TRIGGER] == holder
    outputs = int(workspace.stats(PROCESSOR)["outputMessageCount"])
    # No sample cursor opens until the readings below are out (a takeover is seconds away,
    # the readings milliseconds, but the gap must not depend on that): a watcher refused
    # logs it and tries again after a pause.
    held_off = workspace.inject_fault(
        START_SAMPLE, times=-1, code=11600, message="sample cursors held off by the test"
    )
    killed_at = time.time()
    cluster.kill(victim)
    polls = count(workspace, GET_MORE_SAMPLE)  # the victim is gone: nobody polls now
    gap = readings("gap", [430, 310, 470])
    workspace.feed(FEED, gap)
    cluster.wait_for(
        lambda: int(workspace.stats(PROCESSOR)["outputMessageCount"]) >= outputs + 3,
        60,
        "the processor to emit the readings fed after the kill",
    )
    workspace.clear_faults()
    figures["gap_readings_emitted_s"] = round(time.time() - killed_at, 1)
    figures["cursors_held_off"] = held_off.hits

    # 4. The survivor takes the watchers over and polls a sample cursor of its own.
    new_holder = jobs[survivor]
    cluster.wait_for(
        lambda: watcher_holders(cluster)[OUTPUT_TRIGGER] == new_holder,
        120,
        "the survivor to take the output watcher over",
        every=0.2,
    )
    figures["kill_to_reassigned_s"] = round(time.time() - killed_at, 1)
    assert holder not in live_triggerers(cluster)
    cluster.wait_for(
        lambda: count(workspace, GET_MORE_SAMPLE) > polls,
        120,
        "the survivor to poll a sample cursor",
        every=0.1,
    )
    figures["kill_to_survivor_sample_poll_s"] = round(time.time() - killed_at, 1)
    cluster.wait_for(
        lambda: settled(cluster, {survivor: new_holder}), 120, "the survivor to run both watchers"
    )
    assert set(watcher_holders(cluster).values()) == {new_holder}

    # 5. New readings after the takeover reach the consumer DAG, each once.
    after = readings("after", [405, 330, 490, 120, 415])
    fed_at = time.time()
    workspace.feed(FEED, after)
    cluster.wait_for(
        lambda: set(devices(hot(after))) <= set(devices(consumed(cluster))),
        120,
        "the consumer DAG's runs for the new readings",
    )
    handled = cluster.wait_for(
        lambda: all_sent_consumed(cluster), 120, "every sent reading to be handled"
    )
    figures["after_takeover"] = cluster.wait_for(
        lambda: delivery(cluster, fed_at, devices(hot(after))), 60, "the consumer runs to end"
    )
    times = collections.Counter(devices(handled))
    assert {device for device, n in times.items() if n > 1} == set(), times  # none twice
    assert all(doc in hot(before) + hot(gap) + hot(after) for doc in handled), handled
    assert by_device([doc for doc in handled if doc not in hot(gap)]) == by_device(
        hot(before) + hot(after)
    )
    # Readings emitted while no triggerer ran the watcher: the trigger promises nothing;
    # measured (this emulator's new cursors hand out the last 1,000 outputs first).
    delivered = [doc for doc in hot(gap) if doc in handled]
    figures["gap_readings"] = {"matching": len(hot(gap)), "delivered": len(delivered)}
    if delivered:
        figures["gap_readings_delivered"] = cluster.wait_for(
            lambda: delivery(cluster, killed_at, devices(delivered)), 60, "the runs to end"
        )
    figures["replays_skipped_by_survivor"] = skipped_replays(cluster, survivor)

    # 6. A failure starts the remediation DAG once, whichever triggerer told it.
    assert_remediated_once(cluster, workspace)
    seen = looks(workspace)  # both watchers look every 5 s while the processor is down
    cluster.wait_for(lambda: looks(workspace) >= seen + 4, 60, "more looks at the processor")
    assert len(asset_events(cluster, FAILURE_ASSET)) == 1
    assert len(runs(cluster, REMEDIATION)) == 1
    assert workspace.processors()[PROCESSOR] == "FAILED"

    # A cold triggerer's supervisor answers its first requests (the state-store reads of
    # the watchers it starts) slowly, without heartbeating meanwhile; logged only past the
    # health check threshold.
    figures["heartbeat_stalls_s"] = {name: heartbeat_stalls(cluster, name) for name in jobs}
    marks = looked_marks(cluster)
    figures["watcher_start_to_first_look_s"] = {
        name: mark_delays(cluster, name, marks) for name in jobs
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "figures.json").write_text(json.dumps(figures, indent=2))
    with capsys.disabled():
        print(f"\nevent watcher failover figures: {json.dumps(figures)}")

    # Every listening socket of the deployment and its database is on loopback.
    listening = cluster.listening()
    assert ("127.0.0.1", cluster.port) in listening
    assert {address for address, _ in listening} <= LOOPBACK, listening
    assert cluster.database is not None
    assert cluster.database.listening() == {("127.0.0.1", cluster.database.port)}
