"""Real model files, written from scratch: a safetensors weight file in the exact on-disk format
(8-byte header length, JSON header, packed little-endian tensors), a Hugging Face config and
tokenizer, and a README. No ML library is needed to write them."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path


def write_safetensors(path: Path, tensors: dict[str, tuple[list[int], int]], seed: int = 0) -> None:
    """Write F32 tensors {name: (shape, seed offset)} filled with deterministic pseudo-random values."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    blobs: list[bytes] = []
    offset = 0
    for name, (shape, salt) in sorted(tensors.items()):
        count = 1
        for dim in shape:
            count *= dim
        rng = random.Random(seed * 1000 + salt)
        data = struct.pack(f"<{count}f", *(rng.uniform(-0.1, 0.1) for _ in range(count)))
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the format pads the header to 8 bytes
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for blob in blobs:
            f.write(blob)


def write_tiny_model(directory: Path, seed: int = 0, hidden: int = 32, layers: int = 2, vocab: int = 64) -> Path:
    """A tiny Llama-shaped checkpoint directory, as `save_pretrained` lays it out."""
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, tuple[list[int], int]] = {"model.embed_tokens.weight": ([vocab, hidden], 0), "lm_head.weight": ([vocab, hidden], 1)}
    for i in range(layers):
        for j, part in enumerate(("q_proj", "k_proj", "v_proj", "o_proj")):
            tensors[f"model.layers.{i}.self_attn.{part}.weight"] = ([hidden, hidden], 10 * i + j + 2)
    write_safetensors(directory / "model.safetensors", tensors, seed)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": hidden,
        "num_hidden_layers": layers, "vocab_size": vocab, "torch_dtype": "float32",
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    tokens = {f"tok{i}": i for i in range(vocab)}
    (directory / "tokenizer.json").write_text(json.dumps({"version": "1.0", "model": {"type": "WordLevel", "vocab": tokens}}) + "\n")
    (directory / "README.md").write_text(f"# tiny-llama (seed {seed})\n\nA tiny random model for tests and demos.\n")
    return directory


def write_random_file(path: Path, size: int, seed: int = 0, chunk: int = 8 * 1024 * 1024) -> None:
    """`size` pseudo-random bytes, generated fast enough for multi-GiB benchmark files."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        left = size
        while left:
            n = min(chunk, left)
            f.write(rng.randbytes(n))
            left -= n
