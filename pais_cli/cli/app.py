"""The `pais` command tree, mirroring `vcf pais`.

Start-up is what a CI job pays dozens of times, so nothing is imported before it is needed: the
root knows its commands by name and summary, and a command's module (and the libraries behind
it) is imported only when that command runs or shows its help. Help is click's plain format
(rich help costs as much again as the rest of start-up, and cuts option names at 80 columns).
"""

from __future__ import annotations

import gc
import importlib
import signal
import sys
import types
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer import _click
from typer.core import TyperGroup
from typer.models import CommandInfo

from .. import __version__
from .help import CONTEXT_SETTINGS, examples

# name -> (module, command in that module or None for a group of commands, one-line summary)
COMMANDS: dict[str, tuple[str, str | None, str]] = {
    "models": ("pais_cli.cli.models", None, "Push, pull, list, validate, inspect, promote, delete, download."),
    "gallery": ("pais_cli.cli.gallery", None, "Create, list, remove and clean up galleries."),
    "endpoints": ("pais_cli.cli.endpoints", None, "Serve revisions as OpenAI-compatible endpoints on Kubernetes."),
    "login": ("pais_cli.cli.login", "login", "Log in to a registry (Docker's config, shared with docker and oras)."),
    "logout": ("pais_cli.cli.login", "logout", "Remove a registry's credentials from Docker's config."),
    "completion": ("pais_cli.cli.completion", "completion", "Print the shell completion script: bash, zsh or fish."),
}


def _convert(info: CommandInfo) -> _click.Command:
    # Typer builds a parameter's converters when its command is converted: one command, not all.
    return typer.main.get_command_from_info(info, pretty_exceptions_short=True, rich_markup_mode=None)


def _command_name(info: CommandInfo) -> str:
    assert info.callback is not None
    return info.name or typer.main.get_command_name(info.callback.__name__)


class LazySubGroup(TyperGroup):
    """`pais models` and its siblings: the commands are listed from their registrations and only
    the one asked for is converted (a command's --help pays for that command alone)."""

    def __init__(self, name: str, commands: typer.Typer) -> None:
        super().__init__(name=name, help=commands.info.help, no_args_is_help=True, rich_markup_mode=None,
                         context_settings=commands.info.context_settings)
        self.infos = {_command_name(info): info for info in commands.registered_commands}
        self.loaded: dict[str, _click.Command] = {}

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return list(self.infos)

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        if cmd_name not in self.loaded and cmd_name in self.infos:
            self.loaded[cmd_name] = _convert(self.infos[cmd_name])
        return self.loaded.get(cmd_name)

    def format_commands(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        rows = []
        for name, info in self.infos.items():
            doc = info.help or (info.callback.__doc__ if info.callback else "") or ""
            rows.append((name, " ".join(doc.strip().split("\n\n")[0].split())))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def load_command(name: str) -> _click.Command | None:
    entry = COMMANDS.get(name)
    if entry is None:
        return None
    module_name, command, _ = entry
    module = importlib.import_module(module_name)
    if command is None:
        return LazySubGroup(name, module.app)
    return _convert(next(i for i in module.app.registered_commands if _command_name(i) == command))


class LazyGroup(TyperGroup):
    """The root: lists commands from COMMANDS, imports one only when asked for it, and reports
    usage errors as every other error: one line plus a hint, exit code 2."""

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        return load_command(cmd_name)

    def format_commands(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, _, summary) in COMMANDS.items()])

    def _main_shell_completion(self, ctx_args: Any, prog_name: str, complete_var: str | None = None) -> None:
        # The shell asks for candidates through this variable; typer's shell classes are loaded only then.
        from .completion import COMPLETE_VAR
        from .settings import env

        if env(complete_var or COMPLETE_VAR):
            from typer._completion_classes import completion_init
            from typer.core import _typer_main_shell_completion

            completion_init()
            _typer_main_shell_completion(self, ctx_args=ctx_args, prog_name="pais", complete_var=complete_var or COMPLETE_VAR)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,  # noqa: ARG002 - always "pais"
             standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            rv = super().main(args=args, prog_name="pais", complete_var=complete_var,
                              standalone_mode=False, **extra)
        except _click.exceptions.NoArgsIsHelpError as exc:
            _write_help(exc.ctx.get_help() + "\n" if exc.ctx else "")
            sys.exit(0)
        except _click.exceptions.UsageError as exc:
            _usage_error(exc, args)
        except _click.exceptions.ClickException as exc:
            sys.stderr.write(f"error: {exc.format_message()}\nhint: run the command with -h for its usage\n")
            sys.exit(exc.exit_code)
        except typer.Abort:
            sys.stderr.write("aborted\n")
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def _write_help(text: str) -> None:
    from .output import write_stdout

    write_stdout(text)


def _usage_error(exc: _click.exceptions.UsageError, args: Sequence[str] | None) -> None:
    message = exc.format_message().rstrip(".")
    message = message[0].lower() + message[1:] if message[:1].isupper() and message[1:2].islower() else message
    path = exc.ctx.command_path if exc.ctx else "pais"
    hint = f"see `{path} -h` for the options and examples"
    argv = list(args if args is not None else sys.argv[1:])
    if _json_mode(argv):
        import json

        sys.stderr.write(json.dumps({"error": message, "hint": hint, "exit_code": 2}) + "\n")
    else:
        sys.stderr.write(f"error: {message}\nhint: {hint}\n")
    sys.exit(2)


def _json_mode(argv: list[str]) -> bool:
    for i, arg in enumerate(argv):
        if arg in ("-o", "--output") and argv[i + 1:i + 2] == ["json"]:
            return True
        if arg in ("-ojson", "--output=json"):
            return True
    return False


app = typer.Typer(
    cls=LazyGroup,
    help="Get models into a private model gallery safely, and out again.",
    epilog=examples(
        "pais gallery init --modelStore harbor.example.com/dev-models --name dev",
        "pais models push ./bge-small --modelName baai/bge-small:v1 --modelStore dev",
        "pais models pull harbor.example.com/dev-models/baai/bge-small:v1 --dest ./bge",
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=CONTEXT_SETTINGS,
)


def _version(value: bool) -> None:
    if value:
        from .output import write_stdout

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
    # Start-up builds some 100k objects (modules, classes) that live until exit; collecting
    # while it runs finds nothing. output.command freezes them and turns collection back on.
    gc.disable()
    # httpx imports its own command line (click, rich's syntax highlighting, pygments) whenever
    # it is imported: a third of its import time, paid by every pull. pais never runs it, and
    # httpx provides for its absence (an ImportError there gives a stub). encode/httpx#3547.
    sys.modules.setdefault("httpx._main", types.ModuleType("httpx._main"))
    app()
