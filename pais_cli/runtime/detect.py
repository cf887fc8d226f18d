"""What a model is, for serving: completion or embedding, weight format, and weight memory.

One function, `detect(source)`, over two kinds of source with the same small interface: a
stored revision (manifest + registry or layout blobs) and a local model directory. Endpoint
deploys use the first; the sandbox smoke test uses the second, so both pick engines by the
same facts. Only JSON configs and weight headers are read; weights never are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from ..gallery.modelpack import WEIGHT_FORMATS, model_files
from ..gallery.oci import Manifest
from ..gallery.stores.base import Source
from ..modeldir.snapshot import DirectorySnapshot, SnapshotFile, scan_directory
from .errors import DetectionError
from .headers import HeaderError, StreamReader, WeightSummary, read_gguf, read_safetensors

COMPLETION, EMBEDDING = "completion", "embedding"
MODEL_TYPES = (COMPLETION, EMBEDDING)
JSON_LIMIT = 16 * 1024 * 1024
CHUNK = 1024 * 1024

# Files sentence-transformers writes: their presence means the model is meant for embeddings.
SENTENCE_TRANSFORMERS_FILES = ("modules.json", "config_sentence_transformers.json", "sentence_bert_config.json")
_COMPLETION_HEADS = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration", "ForSeq2SeqLM")
# Bare encoders (no task head) that are served as embedding models.
_ENCODER_TYPES = {"bert", "roberta", "xlm-roberta", "mpnet", "distilbert", "nomic_bert", "nomic-bert", "modernbert",
                  "deberta", "deberta-v2", "electra", "e5", "gte", "new", "jina_bert", "camembert", "albert"}
# GGUF architectures that llama.cpp serves as embedding models.
_GGUF_EMBEDDING_ARCHS = {"bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "jina-bert-v3", "t5encoder", "modern-bert", "neo-bert"}
_SPLIT_GGUF = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")


@dataclass(frozen=True)
class SourceFile:
    path: str
    size: int


class ModelSource(Protocol):
    """Where a model's files are: a stored revision or a directory."""

    description: str

    def files(self) -> list[SourceFile]: ...

    def open(self, path: str) -> AbstractContextManager[Iterator[bytes]]:
        """The file's bytes in chunks; the caller may stop early."""
        ...

    def modelpack_config(self) -> dict[str, Any]:
        """The ModelPack `config` section, where the source has one."""
        ...


class SnapshotSource:
    """A model directory as the snapshot the command already took of it."""

    def __init__(self, snapshot: DirectorySnapshot) -> None:
        self.description = str(snapshot.root)
        self._files = {f.path: (f.full, f.size) for f in snapshot.files}

    def files(self) -> list[SourceFile]:
        return [SourceFile(rel, size) for rel, (_, size) in self._files.items()]

    @contextmanager
    def open(self, path: str) -> Iterator[Iterator[bytes]]:
        full, _ = self._files[path]
        with full.open("rb") as f:
            yield iter(lambda: f.read(CHUNK), b"")

    def modelpack_config(self) -> dict[str, Any]:
        return {}


class RevisionSource:
    def __init__(self, repo: Source, manifest: Manifest) -> None:
        self.repo = repo
        self.manifest = manifest
        self.description = f"{repo.location}@{manifest.digest}"
        self._files = {f.path: f for f in model_files(manifest)}  # paths checked as untrusted input
        self.bytes_fetched = 0  # what left the store, for the "headers only" promise

    def files(self) -> list[SourceFile]:
        return [SourceFile(f.path, f.size) for f in self._files.values()]

    @contextmanager
    def open(self, path: str) -> Iterator[Iterator[bytes]]:
        f = self._files[path]
        layer = next(layer for layer in self.manifest.layers if layer.digest == f.digest)
        with self.repo.open_blob(layer) as chunks:
            yield self._count(chunks)

    def _count(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.bytes_fetched += len(chunk)
            yield chunk

    def modelpack_config(self) -> dict[str, Any]:
        config = self.manifest.config
        if config.size > JSON_LIMIT:
            return {}
        with self.repo.open_blob(config) as chunks:
            raw = b"".join(chunks)
        try:
            obj = json.loads(raw)
        except ValueError:
            return {}
        section = obj.get("config") if isinstance(obj, dict) else None
        return section if isinstance(section, dict) else {}


@dataclass
class ModelInfo:
    """The facts engine choice and placement need, each with where it came from."""

    model_type: str  # completion | embedding
    type_reason: str
    weight_format: str  # safetensors | gguf | pytorch | onnx | ... | unknown
    weight_files: list[str]
    weight_bytes: int  # memory the weights take once loaded
    size_reason: str
    files_bytes: int  # everything in the revision: what a volume must hold
    parameters: int | None = None
    dtypes: dict[str, int] = field(default_factory=dict)
    architecture: str | None = None
    header_bytes_read: int = 0
    context_length: int | None = None  # config.json max_position_embeddings: the native context
    kv_bytes_per_token: int | None = None  # 16-bit K and V of every layer, for one token

    @property
    def gguf_file(self) -> str | None:
        """The GGUF file an engine is pointed at: the single file, or the first split shard."""
        if self.weight_format != "gguf":
            return None
        return self.weight_files[0]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _read_json(source: ModelSource, path: str, sizes: dict[str, int]) -> dict[str, Any]:
    if path not in sizes or sizes[path] > JSON_LIMIT:
        return {}
    with source.open(path) as chunks:
        raw = b"".join(chunks)
    try:
        obj = json.loads(raw)
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else {}


def _weights(files: list[SourceFile]) -> tuple[str, list[SourceFile]]:
    by_format: dict[str, list[SourceFile]] = {}
    for f in files:
        fmt = WEIGHT_FORMATS.get(PurePosixPath(f.path).suffix.lower())
        if fmt:
            by_format.setdefault(fmt, []).append(f)
    # Prefer what engines load: safetensors over pickled .bin duplicates, GGUF when alone.
    for fmt in ("safetensors", "gguf", "pytorch", "onnx"):
        if fmt in by_format:
            return fmt, sorted(by_format[fmt], key=lambda f: f.path)
    if by_format:
        fmt = sorted(by_format)[0]
        return fmt, sorted(by_format[fmt], key=lambda f: f.path)
    return "unknown", []


def _gguf_set(weights: list[SourceFile]) -> list[SourceFile]:
    """One model's GGUF files: a single file or one split set. Several quantizations are ambiguous."""
    if len(weights) == 1:
        return weights
    shards = [f for f in weights if _SPLIT_GGUF.search(f.path)]
    stems = {_SPLIT_GGUF.sub("", f.path) for f in shards}
    if len(shards) == len(weights) and len(stems) == 1:
        return sorted(shards, key=lambda f: f.path)
    raise DetectionError(
        f"the revision holds {len(weights)} GGUF files ({', '.join(f.path for f in weights[:4])}): "
        "an engine serves one model file",
        "push one quantization per revision (one .gguf, or one split set name-0000N-of-0000M.gguf)",
    )


def _summaries(source: ModelSource, weights: list[SourceFile], fmt: str) -> tuple[list[WeightSummary], int]:
    out, read = [], 0
    for f in weights:
        with source.open(f.path) as chunks:
            reader = StreamReader(chunks, f.size, limit=f.size)
            try:
                out.append(read_safetensors(reader) if fmt == "safetensors" else read_gguf(reader))
            except HeaderError as exc:
                raise DetectionError(f"cannot read the {fmt} header of {f.path}: {exc}",
                                     "validate the revision (pais models validate); it may be truncated or not what its name says") from exc
            read += reader.consumed
            if fmt == "gguf" and _SPLIT_GGUF.search(f.path) is None:
                break
    return out, read


def _type_from_architecture(arch: str, hf_type: str | None) -> str | None:
    if arch.endswith(_COMPLETION_HEADS):
        return COMPLETION
    if arch.endswith("Model"):
        # A bare encoder class (BertModel, XLMRobertaModel): no head, so it embeds.
        family = arch[: -len("Model")].lower()
        if family in {t.replace("-", "").replace("_", "") for t in _ENCODER_TYPES} or hf_type in _ENCODER_TYPES:
            return EMBEDDING
    return None


def _detect_type(source: ModelSource, sizes: dict[str, int], mp_config: dict[str, Any],
                 hf_config: dict[str, Any], gguf_meta: dict[str, Any] | None) -> tuple[str, str]:
    capabilities = mp_config.get("capabilities")
    if isinstance(capabilities, dict) and isinstance(capabilities.get("outputTypes"), list):
        outputs = capabilities["outputTypes"]
        if "embedding" in outputs:
            return EMBEDDING, "ModelPack config: capabilities.outputTypes has embedding"
        if "text" in outputs:
            return COMPLETION, "ModelPack config: capabilities.outputTypes has text"
    found = [name for name in SENTENCE_TRANSFORMERS_FILES if name in sizes]
    if found:
        return EMBEDDING, f"sentence-transformers files: {', '.join(found)}"
    if gguf_meta is not None:
        arch = gguf_meta.get("general.architecture")
        if isinstance(arch, str):
            if arch in _GGUF_EMBEDDING_ARCHS or f"{arch}.pooling_type" in gguf_meta:
                return EMBEDDING, f"GGUF metadata: general.architecture {arch}" + (
                    f", {arch}.pooling_type" if f"{arch}.pooling_type" in gguf_meta else "")
            return COMPLETION, f"GGUF metadata: general.architecture {arch} (a generative architecture)"
    candidates: list[tuple[str, str]] = []
    architectures = hf_config.get("architectures")
    if isinstance(architectures, list):
        candidates += [(a, "config.json architectures") for a in architectures if isinstance(a, str)]
    if isinstance(mp_config.get("architecture"), str):
        candidates.append((mp_config["architecture"], "ModelPack config architecture"))
    hf_type = hf_config.get("model_type") if isinstance(hf_config.get("model_type"), str) else None
    for arch, where in candidates:
        kind = _type_from_architecture(arch, hf_type)
        if kind:
            return kind, f"{where}: {arch}"
    if hf_type in _ENCODER_TYPES:
        return EMBEDDING, f"config.json model_type: {hf_type} (an encoder)"
    raise DetectionError(
        f"cannot tell whether {source.description} is a completion or an embedding model "
        f"(architectures: {', '.join(a for a, _ in candidates) or 'none'})",
        "deploy with `pais endpoints deploy --modelType completion` (or embedding); for validate and push, "
        "name the architecture in config.json (architectures)",
    )


def detect(source: ModelSource, model_type: str | None = None) -> ModelInfo:
    """Model type (unless given), weight format and weight memory of a revision or directory."""
    if model_type is not None and model_type not in MODEL_TYPES:
        raise DetectionError(f"unknown model type {model_type!r}", "use completion or embedding")
    files = source.files()
    sizes = {f.path: f.size for f in files}
    fmt, weights = _weights(files)
    if fmt == "gguf":
        weights = _gguf_set(weights)
    mp_config = source.modelpack_config()
    hf_config = _read_json(source, "config.json", sizes)
    summaries: list[WeightSummary] = []
    read = 0
    if fmt in ("safetensors", "gguf"):
        summaries, read = _summaries(source, weights, fmt)
    if summaries:
        weight_bytes = sum(s.weight_bytes for s in summaries)
        if fmt == "gguf" and len(weights) > 1:
            weight_bytes = max(weight_bytes, sum(f.size for f in weights))  # tensor infos of shard 1 only
        params = sum(s.parameters for s in summaries)
        dtypes: dict[str, int] = {}
        for s in summaries:
            for k, v in s.dtypes.items():
                dtypes[k] = dtypes.get(k, 0) + v
        size_reason = "safetensors headers (parameters x dtype)" if fmt == "safetensors" else "GGUF tensor info (elements x ggml type)"
    else:
        # Pickled or other formats: the file sizes are the best estimate that reads no weights.
        weight_bytes, params, dtypes = sum(f.size for f in weights), None, {}
        size_reason = f"sizes of the {fmt} weight files" if weights else "no weight files found"
    gguf_meta = summaries[0].metadata if fmt == "gguf" and summaries else None
    if model_type is not None:
        kind, why = model_type, "given with --modelType"
    else:
        kind, why = _detect_type(source, sizes, mp_config, hf_config, gguf_meta)
    arch = None
    if isinstance(hf_config.get("architectures"), list) and hf_config["architectures"]:
        arch = str(hf_config["architectures"][0])
    elif gguf_meta and isinstance(gguf_meta.get("general.architecture"), str):
        arch = gguf_meta["general.architecture"]
    elif isinstance(mp_config.get("architecture"), str):
        arch = mp_config["architecture"]
    context, kv_per_token = _attention_facts(hf_config)
    return ModelInfo(
        model_type=kind, type_reason=why, weight_format=fmt, weight_files=[f.path for f in weights],
        weight_bytes=weight_bytes, size_reason=size_reason, files_bytes=sum(sizes.values()),
        parameters=params, dtypes=dtypes, architecture=arch, header_bytes_read=read,
        context_length=context, kv_bytes_per_token=kv_per_token,
    )


def _attention_facts(hf_config: dict[str, Any]) -> tuple[int | None, int | None]:
    """Native context and KV-cache bytes per token (K and V, 16-bit, every layer) from config.json."""
    cfg = hf_config.get("text_config") if isinstance(hf_config.get("text_config"), dict) else hf_config

    def number(key: str) -> int | None:
        value = cfg.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

    context = number("max_position_embeddings")
    layers, heads, hidden = number("num_hidden_layers"), number("num_attention_heads"), number("hidden_size")
    kv_heads = number("num_key_value_heads") or heads
    head_dim = number("head_dim") or (hidden // heads if hidden and heads else None)
    if not (layers and kv_heads and head_dim):
        return context, None
    return context, 2 * layers * kv_heads * head_dim * 2


def detect_snapshot(snapshot: DirectorySnapshot, model_type: str | None = None) -> ModelInfo:
    return detect(SnapshotSource(snapshot), model_type)


def detect_directory(directory: Path, model_type: str | None = None) -> ModelInfo:
    """For callers that hold no snapshot: the directory's files as they are now, unhashed."""
    entries, _, _ = scan_directory(directory)
    files = [SnapshotFile(rel, full, st.st_size, "") for rel, full, st in entries]
    return detect_snapshot(DirectorySnapshot(directory.resolve(), files), model_type)


def detect_revision(repo: Source, manifest: Manifest, model_type: str | None = None) -> ModelInfo:
    return detect(RevisionSource(repo, manifest), model_type)
