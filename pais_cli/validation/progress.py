"""What the checks report while they run: the CLI renders it, the library only calls it."""

from __future__ import annotations


class CheckProgress:
    """The do-nothing reporter. Methods may be called from several threads at once."""

    def start(self, check: str, total: int) -> None:
        """`check` begins; `total` bytes will be read (0 when it does not count bytes)."""

    def advance_check(self, check: str, n: int, file: str | None = None) -> None:
        """`n` more bytes judged, of `file` (the path inside the model) when known."""

    def finish(self, check: str, status: str, summary: str) -> None:
        """`check` ended with `status` (pass, warn, fail, skipped)."""
