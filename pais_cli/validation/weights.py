"""Does a directory hold a model at all? Weights in a format the validator knows, or nothing.

A folder of a README and notes must not validate `pass` and push as `validated yes`. Tokenizer-only
repositories are real, so `--allow-no-weights` lets one through, and the report says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath

from ..errors import NotAModel

# safetensors, GGUF, pickle-era PyTorch/joblib/NumPy, ONNX, TensorFlow SavedModel/.pb and TFLite,
# Keras (.keras, .h5), TorchScript (.pt/.pth zip), NeMo and Lightning archives, Flax msgpack,
# Core ML, rust-bert .ot.
WEIGHT_SUFFIXES = frozenset({
    ".safetensors", ".gguf", ".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".npz", ".npy",
    ".onnx", ".pb", ".tflite", ".keras", ".h5", ".hdf5", ".nemo", ".msgpack", ".mlmodel", ".ot",
})
FORMATS_HINT = ("a model needs weights: safetensors, GGUF, PyTorch .bin/.pt/.pth/.ckpt, ONNX, SavedModel/.pb, "
                ".keras/.h5, TorchScript or NeMo; for a tokenizer-only repository add --allow-no-weights")


def weight_files(paths: Iterable[str]) -> list[str]:
    out = []
    for path in paths:
        p = PurePosixPath(path)
        name = p.name.lower()
        if p.suffix.lower() in WEIGHT_SUFFIXES or ".safetensors" in name or name.startswith("variables.data-"):
            out.append(path)
    return out


def require_weights(paths: list[str], where: str) -> None:
    """Raise NotAModel, in one line, when none of `paths` is a weight file."""
    if weight_files(paths):
        return
    shown = ", ".join(sorted(paths)[:4]) + (f" and {len(paths) - 4} more" if len(paths) > 4 else "")
    found = f"only {shown}" if paths else "no files"
    raise NotAModel(f"{where} holds no model weights ({found})", FORMATS_HINT)
