"""``asp-emulator serve``: run a workspace until SIGINT/SIGTERM; ``asp-emulator fail``: make
a processor of a running one FAIL (the emulator's own command, never Atlas's)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from typing import Any

from asp_emulator.auth import UserSpec
from asp_emulator.control import (
    DEFAULT_FAILURE_CODE,
    ControlError,
    FailProcessor,
    send_fail_processor,
)
from asp_emulator.limits import Limits
from asp_emulator.protocol import REPLY_SHAPES
from asp_emulator.ready import export_lines, ready_document, write_env_file
from asp_emulator.workspace import NonLoopbackWarning, Workspace


def parse_user(text: str) -> tuple[str, UserSpec]:
    """``NAME:PASSWORD[:ROLE,...]`` to a users entry."""
    name, sep, rest = text.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--user must be NAME:PASSWORD[:ROLE,...], got {text!r}")
    password, sep, roles = rest.rpartition(":")
    if not sep:
        password, roles = rest, ""
    if not password:
        raise argparse.ArgumentTypeError(f"--user {name}: the password must not be empty")
    if roles:
        return name, (password, [r for r in roles.split(",") if r])
    return name, password


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="asp-emulator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve a workspace until interrupted")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    serve.add_argument(
        "--user",
        action="append",
        type=parse_user,
        metavar="NAME:PASSWORD[:ROLE,...]",
        help="a database user (repeatable; default admin:admin-password with atlasAdmin)",
    )
    serve.add_argument("--reply-shape", choices=REPLY_SHAPES, default="live")
    serve.add_argument("--tls-cert-key-file", help="server certificate and key (PEM)")
    serve.add_argument("--tls-ca-file", help="the CA that signed --tls-cert-key-file (PEM)")
    serve.add_argument(
        "--admin-api",
        action="store_true",
        help="also serve the Atlas Administration API (HTTPS, 127.0.0.1) and print its "
        "asp_admin connection and ASP_ADMIN_* variables (a new Project Owner service account)",
    )
    serve.add_argument("--solar-rate", type=float, default=20.0, help="sample_stream_solar docs/s")
    serve.add_argument(
        "--connection", action="append", default=[], help="an in-memory connection to add"
    )
    serve.add_argument(
        "--x509-user",
        action="append",
        default=[],
        metavar="SUBJECT",
        help="an X.509 user with atlasAdmin, e.g. 'CN=etl,OU=pipelines,O=acme' (repeatable); "
        "the ready line names a client certificate file for each",
    )
    serve.add_argument(
        "--transition-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="start and stop take effect this long after they are acknowledged (default 0)",
    )
    serve.add_argument(
        "--env-file",
        metavar="PATH",
        help="also write the export lines to PATH (mode 600; removed when the emulator stops)",
    )
    limits = serve.add_argument_group("limits (defaults in parentheses)")
    for item in dataclasses.fields(Limits):
        limits.add_argument(
            "--" + item.name.replace("_", "-"),
            type=int if item.type in (int, "int") else float,
            default=item.default,
            metavar="N" if item.type in (int, "int") else "SECONDS",
            help=f"{item.metadata['help']} ({item.default:,})",
        )
    add_fail_parser(commands)
    return parser


def add_fail_parser(commands: Any) -> None:
    """``asp-emulator fail NAME --message TEXT``."""
    fail = commands.add_parser(
        "fail",
        help="make a running processor of a running emulator FAIL (emulator only)",
        description="Sends the emulator's own aspEmulatorFailProcessor command (Atlas has no "
        "such command). Connects with --uri, or with the ASP_HOST, ASP_PORT, ASP_USERNAME, "
        "ASP_PASSWORD and ASP_TLS_CA_FILE variables that 'asp-emulator serve' prints.",
    )
    fail.add_argument("name", help="the processor")
    fail.add_argument("--message", required=True, help="its errorMsg")
    fail.add_argument("--code", type=int, default=DEFAULT_FAILURE_CODE, help="its errorCode")
    fail.add_argument("--retryable", action="store_true", help="errorRetryable: true")
    fail.add_argument(
        "--after-documents", type=int, metavar="N", help="fail after N more input documents"
    )
    fail.add_argument("--uri", help="the serve's uri (default: from the ASP_* variables)")
    fail.add_argument("--ca", help="the CA file, when the URI names none")


def fail_main(args: argparse.Namespace) -> int:
    """``asp-emulator fail``: send the command, say what happened."""
    if args.uri:
        target: dict[str, Any] = {"host": args.uri}
    else:
        missing = [n for n in ("ASP_HOST", "ASP_USERNAME", "ASP_PASSWORD") if not os.environ.get(n)]
        port = os.environ.get("ASP_PORT") or "27017"
        if not port.isdigit():
            missing.append("ASP_PORT (a number)")
        if missing:
            print(
                f"asp-emulator fail: give --uri, or set {', '.join(missing)} "
                "(the lines 'asp-emulator serve' prints)",
                file=sys.stderr,
            )
            return 2
        target = {
            "host": os.environ["ASP_HOST"],
            "port": int(port),
            "username": os.environ["ASP_USERNAME"],
            "password": os.environ["ASP_PASSWORD"],
        }
    ca_file = args.ca or (None if args.uri else os.environ.get("ASP_TLS_CA_FILE"))
    if ca_file:
        target["tlsCAFile"] = ca_file
    request = FailProcessor(
        args.name, args.message, args.code, args.retryable, args.after_documents
    )
    try:
        state = send_fail_processor(target, request)
    except ControlError as exc:
        print(f"asp-emulator fail: {exc}", file=sys.stderr)
        return 1
    retryable = "retryable" if args.retryable else "not retryable"
    when = "now" if args.after_documents is None else f"after {args.after_documents} document(s)"
    print(
        f"Stream processor {args.name!r} fails {when}: {args.message} "
        f"(errorCode {args.code}, {retryable}); its state: {state}."
    )
    return 0


def limits_from(args: argparse.Namespace) -> Limits:
    """The ``Limits`` the command line asks for."""
    return Limits(**{item.name: getattr(args, item.name) for item in dataclasses.fields(Limits)})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``asp-emulator``."""
    args = build_parser().parse_args(argv)
    if args.command == "fail":
        return fail_main(args)
    users = dict(args.user) if args.user else None
    if (args.tls_cert_key_file is None) != (args.tls_ca_file is None):
        print("asp-emulator: give both --tls-cert-key-file and --tls-ca-file", file=sys.stderr)
        return 2
    # the non-loopback warning goes to stderr once, as this log line
    logging.basicConfig(level=logging.WARNING, format="asp-emulator: %(levelname)s: %(message)s")
    warnings.simplefilter("ignore", NonLoopbackWarning)
    try:
        workspace = Workspace(
            users,
            host=args.host,
            port=args.port,
            reply_shape=args.reply_shape,
            tls_cert_key_file=args.tls_cert_key_file,
            tls_ca_file=args.tls_ca_file,
            solar_rate=args.solar_rate,
            connections=args.connection,
            x509_users=args.x509_user,
            limits=limits_from(args),
            transition_delay=args.transition_delay,
            admin_api=args.admin_api,
        )
    except ValueError as exc:
        print(f"asp-emulator: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with workspace:
        ready: dict[str, object] = dict(ready_document(workspace))
        if args.x509_user:
            try:
                ready["client_certificates"] = {
                    subject: workspace.client_certificate(subject) for subject in args.x509_user
                }
            except ValueError as exc:
                print(f"asp-emulator: {exc}", file=sys.stderr)
                return 2
        lines = export_lines(workspace)
        if args.env_file:
            write_env_file(args.env_file, lines)
        print(json.dumps(ready))
        what = "asp_default, asp_admin_default" if args.admin_api else "asp_default"
        print(f"# Point Airflow ({what}) and Dagster (ASP_*) at it: paste these lines")
        print("\n".join(lines), flush=True)
        try:
            while not stop.wait(0.5):
                if not workspace.running:
                    return 1
        finally:
            if args.env_file:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(args.env_file)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
