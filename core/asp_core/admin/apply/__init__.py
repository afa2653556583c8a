"""Deploys and deletes of workspaces and connections carried out through the Admin API,
leg by leg (:class:`~asp_core.admin.steps.Step`) or whole with the bounded waits:
:mod:`.synchronous` for blocking code, :mod:`.asynchronous` for asyncio (its source)."""

from asp_core.admin.apply import asynchronous, synchronous

__all__ = ["asynchronous", "synchronous"]
