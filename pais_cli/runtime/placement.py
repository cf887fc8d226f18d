"""Placement: how many GPUs of which kind an endpoint needs, from its weight memory.

The platform's sizing guidance, as rules:
- memory needed = weights x (1 + headroom) + runtime overhead; headroom is the KV cache and
  activations of a completion model (25%), or the activations of an embedding model (10%);
- an engine may use 90% of a GPU's memory (vLLM's default --gpu-memory-utilization);
- one GPU when it fits; else tensor parallel over 2 or 4 GPUs of one node; else multi-node
  (tensor parallel 4 x pipeline parallel N nodes), which only the NIM Operator path can run;
- multi-GPU needs NVLink-connected A100, H100 or H200. L40S has no NVLink: with vGPU it cannot
  run multi-GPU at all (passthrough can, over PCIe, slower);
- a small embedding model runs well on CPU: it gets no GPU unless asked, and a warning if asked.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from .detect import COMPLETION, ModelInfo
from .errors import DeployRefused

GIB = 1024**3
GPU_MEMORY_GIB: dict[str, int] = {"A100": 80, "H100": 80, "H200": 141, "L40S": 48}
DEFAULT_GPU_GIB = 80  # sizing when no --gpu-model is given: an 80 GB A100/H100-class GPU
GPU_UTILIZATION = 0.90
HEADROOM = {"completion": 0.25, "embedding": 0.10}
OVERHEAD_BYTES = 1 * GIB
MAX_GPUS_PER_NODE = 4  # tensor parallel 2-4 within one node
SMALL_EMBEDDING_BYTES = 2 * GIB
# GPU Feature Discovery's nvidia.com/gpu.product values per model (passthrough names).
GPU_PRODUCTS: dict[str, list[str]] = {
    "A100": ["NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe", "NVIDIA-A100-SXM4-40GB", "NVIDIA-A100-PCIE-40GB"],
    "H100": ["NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-PCIe", "NVIDIA-H100-NVL"],
    "H200": ["NVIDIA-H200", "NVIDIA-H200-NVL"],
    "L40S": ["NVIDIA-L40S"],
}


@dataclass
class Placement:
    target: str  # gpu | cpu
    gpus: int  # GPUs per replica, all nodes together
    tensor_parallel: int
    pipeline_parallel: int  # = nodes
    gpu_model: str | None
    vgpu: bool
    need_bytes: int
    gpu_bytes: int | None  # usable memory per GPU
    cpu: str
    memory: str
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def nodes(self) -> int:
        return self.pipeline_parallel

    @property
    def multi_node(self) -> bool:
        return self.pipeline_parallel > 1

    @property
    def gpus_per_node(self) -> int:
        return self.tensor_parallel

    def summary(self) -> str:
        if self.target == "cpu":
            return f"cpu ({self.cpu} CPU, {self.memory})"
        kind = f" {self.gpu_model}" + (" vGPU" if self.vgpu else "") if self.gpu_model else ""
        if self.multi_node:
            return f"{self.gpus} x{kind} GPU: tensor parallel {self.tensor_parallel} x {self.nodes} nodes"
        if self.gpus > 1:
            return f"{self.gpus} x{kind} GPU: tensor parallel {self.tensor_parallel}"
        return f"1 x{kind} GPU"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["nodes"] = self.nodes
        out["summary"] = self.summary()
        return out


def _gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"


def memory_needed(info: ModelInfo) -> int:
    return int(info.weight_bytes * (1 + HEADROOM[info.model_type]) + OVERHEAD_BYTES)


def wants_gpu(info: ModelInfo, gpus: int | None, engine: str | None) -> bool:
    """The default target when --gpus is not given: what the engine needs, else the model's kind."""
    if gpus is not None:
        return gpus > 0
    if engine in ("vllm", "nim"):
        return True
    if engine == "llamacpp":
        return False
    if info.model_type == COMPLETION:
        return info.weight_format != "gguf"  # GGUF is the CPU format: llama.cpp
    return info.weight_bytes >= SMALL_EMBEDDING_BYTES


def _cpu_resources(info: ModelInfo) -> tuple[str, str]:
    mem = math.ceil((memory_needed(info) + GIB) / GIB)
    return ("4" if info.weight_bytes >= 4 * GIB else "2"), f"{mem}Gi"


def place(
    info: ModelInfo,
    *,
    gpus: int | None = None,
    gpu_model: str | None = None,
    vgpu: bool = False,
    engine: str | None = None,
    allow_multi_node: bool = False,
) -> Placement:
    """Decide CPU or GPU, and how many GPUs; refuse what the guidance rules out, saying why."""
    if gpu_model is not None and gpu_model not in GPU_MEMORY_GIB:
        raise DeployRefused(f"unknown GPU model {gpu_model!r}", f"use one of {', '.join(GPU_MEMORY_GIB)}")
    if gpus is not None and gpus < 0:
        raise DeployRefused(f"--gpus {gpus} is negative", "give --gpus 0 for CPU, or 1, 2, 4 (and multiples of 4 for multi-node)")
    need = memory_needed(info)
    reasons = [
        f"weights {_gib(info.weight_bytes)} ({info.size_reason}); with {int(HEADROOM[info.model_type] * 100)}% headroom "
        f"for {'KV cache and activations' if info.model_type == COMPLETION else 'activations'} and "
        f"{_gib(OVERHEAD_BYTES)} runtime overhead: {_gib(need)}",
    ]
    warnings: list[str] = []
    if not wants_gpu(info, gpus, engine):
        cpu, memory = _cpu_resources(info)
        if gpus is None:
            why = ("a GGUF completion model: served on CPU by llama.cpp (give --gpus N for a GPU)"
                   if info.model_type == COMPLETION else
                   f"a small embedding model ({_gib(info.weight_bytes)} < {_gib(SMALL_EMBEDDING_BYTES)}): CPU serves it well")
            reasons.append(f"no --gpus: {why}")
        else:
            reasons.append("--gpus 0: CPU only")
        reasons.append(f"CPU pod: {cpu} CPU, {memory} memory")
        return Placement("cpu", 0, 1, 1, None, False, need, None, cpu, memory, reasons, warnings)

    memory_gib = GPU_MEMORY_GIB.get(gpu_model or "", DEFAULT_GPU_GIB)
    usable = int(memory_gib * GIB * GPU_UTILIZATION)
    label = gpu_model or f"{DEFAULT_GPU_GIB} GB GPU (no --gpu-model: sized as A100/H100 80GB)"
    reasons.append(f"{label}: {memory_gib} GB, {int(GPU_UTILIZATION * 100)}% usable = {_gib(usable)} per GPU")
    minimum = max(1, math.ceil(need / usable))
    if gpus is None:
        count = next((n for n in (1, 2, MAX_GPUS_PER_NODE) if n >= minimum), None)
        if count is None:
            nodes = math.ceil(need / (usable * MAX_GPUS_PER_NODE))
            count = nodes * MAX_GPUS_PER_NODE
            reasons.append(f"does not fit {MAX_GPUS_PER_NODE} GPUs of one node: {nodes} nodes x {MAX_GPUS_PER_NODE} GPUs")
        else:
            reasons.append(f"fits {count} GPU{'s' if count > 1 else ''}" + (" (tensor parallel)" if count > 1 else ""))
    else:
        count = gpus
        if count < minimum:
            raise DeployRefused(
                f"{_gib(need)} does not fit {count} x {_gib(usable)}: it needs at least {minimum} GPUs",
                f"give --gpus {next((n for n in (1, 2, 4) if n >= minimum), -(-minimum // 4) * 4)}, "
                "a GPU with more memory (--gpu-model H200), or a quantized revision; or omit --gpus to let placement decide",
            )
        if count <= MAX_GPUS_PER_NODE and count not in (1, 2, MAX_GPUS_PER_NODE):
            raise DeployRefused(f"--gpus {count}: tensor parallelism splits attention heads over 1, 2 or 4 GPUs",
                                "give --gpus 1, 2 or 4 (or a multiple of 4 for multi-node)")
        if count > MAX_GPUS_PER_NODE and count % MAX_GPUS_PER_NODE:
            raise DeployRefused(f"--gpus {count}: multi-node runs {MAX_GPUS_PER_NODE} GPUs on each node",
                                f"give a multiple of {MAX_GPUS_PER_NODE}, e.g. --gpus {-(-count // 4) * 4}")
        reasons.append(f"--gpus {count}")
    tp = min(count, MAX_GPUS_PER_NODE)
    nodes = max(1, count // MAX_GPUS_PER_NODE) if count > MAX_GPUS_PER_NODE else 1
    if count > 1:
        if gpu_model == "L40S" and vgpu:
            raise DeployRefused(
                f"{count} GPUs on L40S with vGPU: multi-GPU needs NVLink-connected A100, H100 or H200, "
                "and L40S vGPU cannot run multi-GPU",
                "use L40S in passthrough (drop --vgpu), A100/H100/H200 (--gpu-model H100), "
                "or a smaller or quantized model that fits one L40S (48 GB)",
            )
        if gpu_model == "L40S":
            warnings.append("L40S has no NVLink: tensor parallel runs over PCIe in passthrough, slower than A100/H100/H200")
        elif gpu_model is None:
            reasons.append("multi-GPU assumes NVLink-connected A100, H100 or H200 (give --gpu-model to check)")
    if nodes > 1 and not allow_multi_node:
        raise DeployRefused(
            f"needs {count} GPUs ({_gib(need)}): more than one node ({MAX_GPUS_PER_NODE} GPUs) holds, "
            "and plain Kubernetes manifests serve from one node",
            "deploy with --engine nim (multi-node through the NIM Operator), choose a GPU with more memory "
            "(--gpu-model H200), or serve a quantized revision",
        )
    if info.model_type != COMPLETION and info.weight_bytes < SMALL_EMBEDDING_BYTES:
        warnings.append(f"a small embedding model ({_gib(info.weight_bytes)}) on a GPU: a CPU serves it well; "
                        "drop --gpus (or give --gpus 0) to keep the GPU for completion models")
    cpu = str(min(16, 4 * tp))
    memory = f"{min(128, 16 * tp)}Gi"
    reasons.append(f"host resources per pod: {cpu} CPU, {memory} memory")
    return Placement("gpu", count, tp, nodes, gpu_model, vgpu, need, usable, cpu, memory, reasons, warnings)
