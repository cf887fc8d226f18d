"""What a command shows while it runs: a transfer's bytes and each check's progress, on stderr.

Bars on a terminal; for logs (CI, `2>file`) a plain line every few seconds or every 10%, and a
line per check when it ends; nothing with --quiet. The library reports through the small
interfaces TransferProgress and CheckProgress and never prints.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..gallery.progress import TransferProgress
from ..units import format_size
from ..validation.progress import CheckProgress

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


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
