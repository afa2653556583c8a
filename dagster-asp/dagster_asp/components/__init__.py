"""``AspProcessorsComponent``: stream processors declared in a ``defs.yaml``."""

from dagster_asp.components.component import AspProcessorsComponent

__all__ = ["AspProcessorsComponent"]
