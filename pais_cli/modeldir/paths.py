"""The rules a file path inside a model must follow, on push and on pull alike."""

from __future__ import annotations

import unicodedata

from ..errors import UnsafeArtifact

REFUSED = "refused before anything was written: the artifact is malformed or hostile; ask its publisher"
# Names pais itself uses inside a pull's destination: a model may not ship files there.
STAGING = ".pais-staging"
INCOMPLETE_MARKER = ".pais-incomplete"
RESERVED = (STAGING, INCOMPLETE_MARKER)


def check_relative_path(path: str) -> str:
    """A path that may be created under a destination directory, or UnsafeArtifact."""
    if not path or "\\" in path or "\x00" in path:
        raise UnsafeArtifact(f"layer path {path!r} is not a relative POSIX path", REFUSED)
    if any(unicodedata.category(ch) == "Cc" for ch in path):
        raise UnsafeArtifact(f"layer path {path!r} contains control characters", REFUSED)
    if any(unicodedata.category(ch) == "Cf" for ch in path):
        # Bidirectional overrides and zero-width characters make a name read as another one.
        raise UnsafeArtifact(f"layer path {path!r} contains invisible or direction-changing characters", REFUSED)
    if path.startswith("/"):
        raise UnsafeArtifact(f"layer path {path!r} is absolute", REFUSED)
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise UnsafeArtifact(f"layer path {path!r} leaves its directory ('..', '.' or an empty part)", REFUSED)
    if path.split("/", 1)[0] in RESERVED:
        raise UnsafeArtifact(f"layer path {path!r} uses the reserved name {path.split('/', 1)[0]!r}", REFUSED)
    return path
