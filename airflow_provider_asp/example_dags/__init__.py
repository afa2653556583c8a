"""Example DAGs; the tests run each against the emulator, sync and deferrable."""
