"""The one output helper: tables or JSON on stdout, notes and progress on stderr, errors mapped
to exit codes (0 ok, 1 failed, 2 usage)."""

from __future__ import annotations

import errno
import json
import sqlite3
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from ..errors import InsufficientSpace, Interrupted, PaisError, TLSError
from ..gallery.progress import TransferProgress
from ..validation.progress import CheckProgress
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
    def progress(self, label: str, quiet: bool = False) -> Iterator[Reporter]:
        """What a command reports while it runs (a transfer, checks), on stderr: bars on a
        terminal, a plain line every few seconds or 10% elsewhere, nothing with --quiet."""
        if quiet:
            yield Reporter()
            return
        if not self.err.is_terminal:
            yield PlainReporter(label, self.note)
            return
        bar = Progress(
            TextColumn("{task.description:<13}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            TimeRemainingColumn(), TextColumn("{task.fields[file]}"),
            console=self.err, transient=True,
        )
        with bar:
            yield RichReporter(label, bar)

    def fail(self, exc: PaisError) -> NoReturn:
        line = exc.message if isinstance(exc, Interrupted) else f"error: {exc.message}"
        self.err.print(line, markup=False, highlight=False)
        if exc.hint:
            self.err.print(f"hint: {exc.hint}", markup=False, highlight=False)
        raise typer.Exit(exc.exit_code)


class Reporter(TransferProgress, CheckProgress):
    """Progress of a transfer and of checks; this one says nothing (--quiet)."""


@dataclass
class _Meter:
    total: int
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    file: str = ""
    said_at: float = field(default_factory=time.monotonic)
    said_share: float = 0.0

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self, name: str) -> str:
        rate = self.rate()
        parts = [f"{name}: {format_size(self.done)}"]
        if self.total:
            parts[0] += f" of {format_size(self.total)} ({100 * self.done / self.total:.0f}%)"
        parts.append(f"{format_size(int(rate))}/s")
        if self.total and rate > 0 and self.done < self.total:
            parts.append(f"{(self.total - self.done) / rate:.0f} s left")
        if self.file:
            parts.append(self.file)
        return ", ".join(parts)

    def summary(self) -> str:
        elapsed = time.monotonic() - self.started
        if not self.done:
            return f"{elapsed:.1f} s"
        return f"{format_size(self.done)} in {elapsed:.1f} s ({format_size(int(self.done / max(elapsed, 1e-6)))}/s)"


class PlainReporter(Reporter):
    """For logs: one line per task every PERIOD seconds or every 10%, and one when a check ends."""

    PERIOD_S = 5.0

    def __init__(self, label: str, say: Callable[[str], None]) -> None:
        self.label = label
        self.say = say
        self.lock = threading.Lock()
        self.meters: dict[str, _Meter] = {}

    def _advance(self, name: str, n: int, file: str | None) -> None:
        with self.lock:
            meter = self.meters.setdefault(name, _Meter(0))
            meter.done += n
            meter.file = file or meter.file
            now = time.monotonic()
            share = meter.done / meter.total if meter.total else 0.0
            if now - meter.said_at < self.PERIOD_S and share - meter.said_share < 0.1:
                return
            meter.said_at, meter.said_share = now, share
            line = meter.line(name)
        self.say(line)

    def plan(self, total: int) -> None:
        with self.lock:
            self.meters[self.label] = _Meter(total)

    def advance(self, n: int) -> None:
        self._advance(self.label, n, None)

    def start(self, check: str, total: int) -> None:
        with self.lock:
            self.meters[check] = _Meter(total)

    def advance_check(self, check: str, n: int, file: str | None = None) -> None:
        self._advance(check, n, file)

    def finish(self, check: str, status: str, summary: str) -> None:
        with self.lock:
            meter = self.meters.pop(check, None)
        took = f" ({meter.summary()})" if meter else ""
        self.say(f"{check}: {status}{took}: {summary}")


class RichReporter(Reporter):
    """A bar per check and one for the transfer, on a terminal; a line per check when it ends."""

    def __init__(self, label: str, bar: Progress) -> None:
        self.label = label
        self.bar = bar
        self.lock = threading.Lock()
        self.tasks: dict[str, TaskID] = {}
        self.meters: dict[str, _Meter] = {}

    def _task(self, name: str, total: int | None) -> TaskID:
        with self.lock:
            if name not in self.tasks:
                self.tasks[name] = self.bar.add_task(name, total=total or None, file="")
                self.meters[name] = _Meter(total or 0)
            return self.tasks[name]

    def plan(self, total: int) -> None:
        self.bar.update(self._task(self.label, total), total=total)

    def advance(self, n: int) -> None:
        self.bar.advance(self._task(self.label, None), n)

    def start(self, check: str, total: int) -> None:
        self._task(check, total)

    def advance_check(self, check: str, n: int, file: str | None = None) -> None:
        task = self._task(check, None)
        self.meters[check].done += n
        self.bar.update(task, advance=n, file=file or "")

    def finish(self, check: str, status: str, summary: str) -> None:
        with self.lock:
            task = self.tasks.pop(check, None)
            meter = self.meters.pop(check, None)
        if task is not None:
            self.bar.remove_task(task)
        took = f" ({meter.summary()})" if meter else ""
        self.bar.console.print(f"{check}: {status}{took}: {summary}", markup=False, highlight=False)


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
