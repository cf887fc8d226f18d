"""The on-disk gallery: one OCI image layout per model, `<gallery>/<model name>/`.

Readable by `oras --oci-layout` and `skopeo oci:`. Tags are index.json entries annotated with
`org.opencontainers.image.ref.name`; a revision that loses its last tag keeps an untagged entry,
so the gallery stays a version history. index.json changes under a lock and by rename.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import NotFound, PaisError, TagConflict
from ..mediatypes import ANNOTATION_REF_NAME, OCI_INDEX
from ..oci import Descriptor, Manifest, canonical_json, sha256_digest
from ..reference import REFERRERS_TAG, check_model_name
from .base import GarbageReport, Progress, Revision, Source, StoreCheck, no_progress
from .files import free_bytes, iter_stored, write_verified

if TYPE_CHECKING:
    from ..harbor import HarborProject

GALLERY_MARKER = "pais-gallery.json"
STAGING = ".pais-staging"


class LayoutRepository:
    def __init__(self, root: Path, model: str) -> None:
        self.root = root / model
        self.model = model
        self.location = str(self.root)

    # -- reading ---------------------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        algorithm, _, hexpart = digest.partition(":")
        return self.root / "blobs" / algorithm / hexpart

    def _index(self) -> dict[str, Any]:
        try:
            index = json.loads((self.root / "index.json").read_bytes())
        except FileNotFoundError:
            return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        except ValueError as exc:
            raise PaisError(f"{self.root / 'index.json'} is not valid JSON", "restore it from a backup") from exc
        if not isinstance(index, dict):
            raise PaisError(f"{self.root / 'index.json'} is not an OCI image index", "restore it from a backup")
        return index

    def resolve(self, reference: str) -> str:
        if reference.startswith("sha256:"):
            if self.blob_path(reference).is_file():
                return reference
        else:
            for entry in self._index().get("manifests", []):
                if entry.get("annotations", {}).get(ANNOTATION_REF_NAME) == reference:
                    return str(entry["digest"])
        raise NotFound(f"{self.model}{'@' if reference.startswith('sha256:') else ':'}{reference} is not in {self.root.parent}",
                       "run `pais models list` to see what the gallery holds")

    def fetch_manifest(self, reference: str) -> Manifest:
        digest = self.resolve(reference)
        manifest = Manifest.parse(self.blob_path(digest).read_bytes())
        if manifest.digest != digest:
            raise PaisError(f"blob {digest} in {self.root} is corrupt", "push the revision again")
        return manifest

    def has_blob(self, desc: Descriptor) -> bool:
        path = self.blob_path(desc.digest)
        return path.is_file() and path.stat().st_size == desc.size

    @contextmanager
    def open_blob(self, desc: Descriptor, offset: int = 0) -> Iterator[Iterator[bytes]]:
        path = self.blob_path(desc.digest)
        if not path.is_file():
            raise NotFound(f"blob {desc.digest} is missing from {self.root}", "the gallery is damaged; push the revision again")
        yield iter_stored(path, desc, offset)

    # -- writing ---------------------------------------------------------------------------
    def _ensure_layout(self) -> None:
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (self.root / STAGING).mkdir(exist_ok=True)
        marker = self.root / "oci-layout"
        if not marker.exists():
            _atomic_write(marker, b'{"imageLayoutVersion":"1.0.0"}')

    def resume_offset(self, desc: Descriptor) -> int:
        return 0

    def free_bytes(self) -> int:
        return free_bytes(self.root)

    def push_blob(self, desc: Descriptor, chunks: Iterator[bytes], progress: Progress = no_progress) -> None:
        self._ensure_layout()
        partial = self.root / STAGING / f"{desc.digest.partition(':')[2]}.{uuid.uuid4().hex[:8]}"
        try:
            write_verified(desc, chunks, partial, self.blob_path(desc.digest), progress)
        finally:
            partial.unlink(missing_ok=True)

    def mount_blob(self, desc: Descriptor, source: Source) -> bool:
        # Same filesystem, another model of this gallery: a hard link moves no bytes.
        if isinstance(source, LayoutRepository) and source.has_blob(desc):
            self._ensure_layout()
            try:
                os.link(source.blob_path(desc.digest), self.blob_path(desc.digest))
                return True
            except FileExistsError:
                return True
            except OSError:
                return False
        return False

    def push_manifest(self, manifest: Manifest, tags: Sequence[str] = (), *, move_tags: bool = True) -> bool:
        self._ensure_layout()
        path = self.blob_path(manifest.digest)
        if not path.exists():
            _atomic_write(path, manifest.raw)
        with self._locked():
            index = self._index()
            entries: list[dict[str, Any]] = index.setdefault("manifests", [])
            if not move_tags:
                # Checked and written under one lock: of two writers exactly one gets the tag.
                for e in entries:
                    tag = e.get("annotations", {}).get(ANNOTATION_REF_NAME)
                    if tag in tags and e.get("digest") != manifest.digest:
                        raise TagConflict(f"tag {tag!r} of {self.model} names {e.get('digest')}, not {manifest.digest}",
                                          "push with another tag, or add --force to move the tag")
            desc = manifest.descriptor.to_json()
            tagged_away = {e["digest"] for e in entries if e.get("annotations", {}).get(ANNOTATION_REF_NAME) in tags}
            entries[:] = [e for e in entries if e.get("annotations", {}).get(ANNOTATION_REF_NAME) not in tags]
            for tag in tags:
                entries.append({**desc, "annotations": {ANNOTATION_REF_NAME: tag}})
            present = {e["digest"] for e in entries}
            for digest in sorted((tagged_away | {manifest.digest}) - present):
                # Keep revisions that lost their last tag, untagged: history, not garbage.
                entries.append(self._untagged(digest))
            # An untagged entry is redundant once a tag names the same digest.
            tagged = {e["digest"] for e in entries if ANNOTATION_REF_NAME in e.get("annotations", {})}
            entries[:] = [e for e in entries if ANNOTATION_REF_NAME in e.get("annotations", {}) or e["digest"] not in tagged]
            _atomic_write(self.root / "index.json", canonical_json(index))
        return False

    def delete(self, reference: str) -> None:
        """A tag: its entry goes, the revision stays in history. A digest: the revision, its tags
        and its referrers index go from index.json (blobs stay until a garbage collection)."""
        digest = self.resolve(reference)
        with self._locked():
            index = self._index()
            entries: list[dict[str, Any]] = index.get("manifests", [])
            if reference.startswith("sha256:"):
                referrers = "sha256-" + digest.partition(":")[2]
                entries[:] = [e for e in entries if e["digest"] != digest
                              and e.get("annotations", {}).get(ANNOTATION_REF_NAME) != referrers]
            else:
                entries[:] = [e for e in entries if e.get("annotations", {}).get(ANNOTATION_REF_NAME) != reference]
                if not any(e["digest"] == digest for e in entries):
                    entries.append(self._untagged(digest))
            _atomic_write(self.root / "index.json", canonical_json(index))

    def push_raw_manifest(self, raw: bytes, media_type: str, tag: str | None = None) -> bool:
        """Store any manifest or index; with a tag, index.json names it. Never indexes subjects."""
        self._ensure_layout()
        digest = sha256_digest(raw)
        path = self.blob_path(digest)
        if not path.exists():
            _atomic_write(path, raw)
        if tag:
            with self._locked():
                index = self._index()
                entries: list[dict[str, Any]] = index.setdefault("manifests", [])
                entries[:] = [e for e in entries if e.get("annotations", {}).get(ANNOTATION_REF_NAME) != tag]
                entries.append({"mediaType": media_type, "digest": digest, "size": len(raw),
                                "annotations": {ANNOTATION_REF_NAME: tag}})
                _atomic_write(self.root / "index.json", canonical_json(index))
        return False

    def fetch_raw_manifest(self, reference: str) -> tuple[bytes, str]:
        digest = self.resolve(reference)
        raw = self.blob_path(digest).read_bytes()
        if sha256_digest(raw) != digest:
            raise PaisError(f"blob {digest} in {self.root} is corrupt", "push the revision again")
        media_type = next((e.get("mediaType", "") for e in self._index().get("manifests", []) if e.get("digest") == digest), "")
        return raw, media_type

    def referrers(self, digest: str, artifact_type: str | None = None) -> list[dict[str, Any]] | None:
        return None  # a layout has no referrers API: the tag schema serves

    def _untagged(self, digest: str) -> dict[str, Any]:
        raw = self.blob_path(digest).read_bytes()
        return Manifest.parse(raw).descriptor.to_json()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.root / ".pais.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def collect_garbage(self, report: GarbageReport, cutoff: float) -> None:
        with self._locked():
            index = self._index()
            entries: list[dict[str, Any]] = index.get("manifests", [])
            revisions = {e["digest"] for e in entries if not REFERRERS_TAG.match(_tag(e) or "")}
            orphans = [e for e in entries if (tag := _tag(e)) and REFERRERS_TAG.match(tag)
                       and tag.replace("-", ":", 1) not in revisions]
            if orphans:
                report.referrer_indexes += len(orphans)
                if not report.dry_run:
                    entries[:] = [e for e in entries if e not in orphans]
                    _atomic_write(self.root / "index.json", canonical_json(index))
            reachable = self._reachable([e["digest"] for e in entries if e not in orphans])
            blob_dir = self.root / "blobs" / "sha256"
            for blob in sorted(blob_dir.iterdir()) if blob_dir.is_dir() else []:
                if f"sha256:{blob.name}" not in reachable:
                    self._collect(blob, report, cutoff, "blobs")
            staging = self.root / STAGING
            leftovers = [*(sorted(staging.iterdir()) if staging.is_dir() else []), *sorted(self.root.glob(".*.tmp"))]
            for partial in leftovers:  # partial blobs and index writes of killed processes
                self._collect(partial, report, cutoff, "staging_files")

    def _collect(self, path: Path, report: GarbageReport, cutoff: float, kind: str) -> None:
        st = path.lstat()
        if st.st_mtime > cutoff:
            report.kept_young += 1
            return
        setattr(report, kind, getattr(report, kind) + 1)
        report.bytes_freed += st.st_size
        if not report.dry_run:
            path.unlink(missing_ok=True)

    def _reachable(self, roots: list[str]) -> set[str]:
        """Every blob the manifests and indexes in `roots` reach, themselves included."""
        seen: set[str] = set()
        todo = list(roots)
        while todo:
            digest = todo.pop()
            if digest in seen:
                continue
            seen.add(digest)
            try:
                obj = json.loads(self.blob_path(digest).read_bytes())
            except (OSError, ValueError):
                continue  # a missing or non-JSON root: nothing below it to keep
            if not isinstance(obj, dict):
                continue
            children = [obj.get("config"), *(obj.get("layers") or []), *(obj.get("manifests") or [])]
            todo.extend(c["digest"] for c in children if isinstance(c, dict) and isinstance(c.get("digest"), str))
        return seen

    def tags(self) -> list[str]:
        return sorted(
            tag
            for e in self._index().get("manifests", [])
            if (tag := e.get("annotations", {}).get(ANNOTATION_REF_NAME)) and not REFERRERS_TAG.match(tag)
        )

    def revisions(self) -> list[Revision]:
        found: dict[str, Revision] = {}
        for e in self._index().get("manifests", []):
            tag = e.get("annotations", {}).get(ANNOTATION_REF_NAME)
            if tag and REFERRERS_TAG.match(tag):
                continue  # a referrers index, not a revision
            rev = found.setdefault(e["digest"], Revision(e["digest"]))
            if tag:
                rev.tags.append(tag)
        for rev in found.values():
            rev.tags.sort()
        return list(found.values())


class LayoutGallery:
    """A directory of OCI image layouts, one per model: the embedded default gallery."""

    plain_http = False

    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = str(root)

    def prepare(self, settings: dict[str, Any]) -> StoreCheck:
        """Create the gallery directory and its marker (with `settings`); an existing gallery is left as it is."""
        marker = self.root / GALLERY_MARKER
        if marker.exists():
            return StoreCheck(created=False, notes=["gallery already existed; nothing changed"])
        if self.root.exists() and any(self.root.iterdir()):
            raise PaisError(f"{self.root} exists and is not an empty directory or a pais gallery",
                            "choose an empty or new directory for the gallery")
        self.root.mkdir(parents=True, exist_ok=True)
        _atomic_write(marker, canonical_json({"schemaVersion": 1, **settings}))
        return StoreCheck(created=True)

    def harbor(self) -> HarborProject | None:
        return None

    def preflight(self, model: str) -> LayoutRepository:
        existing = next((p for p in (self.root, *self.root.parents) if p.exists()), Path("/"))
        if not existing.is_dir():
            raise PaisError(f"the gallery {self.root} cannot be created: {existing} is not a directory",
                            "give a directory (or a new path) as --modelStore")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise PaisError(f"the gallery {self.root} cannot be written: {existing} is not writable by this user",
                            "choose a gallery this user can write, or fix its permissions")
        return self.repository(model)

    def collect_garbage(self, dry_run: bool, grace_s: float) -> GarbageReport:
        """Per model, under its lock: referrer indexes whose subject is gone, then every blob no
        manifest of index.json reaches (untagged revisions and referrers included), then
        abandoned staging files. Blobs and staging younger than `grace_s` stay: a push that is
        running writes its blobs before its manifest."""
        report = GarbageReport(dry_run=dry_run)
        cutoff = time.time() - grace_s
        for model in self.models():
            self.repository(model).collect_garbage(report, cutoff)
        return report

    def catalog(self, model: str | None = None) -> dict[str, list[Revision]]:
        names = self.models()
        if not names and not (self.root / GALLERY_MARKER).is_file():
            raise NotFound(f"{self.root} is not a pais gallery" + ("" if self.root.exists() else " (it does not exist)"),
                           "check the path, or create the gallery with `pais gallery init --modelStore PATH` or a push")
        if model:
            names = [model] if model in names else []
        return {name: self.repository(name).revisions() for name in names}

    def settings(self) -> dict[str, Any]:
        try:
            found = json.loads((self.root / GALLERY_MARKER).read_bytes())
        except (OSError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def repository(self, model: str) -> LayoutRepository:
        return LayoutRepository(self.root, check_model_name(model))

    def models(self) -> list[str]:
        if not self.root.is_dir():
            return []
        names = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            if "oci-layout" in filenames:
                names.append(Path(dirpath).relative_to(self.root).as_posix())
                dirnames.clear()
            else:
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        return sorted(names)


def _tag(entry: dict[str, Any]) -> str | None:
    tag = entry.get("annotations", {}).get(ANNOTATION_REF_NAME)
    return tag if isinstance(tag, str) else None


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
