"""Examples of ``dagster_asp``: ``definitions`` is the one ``make demo-dagster`` runs and
``dagster dev -m dagster_asp.examples.definitions`` serves."""
