"""The serving library's pure parts: routing names, model detection on directories, placement
rules and engine choice. Real model files generated here; no cluster, no registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pais_cli.runtime.detect import ModelInfo, detect_directory
from pais_cli.runtime.engines import choose_engine
from pais_cli.runtime.errors import DeployRefused, DetectionError, InvalidRoutingName
from pais_cli.runtime.placement import GIB, place
from pais_cli.runtime.routing import object_name, parse_routing_name, short_digest
from tests.support.k8s import _DNS1035_LABEL
from tests.support.models import (
    write_embedding_model,
    write_gguf,
    write_llama_gguf,
    write_sized_safetensors,
    write_tiny_model,
)


@pytest.mark.parametrize("name", ["openai/gpt-oss-20b", "baai/bge-small-en-v1.5", "meta/llama_3.1-8b", "a/b", "0x/1"])
def test_valid_routing_names(name: str) -> None:
    assert str(parse_routing_name(name)) == name


@pytest.mark.parametrize("name", ["gpt-oss", "OpenAI/gpt", "a/b/c", "/x", "x/", "a/b c", "a/-b", "a/.b", "ä/b", ""])
def test_invalid_routing_names_say_what_works(name: str) -> None:
    with pytest.raises(InvalidRoutingName) as exc:
        parse_routing_name(name)
    assert exc.value.exit_code == 2 and "provider/model_id" in (exc.value.hint or "")


def test_object_names_are_dns_labels_stable_and_short() -> None:
    assert object_name(parse_routing_name("baai/bge-small-en-v1.5")) == "baai-bge-small-en-v1-5"
    assert object_name(parse_routing_name("openai/gpt-oss-20b")) == "openai-gpt-oss-20b"
    assert object_name(parse_routing_name("01-ai/yi-34b")) == "ep-01-ai-yi-34b"
    long_a = parse_routing_name("provider/" + "m" * 80 + "-a")
    long_b = parse_routing_name("provider/" + "m" * 80 + "-b")
    for routing in (long_a, long_b):
        for suffix in ("", "-model", "-registry-ca", "-fill-0123abcd"):
            name = object_name(routing, suffix)
            assert len(name) <= 63 and _DNS1035_LABEL.match(name) and name.endswith(suffix)
    assert object_name(long_a) != object_name(long_b)  # the hash keeps cut names apart
    assert object_name(long_a) == object_name(parse_routing_name(str(long_a)))
    assert short_digest("sha256:" + "ab" * 32) == "sha256-" + "ab" * 6


def test_detect_completion_embedding_and_gguf_from_directories(tmp_path: Path) -> None:
    llama = detect_directory(write_tiny_model(tmp_path / "llama"))
    assert (llama.model_type, llama.weight_format) == ("completion", "safetensors")
    assert "LlamaForCausalLM" in llama.type_reason and llama.parameters and llama.weight_bytes == llama.parameters * 4
    bert = detect_directory(write_embedding_model(tmp_path / "bert"))
    assert bert.model_type == "embedding" and "modules.json" in bert.type_reason
    (tmp_path / "gguf").mkdir()
    gguf = detect_directory(write_llama_gguf(tmp_path / "gguf" / "tiny.gguf").parent)
    assert (gguf.model_type, gguf.weight_format, gguf.gguf_file) == ("completion", "gguf", "tiny.gguf")
    assert "general.architecture llama" in gguf.type_reason and gguf.parameters and gguf.weight_bytes == gguf.parameters * 4
    assert detect_directory(tmp_path / "bert", "completion").type_reason == "given with --modelType"


def test_detect_refuses_what_it_cannot_tell(tmp_path: Path) -> None:
    model = tmp_path / "odd"
    model.mkdir()
    write_sized_safetensors(model / "model.safetensors", {"w": [4, 4]})
    (model / "config.json").write_text(json.dumps({"architectures": ["MysteryNet"]}))
    with pytest.raises(DetectionError) as exc:
        detect_directory(model)
    assert "--modelType" in (exc.value.hint or "")
    two = tmp_path / "two"
    two.mkdir()
    write_gguf(two / "a-q4.gguf")
    write_gguf(two / "a-q8.gguf")
    with pytest.raises(DetectionError, match="2 GGUF files"):
        detect_directory(two)


def _sized(tmp_path: Path, billions: float, kind: str = "completion") -> ModelInfo:
    """A model directory whose safetensors header declares `billions` of BF16 parameters (sparse)."""
    model = tmp_path / f"m{billions}{kind}"
    model.mkdir(exist_ok=True)
    rows = int(billions * 1e9 / 8192)
    write_sized_safetensors(model / "model.safetensors", {"w": [rows, 8192]})
    arch = "LlamaForCausalLM" if kind == "completion" else "BertModel"
    (model / "config.json").write_text(json.dumps({"architectures": [arch], "model_type": "llama" if kind == "completion" else "bert"}))
    return detect_directory(model)


def test_placement_single_tensor_parallel_and_multi_node(tmp_path: Path) -> None:
    small = place(_sized(tmp_path, 8))
    assert (small.target, small.gpus, small.tensor_parallel) == ("gpu", 1, 1)
    mid = place(_sized(tmp_path, 70), gpu_model="H100")
    assert (mid.gpus, mid.tensor_parallel, mid.nodes) == (4, 4, 1)
    assert place(_sized(tmp_path, 70), gpu_model="H200").gpus == 2
    with pytest.raises(DeployRefused) as exc:
        place(_sized(tmp_path, 405), gpu_model="H100")
    assert "--engine nim" in (exc.value.hint or "")
    big = place(_sized(tmp_path, 405), gpu_model="H100", allow_multi_node=True)
    assert big.multi_node and big.tensor_parallel == 8 and big.gpus == 8 * big.nodes  # 8-GPU HGX nodes


def test_placement_refusals_say_why(tmp_path: Path) -> None:
    model = _sized(tmp_path, 30)
    with pytest.raises(DeployRefused) as exc:
        place(model, gpus=2, gpu_model="L40S", vgpu=True)
    assert "NVLink" in exc.value.message and "passthrough" in (exc.value.hint or "")
    assert place(model, gpus=2, gpu_model="L40S").warnings  # passthrough works, over PCIe
    with pytest.raises(DeployRefused, match="at least"):
        place(_sized(tmp_path, 70), gpus=1, gpu_model="A100")
    with pytest.raises(DeployRefused, match="1, 2, 4 or 8"):
        place(model, gpus=3)


def test_small_embedding_model_prefers_cpu_and_warns_on_gpu(tmp_path: Path) -> None:
    bert = detect_directory(write_embedding_model(tmp_path / "bert"))
    assert place(bert).target == "cpu"
    on_gpu = place(bert, gpus=1)
    assert on_gpu.target == "gpu" and any("small embedding model" in w for w in on_gpu.warnings)
    assert place(_sized(tmp_path, 7, "embedding")).target == "gpu"
    assert place(_sized(tmp_path, 8)).need_bytes > 16 * GIB


def test_choose_engine_rule_and_refusals(tmp_path: Path) -> None:
    llama = detect_directory(write_tiny_model(tmp_path / "llama"))
    bert = detect_directory(write_embedding_model(tmp_path / "bert"))
    (tmp_path / "g").mkdir()
    gguf = detect_directory(write_llama_gguf(tmp_path / "g" / "m.gguf").parent)
    assert choose_engine(llama, "gpu").engine == "vllm"
    assert choose_engine(bert, "cpu").engine == "infinity" and choose_engine(bert, "gpu").engine == "infinity"
    assert choose_engine(gguf, "cpu").engine == "llamacpp"
    for info, target, engine, words in (
        (llama, "cpu", None, "GGUF only"),
        (llama, "gpu", "llamacpp", "GGUF files only"),
        (llama, "gpu", "infinity", "embedding models"),
        (gguf, "cpu", "vllm", "needs a GPU"),
        (bert, "gpu", "nim", "completion models"),
    ):
        with pytest.raises(DeployRefused) as exc:
            choose_engine(info, target, engine)
        assert words in exc.value.message and exc.value.hint


def test_gguf_embedding_model_goes_to_llamacpp(tmp_path: Path) -> None:
    import numpy as np
    from gguf import GGUFWriter

    model = tmp_path / "nomic"
    model.mkdir()
    writer = GGUFWriter(str(model / "embed.gguf"), "nomic-bert")
    writer.add_uint32("nomic-bert.pooling_type", 1)
    writer.add_tensor("token_embd.weight", np.zeros((16, 8), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    info = detect_directory(model)
    assert info.model_type == "embedding" and "nomic-bert" in info.type_reason and info.weight_bytes == 16 * 8 * 2
    assert choose_engine(info, "cpu").engine == "llamacpp"
    with pytest.raises(DeployRefused, match="not GGUF"):
        choose_engine(info, "cpu", "infinity")


def test_node_affinity_per_gpu_product_and_memory(tmp_path: Path) -> None:
    """GPU Feature Discovery product names per model and memory: an 80 GB A100 never lands on a
    40 GB one, an H100 is the SXM board, an L40S is sized as the 45 GiB it reports."""
    from pais_cli.runtime.placement import GPU_MODELS

    model = _sized(tmp_path, 8)
    assert place(model, gpu_model="A100").products == ["NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe"]
    assert place(model, gpu_model="A100-40GB").products == ["NVIDIA-A100-SXM4-40GB", "NVIDIA-A100-PCIE-40GB"]
    assert place(model, gpu_model="H100").products == ["NVIDIA-H100-80GB-HBM3"]
    assert place(model, gpu_model="H100-PCIe").products == ["NVIDIA-H100-PCIe"]
    l40s = place(model, gpu_model="L40S")
    assert l40s.gpu_bytes == int(46068 * 1024**2 * 0.9) and GPU_MODELS["L40S"].memory_bytes < 45 * GIB + GIB
    # Passthrough multi-GPU over PCIe stays allowed, with its warning; vGPU multi-GPU needs NVLink.
    mixed = place(_sized(tmp_path, 30), gpus=2, gpu_model="A100")
    assert mixed.products == ["NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe"] and "NVIDIA-A100-80GB-PCIe" in mixed.warnings[0]
    linked = place(_sized(tmp_path, 30), gpus=2, gpu_model="A100", vgpu=True)
    assert linked.products == ["NVIDIA-A100-SXM4-80GB"]
    for gpu in ("H100-PCIe", "L40S"):
        with pytest.raises(DeployRefused, match="NVLink"):
            place(_sized(tmp_path, 30), gpus=2, gpu_model=gpu, vgpu=True)
    with pytest.raises(DeployRefused, match="NVLink for at most 2"):
        place(_sized(tmp_path, 70), gpus=4, gpu_model="H100-NVL", vgpu=True)


def test_vgpu_profiles_by_name_with_their_memory(tmp_path: Path) -> None:
    from pais_cli.runtime.kubernetes import Endpoint  # noqa: F401 - the renderer uses the same affinity
    from pais_cli.runtime.endpoint import gpu_affinity

    small = place(_sized(tmp_path, 4), vgpu_profile_name="L40S-24Q")
    assert small.vgpu and small.gpu_model == "L40S" and small.gpu_bytes == int(24 * GIB * 0.9)
    assert small.products == ["NVIDIA-L40S-24Q", "GRID-L40S-24Q"] and "vGPU L40S-24Q" in small.summary()
    with pytest.raises(DeployRefused, match="at least 2 GPUs"):
        place(_sized(tmp_path, 12), gpus=1, vgpu_profile_name="L40S-24Q")
    whole = place(_sized(tmp_path, 70), gpus=4, vgpu_profile_name="H100XM-80C")
    assert whole.products == ["NVIDIA-H100XM-80C", "GRID-H100XM-80C"]
    with pytest.raises(DeployRefused, match="whole GPU"):
        place(_sized(tmp_path, 30), gpus=2, vgpu_profile_name="H100XM-40C")
    with pytest.raises(DeployRefused, match="unknown vGPU profile"):
        place(_sized(tmp_path, 4), vgpu_profile_name="T4-16Q")
    bare = place(_sized(tmp_path, 4), vgpu=True)
    affinity = gpu_affinity(bare)
    assert affinity is not None
    term = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"] == [{"key": "nvidia.com/vgpu.present", "operator": "In", "values": ["true"]}]


def test_eight_gpus_per_node_and_max_model_len(tmp_path: Path) -> None:
    big = _sized(tmp_path, 200)
    assert place(big, gpu_model="H100").gpus == 8 and not place(big, gpu_model="H100").multi_node
    model = tmp_path / "long"
    model.mkdir()
    write_sized_safetensors(model / "model.safetensors", {"w": [int(8e9 / 8192), 8192]})
    (model / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "num_hidden_layers": 32, "num_attention_heads": 32,
        "num_key_value_heads": 8, "hidden_size": 4096, "max_position_embeddings": 131072}))
    info = detect_directory(model)
    assert info.context_length == 131072 and info.kv_bytes_per_token == 2 * 32 * 8 * 128 * 2
    capped = place(info, vgpu_profile_name="L40S-24Q")  # 16 GB of weights on a 24 GB slice
    assert capped.gpus == 1 and capped.max_model_len is not None and capped.max_model_len < 131072 and capped.max_model_len % 1024 == 0
    assert any("--max-model-len" in r for r in capped.reasons)
    roomy = place(info, gpus=2, gpu_model="H200")
    assert roomy.max_model_len is None
