"""The state sensor under a real ``dagster-daemon run``, with the instance on SQLite and on
PostgreSQL: one failure launches exactly one run with the right tags; a daemon killed with
SIGKILL and started again launches no duplicate."""

import time

import pytest

from dagster_support import daemon as d
from dagster_support import postgres
from dagster_support.processes import kill
from dagster_support.processors import admin, running_solar, wait_for

pytestmark = [pytest.mark.system, pytest.mark.timeout(120)]


@pytest.fixture(params=["sqlite", "postgres"])
def storage(request):
    if request.param == "sqlite":
        yield None
        return
    if postgres.switched_off():
        pytest.skip(f"{postgres.SWITCH}=0: PostgreSQL system tests switched off")
    with postgres.cluster() as cluster:
        yield cluster.url


def test_a_failure_launches_one_run_even_across_a_killed_daemon(
    asp_workspace, dagster_home, tmp_path, storage
):
    started = time.monotonic()
    db = admin(asp_workspace)
    name = running_solar(asp_workspace, db, "daemon")
    db.client.close()
    d.write_home(dagster_home, storage)
    daemon = d.Daemon(dagster_home, d.write_defs(tmp_path, asp_workspace, name))
    inst = d.instance(dagster_home)
    assert ("Postgres" if storage else "Sqlite") in type(inst.run_storage).__name__
    try:
        daemon.start()
        d.wait(lambda: len(d.ticks(inst)) >= 1, 60, "the sensor's first tick", daemon)
        asp_workspace.fail_processor(name, "sink unreachable", code=8)
        wait_for(lambda: asp_workspace.processors()[name] == "FAILED")
        (_run,) = d.wait(lambda: d.runs_of(inst, name), 40, "the run of the failure", daemon)
        assert daemon.process is not None
        kill(daemon.process)  # SIGKILL, right after it launched the run
        daemon.process.wait(10)
        daemon.process = None
        seen = len(d.ticks(inst))
        daemon.start()
        d.wait(lambda: len(d.ticks(inst)) >= seen + 2, 60, "two ticks after the restart", daemon)
        runs = d.runs_of(inst, name)
        assert len(runs) == 1, [r.run_id for r in runs]
        tags = runs[0].tags
        assert tags["asp/processor"] == name
        assert tags["asp/state"] == "FAILED"
        assert tags["asp/error_msg"] == "sink unreachable"
        assert tags["asp/error_code"] == "8"
        assert tags["asp/error_retryable"] == "false"
        assert tags["asp/last_state_change"]
        assert tags["dagster/run_key"].startswith(f"asp-state:{name}:FAILED@")
        assert not any("admin-password" in value for value in tags.values())
    finally:
        daemon.stop()
        inst.dispose()
    assert time.monotonic() - started < 90
