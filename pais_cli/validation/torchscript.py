"""TorchScript archives (`torch.jit.save`: a zip with `code/`, `data.pkl`, `constants.pkl`).

torch.jit.load unpickles data.pkl and constants.pkl with TorchScript's own unpickler, which
resolves `__torch__.*` classes from the archive's compiled code (never a Python import) and a
fixed set of rebuild helpers; those are allowed there. The code under `code/` is compiled and
runs whenever the module does. TorchScript is a subset of Python, but its builtins still reach
the host: `torch.from_file` maps a host file into a tensor, `torch.ops.load_library` loads a
native library, `open`/`torch.save`/`torch.load` read and write paths. Those calls fail.
"""

from __future__ import annotations

import ast

from .report import Finding, Severity

# TorchScript's unpickler globals (torch/csrc/jit/serialization/unpickler.cpp, torch/jit/_pickle.py)
TORCHSCRIPT_GLOBALS = {
    ("torch.jit._pickle", n): "TorchScript's list and tensor rebuild helper"
    for n in ("build_intlist", "build_tensorlist", "build_doublelist", "build_boollist", "build_tensor_from_id",
              "restore_type_tag")
}


def allowed_in_torchscript(module: str, name: str) -> bool:
    """`__torch__.*` names classes compiled from the archive's code/, resolved without importing Python."""
    return module == "__torch__" or module.startswith("__torch__.") or (module, name) in TORCHSCRIPT_GLOBALS


# Dotted call targets (as TorchScript's serializer writes them) that reach files, the OS or native code
HOST_CALLS = {
    "torch.from_file": "maps a host file into a tensor",
    "torch.ops.load_library": "loads a native library",
    "torch.classes.load_library": "loads a native library",
    "ops.load_library": "loads a native library",
    "torch.save": "writes a file", "torch.load": "reads and unpickles a file", "torch.jit.load": "loads another module",
    "open": "opens a host file", "torch.ops.aten.from_file": "maps a host file into a tensor",
    "ops.aten.from_file": "maps a host file into a tensor", "torch.ops.aten.save": "writes a file",
    "eval": "runs code", "exec": "runs code", "__import__": "imports a module",
}
HOST_SUFFIXES = (".from_file", ".load_library")
# TorchScript's own op namespaces; anything else needs a native library registered at load time
OP_NAMESPACES = {"aten", "prim", "quantized", "_quantized", "prepacked", "profiler", "_caffe2", "fbgemm", "mkldnn",
                 "mkldnn_prepacked", "onednn", "xnnpack", "cuda", "_c10d_functional", "c10d", "_c10d_functional_autograd",
                 "sparse", "quantized_decomposed", "higher_order", "_higher_order_ops", "image", "torchvision",
                 "torchaudio", "rngprims", "inductor", "_test"}
HINT = "Do not load this module; export the model without calls that reach files or native libraries (or as safetensors)."


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def judge_code(file: str, location: str, source: str) -> list[Finding]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return [Finding("serialization.torchscript-code", Severity.error,
                        f"{location}: TorchScript code cannot be parsed ({type(exc).__name__}), so it cannot be vetted",
                        file, HINT)]
    findings: dict[str, Finding] = {}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Call, ast.Attribute)):
            continue
        target = _dotted(node.func if isinstance(node, ast.Call) else node)
        if target is None:
            continue
        why = HOST_CALLS.get(target) or ("reaches files or native code" if target.endswith(HOST_SUFFIXES) else None)
        if why is not None and target not in findings:
            findings[target] = Finding("serialization.torchscript-code", Severity.error,
                                       f"{location}: TorchScript code calls {target}, which {why}", file, HINT)
        parts = target.split(".")
        if isinstance(node, ast.Call) and len(parts) >= 3 and parts[-3] == "ops" and parts[-2] not in OP_NAMESPACES:
            key = f"ns:{parts[-2]}"
            if key not in findings:
                findings[key] = Finding("serialization.torchscript-custom-op", Severity.warning,
                                        f"{location}: TorchScript code calls the custom operator namespace "
                                        f"torch.ops.{parts[-2]}, which runs only with a native library loaded",
                                        file, "check that the serving runtime provides these operators")
    return list(findings.values())[:50]
