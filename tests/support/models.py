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
    """A tiny but complete Llama checkpoint directory, as `save_pretrained` lays it out: every
    tensor LlamaForCausalLM needs, a config transformers reads, and a WordLevel tokenizer, so
    the smoke test can load and run it where transformers is installed."""
    directory.mkdir(parents=True, exist_ok=True)
    ff = hidden * 2
    tensors: dict[str, tuple[list[int], int]] = {
        "model.embed_tokens.weight": ([vocab, hidden], 0), "lm_head.weight": ([vocab, hidden], 1),
        "model.norm.weight": ([hidden], 2),
    }
    for i in range(layers):
        parts = {"self_attn.q_proj": [hidden, hidden], "self_attn.k_proj": [hidden, hidden],
                 "self_attn.v_proj": [hidden, hidden], "self_attn.o_proj": [hidden, hidden],
                 "mlp.gate_proj": [ff, hidden], "mlp.up_proj": [ff, hidden], "mlp.down_proj": [hidden, ff],
                 "input_layernorm": [hidden], "post_attention_layernorm": [hidden]}
        for j, (part, shape) in enumerate(parts.items()):
            tensors[f"model.layers.{i}.{part}.weight"] = (shape, 10 * (i + 1) + j)
    write_safetensors(directory / "model.safetensors", tensors, seed)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": hidden, "intermediate_size": ff,
        "num_hidden_layers": layers, "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": vocab,
        "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "bos_token_id": 1, "eos_token_id": 2,
        "tie_word_embeddings": False, "torch_dtype": "float32",
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    tokens = {"[UNK]": 0, **{f"tok{i}": i for i in range(1, vocab)}}
    tokenizer = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
                 "pre_tokenizer": {"type": "Whitespace"}, "post_processor": None, "decoder": None,
                 "model": {"type": "WordLevel", "vocab": tokens, "unk_token": "[UNK]"}}
    (directory / "tokenizer.json").write_text(json.dumps(tokenizer) + "\n")
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


def write_gguf(path: Path, chat_template: str | None = None, hidden: int = 16, vocab: int = 32) -> Path:
    """A tiny llama-architecture GGUF written with the `gguf` package (llama.cpp's own writer)."""
    import numpy as np
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama")
    writer.add_context_length(64)
    writer.add_embedding_length(hidden)
    writer.add_block_count(1)
    writer.add_feed_forward_length(hidden * 2)
    writer.add_head_count(2)
    writer.add_head_count_kv(2)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model("llama")
    writer.add_token_list([f"t{i}".encode() for i in range(vocab)])
    writer.add_token_scores([0.0] * vocab)
    writer.add_token_types([1] * vocab)
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    rng = np.random.default_rng(0)
    writer.add_tensor("token_embd.weight", rng.standard_normal((vocab, hidden), dtype=np.float32))
    writer.add_tensor("output.weight", rng.standard_normal((vocab, hidden), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_llama_gguf(path: Path, hidden: int = 32, layers: int = 1, heads: int = 2, ff: int = 64, context: int = 128,
                     seed: int = 0) -> Path:
    """A tiny random llama GGUF that llama.cpp really loads and runs: every per-layer tensor,
    an SPM vocabulary with byte-fallback tokens, and BOS/EOS/UNK ids."""
    import string

    import numpy as np
    from gguf import GGUFWriter

    tokens = [b"<unk>", b"<s>", b"</s>"] + [f"<0x{i:02X}>".encode() for i in range(256)]
    tokens += ["\u2581".encode()] + [c.encode() for c in string.ascii_letters + string.digits + " .,!?"]
    tokens += [("\u2581" + w).encode() for w in ("the", "a", "hello", "world")]
    normal = len(tokens) - 259
    writer = GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama")
    writer.add_context_length(context)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(heads)
    writer.add_head_count_kv(heads)
    writer.add_rope_dimension_count(hidden // heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(0)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * 259 + [-float(i) for i in range(normal)])
    writer.add_token_types([2, 3, 3] + [6] * 256 + [1] * normal)  # unknown, control, byte, normal
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    rng = np.random.default_rng(seed)

    def weight(*shape: int) -> "np.ndarray":
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    ones = np.ones(hidden, dtype=np.float32)
    writer.add_tensor("token_embd.weight", weight(len(tokens), hidden))
    writer.add_tensor("output_norm.weight", ones)
    writer.add_tensor("output.weight", weight(len(tokens), hidden))
    for i in range(layers):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", ones)
        for part in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"blk.{i}.{part}.weight", weight(hidden, hidden))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", ones)
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weight(ff, hidden))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weight(ff, hidden))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weight(hidden, ff))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_embedding_model(directory: Path, hidden: int = 32, layers: int = 1, vocab: int = 64) -> Path:
    """A tiny BERT-shaped sentence-transformers directory (modules.json, pooling config)."""
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, tuple[list[int], int]] = {"embeddings.word_embeddings.weight": ([vocab, hidden], 0)}
    for i in range(layers):
        for j, part in enumerate(("query", "key", "value")):
            tensors[f"encoder.layer.{i}.attention.self.{part}.weight"] = ([hidden, hidden], 10 * i + j + 1)
    write_safetensors(directory / "model.safetensors", tensors)
    config = {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": hidden, "num_hidden_layers": layers,
              "vocab_size": vocab, "torch_dtype": "float32"}
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (directory / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]) + "\n")
    (directory / "1_Pooling").mkdir(exist_ok=True)
    (directory / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": hidden, "pooling_mode_mean_tokens": True}) + "\n")
    (directory / "README.md").write_text("# tiny-bert\n\nA tiny random embedding model for tests.\n")
    return directory


def write_sized_safetensors(path: Path, shapes: dict[str, list[int]], dtype: str = "BF16") -> Path:
    """A safetensors file whose tensors are zeros: big files (for sizing tests) written fast."""
    width = {"BF16": 2, "F16": 2, "F32": 4, "I8": 1}[dtype]
    header: dict[str, object] = {}
    offset = 0
    for name, shape in sorted(shapes.items()):
        count = 1
        for dim in shape:
            count *= dim
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + count * width]}
        offset += count * width
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        f.truncate(8 + len(raw) + offset)  # sparse zeros: no time spent writing weights
    return path


def write_llama_embedding_gguf(path: Path, hidden: int = 32, layers: int = 1, heads: int = 2, ff: int = 64,
                               context: int = 128, seed: int = 0, pooling: str = "MEAN") -> Path:
    """The tiny llama GGUF of `write_llama_gguf` with `llama.pooling_type` set: llama.cpp then
    returns one pooled vector per input (as it does for e5-mistral-style embedding models),
    and pais detects an embedding model."""
    import gguf

    base = path.with_name(path.name + ".base")
    write_llama_gguf(base, hidden=hidden, layers=layers, heads=heads, ff=ff, context=context, seed=seed)
    reader = gguf.GGUFReader(str(base))
    writer = gguf.GGUFWriter(str(path), "llama")
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), value_type, sub_type=sub_type)
    writer.add_pooling_type(gguf.PoolingType[pooling])
    for tensor in reader.tensors:
        writer.add_tensor(tensor.name, tensor.data, raw_shape=tensor.data.shape, raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    base.unlink()
    return path


def write_transformers_llama(directory: Path, hidden: int = 32, layers: int = 2, heads: int = 2, vocab: int = 96,
                             seed: int = 0, tokenizer: bool = True) -> Path:
    """A tiny random `LlamaForCausalLM` built by transformers from a config and saved with
    `save_pretrained` as safetensors (every tensor the architecture needs), plus, with
    `tokenizer`, a word-level fast tokenizer that `AutoTokenizer` loads. Imports torch."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=128,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=False)
    LlamaForCausalLM(config).save_pretrained(directory, safe_serialization=True)
    if tokenizer:
        words = ["[PAD]", "[BOS]", "[EOS]", "[UNK]", "hello", ",", "my", "name", "is", "the", "a", "model"]
        words += [f"w{i}" for i in range(vocab - len(words))]
        backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
        backend.pre_tokenizer = pre_tokenizers.Whitespace()
        fast = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", bos_token="[BOS]",
                                       eos_token="[EOS]")
        fast.save_pretrained(directory)
    (directory / "README.md").write_text(f"# tiny-llama-transformers (seed {seed})\n\nA tiny random causal LM for tests.\n")
    return directory
