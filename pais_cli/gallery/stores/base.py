"""The store interface: what copy() needs from a source and a destination."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from ..oci import Descriptor, Manifest

Progress = Callable[[int], None]  # called with each number of bytes moved


def no_progress(_: int) -> None:
    return None


@dataclass
class Revision:
    """One revision of a model as a store knows it: its digest and the tags naming it."""

    digest: str
    tags: list[str] = field(default_factory=list)


class Repository(Protocol):
    """One model's content: blobs, manifests and tags."""

    location: str  # for messages, e.g. "127.0.0.1:5000/models/acme/tiny"

    def resolve(self, reference: str) -> str:
        """The digest a tag or digest names; NotFound when there is none."""
        ...

    def fetch_manifest(self, reference: str) -> Manifest: ...

    def has_blob(self, desc: Descriptor) -> bool: ...

    def open_blob(self, desc: Descriptor, offset: int = 0) -> AbstractContextManager[Iterator[bytes]]:
        """The blob's bytes from `offset` on, in chunks."""
        ...

    def push_blob(self, desc: Descriptor, chunks: Iterator[bytes], progress: Progress = no_progress) -> None:
        """Store a blob; the store verifies its digest and size before it becomes visible."""
        ...

    def resume_offset(self, desc: Descriptor) -> int:
        """How many leading bytes of `desc` an interrupted earlier transfer already left here."""
        ...

    def mount_blob(self, desc: Descriptor, source: Repository) -> bool:
        """Make a blob of `source` available here without moving bytes, where the store can."""
        ...

    def push_manifest(self, manifest: Manifest, tags: Sequence[str] = ()) -> bool:
        """Store the manifest by digest, then point each tag at it (tags last). True when the
        store indexed the manifest's `subject` itself (the referrers API)."""
        ...

    def push_raw_manifest(self, raw: bytes, media_type: str, tag: str | None = None) -> bool:
        """Store any manifest or index (a referrers index, say), optionally tagged."""
        ...

    def fetch_raw_manifest(self, reference: str) -> tuple[bytes, str]: ...

    def referrers(self, digest: str, artifact_type: str | None = None) -> list[dict[str, object]] | None:
        """The referrers API's answer, or None where the store has none (use the tag schema)."""
        ...

    def delete(self, reference: str) -> None:
        """Remove a tag (the revision stays) or, by digest, a revision and its tags."""
        ...

    def tags(self) -> list[str]: ...

    def revisions(self) -> list[Revision]: ...


class GalleryStore(Protocol):
    """A gallery: many models, each a Repository."""

    description: str

    def repository(self, model: str) -> Repository: ...

    def models(self) -> list[str]: ...
