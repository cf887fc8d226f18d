"""A model directory as the checks see it: its files, each hashed once, and what cannot be stored."""

from __future__ import annotations

from pathlib import Path

from ..gallery.digests import DigestCache
from ..gallery.modelpack import DirectoryProblem, scan_directory
from .report import ModelFileEntry, ModelUnderTest


def inspect_directory(directory: Path, include_hidden: bool = False, jobs: int = 4,
                      digests: DigestCache | None = None) -> tuple[ModelUnderTest, list[DirectoryProblem]]:
    problems: list[DirectoryProblem] = []
    entries, skipped = scan_directory(directory, include_hidden, problems)
    cache = digests or DigestCache()
    file_digests = cache.digests([full for _, full, _ in entries], jobs=jobs)
    files = [ModelFileEntry(rel, full, st.st_size, d) for (rel, full, st), d in zip(entries, file_digests)]
    return ModelUnderTest(directory.resolve(), files, skipped), problems
