"""One contract for both sandbox backends: what to run, and what came of it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

ModelKind = Literal["completion", "embedding"]
WeightFormat = Literal["gguf", "safetensors", "pickle", "onnx", "unknown"]
Loader = Literal["llamacpp", "transformers", "sentence-transformers"]  # the local backend's reference loaders
FailureKind = Literal["timeout", "oom", "refused", "image-missing", "crashed", "bad-output", "sandbox"]


@dataclass(frozen=True)
class SmokeLimits:
    memory_bytes: int = 4 * 1024**3
    cpus: float = 2.0
    timeout_s: float = 300.0  # load plus one inference; every wait in a backend is bounded by it
    pids: int = 256


@dataclass(frozen=True)
class SmokeRequest:
    model_dir: Path  # mounted read-only into the sandbox
    kind: ModelKind
    weight_format: WeightFormat
    loader: Loader  # what loads the model in the local backend (the container backend runs the engine itself)
    serving_engine: str  # the engine endpoints deploy would choose (vllm, infinity, llamacpp)
    expected_dim: int | None = None  # embedding dimension from the model's config, when known
    gguf_file: str | None = None  # relative path of the GGUF to load, for llama.cpp
    limits: SmokeLimits = field(default_factory=SmokeLimits)
    image: str | None = None  # container backend: an engine image instead of the pinned default
    gpu: bool = False  # served on a GPU: the container backend runs the engine's GPU launch and requests one

    @property
    def target(self) -> str:
        return "gpu" if self.gpu else "cpu"


@dataclass
class SmokeOutcome:
    passed: bool
    backend: str  # "local" or "container"
    loaded_by: str  # what ran the model: "llama-cpp-python 0.3.36", or an image reference and id
    engine_exercised: bool  # True when the serving engine itself ran (its image), not a stand-in
    load_seconds: float | None = None
    inference_seconds: float | None = None
    peak_memory_bytes: int | None = None
    output_shape: list[int] | None = None  # [dim] for an embedding, [tokens] for a completion
    failure: FailureKind | None = None
    message: str = ""
    hint: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        # `loaded_by` keeps the key reports have always used: "runtime".
        return {("runtime" if k == "loaded_by" else k): v for k, v in asdict(self).items()}


class BackendUnavailable(Exception):
    """This backend cannot run here at all (no engine socket, no runtime library): the check is
    skipped, with the reason and the command that would make it run."""

    def __init__(self, reason: str, remedy: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.remedy = remedy
