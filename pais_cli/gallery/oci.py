"""OCI descriptors and manifests: the small, strict subset of the image spec that pais uses."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import MalformedArtifact, NotAModel, RegistryError
from .mediatypes import OCI_MANIFEST

MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # distribution's own limit for a manifest


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    # Key order is fixed by construction; no whitespace, so bytes (and digests) are stable.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict)
    artifact_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_json(cls, obj: Any) -> Descriptor:
        if not isinstance(obj, dict):
            raise RegistryError("malformed descriptor in manifest", "the artifact is corrupt; push it again")
        try:
            media_type = obj["mediaType"]
            digest = obj["digest"]
            size = obj["size"]
        except KeyError as missing:
            raise RegistryError(f"descriptor without {missing}", "the artifact is corrupt; push it again") from missing
        annotations = obj.get("annotations") or {}
        if (
            not isinstance(media_type, str)
            or not isinstance(digest, str)
            or not isinstance(size, int)
            or isinstance(size, bool)
            or size < 0
            or not isinstance(annotations, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in annotations.items())
        ):
            raise RegistryError("malformed descriptor in manifest", "the artifact is corrupt; push it again")
        if not _SHA256.fullmatch(digest):
            # Not a usage error: the artifact, not the command line, is at fault.
            raise MalformedArtifact(f"descriptor digest {digest!r} is not sha256: pais verifies sha256 only",
                                    "refused before anything was written: ask the artifact's publisher for a sha256 one")
        artifact_type = obj.get("artifactType")
        return cls(media_type, digest, size, dict(annotations), artifact_type if isinstance(artifact_type, str) else None)


@dataclass(frozen=True)
class Manifest:
    """An OCI image manifest, kept with the exact bytes it was read from."""

    raw: bytes
    digest: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    artifact_type: str | None
    subject: Descriptor | None
    annotations: dict[str, str]

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(OCI_MANIFEST, self.digest, len(self.raw), artifact_type=self.artifact_type)

    @property
    def blobs(self) -> tuple[Descriptor, ...]:
        return (self.config, *self.layers)

    @property
    def size(self) -> int:
        """Everything a pull moves: manifest, config and layers."""
        return len(self.raw) + sum(d.size for d in self.blobs)

    @classmethod
    def parse(cls, raw: bytes, media_type: str | None = None) -> Manifest:
        if len(raw) > MAX_MANIFEST_BYTES:
            raise RegistryError("manifest larger than 4 MiB", "this is not an artifact pais pushed")
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            raise RegistryError("manifest is not JSON", "the artifact is corrupt; push it again") from exc
        if not isinstance(obj, dict):
            raise RegistryError("manifest is not a JSON object", "the artifact is corrupt; push it again")
        kind = obj.get("mediaType") or media_type
        if kind != OCI_MANIFEST or "config" not in obj:
            raise NotAModel(
                f"not a model artifact: manifest media type is {kind or 'missing'}",
                "pais reads ModelPack artifacts (OCI image manifests with a model config); "
                "this reference names something else, such as a container image or an index",
            )
        layers = obj.get("layers") or []
        if not isinstance(layers, list):
            raise RegistryError("manifest layers is not a list", "the artifact is corrupt; push it again")
        subject = obj.get("subject")
        annotations = obj.get("annotations") or {}
        artifact_type = obj.get("artifactType")
        return cls(
            raw=raw,
            digest=sha256_digest(raw),
            config=Descriptor.from_json(obj["config"]),
            layers=tuple(Descriptor.from_json(layer) for layer in layers),
            artifact_type=artifact_type if isinstance(artifact_type, str) else None,
            subject=Descriptor.from_json(subject) if subject is not None else None,
            annotations=annotations if isinstance(annotations, dict) else {},
        )


def build_manifest(
    config: Descriptor,
    layers: list[Descriptor],
    artifact_type: str | None = None,
    subject: Descriptor | None = None,
    annotations: dict[str, str] | None = None,
) -> bytes:
    obj: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_MANIFEST}
    if artifact_type:
        obj["artifactType"] = artifact_type
    obj["config"] = config.to_json()
    obj["layers"] = [layer.to_json() for layer in layers]
    if subject is not None:
        obj["subject"] = subject.to_json()
    if annotations:
        obj["annotations"] = annotations
    return canonical_json(obj)
