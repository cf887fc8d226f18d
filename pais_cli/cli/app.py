"""The `pais` command tree, mirroring `vcf pais`."""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from .. import __version__
from . import endpoints, gallery, models
from .output import write_stdout

app = typer.Typer(
    help="Get models into a private model gallery safely, and out again.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(models.app, name="models")
app.add_typer(gallery.app, name="gallery")
app.add_typer(endpoints.app, name="endpoints")


def _version(value: bool) -> None:
    if value:
        write_stdout(f"pais {__version__}\n")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """pais: validate, push, pull and serve models from a private OCI gallery."""


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM (a CI job cancelled, `kill`) stops a transfer as Ctrl-C does: resumable, exit 130.
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    app()
