"""The program that runs INSIDE the smoke-test sandbox: load a model once, run one inference,
report what happened as JSON lines on a private file descriptor.

Standalone on purpose: it imports nothing from pais (the sandbox sees only the Python
installation, the loader libraries, this file and the model), only the standard library until
it imports the loader it was asked for. It is started as

    python -I runner.py '<json spec>'

and writes to the stdout it was given (saved to a private descriptor before anything else runs;
fd 1 is then pointed at stderr so that libraries printing to stdout cannot forge results):

    {"phase": "import"}            progress, so a timeout can say where it struck
    {"phase": "load"} ...
    {"result": {...}}              exactly one, last

The parent never trusts more than the shape of these lines: it parses them as JSON and copies
known fields. Failure kinds match pais_cli.smoke.contract.FailureKind.

Safety rules kept here, whatever the spec says: no remote code (trust_remote_code=False, and
sentence-transformers modules must come from sentence_transformers itself), offline only, no
pickle weights (safetensors only, torch.load forced to weights_only).
"""

from __future__ import annotations

import errno
import faulthandler
import json
import math
import os
import re
import resource
import socket
import sys
import time
from typing import Any

PROMPT = "Hello, my name is"
SENTENCE = "A validation sentence for the embedding model."
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model")
# Text that means an allocation failed, in the words of Python, torch, ggml/llama.cpp, glibc and ld.so.
MEMORY_PATTERN = re.compile(
    r"out of memory|not enough memory|cannot allocate memory|can't allocate memory|std::bad_alloc|bad_alloc"
    r"|failed to allocate|insufficient memory|failed to map segment|unable to allocate|memoryerror|mmap failed",
    re.IGNORECASE,
)

_out_fd = -1


def emit(obj: dict[str, Any]) -> None:
    data = (json.dumps(obj, default=str) + "\n").encode()
    while data:
        n = os.write(_out_fd, data)
        data = data[n:]


def phase(name: str, **extra: Any) -> None:
    emit({"phase": name, "t": round(time.monotonic(), 3), **extra})


def memory_status() -> dict[str, int]:
    """Peak and current resident memory of this process, in bytes (VmHWM/VmRSS, else getrusage)."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS", "VmData", "VmPeak"):
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    if "VmHWM" not in out:
        out["VmHWM"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


def is_memory_error(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    if isinstance(exc, OSError) and exc.errno == errno.ENOMEM:
        return True
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if MEMORY_PATTERN.search(f"{type(exc).__name__}: {exc}"):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def describe(exc: BaseException) -> str:
    text = str(exc).strip() or repr(exc)
    text = text if len(text) < 1500 else text[:1500] + " ..."
    return f"{type(exc).__name__}: {text}"


class Failure(Exception):
    def __init__(self, kind: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details


def all_finite(values: Any) -> bool:
    """True when every number in a (nested) list is finite; numpy arrays and tensors welcome."""
    try:
        import numpy as np

        return bool(np.isfinite(np.asarray(values, dtype=np.float64)).all())
    except ImportError:  # pragma: no cover - every supported loader brings numpy
        stack = [values]
        while stack:
            item = stack.pop()
            if isinstance(item, (list, tuple)):
                stack.extend(item)
            elif not math.isfinite(float(item)):
                return False
        return True


def version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


# --- loaders --------------------------------------------------------------------------------


def run_llamacpp(spec: dict[str, Any], report: dict[str, Any]) -> None:
    phase("import", loader="llama-cpp-python")
    started = time.monotonic()
    import llama_cpp
    import numpy as np

    report["loaded_by"] = f"llama-cpp-python {getattr(llama_cpp, '__version__', version('llama-cpp-python'))}"
    report["import_seconds"] = time.monotonic() - started
    model_dir = spec["model_path"]
    gguf = spec.get("gguf_file")
    if not gguf:
        found = sorted(name for name in os.listdir(model_dir) if name.lower().endswith(".gguf"))
        if len(found) != 1:
            raise Failure("refused", f"expected one .gguf file in the model directory, found {len(found)}")
        gguf = found[0]
    path = os.path.join(model_dir, gguf)
    embedding = spec["kind"] == "embedding"
    # Half the cores, at least one: llama.cpp's threads spin-wait at every barrier, and on a
    # shared machine with one busy core, 2 threads ran a 146 MiB model's 4 tokens in 2.5-4.5 s
    # where 1 thread took 0.08 s. The smoke test checks correctness, not speed.
    threads = max(1, int(spec.get("threads") or 1) // 2)
    report["details"]["threads"] = threads
    phase("load")
    started = time.monotonic()
    try:
        # use_mmap=False: the weights are read into this process's own memory, so the memory
        # limit sees them (a mapped file would not count) and every byte of the file is read.
        llm = llama_cpp.Llama(model_path=path, n_ctx=int(spec.get("n_ctx") or 256), n_batch=64, n_threads=threads,
                              n_threads_batch=threads, n_gpu_layers=0, use_mmap=False, embedding=embedding,
                              verbose=True)
    except Exception as exc:
        if is_memory_error(exc):
            raise
        raise Failure("refused", f"llama.cpp could not load {gguf}: {describe(exc)}") from exc
    report["load_seconds"] = time.monotonic() - started
    report["details"]["n_embd"] = llm.n_embd()
    report["details"]["n_vocab"] = llm.n_vocab()
    phase("infer")
    started = time.monotonic()
    if embedding:
        vector = llm.embed(SENTENCE)
        report["inference_seconds"] = time.monotonic() - started
        array = np.asarray(vector, dtype=np.float64)
        if array.ndim != 1:
            raise Failure("bad-output", f"llama.cpp returned per-token embeddings (shape {list(array.shape)}), not one "
                          "pooled vector: the GGUF sets no pooling type, and llama.cpp's /v1/embeddings refuses that",
                          output_shape=list(array.shape))
        check_embedding(array, spec, report, model_dim=llm.n_embd())
        return
    tokens = llm.tokenize(PROMPT.encode(), add_bos=True)
    eos = llm.token_eos()
    generated: list[int] = []
    for _ in range(int(spec.get("max_tokens") or 4)):
        llm.eval(tokens if not generated else generated[-1:])
        # Logits of the last evaluated position, straight from the llama.cpp context.
        logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(llm.n_vocab(),)).astype(np.float64)
        if not np.isfinite(logits).all():
            raise Failure("bad-output", f"the logits after {len(generated)} generated tokens hold NaN or infinite values",
                          output_shape=[len(generated)])
        token = int(logits.argmax())
        generated.append(token)
        if token == eos:
            break
    report["inference_seconds"] = time.monotonic() - started
    report["output_shape"] = [len(generated)]
    report["details"]["text"] = llm.detokenize(generated).decode("utf-8", "replace")[:200]
    report["details"]["tokens"] = generated


def _check_modules(model_dir: str) -> None:
    path = os.path.join(model_dir, "modules.json")
    if not os.path.exists(path):
        return
    try:
        with open(path) as f:
            modules = json.load(f)
    except (OSError, ValueError) as exc:
        raise Failure("refused", f"modules.json does not parse: {describe(exc)}") from exc
    if not isinstance(modules, list):
        raise Failure("refused", "modules.json is not a list of modules")
    for module in modules:
        kind = module.get("type") if isinstance(module, dict) else None
        if not isinstance(kind, str) or not kind.startswith("sentence_transformers."):
            raise Failure("refused", f"modules.json names the module {kind!r}, which is not part of sentence-transformers: "
                          "pais runs no custom module code")


def run_sentence_transformers(spec: dict[str, Any], report: dict[str, Any]) -> None:
    model_dir = spec["model_path"]
    _check_modules(model_dir)
    phase("import", loader="sentence-transformers")
    started = time.monotonic()
    import torch

    torch.set_num_threads(int(spec.get("threads") or 1))
    import sentence_transformers
    import transformers
    from sentence_transformers import SentenceTransformer

    report["loaded_by"] = (f"sentence-transformers {sentence_transformers.__version__} / transformers "
                         f"{transformers.__version__} / torch {torch.__version__}")
    report["import_seconds"] = time.monotonic() - started
    phase("load")
    started = time.monotonic()
    try:
        model = SentenceTransformer(model_dir, device="cpu", local_files_only=True, trust_remote_code=False,
                                    model_kwargs={"use_safetensors": True})
    except Exception as exc:
        if is_memory_error(exc):
            raise
        raise Failure("refused", f"sentence-transformers could not load the model: {describe(exc)}") from exc
    report["load_seconds"] = time.monotonic() - started
    getter = getattr(model, "get_embedding_dimension", None) or getattr(model, "get_sentence_embedding_dimension")
    model_dim = getter()
    phase("infer")
    started = time.monotonic()
    with torch.inference_mode():
        vectors = model.encode([SENTENCE], convert_to_numpy=True)
    report["inference_seconds"] = time.monotonic() - started
    if getattr(vectors, "ndim", 0) != 2 or vectors.shape[0] != 1:
        raise Failure("bad-output", f"encode returned shape {list(getattr(vectors, 'shape', []))} for one sentence")
    check_embedding(vectors[0], spec, report, model_dim=model_dim)


def check_embedding(vector: Any, spec: dict[str, Any], report: dict[str, Any], model_dim: int | None) -> None:
    dim = int(vector.shape[0])
    report["output_shape"] = [dim]
    if not all_finite(vector):
        raise Failure("bad-output", f"the {dim}-dimensional embedding holds NaN or infinite values")
    expected = spec.get("expected_dim")
    if expected is not None and dim != int(expected):
        raise Failure("bad-output", f"the embedding has {dim} dimensions; the model's config says {expected}")
    if expected is None and model_dim is not None and dim != int(model_dim):
        raise Failure("bad-output", f"the embedding has {dim} dimensions; the model reports {model_dim}")
    norm = float(sum(float(x) * float(x) for x in vector) ** 0.5)
    report["details"]["norm"] = round(norm, 6)
    if norm == 0.0:
        raise Failure("bad-output", "the embedding is all zeros")


def run_transformers(spec: dict[str, Any], report: dict[str, Any]) -> None:
    model_dir = spec["model_path"]
    phase("import", loader="transformers")
    started = time.monotonic()
    import torch

    torch.set_num_threads(int(spec.get("threads") or 1))
    import transformers
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    report["loaded_by"] = f"transformers {transformers.__version__} / torch {torch.__version__}"
    report["import_seconds"] = time.monotonic() - started
    embedding = spec["kind"] == "embedding"
    phase("load")
    started = time.monotonic()
    try:
        # An embedding model without sentence-transformers files: the bare encoder, mean-pooled
        # (what Infinity does with such a checkpoint).
        auto = AutoModel if embedding else AutoModelForCausalLM
        model, info = auto.from_pretrained(model_dir, trust_remote_code=False, local_files_only=True,
                                           use_safetensors=True, output_loading_info=True)
    except Exception as exc:
        if is_memory_error(exc):
            raise
        raise Failure("refused", f"transformers could not load the model: {describe(exc)}") from exc
    missing = sorted(info.get("missing_keys") or [])
    mismatched = sorted(str(k) for k in (info.get("mismatched_keys") or []))
    if info.get("unexpected_keys"):
        report["details"]["unexpected_keys"] = sorted(info["unexpected_keys"])[:20]
    if missing or mismatched:
        what = f"lacks {len(missing)} weight(s) the architecture needs ({', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''})" \
            if missing else f"has {len(mismatched)} weight(s) of the wrong shape ({', '.join(mismatched[:4])})"
        raise Failure("refused", f"the checkpoint {what}: transformers would fill them with random values",
                      missing_keys=missing[:50], mismatched_keys=mismatched[:50])
    model.eval()
    tokenizer = None
    if any(os.path.exists(os.path.join(model_dir, name)) for name in TOKENIZER_FILES):
        try:
            tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True, trust_remote_code=False)
        except Exception as exc:
            if is_memory_error(exc):
                raise
            raise Failure("refused", f"the model's tokenizer does not load: {describe(exc)}") from exc
    report["load_seconds"] = time.monotonic() - started
    vocab = int(getattr(model.config, "vocab_size", 0) or 0)
    if tokenizer is not None:
        input_ids = tokenizer(PROMPT, return_tensors="pt")["input_ids"]
        report["details"]["tokenizer"] = type(tokenizer).__name__
    else:
        input_ids = torch.tensor([[i % max(vocab, 1) for i in (1, 2, 3, 4)]])
        report["details"]["tokenizer"] = None
    if input_ids.shape[-1] == 0:
        raise Failure("bad-output", "the tokenizer turned the prompt into no tokens")
    if embedding:
        phase("infer")
        started = time.monotonic()
        with torch.inference_mode():
            hidden = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)).last_hidden_state
        report["inference_seconds"] = time.monotonic() - started
        vector = hidden[0].float().mean(dim=0).numpy()
        check_embedding(vector, spec, report, model_dim=getattr(model.config, "hidden_size", None))
        return
    generation = getattr(model, "generation_config", None)
    pad = getattr(generation, "pad_token_id", None)
    if pad is None:
        pad = getattr(generation, "eos_token_id", None)
        pad = pad[0] if isinstance(pad, list) and pad else pad
    phase("infer")
    started = time.monotonic()
    with torch.inference_mode():
        out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=int(spec.get("max_tokens") or 4),
                             do_sample=False, output_logits=True, return_dict_in_generate=True,
                             pad_token_id=pad if pad is not None else 0)
    report["inference_seconds"] = time.monotonic() - started
    new = out.sequences[0, input_ids.shape[-1]:].tolist()
    report["output_shape"] = [len(new)]
    report["details"]["tokens"] = new
    if tokenizer is not None:
        report["details"]["text"] = tokenizer.decode(new)[:200]
    logits = getattr(out, "logits", None) or ()
    for step, row in enumerate(logits):
        if not bool(torch.isfinite(row).all()):
            raise Failure("bad-output", f"the logits of generated token {step + 1} hold NaN or infinite values",
                          output_shape=[len(new)])
    if not new:
        raise Failure("bad-output", "generate returned no new token")


LOADERS = {"llamacpp": run_llamacpp, "transformers": run_transformers, "sentence-transformers": run_sentence_transformers}


def smoke(spec: dict[str, Any]) -> dict[str, Any]:
    report: dict[str, Any] = {"ok": False, "failure": None, "message": "", "loaded_by": spec.get("loader"),
                              "load_seconds": None, "inference_seconds": None, "import_seconds": None,
                              "output_shape": None, "details": {}}
    try:
        LOADERS[spec["loader"]](spec, report)
        report["ok"] = True
        report["message"] = "loaded and ran one inference"
    except Failure as exc:
        report["failure"], report["message"] = exc.kind, exc.message
        for key, value in exc.details.items():
            if key == "output_shape":
                report["output_shape"] = value
            else:
                report["details"][key] = value
    except ImportError as exc:
        report["failure"] = "oom" if is_memory_error(exc) else "sandbox"
        report["message"] = f"the runtime does not import in the sandbox: {describe(exc)}"
    except BaseException as exc:  # noqa: BLE001 - the report is the point
        report["failure"] = "oom" if is_memory_error(exc) else "crashed"
        report["message"] = describe(exc)
    memory = memory_status()
    report["peak_memory_bytes"] = memory.get("VmHWM")
    report["details"]["memory"] = memory
    return report


# --- the sandbox probe -----------------------------------------------------------------------


def probe(spec: dict[str, Any]) -> dict[str, Any]:
    """Try what the sandbox must forbid: reach a TCP listener and write into the model directory."""
    result: dict[str, Any] = {}
    host, _, port = str(spec["connect"]).rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=float(spec.get("connect_timeout", 3.0))) as conn:
            conn.sendall(b"pais-probe\n")
        result["connect"] = {"ok": True, "error": None}
    except OSError as exc:
        result["connect"] = {"ok": False, "error": describe(exc)}
    target = os.path.join(spec.get("write_dir") or spec["model_path"], ".pais-probe-write")
    try:
        with open(target, "w") as f:
            f.write("written from inside\n")
        os.unlink(target)
        result["write"] = {"ok": True, "error": None}
    except OSError as exc:
        result["write"] = {"ok": False, "error": describe(exc)}
    result["uid"] = os.getuid()
    return result


def apply_limits(rlimits: dict[str, Any] | None) -> dict[str, Any]:
    """Limit this process (and what it starts) before any loader is imported. A limit above the
    current hard limit is lowered to it: an unprivileged process cannot raise a hard limit."""
    applied: dict[str, Any] = {}
    if not rlimits:
        return applied
    names = {"data": resource.RLIMIT_DATA, "cpu": resource.RLIMIT_CPU, "core": resource.RLIMIT_CORE,
             "fsize": resource.RLIMIT_FSIZE, "nproc": resource.RLIMIT_NPROC}
    for key, which in names.items():
        value = rlimits.get(key)
        if value is None:
            continue
        soft, hard = resource.getrlimit(which)
        value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        hard_value = value + 5 if key == "cpu" and (hard == resource.RLIM_INFINITY or value + 5 <= hard) else value
        try:
            resource.setrlimit(which, (value, hard_value))
            applied[key] = value
        except (OSError, ValueError) as exc:
            applied[key] = f"not applied: {exc}"
    if rlimits.get("cpus") and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, set(rlimits["cpus"]))
            applied["cpus"] = sorted(os.sched_getaffinity(0))
        except OSError as exc:
            applied["cpus"] = f"not applied: {exc}"
    return applied


def main(argv: list[str]) -> int:
    global _out_fd
    _out_fd = os.dup(1)
    os.dup2(2, 1)  # anything printed to stdout from here on lands in stderr
    sys.stdout = sys.stderr
    faulthandler.enable()
    spec = json.loads(argv[1])
    applied = apply_limits(spec.get("rlimits"))
    emit({"limits": applied})
    if spec.get("mode") == "probe":
        emit({"result": probe(spec)})
        return 0
    emit({"result": smoke(spec)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
