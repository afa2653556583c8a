"""Airflow version flags, computed once from the installed Airflow (copied per provider on
purpose, as Airflow's own providers do, so providers do not depend on each other).

``AIRFLOW_V_3_3_PLUS`` gates what 3.3 added: a trigger's ``async on_kill()`` and
``ResumableJobMixin``.
"""

from __future__ import annotations

from airflow import __version__ as AIRFLOW_VERSION
from packaging.version import Version


def _at_least(version: str) -> bool:
    return Version(Version(AIRFLOW_VERSION).base_version) >= Version(version)


AIRFLOW_V_3_0_PLUS = _at_least("3.0.0")
AIRFLOW_V_3_1_PLUS = _at_least("3.1.0")
AIRFLOW_V_3_2_PLUS = _at_least("3.2.0")
AIRFLOW_V_3_3_PLUS = _at_least("3.3.0")
