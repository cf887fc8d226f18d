"""Help that teaches: the same context settings everywhere (-h, 80 columns) and examples."""

from __future__ import annotations

from typing import Any

# -h as well as --help, on every command (children inherit the root's context settings).
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 80}


def examples(*lines: str) -> str:
    """An epilog of real command lines, kept as written (click's \\b stops re-wrapping).

    A line ending in a backslash continues on the next one, as in a shell."""
    body = "\n".join(f"  {line}" for line in lines)
    return f"Examples:\n\n\b\n{body}"
