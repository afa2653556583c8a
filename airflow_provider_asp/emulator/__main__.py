"""``python -m airflow_provider_asp.emulator serve``."""

from airflow_provider_asp.emulator.cli import main

raise SystemExit(main())
