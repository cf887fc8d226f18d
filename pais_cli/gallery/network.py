"""Deadlines and retries for every request a registry transfer makes, named in one place.

A stall is measured on bytes received: a slow link that keeps delivering is not stalled, one
that delivers nothing for `stall_timeout` seconds is. Transient failures (connection errors,
stalls, resets, 429 and 5xx) are retried `retries` times with exponential backoff and full
jitter, honouring Retry-After; a 4xx that cannot succeed is never retried. With the defaults a
registry that stalls is reported in about 4 x 8 s plus backoff, well inside 40 s.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from ..errors import TransientError
from ..units import MIB

T = TypeVar("T")

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_STALL_TIMEOUT = 8.0
DEFAULT_RETRIES = 3
# PATCH size of a chunked upload: big enough that request overhead stays under 1% on a fast
# link, small enough that an interrupted push finishes its chunk in well under a second on a
# slow one (8 MiB at 10 MB/s) and a proxy's body limit is not hit.
DEFAULT_CHUNK_SIZE = 8 * MIB
MAX_RETRY_AFTER = 30.0


@dataclass(frozen=True)
class NetworkPolicy:
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    stall_timeout: float = DEFAULT_STALL_TIMEOUT
    retries: int = DEFAULT_RETRIES
    chunk_size: int = DEFAULT_CHUNK_SIZE  # 0: every blob in one monolithic PUT
    backoff: float = 0.5
    backoff_max: float = 8.0
    on_retry: Callable[[str], None] | None = field(default=None, compare=False)  # --verbose

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
        return random.uniform(self.backoff / 2, min(self.backoff_max, self.backoff * 2**attempt))

    def call(self, what: str, attempt_once: Callable[[], T], stop: threading.Event | None = None) -> T:
        """Run `attempt_once`, retrying transient failures; `stop` (a cancelled transfer) ends the waiting."""
        stop = stop or threading.Event()  # nobody stops it: the wait is a plain, interruptible sleep
        attempt = 0
        while True:
            try:
                return attempt_once()
            except TransientError as exc:
                if exc.exhausted:
                    raise  # retried already, where it happened: retrying it again here would multiply the wait
                if attempt >= self.retries or stop.is_set():
                    exc.exhausted = True
                    raise
                wait = self.delay(attempt, exc.retry_after)
                attempt += 1
                self.report(f"retry {attempt}/{self.retries} of {what} in {wait:.1f} s: {exc.message}")
                if stop.wait(wait):
                    exc.exhausted = True
                    raise

    def report(self, line: str) -> None:
        if self.on_retry is not None:
            self.on_retry(line)

    def quick(self) -> NetworkPolicy:
        """The preflight's policy: what fails cheaply (down, TLS, credentials, a conflicting
        tag) is reported in about a second, before any hashing or scanning."""
        return replace(self, connect_timeout=min(self.connect_timeout, 1.5), stall_timeout=min(self.stall_timeout, 1.5),
                       retries=min(self.retries, 1), backoff=0.1, backoff_max=0.2)
