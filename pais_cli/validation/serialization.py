"""The serialization check: no model file may carry code that runs when it is loaded.

Pickles are found by content (see `pais_cli.formats.pickles`), whatever the file is called and
however deep in archives. picklescan gives the first opinion on each of them (its findings are
recorded, and what it rates dangerous fails the check), but the verdict comes from an
*allowlist*: a pickle in a model may import only the globals needed to rebuild tensors, arrays
and plain containers. Everything else fails, and so does any import the walker cannot name
without running the pickle. Keras configs (`.keras` archives, HDF5 `model_config`) fail when
they carry Lambda layers or reference modules outside Keras.

Nothing here unpickles, imports or executes anything from a model file.
"""

from __future__ import annotations

import functools
import io
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from pais_cli.formats.pickles import (
    DEFAULT_LIMITS,
    SEVENZIP_MAGIC,
    ZIP_MAGIC,
    FileScan,
    GlobalUse,
    Limits,
    PickleInfo,
    Tup,
    is_pickle_format_file,
    pickle_format,
    scan_file,
)

from ..modeldir.snapshot import DirectorySnapshot, SnapshotFile
from . import tfcheck
from .report import CheckResult, Finding, Severity
from .resultcache import FileResults, judge_each
from .rules import RULESET_VERSION
from .torchscript import allowed_in_torchscript, judge_code

__all__ = ["ALLOWED_GLOBALS", "check_serialization", "danger_reason", "is_pickle_format_file", "pickle_format"]

NAME = "serialization"
MAX_LISTED = 200  # pickles and archives listed in the details

_STORAGES = ("Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool",
             "ComplexFloat", "ComplexDouble", "QUInt8", "QInt8", "QInt32", "QUInt4x2", "QUInt2x4")
_TORCH_DTYPES = ("float16", "float32", "float64", "bfloat16", "complex32", "complex64", "complex128",
                 "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "bool",
                 "qint8", "quint8", "qint32", "quint4x2", "quint2x4", "float8_e4m3fn", "float8_e5m2",
                 "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2")

# (module, name) -> why a weights pickle needs it. Exact names only: a dotted attribute path
# (protocol 4 resolves "OrderedDict.fromkeys" by getattr) or another module spelling never matches.
ALLOWED_GLOBALS: dict[tuple[str, str], str] = {
    ("collections", "OrderedDict"): "the container torch.save writes for a state dict",
    ("torch._utils", "_rebuild_tensor_v2"): "rebuilds each tensor from a storage, offset, size and stride",
    ("torch._utils", "_rebuild_parameter"): "wraps a rebuilt tensor as nn.Parameter (checkpoints of parameters)",
    **{("torch", f"{s}Storage"): "storage type named in a tensor's persistent id" for s in _STORAGES},
    **{("torch.cuda", f"{s}Storage"): "storage type in checkpoints saved from GPU by old torch; torch.load maps "
       "any *Storage name to a storage type without importing it" for s in _STORAGES[:10]},
    ("torch.storage", "UntypedStorage"): "storage type in persistent ids of untyped storages (torch >= 2)",
    ("torch.storage", "TypedStorage"): "storage type in persistent ids of typed storages (torch >= 2)",
    **{("torch", d): "a dtype constant (torch.dtype pickles as its name)" for d in _TORCH_DTYPES},
    ("numpy.core.multiarray", "_reconstruct"): "ndarray.__reduce__ (numpy 1.x module path)",
    ("numpy._core.multiarray", "_reconstruct"): "ndarray.__reduce__ (numpy 2.x module path)",
    ("numpy.core.numeric", "_frombuffer"): "ndarray reduction under pickle protocol 5 (numpy 1.x)",
    ("numpy._core.numeric", "_frombuffer"): "ndarray reduction under pickle protocol 5 (numpy 2.x)",
    ("numpy", "ndarray"): "the array class handed to _reconstruct",
    ("numpy", "dtype"): "array and scalar dtypes",
    ("numpy.core.multiarray", "scalar"): "numpy scalars, e.g. a float32 metric in a checkpoint (numpy 1.x)",
    ("numpy._core.multiarray", "scalar"): "numpy scalars (numpy 2.x)",
    ("_codecs", "encode"): "bytes under protocols 0-2 are encode(text, 'latin1'); allowed with that codec only",
    ("builtins", "set"): "sets are pickled by calling the type under protocols 0-3",
    ("builtins", "frozenset"): "frozensets are pickled by calling the type under protocols 0-3",
    ("builtins", "complex"): "complex numbers are pickled by calling the type under every protocol",
}


def _latin1_encode(args: Any) -> bool:
    # any other codec turns encode() into a text transformer (rot13 builds names at load time)
    # or a decompressor (zlib_codec: memory bombs); pickle itself only ever writes 'latin1'
    return (isinstance(args, Tup) and args.length == 2 and isinstance(args.items[0], str)
            and args.items[1] in ("latin1", "latin-1"))


# Allowed globals that are harmless only with particular arguments: every call is checked.
CHECKED_CALLS: dict[tuple[str, str], Callable[[Any], bool]] = {("_codecs", "encode"): _latin1_encode}
CHECKED_CALLS_RULES = {("_codecs", "encode"): "only encode(text, 'latin1') is allowed"}

# Modules and names that run code, spawn processes, touch files or the network, or reach any
# other global. Used for the wording of findings (everything off the allowlist fails anyway).
_DANGEROUS_MODULES = {
    "os", "posix", "nt", "subprocess", "_posixsubprocess", "sys", "runpy", "importlib", "pickle",
    "_pickle", "pickletools", "marshal", "shutil", "socket", "ssl", "http", "urllib", "requests", "ctypes",
    "pty", "code", "codeop", "commands", "pdb", "bdb", "webbrowser", "multiprocessing", "asyncio",
    "threading", "_thread", "signal", "tempfile", "pathlib", "io", "_io", "shelve", "dill", "cloudpickle",
    "timeit", "cProfile", "profile", "trace", "pydoc", "pkgutil", "ensurepip", "venv", "pip",
    "setuptools", "distutils", "zipimport", "types", "inspect", "gc",
}
_DANGEROUS_NAMES = {
    ("builtins", n) for n in ("eval", "exec", "compile", "__import__", "getattr", "setattr", "delattr", "open",
                              "breakpoint", "input", "globals", "locals", "vars", "help", "exit", "quit",
                              "memoryview", "type", "object", "classmethod", "staticmethod", "super", "print")
} | {
    ("operator", n) for n in ("attrgetter", "itemgetter", "methodcaller", "call")
} | {
    ("_operator", n) for n in ("attrgetter", "itemgetter", "methodcaller", "call")
} | {
    ("functools", "partial"), ("functools", "reduce"), ("copyreg", "_reconstructor"), ("copyreg", "__newobj__"),
    ("torch", "load"), ("torch.serialization", "load"), ("numpy", "load"), ("numpy.lib.npyio", "load"),
    ("joblib", "load"), ("joblib.numpy_pickle", "load"),
    ("torch.jit", "load"), ("torch", "compile"), ("torch._dynamo", "optimize"),
}


def _picklescan_unsafe() -> dict[str, Any]:
    try:
        from picklescan.scanner import (
            _unsafe_globals,  # private, but it is the list picklescan applies
        )
    except ImportError:
        return {}
    return dict(_unsafe_globals)


_PICKLESCAN_UNSAFE = _picklescan_unsafe()


def _in_module(module: str, roots: set[str] | dict[str, Any]) -> str | None:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in roots:
            return ".".join(parts[:i])
    return None


def danger_reason(module: str, name: str) -> str | None:
    """Why a global is known to be dangerous, or None when it is merely not allowed."""
    if (module, name) in _DANGEROUS_NAMES or (module, name.split(".")[0]) in _DANGEROUS_NAMES:
        return "can run code, import modules or reach arbitrary objects when the file is loaded"
    root = _in_module(module, _DANGEROUS_MODULES)
    if root is not None:
        return f"comes from {root}, which can run commands, code or I/O when the file is loaded"
    names = _PICKLESCAN_UNSAFE.get(module)
    if names is not None and (names == "*" or name in (names if isinstance(names, (set, frozenset)) else {names})):
        return "is on picklescan's list of dangerous globals"
    parent = _in_module(module.rsplit(".", 1)[0], _PICKLESCAN_UNSAFE) if "." in module else None
    if parent is not None and _PICKLESCAN_UNSAFE[parent] == "*":
        return "is on picklescan's list of dangerous globals"
    return None


# --------------------------------------------------------------------------- picklescan


@functools.cache
def picklescan_scanner() -> tuple[Any, str | None]:
    """picklescan's scanner module and version, loaded once; (None, None) without it."""
    try:
        from picklescan import scanner
        return scanner, metadata.version("picklescan")
    except Exception:  # noqa: BLE001 - the check still runs on the allowlist alone
        return None, None


class _Picklescan:
    """picklescan's opinion on one file, recorded per pickle and for the file as a whole."""

    def __init__(self) -> None:
        self.scanner, self.version = picklescan_scanner()
        self.pickles = 0
        self.files = 0
        self.dangerous: dict[str, set[str]] = {}  # global -> where
        self.suspicious: Counter[str] = Counter()
        self.errors: list[str] = []

    def _record(self, result: Any, where: str) -> None:
        if getattr(result, "scan_err", False):
            self.errors.append(f"{where}: picklescan could not parse all of it")
        for g in getattr(result, "globals", []):
            dotted = f"{g.module}.{g.name}"
            if g.safety.value == "dangerous":
                self.dangerous.setdefault(dotted, set()).add(where)
            elif g.safety.value == "suspicious":
                self.suspicious[dotted] += 1

    def pickle(self, raw: bytes, where: str) -> None:
        if self.scanner is None:
            return
        self.pickles += 1
        try:
            self._record(self.scanner.scan_pickle_bytes(io.BytesIO(raw), where, multiple_pickles=False), where)
        except Exception as exc:  # noqa: BLE001 - a crash in the second opinion is recorded, not fatal
            self.errors.append(f"{where}: {type(exc).__name__}: {exc}")

    def file(self, path: Path, file: str) -> None:
        if self.scanner is None:
            return
        self.files += 1
        try:
            self._record(self.scanner.scan_file_path(str(path)), file)
        except Exception as exc:  # noqa: BLE001
            self.errors.append(f"{file}: {type(exc).__name__}: {exc}")

    def opinion(self, file: str) -> dict[str, Any]:
        return {"pickles": self.pickles, "files": self.files,
                "dangerous": sorted(f"{file}: {g}" for g in self.dangerous),
                "suspicious": dict(self.suspicious), "errors": self.errors}


# --------------------------------------------------------------------------- findings


class _Findings:
    """Findings, merged per (file, rule, subject) so one bad global in five pickles is one finding."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str, str], Finding] = {}
        self._where: dict[tuple[str, str, str], list[str]] = {}

    def add(self, file: str, rule: str, severity: Severity, subject: str, message: str, where: str,
            hint: str | None = None) -> None:
        key = (file, rule, subject)
        if key not in self._items:
            self._items[key] = Finding(rule, severity, message, file, hint)
            self._where[key] = [where]
        elif where not in self._where[key]:
            self._where[key].append(where)
            if len(self._where[key]) <= 5:
                self._items[key].message += f"; also in {where}"

    def all(self) -> list[Finding]:
        order = {Severity.error: 0, Severity.warning: 1, Severity.info: 2}
        return sorted(self._items.values(), key=lambda f: (order[f.severity], f.file or "", f.rule, f.message))


HINT_PICKLE = ("Do not load this file. Ask the publisher for safetensors (or .npy without pickles) weights; "
               "if the file is trusted, convert it in a sandbox and validate the converted copy.")


def _identifier_like(dotted: str) -> bool:
    return all(part.isidentifier() for part in dotted.split("."))


def _judge_global(out: _Findings, file: str, p: PickleInfo, g: GlobalUse, strict: bool, torchscript: bool = False) -> bool:
    """Findings for one global in one pickle; True when it is allowed."""
    key = (g.module, g.name)
    if torchscript and allowed_in_torchscript(g.module, g.name):
        return True
    where = p.label
    alias = f" (written as {g.raw})" if g.raw else ""
    partial = "" if strict else f" (the pickle breaks off later: {p.error}; a loader runs everything before that point)"
    if key in ALLOWED_GLOBALS:
        if g.bad_calls:
            out.add(file, "serialization.call-not-allowed", Severity.error, g.dotted,
                    f"{where}: the pickle calls {g.dotted}{g.bad_calls[0]}; "
                    f"{CHECKED_CALLS_RULES.get(key, 'arguments not allowed')}{partial}",
                    where, HINT_PICKLE)
            return False
        return True
    if not strict and not _identifier_like(g.dotted):
        return False  # garbage a broken stream happened to decode as a name: no loader imports it
    danger = danger_reason(g.module, g.name)
    how = " and calls it" if g.called else ""
    if danger is not None:
        out.add(file, "serialization.dangerous-global", Severity.error, g.dotted,
                f"{where}: the pickle imports {g.dotted}{alias}{how}, which {danger}{partial}", where, HINT_PICKLE)
    elif strict or g.called:
        out.add(file, "serialization.global-not-allowed", Severity.error, g.dotted,
                f"{where}: the pickle imports {g.dotted}{alias}{how}, which is not on the allowlist of globals "
                f"needed to rebuild tensors, arrays and plain containers{partial}", where, HINT_PICKLE)
    # else: a broken stream that only names a harmless-looking module before breaking off. Text
    # files can look like that ("cat\ndog\n" is GLOBAL at.dog), so it is counted, not reported.
    return False


def _judge_pickle(out: _Findings, file: str, p: PickleInfo, allowed: Counter[str], rejected: Counter[str],
                  torchscript: bool = False) -> None:
    where = p.label
    # A complete pickle is judged on everything it names. A broken one (any file's bytes can
    # decode as a few opcodes) on what a loader would run before failing: calls of importable
    # globals, imports of dangerous modules, and calls of globals we cannot name.
    strict = p.complete or p.limit_hit
    for g in p.globals.values():
        if _judge_global(out, file, p, g, strict, torchscript):
            allowed[g.dotted] += 1
        else:
            rejected[g.dotted] += 1
    for reason in p.unresolved if strict else []:
        out.add(file, "serialization.unresolvable-global", Severity.error, reason,
                f"{where}: {reason}; which global it imports cannot be known without running the pickle", where, HINT_PICKLE)
    for anomaly in p.anomalies if strict else p.unresolved_calls:
        out.add(file, "serialization.suspicious-structure", Severity.error, anomaly,
                f"{where}: {anomaly}; weight pickles only call imported globals", where, HINT_PICKLE)
    if p.limit_hit:
        out.add(file, "serialization.unanalysable" if p.ambiguous else "serialization.resource-limits", Severity.error, f"limit:{where}",
                f"{where}: not fully analysed: {p.error}", where, HINT_PICKLE)
    if not p.complete and ("joblib.numpy_pickle", "NumpyArrayWrapper") in p.globals:
        out.add(file, "serialization.unanalysable", Severity.error, f"joblib:{where}",
                f"{where}: joblib interleaves raw array data with the pickle opcodes, so the rest of the stream "
                "cannot be verified without joblib's own reader", where,
                "Convert the arrays to .npy (without pickles) or safetensors.")


KERAS_LAMBDAS = {"Lambda", "__lambda__"}
KERAS_OP_LAYERS = {"TFOpLambda", "SlicingOpLambda"}


KERAS_EXTERNAL = {"TFSMLayer": "loads a TensorFlow SavedModel from a host path",
                  "get_file": "downloads a file (CVE-2025-8747)",
                  "enable_unsafe_deserialization": "turns safe mode off for everything loaded after it (CVE-2025-1550)",
                  "load_model": "loads another model from a path", "TorchModuleWrapper": "unpickles a torch module"}


def _judge_keras(out: _Findings, file: str, scan: FileScan) -> None:
    for location, what in scan.keras_flags:
        out.add(file, "serialization.keras-safe-mode", Severity.error, f"{location}:{what}",
                f"{location}: Keras config {what}, which lets Lambda layers and arbitrary functions run on load",
                location, "Remove the setting; load with safe_mode=True.")
    for node in scan.keras:
        external = KERAS_EXTERNAL.get(node.class_name) or KERAS_EXTERNAL.get(node.name or "")
        if external is not None:
            out.add(file, "serialization.keras-external", Severity.error, f"{node.location}:{node.class_name}:{node.name}",
                    f"{node.location}: Keras config uses {node.class_name}"
                    + (f" {node.name!r}" if node.name else "") + f", which {external}", node.location,
                    "Rebuild the model from its own layers and weights.")
        reg = node.registered_name
        if reg and (node.module is None or node.module == "keras" or node.module.startswith("keras.")) \
                and reg not in (node.class_name, node.name) and not reg.startswith("keras"):
            out.add(file, "serialization.keras-registered-name", Severity.warning, f"{node.location}:{reg}",
                    f"{node.location}: Keras config names the registered object {reg!r}: a custom object the "
                    "deployer must provide as code", node.location,
                    "Check that the custom object comes from a package you trust.")
        label = f"{node.class_name} layer" + (f" '{node.name}'" if node.name else "")
        if node.class_name in KERAS_LAMBDAS:
            out.add(file, "serialization.keras-lambda", Severity.error, f"{node.location}:{node.name}:{node.class_name}",
                    f"{node.location}: Keras config has a {label}; its Python code runs when the model is loaded "
                    "(safe_mode=False) and cannot be vetted", node.location,
                    "Rebuild the model without Lambda layers (use registered custom layers shipped as code).")
        elif node.class_name in KERAS_OP_LAYERS:
            out.add(file, "serialization.keras-op-layer", Severity.warning, f"{node.location}:{node.name}",
                    f"{node.location}: Keras config has a {label}, which calls a TensorFlow function named in the config",
                    node.location)
        if node.module is not None and node.module != "keras" and not node.module.startswith("keras."):
            out.add(file, "serialization.keras-module-not-allowed", Severity.error, f"{node.location}:{node.module}",
                    f"{node.location}: Keras config references {node.module}.{node.class_name}; Keras imports modules "
                    "named in a config, and only keras.* modules are allowed", node.location,
                    "Ship custom objects as code the deployer installs, not as module references in the config.")


# --------------------------------------------------------------------------- the check


@dataclass
class FileJudgement:
    """What the check found in one file: the unit the result cache keeps."""

    findings: list[Finding]
    facts: dict[str, Any]  # what the check's details sum up over the files

    def to_json(self) -> dict[str, Any]:
        return {"findings": [f.to_json() for f in self.findings], "facts": self.facts}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> FileJudgement:
        return cls([Finding.from_json(f) for f in obj["findings"]], obj["facts"])


def judge_file(entry: SnapshotFile, limits: Limits = DEFAULT_LIMITS) -> FileJudgement:
    """Every pickle, archive, Keras config and TorchScript or TensorFlow graph in one file."""
    findings = _Findings()
    picklescan = _Picklescan()
    allowed: Counter[str] = Counter()
    rejected: Counter[str] = Counter()

    def second_opinion(p: PickleInfo) -> None:
        if p.raw is not None:
            picklescan.pickle(p.raw, p.label)

    try:
        scan = scan_file(entry.full, entry.path, limits, CHECKED_CALLS, second_opinion)
    except OSError as exc:
        findings.add(entry.path, "serialization.unanalysable", Severity.error, "io",
                     f"{entry.path}: could not be read: {exc}", entry.path)
        return FileJudgement(findings.all(), {})
    details: list[dict[str, Any]] = []
    for p in scan.pickles:
        in_torchscript = any(p.location.startswith(root) for root in scan.torchscript)
        _judge_pickle(findings, entry.path, p, allowed, rejected, in_torchscript)
        if len(details) < MAX_LISTED:
            details.append({"location": p.label, "protocol": p.protocol, "opcodes": p.ops, "complete": p.complete,
                            "globals": sorted(g.dotted for g in p.globals.values()), "persistentIds": p.persistent_count,
                            **({"stoppedAt": p.error} if p.error else {})})
    for prob in scan.problems:
        sev = {"error": Severity.error, "warning": Severity.warning}.get(prob.severity, Severity.info)
        findings.add(entry.path, prob.rule, sev, f"{prob.location}:{prob.message}",
                     f"{prob.location}: {prob.message}", prob.location,
                     HINT_PICKLE if sev == Severity.error else None)
    _judge_keras(findings, entry.path, scan)
    for location, source in scan.torchscript_code:
        for f in judge_code(entry.path, location, source):
            findings.add(entry.path, f.rule, f.severity, f.message, f.message, location, f.hint)
    tf_graph = None
    if tfcheck.is_tf_graph(entry):
        tf_findings, tf_graph = tfcheck.check_tf_file(entry)
        for f in tf_findings:
            findings.add(entry.path, f.rule, f.severity, f.message, f.message, entry.path, f.hint)
    # picklescan's own discovery over the whole file, where that is bounded: our walk stayed
    # within its limits, and the file is not a 7z archive (picklescan extracts those to disk)
    bounded = not any(pr.rule in ("serialization.unanalysable", "serialization.resource-limits") for pr in scan.problems) \
        and not any(p.limit_hit for p in scan.pickles) and not scan.torchscript
    if bounded and (scan.pickles or scan.archives):
        with entry.full.open("rb") as fh:
            head = fh.read(6)
        if head != SEVENZIP_MAGIC and (entry.size <= limits.max_pickle_bytes or head.startswith(ZIP_MAGIC)):
            picklescan.file(entry.full, entry.path)
    for dotted, where in sorted(picklescan.dangerous.items()):
        findings.add(entry.path, "serialization.picklescan-dangerous", Severity.error, dotted,
                     f"{sorted(where)[0]}: picklescan {picklescan.version} rates {dotted} dangerous", sorted(where)[0], HINT_PICKLE)
    pickled = "complete" if any(p.complete for p in scan.pickles) else "partial" if scan.pickles else None
    return FileJudgement(findings.all(), {
        "kinds": sorted(scan.kinds), "pickled": pickled, "pickleCount": len(scan.pickles), "pickles": details,
        "archives": scan.archives[:MAX_LISTED], "archiveCount": len(scan.archives), "kerasConfigs": scan.keras_configs,
        "tensorflowGraph": tf_graph, "allowed": dict(allowed), "notAllowed": dict(rejected),
        "picklescan": picklescan.opinion(entry.path),
    })


def check_serialization(model: DirectorySnapshot, limits: Limits = DEFAULT_LIMITS,
                        known: FileResults | None = None) -> CheckResult:
    """Each file judged on its own (`known`: results kept from an earlier run, by digest), then
    summed up."""
    started = time.monotonic()
    judged = judge_each(model.files, known, lambda entry: judge_file(entry, limits), FileJudgement.from_json)
    result = _sum_up(model, judged, limits, known.from_cache if known is not None else [])
    result.seconds = time.monotonic() - started
    return result


def _sum_up(model: DirectorySnapshot, judged: dict[str, FileJudgement], limits: Limits, from_cache: list[str]) -> CheckResult:
    order = {Severity.error: 0, Severity.warning: 1, Severity.info: 2}
    findings = sorted((f for j in judged.values() for f in j.findings),
                      key=lambda f: (order[f.severity], f.file or "", f.rule, f.message))
    facts = {path: j.facts for path, j in judged.items() if j.facts}
    total_pickles = sum(f["pickleCount"] for f in facts.values())
    archives = [a for f in facts.values() for a in f["archives"]]
    keras_configs = [k for f in facts.values() for k in f["kerasConfigs"]]
    allowed: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    suspicious: Counter[str] = Counter()
    for f in facts.values():
        allowed.update(f["allowed"])
        rejected.update(f["notAllowed"])
        suspicious.update(f["picklescan"]["suspicious"])
    _, version = picklescan_scanner()
    opinions = [f["picklescan"] for f in facts.values()]
    return CheckResult.from_findings(
        NAME, findings,
        f"{len(model.files)} files: {total_pickles} pickles in {sum(1 for f in facts.values() if f['pickled'] == 'complete')} "
        f"files, {sum(f['archiveCount'] for f in facts.values())} archives opened, {len(keras_configs)} Keras configs; "
        f"globals checked against an allowlist of {len(ALLOWED_GLOBALS)}"
        + (f"; picklescan {version}" if version else "; picklescan unavailable"),
        filesScanned=len(model.files),
        pickleFiles=[p for p, f in facts.items() if f["pickled"] == "complete"],
        malformedPickleFiles=[p for p, f in facts.items() if f["pickled"] == "partial"],
        pickles=[d for f in facts.values() for d in f["pickles"]][:MAX_LISTED],
        archivesOpened=archives[:MAX_LISTED],
        kerasConfigs=keras_configs,
        tensorflowGraphs={p: f["tensorflowGraph"] for p, f in facts.items() if f["tensorflowGraph"] is not None},
        ruleset=RULESET_VERSION,
        formats={p: f["kinds"] for p, f in facts.items() if f["kinds"]},
        globalsSeen={"allowed": dict(sorted(allowed.items())), "notAllowed": dict(sorted(rejected.items()))},
        picklescan=version,  # a string: validate.py lifts it into the report's tool versions
        picklescanOpinion={
            "version": version,
            "picklesScanned": sum(o["pickles"] for o in opinions),
            "filesScanned": sum(o["files"] for o in opinions),
            "dangerous": sorted(d for o in opinions for d in o["dangerous"]),
            "suspicious": dict(sorted(suspicious.items())),
            "errors": [e for o in opinions for e in o["errors"]][:50],
        },
        from_cache=sorted(from_cache),
        limits={"maxPickleBytes": limits.max_pickle_bytes, "maxOpcodes": limits.max_ops,
                "maxDepth": limits.max_depth, "maxMembers": limits.max_members,
                "membersBase": limits.base_members, "bytesPerMember": limits.bytes_per_member,
                "maxSeconds": limits.max_seconds,
                "maxDecompressedBytes": limits.max_archive_bytes},
    )
