"""The rules a file path inside a model must follow, on push and on pull alike."""

from __future__ import annotations

import unicodedata

from ..errors import UnsafeArtifact

REFUSED = "refused before anything was written: the artifact is malformed or hostile; ask its publisher"


def check_relative_path(path: str) -> str:
    """A path that may be created under a destination directory, or UnsafeArtifact."""
    if not path or "\\" in path or "\x00" in path:
        raise UnsafeArtifact(f"layer path {path!r} is not a relative POSIX path", REFUSED)
    if any(unicodedata.category(ch) == "Cc" for ch in path):
        raise UnsafeArtifact(f"layer path {path!r} contains control characters", REFUSED)
    if path.startswith("/"):
        raise UnsafeArtifact(f"layer path {path!r} is absolute", REFUSED)
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise UnsafeArtifact(f"layer path {path!r} leaves its directory ('..', '.' or an empty part)", REFUSED)
    return path
