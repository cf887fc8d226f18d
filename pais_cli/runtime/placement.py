"""Placement: how many GPUs of which kind an endpoint needs, from its weight memory.

The platform's sizing guidance, as rules:
- memory needed = weights x (1 + headroom) + runtime overhead; headroom is the KV cache and
  activations of a completion model (25%), or the activations of an embedding model (10%);
- an engine may use 90% of a GPU's memory (vLLM's default --gpu-memory-utilization), of the
  memory the device REPORTS (GPU Feature Discovery's `nvidia.com/gpu.memory`, in MiB: an L40S
  reports 46068 MiB, about 45 GiB, not 48), or of the vGPU profile's framebuffer;
- one GPU when it fits; else tensor parallel over 2, 4 or 8 GPUs of one node (HGX/DGX boards
  carry 8); else multi-node (tensor parallel 8 x pipeline parallel N nodes), which only the
  NIM Operator path can run;
- multi-GPU wants NVLink: with vGPU it is refused unless the GPUs are NVLink-connected (SXM
  A100/H100/H200, NVL boards within their bridge group) and the profile takes the whole GPU;
  in passthrough, PCIe cards (L40S, A100/H100 PCIe) may run it, slower, with a warning;
- a small embedding model runs well on CPU: it gets no GPU unless asked, and a warning if asked;
- vLLM's --max-model-len is set when the model's native context does not fit the KV budget.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from .detect import COMPLETION, ModelInfo
from .errors import DeployRefused

GIB = 1024**3
MIB = 1024**2
GPU_UTILIZATION = 0.90
HEADROOM = {"completion": 0.25, "embedding": 0.10}
OVERHEAD_BYTES = 1 * GIB
MAX_GPUS_PER_NODE = 8  # HGX/DGX A100/H100/H200: 8 NVSwitch-connected GPUs per node
TENSOR_SIZES = (1, 2, 4, 8)  # tensor parallelism splits attention heads: powers of two
SMALL_EMBEDDING_BYTES = 2 * GIB
PRODUCT_LABEL = "nvidia.com/gpu.product"  # GPU Feature Discovery's labels
MEMORY_LABEL = "nvidia.com/gpu.memory"  # MiB, as the device reports it
VGPU_LABEL = "nvidia.com/vgpu.present"


@dataclass(frozen=True)
class GpuProduct:
    """One `nvidia.com/gpu.product` value and how many of its GPUs NVLink connects."""

    label: str
    nvlink_group: int  # GPUs of one node connected by NVLink/NVSwitch; 1 = PCIe only


@dataclass(frozen=True)
class GpuModel:
    name: str  # the --gpu-model value
    memory_mib: int  # what the device reports (GFD nvidia.com/gpu.memory)
    products: tuple[GpuProduct, ...]

    @property
    def memory_bytes(self) -> int:
        return self.memory_mib * MIB


# GPU Feature Discovery's product names, per model and memory size; memory as the devices report it.
GPU_MODELS: dict[str, GpuModel] = {m.name: m for m in (
    GpuModel("A100", 81920, (GpuProduct("NVIDIA-A100-SXM4-80GB", 8), GpuProduct("NVIDIA-A100-80GB-PCIe", 1))),
    GpuModel("A100-40GB", 40960, (GpuProduct("NVIDIA-A100-SXM4-40GB", 8), GpuProduct("NVIDIA-A100-PCIE-40GB", 1))),
    GpuModel("H100", 81559, (GpuProduct("NVIDIA-H100-80GB-HBM3", 8),)),  # SXM5 on HGX/DGX
    GpuModel("H100-NVL", 95830, (GpuProduct("NVIDIA-H100-NVL", 2),)),  # PCIe, NVLink bridge pairs
    GpuModel("H100-PCIe", 81559, (GpuProduct("NVIDIA-H100-PCIe", 1),)),
    GpuModel("H200", 143771, (GpuProduct("NVIDIA-H200", 8),)),
    GpuModel("H200-NVL", 143771, (GpuProduct("NVIDIA-H200-NVL", 4),)),  # PCIe, 2- or 4-way NVLink bridges
    GpuModel("L40S", 46068, (GpuProduct("NVIDIA-L40S", 1),)),
)}
DEFAULT_GPU = "H100"  # sizing when no --gpu-model is given: an 80 GB GPU as an H100 reports it
# vGPU boards (the part of a profile name before "-<GB><series>") and the GPU they slice.
VGPU_BOARDS: dict[str, str] = {
    "A100": "A100-40GB", "A100X": "A100-40GB", "A100D": "A100", "A100DX": "A100", "H100": "H100-PCIe", "H100XM": "H100",
    "H100L": "H100-NVL", "H200X": "H200", "H200": "H200-NVL", "L40S": "L40S",
}
_VGPU_PROFILE = re.compile(r"^(?P<board>[A-Z0-9]+)-(?P<gb>\d+)(?P<series>[ABCQ])$")


@dataclass(frozen=True)
class VgpuProfile:
    name: str  # e.g. L40S-24Q
    model: GpuModel
    framebuffer_bytes: int

    @property
    def whole_gpu(self) -> bool:
        # A profile that takes the whole framebuffer (NVLink peer-to-peer under vGPU needs one).
        return self.framebuffer_bytes >= (self.model.memory_mib // 1024) * GIB

    @property
    def product_labels(self) -> list[str]:
        # GFD names a vGPU by the type the guest driver reports: "NVIDIA L40S-24Q" -> NVIDIA-L40S-24Q
        # (older drivers: GRID-...).
        return [f"NVIDIA-{self.name}", f"GRID-{self.name}"]


def vgpu_profile(name: str) -> VgpuProfile:
    match = _VGPU_PROFILE.match(name.strip().upper())
    board = match.group("board") if match else ""
    if not match or board not in VGPU_BOARDS:
        raise DeployRefused(f"unknown vGPU profile {name!r}",
                            "write BOARD-<GB><series> as nvidia-smi vgpu lists it, e.g. L40S-24Q, H100XM-80C, A100DX-80C "
                            f"(boards: {', '.join(VGPU_BOARDS)})")
    model = GPU_MODELS[VGPU_BOARDS[board]]
    gb = int(match.group("gb"))
    if gb * GIB > model.memory_bytes + GIB:
        raise DeployRefused(f"vGPU profile {name}: {gb} GB is more than the {model.name} has", "check the profile name")
    return VgpuProfile(f"{board}-{gb}{match.group('series')}", model, gb * GIB)


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
    vgpu_profile: str | None = None
    products: list[str] = field(default_factory=list)  # nvidia.com/gpu.product values the pods may run on
    max_model_len: int | None = None  # vLLM --max-model-len when the native context does not fit

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
        kind = ""
        if self.gpu_model:
            kind = f" {self.gpu_model}" + (f" vGPU {self.vgpu_profile}" if self.vgpu_profile else " vGPU" if self.vgpu else "")
        elif self.vgpu:
            kind = " vGPU"
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


def _gpu_count(need: int, usable: int, gpus: int | None, reasons: list[str]) -> int:
    minimum = max(1, math.ceil(need / usable))
    if gpus is None:
        count = next((n for n in TENSOR_SIZES if n >= minimum), None)
        if count is None:
            nodes = math.ceil(need / (usable * MAX_GPUS_PER_NODE))
            reasons.append(f"does not fit {MAX_GPUS_PER_NODE} GPUs of one node: {nodes} nodes x {MAX_GPUS_PER_NODE} GPUs")
            return nodes * MAX_GPUS_PER_NODE
        reasons.append(f"fits {count} GPU{'s' if count > 1 else ''}" + (" (tensor parallel)" if count > 1 else ""))
        return count
    if gpus < minimum:
        suggestion = next((n for n in TENSOR_SIZES if n >= minimum), -(-minimum // MAX_GPUS_PER_NODE) * MAX_GPUS_PER_NODE)
        raise DeployRefused(
            f"{_gib(need)} does not fit {gpus} x {_gib(usable)}: it needs at least {minimum} GPUs",
            f"give --gpus {suggestion}, a GPU with more memory (--gpu-model H200), or a quantized revision; "
            "or omit --gpus to let placement decide",
        )
    if gpus <= MAX_GPUS_PER_NODE and gpus not in TENSOR_SIZES:
        raise DeployRefused(f"--gpus {gpus}: tensor parallelism splits attention heads over 1, 2, 4 or 8 GPUs",
                            f"give --gpus 1, 2, 4 or 8 (or a multiple of {MAX_GPUS_PER_NODE} for multi-node)")
    if gpus > MAX_GPUS_PER_NODE and gpus % MAX_GPUS_PER_NODE:
        raise DeployRefused(f"--gpus {gpus}: multi-node runs {MAX_GPUS_PER_NODE} GPUs on each node",
                            f"give a multiple of {MAX_GPUS_PER_NODE}, e.g. --gpus {-(-gpus // MAX_GPUS_PER_NODE) * MAX_GPUS_PER_NODE}")
    reasons.append(f"--gpus {gpus}")
    return gpus


def _products(model: GpuModel | None, profile: VgpuProfile | None, vgpu: bool, tp: int,
              warnings: list[str], reasons: list[str]) -> list[str]:
    """The gpu.product values the pods may land on; refuses vGPU multi-GPU without NVLink."""
    if profile is not None:
        if tp > 1:
            linked = [p for p in profile.model.products if p.nvlink_group >= tp]
            if not linked or not profile.whole_gpu:
                raise DeployRefused(
                    f"{tp} GPUs on vGPU {profile.name}: multi-GPU under vGPU needs NVLink-connected GPUs "
                    f"(SXM A100/H100/H200) and a profile that takes the whole GPU",
                    "use a full-GPU profile on HGX/SXM boards (e.g. --vgpu-profile H100XM-80C), passthrough "
                    "(drop --vgpu), or a smaller or quantized model that fits one GPU",
                )
        return profile.product_labels
    if model is None:
        if vgpu:
            reasons.append(f"--vgpu without --vgpu-profile: any node with {VGPU_LABEL}=true; sized as a whole GPU")
        return []
    if tp == 1:
        return [p.label for p in model.products]
    linked = [p for p in model.products if p.nvlink_group >= tp]
    if vgpu:
        if not linked:
            raise DeployRefused(
                f"{tp} GPUs on {model.name} with vGPU: multi-GPU needs NVLink-connected A100, H100 or H200, "
                f"and {model.name} has {'no NVLink' if all(p.nvlink_group == 1 for p in model.products) else f'NVLink for at most {max(p.nvlink_group for p in model.products)} GPUs'}",
                "use passthrough (drop --vgpu), SXM boards (--gpu-model H100, A100 or H200), "
                "or a smaller or quantized model that fits one GPU",
            )
        reasons.append(f"vGPU multi-GPU: only NVLink-connected {', '.join(p.label for p in linked)}")
        return [p.label for p in linked]
    pcie = [p.label for p in model.products if p.nvlink_group < tp]
    if pcie:
        warnings.append(f"{', '.join(pcie)} {'has' if len(pcie) == 1 else 'have'} no NVLink across {tp} GPUs: "
                        "tensor parallel runs over PCIe in passthrough, slower than NVLink-connected A100/H100/H200")
    return [p.label for p in model.products]


def _max_model_len(info: ModelInfo, usable: int, tp: int, reasons: list[str]) -> int | None:
    """vLLM allocates KV cache for the model's whole context unless told less: when the native
    context does not fit what is left after the weights, cap it (multiples of 1024 tokens)."""
    if info.model_type != COMPLETION or not info.context_length or not info.kv_bytes_per_token:
        return None
    budget = usable * tp - info.weight_bytes - OVERHEAD_BYTES
    tokens = budget // info.kv_bytes_per_token if budget > 0 else 0
    if tokens >= info.context_length:
        reasons.append(f"KV cache: {_gib(budget)} holds {tokens} tokens, the native context ({info.context_length}) fits")
        return None
    capped = max(1024, tokens // 1024 * 1024) if tokens >= 1024 else max(256, tokens // 256 * 256)
    reasons.append(f"KV cache: {_gib(max(budget, 0))} holds {tokens} tokens, less than the native context "
                   f"{info.context_length}: --max-model-len {capped}")
    return capped


def place(
    info: ModelInfo,
    *,
    gpus: int | None = None,
    gpu_model: str | None = None,
    vgpu: bool = False,
    vgpu_profile_name: str | None = None,
    engine: str | None = None,
    allow_multi_node: bool = False,
) -> Placement:
    """Decide CPU or GPU, and how many GPUs; refuse what the guidance rules out, saying why."""
    if gpu_model is not None and gpu_model not in GPU_MODELS:
        raise DeployRefused(f"unknown GPU model {gpu_model!r}", f"use one of {', '.join(GPU_MODELS)}")
    if gpus is not None and gpus < 0:
        raise DeployRefused(f"--gpus {gpus} is negative", "give --gpus 0 for CPU, or 1, 2, 4, 8 (and multiples of 8 for multi-node)")
    profile = vgpu_profile(vgpu_profile_name) if vgpu_profile_name else None
    if profile is not None:
        if gpu_model is not None and gpu_model != profile.model.name:
            raise DeployRefused(f"vGPU profile {profile.name} slices a {profile.model.name}, not a {gpu_model}",
                                f"drop --gpu-model (the profile names the GPU) or give --gpu-model {profile.model.name}")
        gpu_model, vgpu = profile.model.name, True
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

    model = GPU_MODELS[gpu_model] if gpu_model else None
    device = profile.framebuffer_bytes if profile else (model or GPU_MODELS[DEFAULT_GPU]).memory_bytes
    usable = int(device * GPU_UTILIZATION)
    if profile:
        reasons.append(f"vGPU profile {profile.name} on {profile.model.name}: {_gib(device)} framebuffer, "
                       f"{int(GPU_UTILIZATION * 100)}% usable = {_gib(usable)} per GPU")
    else:
        label = gpu_model or f"no --gpu-model: sized as an 80 GB {DEFAULT_GPU}"
        reasons.append(f"{label}: reports {_gib(device)}, {int(GPU_UTILIZATION * 100)}% usable = {_gib(usable)} per GPU")
    count = _gpu_count(need, usable, gpus, reasons)
    tp = min(count, MAX_GPUS_PER_NODE)
    nodes = count // MAX_GPUS_PER_NODE if count > MAX_GPUS_PER_NODE else 1
    products = _products(model, profile, vgpu, tp, warnings, reasons)
    if tp > 1 and model is None:
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
    max_len = _max_model_len(info, usable, count, reasons) if nodes == 1 else None
    cpu = str(min(32, 4 * tp))
    memory = f"{min(256, 16 * tp)}Gi"
    reasons.append(f"host resources per pod: {cpu} CPU, {memory} memory")
    return Placement("gpu", count, tp, nodes, gpu_model, vgpu, need, usable, cpu, memory, reasons, warnings,
                     profile.name if profile else None, products, max_len)
