"""The one output helper: tables or JSON on stdout, notes and progress on stderr, errors mapped
to exit codes (0 ok, 1 failed, 2 usage)."""

from __future__ import annotations

import errno
import json
import sqlite3
import ssl
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from ..errors import InsufficientSpace, Interrupted, PaisError, TLSError
from ..gallery.progress import TransferProgress
from ..gallery.network import DEFAULT_CHUNK_SIZE, NetworkPolicy
from ..units import format_size, parse_size
from .options import OutputFormat

human_size = format_size


def write_stdout(text: str) -> None:
    """Every byte pais writes to stdout passes here."""
    sys.stdout.write(text)


class Output:
    def __init__(self, fmt: OutputFormat, debug: bool) -> None:
        self.fmt = fmt
        self.debug = debug
        self.out = Console(soft_wrap=True)
        self.err = Console(stderr=True, soft_wrap=True)

    @property
    def json(self) -> bool:
        return self.fmt == OutputFormat.json

    def note(self, message: str) -> None:
        """A line for the person at the terminal; never on stdout, so JSON stays parseable."""
        self.err.print(message, markup=False, highlight=False)

    def emit(self, data: Any, render: Callable[[], None]) -> None:
        if self.json:
            self.data(data)
        else:
            render()

    def data(self, data: Any) -> None:
        """A JSON document on stdout, whatever the output format (a report asked for as JSON)."""
        self.text(json.dumps(data, indent=2, sort_keys=False) + "\n")

    def text(self, text: str) -> None:
        """Text rendered elsewhere (YAML manifests, a command line) on stdout, as it is."""
        write_stdout(text)

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None, stderr: bool = False) -> None:
        console = self.err if stderr else self.out
        if not console.is_terminal:
            # Line-oriented for pipes: tab-separated, a header line first.
            lines = "".join("\t".join(cell.replace("\t", " ").replace("\n", " ") for cell in row) + "\n"
                            for row in (columns, *rows))
            sys.stderr.write(lines) if stderr else write_stdout(lines)
            return
        table = Table(title=title)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)

    def fields(self, pairs: Sequence[tuple[str, str]]) -> None:
        width = max(len(k) for k, _ in pairs)
        for key, value in pairs:
            self.out.print(f"{key.ljust(width)}  {value}", markup=False, highlight=False)

    @contextmanager
    def progress(self, label: str) -> Iterator[TransferProgress]:
        if not self.err.is_terminal:
            yield TransferProgress()
            return
        bar = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
            console=self.err, transient=True,
        )
        task = bar.add_task(label, total=None)

        class _Rich(TransferProgress):
            def plan(self, total: int) -> None:
                bar.update(task, total=total)

            def advance(self, n: int) -> None:
                bar.advance(task, n)

        with bar:
            yield _Rich()

    def fail(self, exc: PaisError) -> NoReturn:
        line = exc.message if isinstance(exc, Interrupted) else f"error: {exc.message}"
        self.err.print(line, markup=False, highlight=False)
        if exc.hint:
            self.err.print(f"hint: {exc.hint}", markup=False, highlight=False)
        raise typer.Exit(exc.exit_code)


def network_policy(out: Output, connect_timeout: float, stall_timeout: float, retries: int, chunk_size: str | None,
                   verbose: bool) -> NetworkPolicy:
    """The transfer options of a command as the library's policy; retries go to stderr with -v."""
    return NetworkPolicy(
        connect_timeout=connect_timeout, stall_timeout=stall_timeout, retries=retries,
        chunk_size=parse_size(chunk_size, "--chunk-size") if chunk_size is not None else DEFAULT_CHUNK_SIZE,
        on_retry=out.note if verbose else None)


_ERRNO_HINTS = {
    errno.EACCES: "check the permissions of that path, or choose one this user can write",
    errno.EPERM: "check the permissions of that path, or choose one this user can write",
    errno.EROFS: "the filesystem is read-only: choose a writable location",
    errno.ENOSPC: "free some space, or choose another location, then run the same command again",
    errno.EDQUOT: "the disk quota is used up: free some space, then run the same command again",
    errno.ENAMETOOLONG: "a file name is too long for this filesystem: choose a shorter path",
    errno.ENOTDIR: "a part of that path is a file, not a directory: choose another path",
    errno.EISDIR: "that path is a directory where a file is expected: choose a file path",
    errno.EEXIST: "something already exists at that path: move it away or choose another",
    errno.ENOENT: "check that the path exists",
    errno.ELOOP: "that path loops through symbolic links: resolve them",
}


def file_error(exc: OSError) -> PaisError:
    where = f" {exc.filename}" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientSpace(f"no space left on the device of{where}", _ERRNO_HINTS[exc.errno])
    return PaisError(f"cannot use{where}: {exc.strerror or type(exc).__name__}",
                     _ERRNO_HINTS.get(exc.errno or 0, "check the path and try again"))


@contextmanager
def command(fmt: OutputFormat, debug: bool) -> Iterator[Output]:
    """Run a command body: typed errors become one line plus a hint; tracebacks only with --debug."""
    out = Output(fmt, debug)
    try:
        yield out
    except PaisError as exc:
        if debug:
            out.err.print_exception()
        out.fail(exc)
    except KeyboardInterrupt:
        out.err.print("interrupted: nothing half-written is in place; run the same command again to resume")
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except OSError as exc:
        # Paths and files a command was given: a store or destination that is a file, read-only,
        # full, under /proc, a name too long... One line that names the path and what to do.
        if debug:
            out.err.print_exception()
        out.fail(file_error(exc))
    except ssl.SSLError as exc:
        out.fail(TLSError(f"TLS failed: {exc.reason or exc}", "check --ca-file and the registry's certificate"))
    except sqlite3.Error as exc:
        out.fail(PaisError(f"the cache database cannot be used: {exc}",
                           "remove the cache directory ($PAIS_CACHE_DIR, or ~/.cache/pais); it is rebuilt"))
    except Exception as exc:  # noqa: BLE001 - the last line of defence for an unexpected bug
        if debug:
            raise
        out.err.print(f"error: unexpected {type(exc).__name__}: {exc}", markup=False, highlight=False)
        out.err.print("hint: run again with --debug for the traceback, and report it", markup=False, highlight=False)
        raise typer.Exit(1) from None
