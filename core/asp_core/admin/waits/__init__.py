"""Bounded waits on the Admin API (a connection READY or gone, a workspace gone):
:mod:`.synchronous` for blocking code, :mod:`.asynchronous` for asyncio (its source)."""

from asp_core.admin.waits import asynchronous, synchronous

__all__ = ["asynchronous", "synchronous"]
