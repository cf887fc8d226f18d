"""CNCF ModelPack: a model directory <-> an OCI artifact with one raw layer per file.

Packing is deterministic: files sorted by path, modes normalised to 0644/0755, no timestamps
or host values, so the manifest digest is a pure function of the files' paths, bytes and
executable bits. Unpacking treats every annotation as untrusted input.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import MalformedArtifact, NotAModel, UnsafeArtifact
from ..formats import safetensors
from ..modeldir.digests import DigestCache
from ..modeldir.paths import REFUSED, check_relative_path
from ..modeldir.snapshot import DirectorySnapshot, snapshot_directory
from .mediatypes import (
    ANNOTATION_TITLE,
    NAMES,
    FlavorNames,
    flavor_of_artifact,
    layer_kind,
)
from .oci import Descriptor, Manifest, build_manifest, canonical_json, sha256_digest

WEIGHT_SUFFIXES = {
    ".safetensors", ".gguf", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".h5", ".keras", ".msgpack",
    ".pkl", ".pickle", ".joblib", ".npz", ".npy", ".tflite", ".pb", ".mlmodel", ".ot", ".nemo",
}
CODE_SUFFIXES = {".py", ".sh", ".ipynb", ".js", ".ts", ".c", ".cc", ".cpp", ".cu", ".h", ".rs", ".go", ".lua"}
DOC_NAMES = ("readme", "license", "licence", "notice", "copying", "authors", "citation", "changelog", "model_card")
DOC_SUFFIXES = {".md", ".rst", ".pdf", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".html"}
CONFIG_SUFFIXES = {".json", ".yaml", ".yml", ".toml", ".txt", ".model", ".jinja", ".tiktoken", ".vocab", ".spm", ".cfg", ".ini"}
WEIGHT_FORMATS = {
    ".safetensors": "safetensors", ".gguf": "gguf", ".onnx": "onnx", ".bin": "pytorch", ".pt": "pytorch",
    ".pth": "pytorch", ".ckpt": "pytorch", ".h5": "keras", ".keras": "keras", ".msgpack": "flax",
}
CONFIG_JSON_LIMIT = 16 * 1024 * 1024
MAX_CONFIG_BYTES = 4 * 1024 * 1024  # a revision's ModelPack config blob, as read back from a gallery


def classify(path: str) -> tuple[str, bool]:
    """(ModelPack layer kind, untested) for a file path; untested when we only guessed."""
    p = PurePosixPath(path)
    name, suffix = p.name.lower(), p.suffix.lower()
    if suffix in WEIGHT_SUFFIXES or ".safetensors" in name:
        return "weight", False
    if suffix in CODE_SUFFIXES:
        return "code", False
    if name.startswith(DOC_NAMES) or suffix in DOC_SUFFIXES:
        return "doc", False
    if suffix in CONFIG_SUFFIXES or name.startswith(("tokenizer", "vocab", "merges")):
        return "weight.config", False
    return "weight", True


@dataclass(frozen=True)
class ModelFile:
    path: str  # relative POSIX path inside the model
    size: int
    digest: str
    mode: int  # normalised: 0o644 or 0o755
    kind: str
    untested: bool = False
    source: Path | None = None  # where its bytes are on disk, when packed from a directory

    def layer(self, names: FlavorNames) -> Descriptor:
        annotations = {
            names.filepath: self.path,
            names.file_metadata: canonical_json(
                {"name": self.path, "mode": self.mode, "uid": 0, "gid": 0, "size": self.size,
                 "mtime": "1970-01-01T00:00:00Z", "typeflag": 48}
            ).decode(),
        }
        if self.untested:
            annotations[names.untested] = "true"
        annotations[ANNOTATION_TITLE] = self.path
        return Descriptor(names.layer(self.kind), self.digest, self.size, dict(sorted(annotations.items())))


@dataclass
class PackedModel:
    """A model directory as the artifact it becomes: files, config and manifest bytes."""

    directory: Path
    files: list[ModelFile]
    skipped: list[str]
    names: FlavorNames
    config_bytes: bytes
    manifest: Manifest
    by_digest: dict[str, Path] = field(default_factory=dict)

    @property
    def config(self) -> Descriptor:
        return self.manifest.config

    @property
    def bytes_total(self) -> int:
        return sum(f.size for f in self.files)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > CONFIG_JSON_LIMIT:
            return {}
        obj = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return obj if isinstance(obj, dict) else {}


def _param_size(count: int) -> str:
    for unit, scale in (("t", 10**12), ("b", 10**9), ("m", 10**6), ("k", 10**3)):
        if count >= scale:
            value = count / scale
            return f"{value:.1f}".rstrip("0").rstrip(".") + unit
    return str(count)


def describe_model(files: list[ModelFile]) -> dict[str, Any]:
    """The ModelPack `config` section, from the files' headers and config.json (read as data)."""
    out: dict[str, Any] = {}
    by_path = {f.path: f for f in files}
    hf_config = _read_json(by_path["config.json"].source) if "config.json" in by_path and by_path["config.json"].source else {}
    architectures = hf_config.get("architectures")
    if isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
        out["architecture"] = architectures[0]
    elif isinstance(hf_config.get("model_type"), str):
        out["architecture"] = hf_config["model_type"]
    formats = sorted({WEIGHT_FORMATS[s] for f in files if (s := PurePosixPath(f.path).suffix.lower()) in WEIGHT_FORMATS})
    if formats:
        out["format"] = formats[0] if len(formats) == 1 else "+".join(formats)
    params, dtypes = 0, set()
    for f in files:
        if f.path.endswith(".safetensors") and f.source is not None:
            try:
                header = safetensors.read_header(f.source)
            except (OSError, ValueError):
                continue
            params += safetensors.parameter_count(header)
            if dtype := safetensors.dominant_dtype(header):
                dtypes.add(dtype)
    if params:
        out["paramSize"] = _param_size(params)
    dtype = hf_config.get("torch_dtype") or hf_config.get("dtype")
    if isinstance(dtype, str):
        out["precision"] = dtype
    elif len(dtypes) == 1:
        out["precision"] = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}.get(next(iter(dtypes)), next(iter(dtypes)).lower())
    return out


def pack_directory(directory: Path, flavor: str = "cncf", include_hidden: bool = False,
                   digests: DigestCache | None = None, jobs: int = 4) -> PackedModel:
    """Snapshot and pack in one step, for callers that do nothing else with the directory."""
    return pack_snapshot(snapshot_directory(directory, digests or DigestCache(), include_hidden, jobs), flavor)


def pack_snapshot(snapshot: DirectorySnapshot, flavor: str = "cncf") -> PackedModel:
    """The artifact a snapshot becomes; refuses a snapshot with problems (links out, special files)."""
    snapshot.raise_for_problems()
    names = NAMES[flavor]
    files: list[ModelFile] = []
    for entry in snapshot.files:
        kind, untested = classify(entry.path)
        files.append(ModelFile(entry.path, entry.size, entry.digest, entry.mode, kind, untested, entry.full))
    config_obj = {
        "descriptor": {},
        "config": describe_model(files),
        "modelfs": {"type": "layers", "diffIds": [f.digest for f in files]},
    }
    config_bytes = canonical_json(config_obj)
    config = Descriptor(names.config, sha256_digest(config_bytes), len(config_bytes))
    raw = build_manifest(config, [f.layer(names) for f in files], artifact_type=names.artifact_type)
    return PackedModel(
        directory=snapshot.root,
        files=files,
        skipped=snapshot.skipped,
        names=names,
        config_bytes=config_bytes,
        manifest=Manifest.parse(raw),
        by_digest={f.digest: f.source for f in files if f.source is not None},
    )


def model_names(manifest: Manifest) -> FlavorNames:
    names = flavor_of_artifact(manifest.artifact_type, manifest.config.media_type)
    if names is None:
        raise NotAModel(
            f"not a model artifact: artifactType {manifest.artifact_type or 'missing'}, "
            f"config {manifest.config.media_type}",
            "pais reads CNCF ModelPack artifacts (vnd.cncf or vnd.cnai); this revision is something else",
        )
    return names


def check_model_config(raw: bytes) -> dict[str, Any]:
    """The ModelPack config of a revision: a JSON object, or MalformedArtifact."""
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise MalformedArtifact("the revision's config is not JSON", REFUSED) from exc
    if not isinstance(obj, dict):
        raise MalformedArtifact("the revision's config is not a JSON object", REFUSED)
    return obj


def model_files(manifest: Manifest) -> list[ModelFile]:
    """The files a model artifact unpacks to, every path checked before anything is written."""
    names = model_names(manifest)
    files: list[ModelFile] = []
    seen: dict[str, str] = {}
    if not manifest.layers:
        raise MalformedArtifact(f"revision {manifest.digest} has no layers: it holds no file", REFUSED)
    for layer in manifest.layers:
        kind = layer_kind(layer.media_type)
        if kind is None or not layer.media_type.endswith(".raw"):
            raise NotAModel(
                f"layer {layer.digest[:19]} has media type {layer.media_type}",
                "pais unpacks raw ModelPack layers (one file each); archived layers are not supported yet",
            )
        path = layer.annotations.get(names.filepath) or layer.annotations.get(NAMES["cncf"].filepath) \
            or layer.annotations.get(NAMES["cnai"].filepath)
        if path is None:
            raise UnsafeArtifact(f"layer {layer.digest[:19]} has no file path annotation", REFUSED)
        check_relative_path(path)
        title = layer.annotations.get(ANNOTATION_TITLE)
        if title is not None and title not in (path, path.rsplit("/", 1)[-1]):
            # Tools that show the title (oras, Harbor) would name another file than pais writes.
            raise UnsafeArtifact(f"layer {layer.digest[:19]} is titled {title!r} but writes {path!r}", REFUSED)
        # Refuse duplicates, including ones that differ only by case or Unicode form, and a
        # file that is also another file's parent directory: each would clobber the other.
        key = unicodedata.normalize("NFC", path).casefold()
        if key in seen:
            raise UnsafeArtifact(f"two layers write the same path {path!r}", REFUSED)
        seen[key] = path
        mode = 0o644
        meta = layer.annotations.get(names.file_metadata)
        if meta:
            try:
                meta_mode = json.loads(meta).get("mode")
                if isinstance(meta_mode, int) and meta_mode & 0o111:
                    mode = 0o755
            except (ValueError, AttributeError):
                pass
        files.append(ModelFile(path, layer.size, layer.digest, mode, kind, layer.annotations.get(names.untested) == "true"))
    for key, path in seen.items():
        parts = key.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in seen:
                raise UnsafeArtifact(
                    f"path {seen['/'.join(parts[:i])]!r} is both a file and the directory of {path!r}", REFUSED,
                )
    return files


def convert_flavor(manifest: Manifest, flavor: str) -> Manifest:
    """The same files under the other flavour's media types and annotation keys (a new digest)."""
    src, dst = model_names(manifest), NAMES[flavor]
    if src.flavor == flavor:
        return manifest
    renamed = {src.filepath: dst.filepath, src.file_metadata: dst.file_metadata, src.untested: dst.untested}
    layers = []
    for layer in manifest.layers:
        kind = layer_kind(layer.media_type) or "weight"
        annotations = {renamed.get(k, k): v for k, v in layer.annotations.items()}
        layers.append(Descriptor(dst.layer(kind), layer.digest, layer.size, dict(sorted(annotations.items()))))
    config = Descriptor(dst.config, manifest.config.digest, manifest.config.size)
    return Manifest.parse(build_manifest(config, layers, artifact_type=dst.artifact_type))
