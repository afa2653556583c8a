"""The scaffolder of ``AspProcessorsComponent``: a starter ``defs.yaml`` (``dg scaffold``)."""

from pathlib import Path

import dagster as dg

STARTER = """\
type: {type_name}

attributes:
  # The workspace: the AspWorkspace resource's fields. A password written as exactly
  # "{{{{ env.NAME }}}}" stays an environment variable (read at run time, never shown).
  workspace:
    host: "{{{{ env.ASP_HOST }}}}"
    port: "{{{{ env.ASP_PORT }}}}"
    username: "{{{{ env.ASP_USERNAME }}}}"
    password: "{{{{ env.ASP_PASSWORD }}}}"
    # tls_ca_file: "{{{{ env.ASP_TLS_CA_FILE }}}}"

  # Each processor: name, pipeline, options (dlq, tier, stream_meta_field_name, failover),
  # desired_state (STARTED or STOPPED). Materializing deploys it; loading sends nothing.
  processors: []
  #  - name: solar_high
  #    pipeline:
  #      - $source: {{connectionName: sample_stream_solar}}
  #      - $match: {{obs.watts: {{$gt: 200}}}}
  #      - $merge: {{into: {{connectionName: cluster0, db: energy, coll: high}}}}
  #    options:
  #      dlq: {{connectionName: cluster0, db: energy, coll: high_dlq}}
  #    desired_state: STARTED

  # checks: true               # processor_running and dlq_not_growing on every asset
  # sensors:
  #   state: {{job: remediate, states: [FAILED]}}
  #   stats: {{checks: [processor_running, dlq_not_growing, has_throughput]}}
"""


class AspProcessorsScaffolder(dg.Scaffolder):
    """Writes ``defs.yaml`` with the workspace from environment variables and a commented
    example processor."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        path = Path(request.target_path) / "defs.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(STARTER.format(type_name=request.type_name))
