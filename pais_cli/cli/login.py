"""`pais login` and `pais logout`: Docker's config format, so docker, oras and skopeo share the login."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from ..errors import UsageError
from ..gallery.network import DEFAULT_CONNECT_TIMEOUT, DEFAULT_RETRIES, DEFAULT_STALL_TIMEOUT
from . import settings
from .help import CONTEXT_SETTINGS, examples
from .options import (
    CaFileOpt,
    ConnectTimeoutOpt,
    DebugOpt,
    OutputFormat,
    OutputOpt,
    PlainHttpOpt,
    QuietOpt,
    RetriesOpt,
    StallTimeoutOpt,
    VerboseOpt,
)

app = typer.Typer(rich_markup_mode=None, context_settings=CONTEXT_SETTINGS)

HostArg = Annotated[str, typer.Argument(metavar="HOST[:PORT]", help="The registry, e.g. harbor.example.com.")]


@app.command(epilog=examples(
    "pais login harbor.example.com -u alice            # asks for the password",
    "echo \"$ROBOT_SECRET\" | pais login harbor.example.com \\",
    "    -u 'robot$ci' --password-stdin",
))
def login(
    host: HostArg,
    username: Annotated[Optional[str], typer.Option("--username", "-u", metavar="USER", help="User name (asked for when not given).")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin (for CI: no secret on the command line).")] = False,
    connect_timeout: ConnectTimeoutOpt = DEFAULT_CONNECT_TIMEOUT,
    stall_timeout: StallTimeoutOpt = DEFAULT_STALL_TIMEOUT,
    retries: RetriesOpt = DEFAULT_RETRIES,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    ca_file: CaFileOpt = None,
    plain_http: PlainHttpOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Check a user name and password against a registry, then store them in Docker's config
    ($DOCKER_CONFIG/config.json, or the credential helper it names), where docker, oras and
    skopeo find them too. pais keeps no copy."""
    from ..app import login as logins
    from .output import command, network_policy

    with command(output, debug, quiet, verbose) as out:
        if password_stdin:
            if not username:
                raise UsageError("--password-stdin needs --username", "add -u USER")
            password = sys.stdin.read().rstrip("\r\n")
        elif sys.stdin.isatty():
            username = username or typer.prompt("Username")
            password = typer.prompt("Password", hide_input=True)
        else:
            raise UsageError("no password: stdin is not a terminal to ask on",
                             "pipe it in with --password-stdin (never put it on the command line)")
        network = network_policy(out, connect_timeout, stall_timeout, retries, None, verbose)
        result = logins.login(settings.context(), host, username or "", password, ca_file=str(ca_file) if ca_file else None,
                              plain_http=plain_http, network=network)
        out.note(f"login succeeded; stored in {result.stored_in}")
        out.emit(result.to_json(), lambda: out.fields([("host", result.host), ("username", result.username),
                                                        ("stored in", result.stored_in)]))


@app.command(epilog=examples("pais logout harbor.example.com"))
def logout(
    host: HostArg,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Remove a registry's credentials from Docker's config (and its credential helper)."""
    from ..app import login as logins
    from .output import command

    with command(output, debug, quiet, verbose) as out:
        name, removed = logins.logout(settings.context(), host)
        if not removed:
            out.note(f"no login for {name} was stored")
        out.emit({"host": name, "removed_from": removed},
                 lambda: out.fields([("host", name), ("removed from", ", ".join(removed) or "-")]))
