"""Triggerer failover in a real deployment: the settings that pace it, which triggerer jobs
are alive and hold which triggers, and which triggers each triggerer runs (by its log)."""

from __future__ import annotations

import collections
import contextlib
import datetime
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from tests.support.airflow import PASSWORD
from tests.support.airflow_cluster import AirflowCluster, running

HEARTBEAT_SEC = 1
HEALTH_CHECK_THRESHOLD = 8

FAILOVER_SETTINGS = {
    # A triggerer writes its job's latest_heartbeat this often (default 5)...
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": str(HEARTBEAT_SEC),
    # ...and one silent for longer (default 30) loses its triggers to a live triggerer
    # (Trigger.assign_unassigned, run by every triggerer about once a second).
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(HEALTH_CHECK_THRESHOLD),
}


@contextlib.contextmanager
def deployed(cluster: AirflowCluster, artifacts: Path) -> Iterator[AirflowCluster]:
    """The deployment's processes while the block runs: stopped afterwards, their logs kept
    in ``artifacts``; then no file of the home may hold the workspace password."""
    try:
        with running(cluster):
            yield cluster
    finally:
        artifacts.mkdir(parents=True, exist_ok=True)
        for service in cluster.services.values():
            with contextlib.suppress(OSError):
                shutil.copyfile(service.log, artifacts / service.log.name)
    written = [path for path in cluster.home.rglob("*") if path.is_file()]
    leaked = [path for path in written if PASSWORD.encode() in path.read_bytes()]
    assert not leaked, f"the workspace password is written in {leaked}"


def live_triggerers(cluster: AirflowCluster) -> list[int]:
    """Ids of triggerer jobs that heartbeat within the health check threshold."""
    rows = cluster.query(
        "SELECT id FROM job WHERE job_type = 'TriggererJob' AND end_date IS NULL "
        "AND latest_heartbeat > now() - make_interval(secs => %s) ORDER BY id",
        HEALTH_CHECK_THRESHOLD,
    )
    return [job for (job,) in rows]


# -- what a triggerer's log tells ----------------------------------------------------------
STARTING = re.compile(r"trigger ID (\d+) starting")
COMPLETED = re.compile(r"trigger completed .*?name='ID (\d+)'")
STALLED = re.compile(r"Heartbeat recovered after ([\d.]+) seconds")


def triggerer_log(cluster: AirflowCluster, name: str) -> str:
    return cluster.services[name].log.read_text(errors="replace")


def running_triggers(cluster: AirflowCluster, name: str) -> set[int]:
    """Ids of the triggers triggerer ``name`` has started and not ended, by its log."""
    running: collections.Counter[int] = collections.Counter()
    text = triggerer_log(cluster, name)
    running.update(int(found) for found in STARTING.findall(text))
    running.subtract(int(found) for found in COMPLETED.findall(text))
    return {trigger for trigger, n in running.items() if n > 0}


def _marked(
    cluster: AirflowCluster, name: str, marks: dict[int, tuple[str, ...]]
) -> tuple[dict[int, datetime.datetime | None], list[float]]:
    """Triggers of ``marks`` that triggerer ``name`` started and that have not logged a line
    holding every string of their ``marks[id]`` since (by the order the log was written),
    with the time each started; and the seconds from each start to such a line."""
    waiting: dict[int, datetime.datetime | None] = {}
    delays: list[float] = []
    for line in triggerer_log(cluster, name).splitlines():
        started = STARTING.search(line)
        if started and int(started.group(1)) in marks:
            waiting[int(started.group(1))] = _stamp(line)
        for trigger in [t for t in waiting if all(s in line for s in marks[t])]:
            since, now = waiting.pop(trigger), _stamp(line)
            if since is not None and now is not None:
                delays.append(round((now - since).total_seconds(), 1))
    return waiting, delays


def quiet_since_start(
    cluster: AirflowCluster, name: str, marks: dict[int, tuple[str, ...]]
) -> set[int]:
    """Ids of the triggers of ``marks`` that triggerer ``name`` started and that have not
    logged a line holding every string of their ``marks[id]`` since."""
    return set(_marked(cluster, name, marks)[0])


def mark_delays(
    cluster: AirflowCluster, name: str, marks: dict[int, tuple[str, ...]]
) -> list[float]:
    """Seconds from each start of a trigger of ``marks`` by triggerer ``name`` to its first
    line holding the strings of its mark (starts cancelled before one are left out)."""
    return _marked(cluster, name, marks)[1]


def _stamp(line: str) -> datetime.datetime | None:
    """The time at the start of a log line, if any."""
    try:
        return datetime.datetime.fromisoformat(line.split(" ", 1)[0])
    except ValueError:
        return None


def started_triggers(cluster: AirflowCluster, name: str) -> int:
    """How many times triggerer ``name`` started a trigger."""
    return len(STARTING.findall(triggerer_log(cluster, name)))


def heartbeat_stalls(cluster: AirflowCluster, name: str) -> list[float]:
    """Seconds triggerer ``name`` went without a heartbeat, each time its log says so."""
    return [float(found) for found in STALLED.findall(triggerer_log(cluster, name))]


def fresh_heartbeat(cluster: AirflowCluster, job: int, seconds: float) -> bool:
    """Whether triggerer job ``job`` heartbeat within the last ``seconds``."""
    rows = cluster.query(
        "SELECT 1 FROM job WHERE id = %s AND end_date IS NULL "
        "AND latest_heartbeat > now() - make_interval(secs => %s)",
        job,
        seconds,
    )
    return bool(rows)


def held_triggers(cluster: AirflowCluster, job: int) -> set[int]:
    """Ids of the triggers assigned to triggerer job ``job``."""
    rows = cluster.query("SELECT id FROM trigger WHERE triggerer_id = %s", job)
    return {trigger for (trigger,) in rows}
