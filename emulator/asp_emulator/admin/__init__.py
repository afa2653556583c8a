"""The emulated Atlas Administration API v2 (first slice): workspaces and the connection
registry of one project, served beside the wire server (``Workspace(admin_api=True)``)."""

from asp_emulator.admin.credentials import ROLES, Credentials
from asp_emulator.admin.faults import AdminFault, AdminFaults
from asp_emulator.admin.project import Project
from asp_emulator.admin.server import AdminServer

__all__ = ["ROLES", "AdminFault", "AdminFaults", "AdminServer", "Credentials", "Project"]
