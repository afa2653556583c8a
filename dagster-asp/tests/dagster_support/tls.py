"""Workspaces whose certificate fails a client's verification, made with ``trustme``: an
unknown CA, another host's name, an expired certificate."""

import datetime
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import trustme

from asp_emulator import Workspace

#: Each case: the server certificate's hosts and validity, and whether the client trusts its CA.
CASES = ("unknown_ca", "hostname_mismatch", "expired")


@contextmanager
def untrusted_workspaces(directory: str) -> Iterator[dict[str, tuple[Workspace, str]]]:
    """For each of :data:`CASES`, a running workspace and the CA file a client is given."""
    ca, stranger = trustme.CA(), trustme.CA()
    ca_file, stranger_file = os.path.join(directory, "ca.pem"), os.path.join(directory, "x.pem")
    ca.cert_pem.write_to_path(ca_file)
    stranger.cert_pem.write_to_path(stranger_file)
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    leaves = {
        "unknown_ca": (ca.issue_cert("127.0.0.1"), stranger_file),
        "hostname_mismatch": (ca.issue_cert("workspace.example"), ca_file),
        "expired": (
            ca.issue_cert("127.0.0.1", not_before=past, not_after=past + datetime.timedelta(1)),
            ca_file,
        ),
    }
    with ExitStack() as stack:
        made = {}
        for case, (leaf, client_ca) in leaves.items():
            cert = os.path.join(directory, f"{case}.pem")
            leaf.private_key_and_cert_chain_pem.write_to_path(cert)
            workspace = Workspace(tls_cert_key_file=cert, tls_ca_file=ca_file)
            made[case] = (stack.enter_context(workspace), client_ca)
        yield made
