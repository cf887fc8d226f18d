"""What copy() reports while it runs: the CLI renders it, the library only calls it."""

from __future__ import annotations


class TransferProgress:
    """The do-nothing reporter; the CLI subclasses it to draw a bar."""

    def plan(self, total: int) -> None: ...

    def advance(self, n: int) -> None: ...
