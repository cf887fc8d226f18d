"""Exact OCI and ModelPack strings (see shared/specs/media-types.md) and the two flavours.

`cncf` is the current ModelPack naming; `cnai` is the legacy naming that released Harbor
2.13-2.15 needs for its model view. We write one flavour and read both.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import FLAVORS, Flavor

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"

ANNOTATION_TITLE = "org.opencontainers.image.title"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"

LAYER_KINDS = ("weight", "weight.config", "doc", "code", "dataset")


@dataclass(frozen=True)
class FlavorNames:
    flavor: Flavor
    artifact_type: str
    config: str
    filepath: str
    file_metadata: str
    untested: str

    def layer(self, kind: str) -> str:
        return f"application/vnd.{self.flavor}.model.{kind}.v1.raw"


NAMES: dict[str, FlavorNames] = {
    f: FlavorNames(
        flavor=f,
        artifact_type=f"application/vnd.{f}.model.manifest.v1+json",
        config=f"application/vnd.{f}.model.config.v1+json",
        filepath=f"org.{f}.model.filepath",
        file_metadata=f"org.{f}.model.file.metadata+json",
        untested=f"org.{f}.model.file.mediatype.untested",
    )
    for f in FLAVORS
}


def flavor_of_config(media_type: str) -> FlavorNames | None:
    for names in NAMES.values():
        if media_type == names.config:
            return names
    return None


def flavor_of_artifact(artifact_type: str | None, config_media_type: str) -> FlavorNames | None:
    for names in NAMES.values():
        if artifact_type == names.artifact_type:
            return names
    return flavor_of_config(config_media_type)


def layer_kind(media_type: str) -> str | None:
    """The ModelPack kind of a layer media type in either flavour, any archive form."""
    for names in NAMES.values():
        prefix = f"application/vnd.{names.flavor}.model."
        if media_type.startswith(prefix):
            kind, _, form = media_type[len(prefix):].rpartition(".v1.")
            if kind in LAYER_KINDS and form in ("raw", "tar", "tar+gzip", "tar+zstd"):
                return kind
    return None
