"""Triggerer failover in a real deployment: the settings that pace it, and which triggerer
jobs are alive."""

from __future__ import annotations

from tests.support.airflow_cluster import AirflowCluster

HEARTBEAT_SEC = 1
HEALTH_CHECK_THRESHOLD = 8

FAILOVER_SETTINGS = {
    # A triggerer writes its job's latest_heartbeat this often (default 5)...
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": str(HEARTBEAT_SEC),
    # ...and one silent for longer (default 30) loses its triggers to a live triggerer
    # (Trigger.assign_unassigned, run by every triggerer about once a second).
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(HEALTH_CHECK_THRESHOLD),
}


def live_triggerers(cluster: AirflowCluster) -> list[int]:
    """Ids of triggerer jobs that heartbeat within the health check threshold."""
    rows = cluster.query(
        "SELECT id FROM job WHERE job_type = 'TriggererJob' AND end_date IS NULL "
        "AND latest_heartbeat > now() - make_interval(secs => %s) ORDER BY id",
        HEALTH_CHECK_THRESHOLD,
    )
    return [job for (job,) in rows]


def triggerer_jobs(cluster: AirflowCluster) -> list[int]:
    """Ids of every triggerer job ever started, oldest first."""
    rows = cluster.query("SELECT id FROM job WHERE job_type = 'TriggererJob' ORDER BY id")
    return [job for (job,) in rows]
