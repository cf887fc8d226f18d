"""Referrers: artifacts stored beside the revision they speak of (a validation report, say).

A referrer is a manifest whose `subject` is the revision's manifest, carrying one payload of a
given artifact type. Registries with the referrers API index it themselves (they answer the PUT
with `OCI-Subject`); elsewhere (CNCF distribution 2.8, the on-disk gallery) we maintain the
referrers tag schema: tag `sha256-<hex>` names an index of the referrers.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import NotFound, PaisError, RegistryError
from .copy import copy
from .mediatypes import ANNOTATION_TITLE, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST
from .oci import Descriptor, Manifest, build_manifest, canonical_json, sha256_digest
from .stores.base import ReferrerStore, Source, Target
from .stores.files import READ_CHUNK

ANNOTATION_CREATED = "org.opencontainers.image.created"
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
EMPTY_CONFIG = b"{}"


def referrers_tag(digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}-{hexpart}"


def read_blob(repo: Source, desc: Descriptor, limit: int = MAX_PAYLOAD_BYTES) -> bytes:
    if desc.size > limit:
        raise RegistryError(f"blob {desc.digest} is {desc.size} bytes, over the {limit} allowed here", "this is not a payload pais stored")
    with repo.open_blob(desc) as chunks:
        data = b"".join(chunks)
    if sha256_digest(data) != desc.digest:
        raise RegistryError(f"blob {desc.digest} does not match its digest", "the store is corrupt")
    return data


def _push_if_missing(repo: Target, desc: Descriptor, data: bytes) -> None:
    if not repo.has_blob(desc):
        repo.push_blob(desc, iter([data[i:i + READ_CHUNK] for i in range(0, len(data), READ_CHUNK)] or [b""]))


def _tag_schema_index(repo: ReferrerStore, subject_digest: str) -> list[dict[str, Any]]:
    try:
        raw, _ = repo.fetch_raw_manifest(referrers_tag(subject_digest))
    except NotFound:
        return []
    obj = json.loads(raw)
    return [m for m in obj.get("manifests", []) if isinstance(m, dict)]


def attach(repo: ReferrerStore, subject: Descriptor, artifact_type: str, payload: bytes, payload_type: str, title: str,
           annotations: dict[str, str]) -> Descriptor:
    """Store `payload` as a referrer of `subject`; returns the referrer manifest's descriptor."""
    empty = Descriptor(OCI_EMPTY, sha256_digest(EMPTY_CONFIG), len(EMPTY_CONFIG))
    _push_if_missing(repo, empty, EMPTY_CONFIG)
    layer = Descriptor(payload_type, sha256_digest(payload), len(payload), {ANNOTATION_TITLE: title})
    _push_if_missing(repo, layer, payload)
    raw = build_manifest(empty, [layer], artifact_type=artifact_type, subject=subject, annotations=annotations)
    desc = Descriptor(OCI_MANIFEST, sha256_digest(raw), len(raw), dict(annotations), artifact_type)
    if not repo.push_raw_manifest(raw, OCI_MANIFEST):
        add_to_tag_schema(repo, subject.digest, desc)
    return desc


def add_to_tag_schema(repo: ReferrerStore, subject_digest: str, desc: Descriptor) -> None:
    manifests = [m for m in _tag_schema_index(repo, subject_digest) if m.get("digest") != desc.digest]
    manifests.append(desc.to_json())
    index = canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})
    repo.push_raw_manifest(index, OCI_INDEX, referrers_tag(subject_digest))


def list_referrers(repo: ReferrerStore, subject_digest: str, artifact_type: str | None = None) -> list[Descriptor]:
    found = repo.referrers(subject_digest, artifact_type)
    if found is None:
        found = _tag_schema_index(repo, subject_digest)
    out = []
    for m in found:
        try:
            desc = Descriptor.from_json(m)
        except PaisError:
            continue
        if artifact_type is None or desc.artifact_type == artifact_type:
            out.append(desc)
    return out


def payloads(repo: ReferrerStore, subject_digest: str, artifact_type: str) -> list[tuple[Descriptor, bytes]]:
    """Each referrer of that type with its payload (its first layer), newest first by its
    creation annotation; referrers whose manifest does not name this subject are ignored."""
    descs = list_referrers(repo, subject_digest, artifact_type)
    descs.sort(key=lambda d: d.annotations.get(ANNOTATION_CREATED, ""), reverse=True)
    out = []
    for desc in descs:
        raw, _ = repo.fetch_raw_manifest(desc.digest)
        manifest = Manifest.parse(raw)
        if manifest.subject is None or manifest.subject.digest != subject_digest or not manifest.layers:
            continue
        out.append((desc, read_blob(repo, manifest.layers[0])))
    return out


def copy_referrers(source: ReferrerStore, destination: ReferrerStore, subject_digest: str, artifact_type: str | None,
                   new_subject: Descriptor | None = None) -> int:
    """Copy the referrers of a revision (its reports) beside the same revision elsewhere.

    `artifact_type` None copies referrers of every type. Unchanged subject: each referrer moves byte for byte. A new subject (a flavour conversion
    gave the revision a new digest): each payload is attached again with that subject.
    Returns the number of referrers the destination did not have.
    """
    copied = 0
    target_subject = new_subject.digest if new_subject else subject_digest
    present = {d.digest for d in list_referrers(destination, target_subject, artifact_type)}
    for desc in list_referrers(source, subject_digest, artifact_type):
        raw, _ = source.fetch_raw_manifest(desc.digest)
        manifest = Manifest.parse(raw)
        if new_subject is not None:
            if not manifest.layers:
                continue
            payload = read_blob(source, manifest.layers[0])
            attached = attach(destination, new_subject, desc.artifact_type or "", payload, manifest.layers[0].media_type,
                              manifest.layers[0].annotations.get(ANNOTATION_TITLE, "payload"), manifest.annotations)
            copied += attached.digest not in present
            continue
        if desc.digest in present:
            continue
        result = copy(source, manifest, destination)
        if not result.subject_indexed:
            add_to_tag_schema(destination, subject_digest, desc)
        copied += 1
    return copied
