"""Serving engines: which one serves a model, and how each is started.

`choose_engine` is a pure function of the model's facts, the target silicon and the engine
asked for, so an endpoint deploy and the sandbox smoke test (a local directory) agree:
completion + GPU -> vLLM; embedding -> Infinity (GPU or CPU; a GGUF embedding model -> llama.cpp);
CPU-only completion -> llama.cpp, GGUF only. An engine that cannot serve the model is refused
with what would work instead.

`launch` is the one place an engine's image, command line and environment are decided, for a
Kubernetes pod (runtime/kubernetes.py, runtime/nim.py) and for the smoke test's sandbox
container (smoke/container.py) alike, so the smoke test runs what `endpoints deploy` would run.
Only the model's path and the served name differ between the two, and both are parameters.

How an image is started is its *start profile*. The image's label `org.pais.engine` names one
when the image carries it (the test image built by scripts/build-engine-image.sh says
`llama-cpp-python`); otherwise the engine's standard image is assumed:
  llama-server (llama.cpp's image): --model <dir>/<gguf> --alias A --host 0.0.0.0 --port 8000 [--embeddings] [--n-gpu-layers 999]
  llama-cpp-python:  --model <dir>/<gguf> --model_alias A --host 127.0.0.1 --port 8000 [--embedding true] [--n_gpu_layers -1]
  vllm:              vllm serve <dir> --served-model-name A --host 0.0.0.0 --port 8000 --tensor-parallel-size N ...
  infinity:          v2 --model-id <dir> --served-model-name A --port 8000 --url-prefix /v1 --device cuda|cpu ...
  nim:               the image's own entrypoint, configured through NIM_* variables
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .detect import COMPLETION, EMBEDDING, ModelInfo
from .errors import DeployRefused

ENGINES = ("vllm", "infinity", "llamacpp", "nim")
TARGETS = ("gpu", "cpu")
PORT = 8000  # every engine listens here, so Services and gateways look alike
PROFILE_LABEL = "org.pais.engine"  # an image label naming its start profile

# Pinned defaults; every one can be replaced with --image (deploy) or --engine-image (smoke).
IMAGES = {
    "vllm": "vllm/vllm-openai:v0.11.0",
    "infinity": "michaelf34/infinity:0.0.77",
    "infinity-cpu": "michaelf34/infinity:0.0.77-cpu",
    "llamacpp": "ghcr.io/ggml-org/llama.cpp:server-b6700",
    "llamacpp-cuda": "ghcr.io/ggml-org/llama.cpp:server-cuda-b6700",
    "nim": "nvcr.io/nim/nvidia/llm-nim:1.14.0",
}


@dataclass(frozen=True)
class EngineLaunch:
    """How one engine container starts: the same for a pod and for the smoke sandbox."""

    engine: str
    profile: str  # the start profile (see the module docstring)
    image: str
    command: list[str] | None  # replaces the image's entrypoint; None keeps it
    args: list[str]
    port: int
    health_path: str  # answers 200 once the model is loaded
    env: dict[str, str] = field(default_factory=dict)
    shm_bytes: int | None = None  # the least /dev/shm the engine needs, where 64 MiB is too small
    writable: tuple[str, ...] = ()  # the only paths it writes (the root filesystem is read-only)

    @property
    def argv(self) -> list[str]:
        return [*(self.command or []), *self.args]


@dataclass(frozen=True)
class _Serve:
    """What a start profile builds its command line from."""

    model_dir: str | None
    gguf_path: str | None
    served_name: str
    port: int
    gpu: bool
    gpus: int
    pipeline: int
    embedding: bool
    max_model_len: int | None = None


@dataclass(frozen=True)
class _Start:
    command: list[str] | None
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StartProfile:
    """How one kind of engine image is started and probed."""

    name: str
    health_path: str
    build: Callable[[_Serve], _Start]
    needs_gguf: bool = False
    shm_bytes: int | None = None  # vLLM's workers share tensors through /dev/shm
    # Paths the engine writes; everything else is a read-only root filesystem. The NIM's pods are
    # built by the NIM Operator, which mounts its own.
    writable: tuple[str, ...] = ("/tmp",)
    hardened_env: bool = True


def _model_dir(s: _Serve) -> str:
    if s.model_dir is None:
        raise ValueError("this engine needs the model's directory")
    return s.model_dir


def _gguf(s: _Serve) -> str:
    if s.gguf_path is None:
        raise ValueError("llama.cpp serves a GGUF file: give gguf_file")
    return s.gguf_path


def _llama_server(s: _Serve) -> _Start:
    # --metrics: /metrics with llamacpp:requests_deferred, the queue autoscaling reads.
    args = ["--model", _gguf(s), "--alias", s.served_name, "--host", "0.0.0.0", "--port", str(s.port), "--metrics"]
    if s.embedding:
        args.append("--embeddings")
    if s.gpu:
        args += ["--n-gpu-layers", "999"]
    return _Start(None, args)


def _llama_cpp_python(s: _Serve) -> _Start:
    args = ["--model", _gguf(s), "--model_alias", s.served_name, "--host", "127.0.0.1", "--port", str(s.port)]
    if s.embedding:
        args += ["--embedding", "true"]
    if s.gpu:
        args += ["--n_gpu_layers", "-1"]
    return _Start(None, args)


def _vllm(s: _Serve) -> _Start:
    args = [s.gguf_path or _model_dir(s), "--served-model-name", s.served_name, "--host", "0.0.0.0", "--port", str(s.port),
            "--tensor-parallel-size", str(s.gpus), "--gpu-memory-utilization", "0.90"]
    if s.max_model_len:
        args += ["--max-model-len", str(s.max_model_len)]
    return _Start(["vllm", "serve"], args)


def _infinity(s: _Serve) -> _Start:
    return _Start(None, ["v2", "--model-id", _model_dir(s), "--served-model-name", s.served_name, "--host", "0.0.0.0",
                         "--port", str(s.port), "--url-prefix", "/v1", "--engine", "torch",
                         "--device", "cuda" if s.gpu else "cpu"])


def _nim(s: _Serve) -> _Start:
    # The multi-LLM NIM reads its configuration from the environment; no model_dir = an NGC
    # model, which the NIM finds in its NIMCache.
    env = {"NIM_MODEL_NAME": s.model_dir} if s.model_dir else {}
    env["NIM_SERVED_MODEL_NAME"] = s.served_name
    if s.gpus > 1:
        env["NIM_TENSOR_PARALLEL_SIZE"] = str(s.gpus)
    if s.pipeline > 1:
        env["NIM_PIPELINE_PARALLEL_SIZE"] = str(s.pipeline)
    if s.max_model_len:
        env["NIM_MAX_MODEL_LEN"] = str(s.max_model_len)
    return _Start(None, [], env)


PROFILES: dict[str, StartProfile] = {
    "llama-server": StartProfile("llama-server", "/health", _llama_server, needs_gguf=True),
    # llama-cpp-python's server has no /health: /v1/models answers once the model is loaded.
    "llama-cpp-python": StartProfile("llama-cpp-python", "/v1/models", _llama_cpp_python, needs_gguf=True),
    "vllm": StartProfile("vllm", "/health", _vllm, shm_bytes=1024**3),
    "infinity": StartProfile("infinity", "/health", _infinity),
    "nim": StartProfile("nim", "/v1/health/ready", _nim, writable=(), hardened_env=False),
}
# Every engine but the NIM: HOME and caches on the writable /tmp, the model read offline, no
# usage reporting (vLLM, Hugging Face, Infinity, and any tool honouring DO_NOT_TRACK).
HARDENED_ENV = {
    "HOME": "/tmp", "XDG_CACHE_HOME": "/tmp/.cache", "XDG_CONFIG_HOME": "/tmp/.config", "HF_HOME": "/tmp/.cache/huggingface",
    "VLLM_CACHE_ROOT": "/tmp/.cache/vllm", "VLLM_CONFIG_ROOT": "/tmp/.config/vllm", "TRITON_CACHE_DIR": "/tmp/.cache/triton",
    "NUMBA_CACHE_DIR": "/tmp/.cache/numba", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "INFINITY_ANONYMOUS_USAGE_STATS": "0",
}
_PROFILE_ALIASES = {"llamacpp": "llama-server", "llama.cpp": "llama-server", "llama-cpp": "llama-server",
                    "llama_cpp_python": "llama-cpp-python"}
_ENGINE_PROFILE = {"llamacpp": "llama-server", "vllm": "vllm", "infinity": "infinity", "nim": "nim"}


def start_profile(engine: str, image_labels: Mapping[str, str] | None = None) -> StartProfile:
    """The image's own label wins; otherwise the engine's standard image is assumed."""
    label = (image_labels or {}).get(PROFILE_LABEL, "").strip().lower()
    name = _PROFILE_ALIASES.get(label, label)
    if name in PROFILES:
        return PROFILES[name]
    if engine not in _ENGINE_PROFILE:
        raise ValueError(f"no start profile for serving engine {engine!r} "
                         f"(label the image {PROFILE_LABEL}=one of {', '.join(PROFILES)})")
    return PROFILES[_ENGINE_PROFILE[engine]]


def default_image(engine: str, target: str) -> str:
    """The pinned image that serves `engine` on `target`; launch uses it unless given another."""
    if engine == "infinity" and target == "cpu":
        return IMAGES["infinity-cpu"]
    if engine == "llamacpp" and target == "gpu":
        return IMAGES["llamacpp-cuda"]
    if engine not in IMAGES:
        raise ValueError(f"no pinned image for serving engine {engine!r}: give one")
    return IMAGES[engine]


def launch(engine: str, target: str, model_dir: str | None, *, served_name: str, gguf_file: str | None = None,
           embedding: bool = False, gpus: int = 1, pipeline: int = 1, image: str | None = None,
           image_labels: Mapping[str, str] | None = None, port: int = PORT,
           max_model_len: int | None = None) -> EngineLaunch:
    """Image, command line and environment that start `engine` on `target` ("gpu" or "cpu").

    model_dir: where the model's files are for the engine (a pod's mount or the sandbox's
    /model; None for an NGC NIM, which serves from its cache); gguf_file: the GGUF to load,
    relative to model_dir; gpus and pipeline: tensor and pipeline parallel sizes; image: an
    image instead of the pinned default; image_labels: the image's labels, which may name its
    start profile; max_model_len: a context cap (vLLM --max-model-len, the NIM's NIM_MAX_MODEL_LEN).
    ValueError when the engine cannot be started as asked.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: use gpu or cpu")
    profile = start_profile(engine, image_labels)
    if gguf_file and model_dir is None:
        raise ValueError("a GGUF file is found in the model's directory: give model_dir")
    gguf_path = f"{model_dir}/{gguf_file}" if gguf_file else None
    serve = _Serve(model_dir, gguf_path, served_name, port, target == "gpu", gpus, pipeline, embedding, max_model_len)
    start = profile.build(serve)
    env = {**HARDENED_ENV, **start.env} if profile.hardened_env else start.env
    return EngineLaunch(engine=engine, profile=profile.name, image=image or default_image(engine, target),
                        command=start.command, args=start.args, port=port, health_path=profile.health_path,
                        env=env, shm_bytes=profile.shm_bytes, writable=profile.writable)


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
