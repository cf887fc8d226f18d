"""One contract for both sandbox backends: what to run, and what came of it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

ModelKind = Literal["completion", "embedding"]
WeightFormat = Literal["gguf", "safetensors", "pickle", "onnx", "unknown"]
Runtime = Literal["llamacpp", "transformers", "sentence-transformers", "vllm", "infinity"]
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
    runtime: Runtime  # what runs the model in the sandbox: the engine itself, or the reference runtime
    serving_engine: str  # the engine endpoints deploy would choose (vllm, infinity, llamacpp)
    expected_dim: int | None = None  # embedding dimension from the model's config, when known
    gguf_file: str | None = None  # relative path of the GGUF to load, for llama.cpp
    limits: SmokeLimits = field(default_factory=SmokeLimits)
    image: str | None = None  # container backend: the engine image to run
    gpu: bool = False  # container backend: request a GPU (vLLM)


@dataclass
class SmokeOutcome:
    passed: bool
    backend: str  # "local" or "container"
    runtime: str  # what was exercised, e.g. "llama-cpp-python 0.3.36" or an image reference
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
        return asdict(self)


class BackendUnavailable(Exception):
    """This backend cannot run here at all (no engine socket, no runtime library): the check is
    skipped, with the reason and the command that would make it run."""

    def __init__(self, reason: str, remedy: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.remedy = remedy
