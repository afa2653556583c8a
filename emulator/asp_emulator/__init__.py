"""A local Atlas Stream Processing workspace for tests, demos and CI.

Its own distribution (``asp-emulator``), installed by the provider's ``emulator`` extra; the
provider never imports it. Installing it registers the ``asp-emulator`` command and the
pytest fixtures ``asp_workspace`` and ``asp_workspace_factory``.
"""

from asp_emulator.faults import Fault
from asp_emulator.limits import Limits
from asp_emulator.workspace import NonLoopbackWarning, Workspace

__version__ = "0.3.0"

__all__ = ["Fault", "Limits", "NonLoopbackWarning", "Workspace", "__version__"]
