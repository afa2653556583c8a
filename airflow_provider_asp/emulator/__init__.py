"""A local Atlas Stream Processing workspace for tests, demos and CI.

The provider's runtime never imports this package; it needs the ``emulator`` extra.
"""

from airflow_provider_asp.emulator.faults import Fault
from airflow_provider_asp.emulator.workspace import Workspace

__all__ = ["Fault", "Workspace"]
