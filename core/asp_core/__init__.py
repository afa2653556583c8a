"""MongoDB Atlas Stream Processing for orchestrators, with no orchestrator in it.

Everything an integration (the Airflow provider, the Dagster package) needs and that means the
same in each: the client (:mod:`.stream_processing`), connection settings (:mod:`.settings`),
pooled clients and batched reads (:mod:`.client_pool`, :mod:`.batched_reads`), how a wait is
judged and carried out (:mod:`.waiting`), plans, lost-reply resolution and the plan runner
(:mod:`.plans`), argument checks (:mod:`.arguments`), event rules (:mod:`.event_rules`),
lineage analysis (:mod:`.lineage`), JSON-safe values (:mod:`.jsonable`), plain-words failures
(:mod:`.diagnosis`) and errors (:mod:`.errors`). Importing it sends nothing and imports no
orchestrator.
"""

__version__ = "0.1.0"
