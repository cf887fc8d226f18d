"""`pais completion SHELL`: the completion script, for bash, zsh or fish."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from .help import CONTEXT_SETTINGS, examples

app = typer.Typer(rich_markup_mode=None, context_settings=CONTEXT_SETTINGS)

COMPLETE_VAR = "_PAIS_COMPLETE"


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


@app.command(epilog=examples(
    "pais completion bash > ~/.local/share/bash-completion/completions/pais",
    "pais completion zsh > \"${fpath[1]}/_pais\"",
    "pais completion fish > ~/.config/fish/completions/pais.fish",
))
def completion(shell: Annotated[Shell, typer.Argument(metavar="SHELL", help="bash, zsh or fish.")]) -> None:
    """Print the shell completion script: commands, options, named galleries, and model names and
    tags of on-disk galleries."""
    from typer._click.shell_completion import get_completion_class
    from typer._completion_classes import completion_init

    from .app import app as root
    from .output import write_stdout

    completion_init()
    cls = get_completion_class(shell.value)
    assert cls is not None
    write_stdout(cls(typer.main.get_command(root), {}, "pais", COMPLETE_VAR).source())
