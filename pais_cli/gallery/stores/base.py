"""Store roles: small interfaces, as oras-go splits them, that copy() and referrers are typed against.

    Source          resolve a reference, read manifests and blobs       (oras-go ReadOnlyTarget)
    Target          has/push blobs and manifests                        (oras-go Target)
    Mounter         make a blob of another source appear without bytes  (oras-go registry.Mounter)
    ReferrerLister  the referrers API, where the store has one          (oras-go registry.ReferrerLister)
    RawManifests    any manifest or index by its bytes (referrer indexes)
    TagLister, Deleter
    Repository      all of them: one model in a registry or an on-disk gallery
    GalleryStore    many models, plus what only a whole gallery knows (listing, probing)

A directory is a Source (push) or a Target (pull) and claims nothing more.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..oci import Descriptor, Manifest

if TYPE_CHECKING:
    from ..harbor import HarborProject

Progress = Callable[[int], None]  # called with each number of bytes moved


def no_progress(_: int) -> None:
    return None


@dataclass
class Revision:
    """One revision of a model as a store knows it: its digest and the tags naming it."""

    digest: str
    tags: list[str] = field(default_factory=list)


class Stopped(Exception):
    """A transfer is stopping (interrupt, or another blob failed): leave resumable state behind."""


CHUNK_GRACE_S = 0.6  # how long an upload chunk in flight may still run after a stop (its session stays valid)


class ChunkStream:
    """A blob's chunks as copy() hands them to a target, with the copy's stop flag. After a stop
    the stream ends at the next chunk, unless the target asked to finish what is in flight
    (`finish_in_flight`: an upload chunk must land whole for its session to stay valid; a
    partial file keeps every byte anyway). A target must not begin anything new (`stopping`)."""

    def __init__(self, chunks: Iterator[bytes], stop: threading.Event) -> None:
        self._chunks = chunks
        self._stop = stop
        self._grace = 0.0
        self._stopped_at: float | None = None

    def finish_in_flight(self, grace: float = CHUNK_GRACE_S) -> None:
        """Keep delivering for `grace` seconds after a stop."""
        self._grace = grace

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def __iter__(self) -> ChunkStream:
        return self

    def __next__(self) -> bytes:
        if self._stop.is_set():
            now = time.monotonic()
            self._stopped_at = self._stopped_at or now
            if now - self._stopped_at >= self._grace:
                raise Stopped
        return next(self._chunks)


class Source(Protocol):
    location: str  # for messages, e.g. "127.0.0.1:5000/models/acme/tiny"

    def resolve(self, reference: str) -> str:
        """The digest a tag or digest names; NotFound when there is none."""
        ...

    def fetch_manifest(self, reference: str) -> Manifest: ...

    def open_blob(self, desc: Descriptor, offset: int = 0) -> AbstractContextManager[Iterator[bytes]]:
        """The blob's bytes from `offset` on, in chunks."""
        ...


class Target(Protocol):
    location: str

    def has_blob(self, desc: Descriptor) -> bool: ...

    def resume_offset(self, desc: Descriptor) -> int:
        """How many leading bytes of `desc` an interrupted earlier transfer already left here."""
        ...

    def push_blob(self, desc: Descriptor, chunks: Iterator[bytes], progress: Progress = no_progress) -> None:
        """Store a blob; the store verifies its digest and size before it becomes visible."""
        ...

    def push_manifest(self, manifest: Manifest, tags: Sequence[str] = (), *, move_tags: bool = True) -> bool:
        """Store the manifest by digest, then point each tag at it (tags last). Without
        `move_tags`, a tag that names another revision is a TagConflict, decided as close to
        the write as the store allows. True when the store indexed the manifest's `subject`
        itself (the referrers API)."""
        ...


@runtime_checkable
class SpaceAware(Protocol):
    def free_bytes(self) -> int:
        """Bytes the filesystem under this target can still take."""
        ...


@runtime_checkable
class Mounter(Protocol):
    def mount_blob(self, desc: Descriptor, source: Source) -> bool:
        """Make a blob of `source` available here without moving bytes, where the store can."""
        ...


class ReferrerLister(Protocol):
    def referrers(self, digest: str, artifact_type: str | None = None) -> list[dict[str, Any]] | None:
        """The referrers API's answer, or None where the store has none (use the tag schema)."""
        ...


class RawManifests(Protocol):
    def push_raw_manifest(self, raw: bytes, media_type: str, tag: str | None = None) -> bool:
        """Store any manifest or index (a referrers index, say), optionally tagged."""
        ...

    def fetch_raw_manifest(self, reference: str) -> tuple[bytes, str]: ...


class TagLister(Protocol):
    def tags(self) -> list[str]: ...

    def revisions(self) -> list[Revision]: ...


class Deleter(Protocol):
    def delete(self, reference: str) -> None:
        """Remove a tag (the revision stays) or, by digest, a revision and its tags."""
        ...


class ReferrerStore(Source, Target, RawManifests, ReferrerLister, Protocol):
    """What attaching, listing and copying referrers needs."""


class Repository(ReferrerStore, Mounter, TagLister, Deleter, Protocol):
    """One model's content in a gallery: every role."""


@dataclass
class StoreCheck:
    """What `gallery init` learnt of a store: created (on disk), or reachable and writable (registry)."""

    created: bool = False
    scheme: str | None = None
    tls_verified: bool | None = None
    auth: str | None = None
    credentials: str | None = None
    push_allowed: bool | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class GarbageReport:
    """What a garbage collection removed (or, dry, would remove)."""

    blobs: int = 0
    staging_files: int = 0
    referrer_indexes: int = 0
    bytes_freed: int = 0
    kept_young: int = 0  # unreferenced blobs and staging files younger than the grace period
    dry_run: bool = False


class GalleryStore(Protocol):
    """A gallery: many models, each a Repository."""

    description: str

    @property
    def plain_http(self) -> bool:
        """Content travels without TLS (a registry that speaks none); False on disk."""
        ...

    def repository(self, model: str) -> Repository: ...

    def models(self) -> list[str]: ...

    def catalog(self, model: str | None = None) -> dict[str, list[Revision]]:
        """Every revision of every model (or of one), by model; the fastest way the store has."""
        ...

    def harbor(self) -> HarborProject | None:
        """The Harbor project this gallery is, where it is one (its API provisions and lists)."""
        ...

    def prepare(self, settings: dict[str, Any]) -> StoreCheck:
        """Create the gallery where the store can (on disk), or check it (a registry)."""
        ...

    def preflight(self, model: str) -> Repository:
        """Before any hashing: can this gallery take a push of `model`? (The registry answers,
        TLS verifies, the credentials may push there; a directory can be written.) Returns the
        repository with short deadlines, for the cheap checks that follow (tags)."""
        ...

    def collect_garbage(self, dry_run: bool, grace_s: float) -> GarbageReport:
        """Remove what no revision reaches; a registry collects its own (UsageError)."""
        ...
