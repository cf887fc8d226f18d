"""The one output helper: tables or JSON on stdout, notes and progress on stderr, errors mapped
to exit codes (0 ok, 1 failed, 2 usage, 130 interrupted).

On a pipe everything is line-oriented and whole: tab-separated rows and key/value pairs, full
digests. rich is imported only to draw tables and bars for a terminal: a command on a pipe or in
CI writes plain lines and never loads it.
"""

from __future__ import annotations

import errno
import functools
import gc
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from ..errors import InsufficientSpace, Interrupted, PaisError, TLSError
from ..gallery.network import DEFAULT_CHUNK_SIZE, NetworkPolicy
from ..units import format_size, parse_size
from .options import OutputFormat

if TYPE_CHECKING:
    from rich.console import Console

    from .reporters import Reporter

human_size = format_size
_VISIBLE = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7f, 0xa0)) if chr(c) not in "\t\n"}


def write_stdout(text: str) -> None:
    """Every byte pais writes to stdout passes here."""
    sys.stdout.write(text)


class Output:
    def __init__(self, fmt: OutputFormat, debug: bool, quiet: bool = False, verbose: bool = False) -> None:
        self.fmt = fmt
        self.debug = debug
        self.quiet = quiet
        self.verbose = verbose

    @functools.cached_property
    def out(self) -> Console:
        from rich.console import Console

        return Console(soft_wrap=True)

    @functools.cached_property
    def err(self) -> Console:
        from rich.console import Console

        return Console(stderr=True, soft_wrap=True)

    def _terminal(self, stderr: bool) -> bool:
        stream = sys.stderr if stderr else sys.stdout
        return stream.isatty() and (self.err if stderr else self.out).is_terminal

    @property
    def json(self) -> bool:
        return self.fmt == OutputFormat.json

    @property
    def interactive(self) -> bool:
        """A person watches stderr: progress displays are worth drawing."""
        return not self.quiet and self._terminal(stderr=True)

    def note(self, message: str) -> None:
        """A line for the person at the terminal; never on stdout, so JSON stays parseable. --quiet drops it."""
        if not self.quiet:
            self.line(message, stderr=True)

    def warn(self, message: str) -> None:
        """A warning: on stderr even with --quiet (it changes what the result means)."""
        self.line(message, stderr=True)

    def detail(self, message: str) -> None:
        """Only with --verbose."""
        if self.verbose:
            self.line(message, stderr=True)

    def line(self, text: str, stderr: bool = False) -> None:
        """One line of the human result, as it is."""
        if stderr:
            # Messages quote what registries and files say: their control characters (an escape
            # sequence from a hostile registry's error text) are shown, never obeyed.
            sys.stderr.write(text.translate(_VISIBLE) + "\n")
            sys.stderr.flush()
        else:
            write_stdout(text + "\n")

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
        if not self._terminal(stderr):
            # Line-oriented for pipes: tab-separated, a header line first.
            lines = "".join("\t".join(cell.replace("\t", " ").replace("\n", " ") for cell in row) + "\n"
                            for row in (columns, *rows))
            sys.stderr.write(lines) if stderr else write_stdout(lines)
            return
        from rich.table import Table

        table = Table(title=title)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*row)
        (self.err if stderr else self.out).print(table)

    def fields(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Key/value results: aligned for a person, `key<TAB>value` lines on a pipe."""
        if not self._terminal(stderr=False):
            write_stdout("".join(f"{key}\t{value.replace(chr(9), ' ').replace(chr(10), ' ')}\n" for key, value in pairs))
            return
        width = max(len(k) for k, _ in pairs)
        for key, value in pairs:
            self.out.print(f"{key.ljust(width)}  {value}", markup=False, highlight=False)

    def digest(self, digest: str) -> str:
        """Short on a terminal, whole on a pipe (a script copies it)."""
        return digest[:19] if self._terminal(stderr=False) else digest

    @contextmanager
    def progress(self, label: str, unit: str = "bytes") -> Iterator[Reporter]:
        """One display per command, on stderr: bars (IEC sizes, speed, the current file, a bar
        per check) on a terminal, a plain line every few seconds or 10% elsewhere, nothing
        with --quiet. `unit` other than bytes counts things (files of a download)."""
        from .reporters import PlainReporter, Reporter, RichReporter

        if self.quiet or (unit != "bytes" and not self.interactive):
            yield Reporter()
            return
        if not self.interactive:
            yield PlainReporter(label, self.note)
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from .bars import IecSizeColumn, IecSpeedColumn

        columns = (IecSizeColumn(), IecSpeedColumn()) if unit == "bytes" else (MofNCompleteColumn(), TextColumn(unit))
        bar = Progress(
            TextColumn("{task.description:<13}"), BarColumn(), *columns, TimeRemainingColumn(),
            TextColumn("{task.fields[file]}"), console=self.err, transient=True,
        )
        with bar:
            yield RichReporter(label, bar)

    def fail(self, exc: PaisError) -> NoReturn:
        if self.json:
            # JSON in, JSON out: a script parses the error too, from stderr; stdout stays empty.
            doc: dict[str, Any] = {"error": exc.message, "hint": exc.hint or None, "exit_code": exc.exit_code}
            report = getattr(exc, "report", None)
            if report is not None:
                doc["report"] = report.to_json()  # why validation failed, for the script that pushed
            sys.stderr.write(json.dumps(doc) + "\n")
            raise typer.Exit(exc.exit_code)
        line = exc.message if isinstance(exc, Interrupted) else f"error: {exc.message}"
        self.line(line, stderr=True)
        if exc.hint:
            self.line(f"hint: {exc.hint}", stderr=True)
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
def command(fmt: OutputFormat, debug: bool, quiet: bool = False, verbose: bool = False) -> Iterator[Output]:
    """Run a command body: typed errors become one line plus a hint; tracebacks only with --debug."""
    import sqlite3
    import ssl

    if not gc.isenabled():  # the CLI's own process (see app.main), never a caller's
        # What start-up built goes to the collector's permanent generation: never scanned
        # again, in the run or at exit (measured: 7 ms of start-up, 16 ms of exit per command).
        gc.freeze()
        gc.enable()
    out = Output(fmt, debug, quiet, verbose)
    try:
        yield out
    except PaisError as exc:
        if debug:
            out.err.print_exception()
        out.fail(exc)
    except KeyboardInterrupt:
        out.fail(Interrupted("interrupted: nothing half-written is in place; run the same command again to resume"))
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
        out.fail(PaisError(f"unexpected {type(exc).__name__}: {exc}", "run again with --debug for the traceback, and report it"))
