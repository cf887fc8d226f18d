"""`models download`: a Hugging Face repository into a plain directory, pinned and recorded."""

from __future__ import annotations

from pathlib import Path

from ..gallery.progress import TransferProgress
from ..hub import DownloadResult
from ..hub import download_model as hub_download
from .context import Context


def download_model(ctx: Context, repo_id: str, dest: Path, revision: str | None = None, *,
                   allow_patterns: list[str] | None = None, endpoint: str | None = None,
                   progress: TransferProgress | None = None) -> DownloadResult:
    """The files are hashed once, into the digest cache that validate and push then read.

    `progress` counts files; huggingface_hub's own bars stay off, so there is one display."""
    return hub_download(repo_id, dest, revision, allow_patterns=allow_patterns, endpoint=endpoint, progress=progress or False,
                        digests=ctx.digests())
