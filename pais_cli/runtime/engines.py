"""Serving engines: which one serves a model, and how each is started.

`choose_engine` is a pure function of the model's facts, the target silicon and the engine
asked for, so an endpoint deploy and the sandbox smoke test (a local directory) agree:
completion + GPU -> vLLM; embedding -> Infinity (GPU or CPU; a GGUF embedding model -> llama.cpp);
CPU-only completion -> llama.cpp, GGUF only. An engine that cannot serve the model is refused
with what would work instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from .detect import COMPLETION, EMBEDDING, ModelInfo
from .errors import DeployRefused

ENGINES = ("vllm", "infinity", "llamacpp", "nim")
PORT = 8000  # every engine listens here, so Services and gateways look alike

# Pinned defaults; every one can be replaced with --image (and --fetch-image for ORAS).
IMAGES = {
    "vllm": "vllm/vllm-openai:v0.11.0",
    "infinity": "michaelf34/infinity:0.0.77",
    "infinity-cpu": "michaelf34/infinity:0.0.77-cpu",
    "llamacpp": "ghcr.io/ggml-org/llama.cpp:server-b6700",
    "llamacpp-cuda": "ghcr.io/ggml-org/llama.cpp:server-cuda-b6700",
    "oras": "ghcr.io/oras-project/oras:v1.3.0",
    "nim": "nvcr.io/nim/nvidia/llm-nim:1.14.0",
}


@dataclass(frozen=True)
class EngineChoice:
    engine: str
    reason: str


def choose_engine(info: ModelInfo, target: str, explicit: str | None = None) -> EngineChoice:
    """The engine for a model on `target` ("gpu" or "cpu"); `explicit` is --engine (None = auto)."""
    gguf = info.weight_format == "gguf"
    fmt = info.weight_format
    if explicit in (None, "auto"):
        if info.model_type == EMBEDDING:
            if gguf:
                return EngineChoice("llamacpp", "embedding model in GGUF: llama.cpp (--embeddings)")
            return EngineChoice("infinity", f"embedding model on {target.upper()}: Infinity")
        if target == "gpu":
            return EngineChoice("vllm", "completion model on GPU: vLLM")
        if gguf:
            return EngineChoice("llamacpp", "completion model without GPU, GGUF: llama.cpp")
        raise DeployRefused(
            f"no GPU for a completion model in {fmt}: the CPU engine (llama.cpp) serves GGUF only",
            "give a GPU (--gpus 1, served by vLLM), or push a GGUF conversion of the model "
            "(llama.cpp's convert_hf_to_gguf.py) and deploy that revision",
        )
    if explicit not in ENGINES:
        raise DeployRefused(f"unknown engine {explicit!r}", f"use auto or one of {', '.join(ENGINES)}")
    if explicit == "llamacpp":
        if not gguf:
            raise DeployRefused(
                f"llama.cpp serves GGUF files only, and this revision is {fmt}",
                "use --engine vllm (GPU) for a completion model or --engine infinity for an embedding model, "
                "or push a GGUF conversion of the model and deploy that revision",
            )
        return EngineChoice("llamacpp", f"--engine llamacpp ({target.upper()})")
    if explicit == "infinity":
        if info.model_type != EMBEDDING:
            raise DeployRefused(
                "Infinity serves embedding models, and this is a completion model",
                "use --engine vllm with a GPU, or --engine llamacpp for a GGUF on CPU "
                "(or --modelType embedding if the detection is wrong)",
            )
        if gguf:
            raise DeployRefused("Infinity loads Hugging Face checkpoints, not GGUF", "use --engine llamacpp for a GGUF embedding model")
        return EngineChoice("infinity", f"--engine infinity ({target.upper()})")
    if target != "gpu":
        raise DeployRefused(f"{explicit} needs a GPU and --gpus 0 was given",
                            "give --gpus N, or use --engine llamacpp (GGUF) or infinity (embeddings) on CPU")
    if explicit == "vllm":
        if info.model_type != COMPLETION:
            raise DeployRefused("pais serves embedding models with Infinity, not vLLM",
                                "use --engine infinity (or auto)")
        return EngineChoice("vllm", "--engine vllm")
    if info.model_type != COMPLETION:
        raise DeployRefused(
            "the multi-LLM NIM serves completion models, and this is an embedding model",
            "use --engine infinity, or an NGC embedding NIM with --nim-model nvcr.io/nim/...",
        )
    return EngineChoice("nim", "--engine nim: NVIDIA NIM Operator (multi-LLM NIM)")
